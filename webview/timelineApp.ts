// The timeline's DOM: builds the UI once, then renders the model's state. Only the slots that
// intersect the viewport exist as elements (plus the selected one, which aria-activedescendant
// points at), so thousands of checkpoints scroll as smoothly as ten.
//
// Text from the extension only ever goes through textContent / aria attributes, never innerHTML.
// Positions go through the CSSOM (element.style), which the CSP's style-src allows; no inline
// style attributes and no <style> elements.
import {
  isInitMessage,
  isToWebviewMessage,
  type FromWebviewMessage,
  type InitMessage,
  type ToWebviewMessage,
} from '../adapter/protocol/timeline';
import {
  activate,
  apply,
  ariaLabel,
  atEnd,
  cancelConfirm,
  confirmRestore,
  confirmText,
  contentWidth,
  counts,
  DEFAULT_SLOT_WIDTH,
  describe,
  formatElapsed,
  formatTick,
  handleKey,
  headElapsed,
  indexOfKey,
  initialState,
  isLive,
  maxScroll,
  pageSize,
  plural,
  restoreBlocker,
  revealScroll,
  selectedItem,
  selectKey,
  slotAt,
  slotLeft,
  startTime,
  tickEvery,
  toInitMessage,
  visibleRange,
  zoom,
  ZOOM_LEVELS,
  type SlotLayout,
  type Step,
  type TimelineItem,
  type TimelineState,
} from './timelineModel';

/** What acquireVsCodeApi() returns, as far as the timeline uses it. */
export interface WebviewApi {
  postMessage(message: FromWebviewMessage): void;
  getState(): unknown;
  setState(state: unknown): void;
}

/** What the webview keeps across being hidden: the data (as an init message, re-validated on load) and the view. */
interface Persisted {
  v: 1;
  init: InitMessage;
  selectedKey: string | null;
  confirm: number | null;
  pendingRestore: number | null;
  slotWidth: number;
  follow: boolean;
  scrollLeft: number;
}

const PADDING = 24;
const SAVE_DELAY_MS = 400;
const TOOLTIP_DELAY_MS = 120;

/** Rendered facts of one item element: re-rendered only when one of them changes. */
interface Rendered {
  item: TimelineItem;
  index: number;
  selected: boolean;
  target: boolean;
  tick: string | null;
  slotWidth: number;
  setSize: number;
  start: number;
}

type Attrs = Record<string, string>;

export class TimelineApp {
  private state: TimelineState = initialState();
  private slotWidth = DEFAULT_SLOT_WIDTH;
  private follow = true;
  private headReceivedAt = 0;
  private renderQueued = false;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private tooltipTimer: ReturnType<typeof setTimeout> | undefined;
  private hoverKey: string | null = null;
  private readonly pool = new Map<string, HTMLElement>();
  private readonly rendered = new WeakMap<HTMLElement, Rendered>();

  private readonly root: HTMLElement;
  private readonly statusIcon: HTMLElement;
  private readonly statusText: HTMLElement;
  private readonly countsEl: HTMLElement;
  private readonly liveButton: HTMLButtonElement;
  private readonly zoomIn: HTMLButtonElement;
  private readonly zoomOut: HTMLButtonElement;
  private readonly noticeEl: HTMLElement;
  private readonly noticeIcon: HTMLElement;
  private readonly noticeText: HTMLElement;
  private readonly emptyEl: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly track: HTMLElement;
  private readonly headEl: HTMLElement;
  private readonly headIcon: HTMLElement;
  private readonly headLabel: HTMLElement;
  private readonly details: HTMLElement;
  private readonly detailsTitle: HTMLElement;
  private readonly detailsFacts: HTMLElement;
  private readonly detailsCode: HTMLElement;
  private readonly detailsAction: HTMLButtonElement;
  private readonly confirmEl: HTMLElement;
  private readonly confirmTitle: HTMLElement;
  private readonly confirmNote: HTMLElement;
  private readonly restoreButton: HTMLButtonElement;
  private readonly cancelButton: HTMLButtonElement;
  private readonly tooltip: HTMLElement;
  private readonly announcer: HTMLElement;

  constructor(private readonly doc: Document, private readonly api: WebviewApi) {
    const h = (tag: string, cls: string, attrs: Attrs = {}, children: (Node | string)[] = []): HTMLElement => {
      const el = doc.createElement(tag);
      if (cls) el.className = cls;
      for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
      for (const c of children) el.append(c);
      return el;
    };
    const icon = (name: string): HTMLElement => h('span', `codicon codicon-${name}`, { 'aria-hidden': 'true' });
    const iconButton = (name: string, label: string): HTMLButtonElement =>
      h('button', 'tl-icon-button', { type: 'button', 'aria-label': label, title: label }, [icon(name)]) as HTMLButtonElement;

    this.statusIcon = icon('circle-outline');
    this.statusText = h('span', 'tl-status-text');
    this.countsEl = h('span', 'tl-counts');
    this.liveButton = iconButton('arrow-circle-right', 'Go to the live end (End)');
    this.zoomOut = iconButton('zoom-out', 'Zoom out (-)');
    this.zoomIn = iconButton('zoom-in', 'Zoom in (+)');
    // The sidebar's strip is short: it offers the panel area, where a timeline has room.
    const toPanel = doc.body.dataset.host === 'sidebar' ? iconButton('layout-panel', 'Show in the panel, beside the Debug Console') : undefined;
    toPanel?.addEventListener('click', () => this.api.postMessage({ type: 'showInPanel' }));
    const header = h('div', 'tl-header', {}, [
      h('span', 'tl-status', {}, [this.statusIcon, this.statusText]),
      this.countsEl,
      h('span', 'tl-spacer'),
      this.liveButton,
      this.zoomOut,
      this.zoomIn,
      ...(toPanel ? [toPanel] : []),
    ]);

    this.noticeIcon = icon('info');
    this.noticeText = h('span', 'tl-notice-text');
    const noticeClose = iconButton('close', 'Dismiss');
    this.noticeEl = h('div', 'tl-notice', { role: 'status' }, [this.noticeIcon, this.noticeText, noticeClose]);

    this.emptyEl = h('div', 'tl-empty', {}, [
      'No Axolotl session yet. Debug a Python file with Axolotl: its checkpoints, crashes and repairs appear here.',
    ]);

    this.headIcon = icon('play');
    this.headLabel = h('span', 'tl-tick tl-head-label');
    this.headEl = h('div', 'tl-head', { 'aria-hidden': 'true' }, [h('span', 'tl-head-line'), h('span', 'tl-mark', {}, [this.headIcon]), this.headLabel]);
    this.track = h('div', 'tl-track', {
      role: 'listbox',
      tabindex: '0',
      'aria-orientation': 'horizontal',
      'aria-label': 'Checkpoint timeline. Arrow keys move, Enter rewinds to the selected checkpoint.',
    }, [h('div', 'tl-axis', { 'aria-hidden': 'true' }), this.headEl]);
    this.viewport = h('div', 'tl-viewport', {}, [this.track]);

    this.detailsTitle = h('div', 'tl-details-title');
    this.detailsFacts = h('div', 'tl-details-facts');
    this.detailsCode = h('div', 'tl-code');
    this.detailsAction = h('button', 'tl-button tl-secondary', { type: 'button' }) as HTMLButtonElement;
    this.details = h('div', 'tl-details', {}, [
      h('div', 'tl-details-text', {}, [this.detailsTitle, this.detailsFacts, this.detailsCode]),
      this.detailsAction,
    ]);

    this.confirmTitle = h('div', 'tl-confirm-title', { id: 'tl-confirm-title' });
    this.confirmNote = h('div', 'tl-confirm-note', { id: 'tl-confirm-note' });
    this.restoreButton = h('button', 'tl-button tl-primary', { type: 'button' }, [icon('history'), ' Restore']) as HTMLButtonElement;
    this.cancelButton = h('button', 'tl-button tl-secondary', { type: 'button' }, ['Cancel']) as HTMLButtonElement;
    this.confirmEl = h('div', 'tl-confirm', {
      role: 'alertdialog',
      'aria-labelledby': 'tl-confirm-title',
      'aria-describedby': 'tl-confirm-note',
    }, [
      h('div', 'tl-confirm-text', {}, [this.confirmTitle, this.confirmNote]),
      h('div', 'tl-confirm-buttons', {}, [this.restoreButton, this.cancelButton]),
    ]);

    this.tooltip = h('div', 'tl-tooltip', { role: 'tooltip', id: 'tl-tooltip' });
    this.announcer = h('div', 'tl-sr-only', { 'aria-live': 'polite', 'aria-atomic': 'true' });
    this.root = h('div', 'tl', {}, [header, this.noticeEl, this.emptyEl, this.viewport, this.details, this.confirmEl, this.tooltip, this.announcer]);

    // Events
    this.track.addEventListener('keydown', (e) => this.onKeyDown(e));
    this.track.addEventListener('focus', () => this.onTrackFocus());
    this.track.addEventListener('click', (e) => this.onClick(e));
    this.track.addEventListener('pointerover', (e) => this.onPointerOver(e));
    this.track.addEventListener('pointerleave', () => this.hideTooltip());
    this.viewport.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.viewport.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    this.liveButton.addEventListener('click', () => this.goLive());
    this.zoomIn.addEventListener('click', () => this.setZoom(1));
    this.zoomOut.addEventListener('click', () => this.setZoom(-1));
    noticeClose.addEventListener('click', () => this.update({ ...this.state, notice: null }));
    this.detailsAction.addEventListener('click', () => this.step(activate(this.state)));
    this.restoreButton.addEventListener('click', () => this.step(confirmRestore(this.state)));
    this.cancelButton.addEventListener('click', () => this.step({ state: cancelConfirm(this.state) }));
    this.confirmEl.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        this.step({ state: cancelConfirm(this.state) });
      }
    });
  }

  /** Mounts into `parent`, restores what was saved, and tells the extension it is ready. */
  start(parent: HTMLElement, win: Window): void {
    parent.append(this.root);
    this.restore(this.api.getState());
    win.addEventListener('message', (e: MessageEvent) => this.receive(e.data));
    win.addEventListener('resize', () => {
      if (this.follow) this.viewport.scrollLeft = this.maxScroll();
      this.scheduleRender();
    });
    // The live clock in the header.
    win.setInterval(() => {
      if (isLive(this.state) && this.state.head?.state === 'running') this.renderHeader();
    }, 1000);
    this.renderNow();
    if (this.follow) this.viewport.scrollLeft = this.maxScroll();
    this.api.postMessage({ type: 'ready' });
  }

  /** A message from the extension; anything that fails validation is dropped. */
  receive(data: unknown): void {
    if (!isToWebviewMessage(data)) {
      console.warn('axolotl timeline: ignored a malformed message', data);
      return;
    }
    this.dispatch(data);
  }

  /** For tests and debugging. */
  get current(): TimelineState {
    return this.state;
  }

  private dispatch(msg: ToWebviewMessage): void {
    const prev = this.state;
    const anchor = this.follow ? null : this.anchor();
    const next = apply(prev, msg);
    if (msg.type === 'head' || msg.type === 'init') this.headReceivedAt = Date.now();
    this.announceChange(prev, msg);
    const hadFocusInConfirm = this.confirmEl.contains(this.doc.activeElement);
    this.state = next;
    this.layoutTrack();
    this.viewport.hidden = this.isEmpty(); // a hidden viewport cannot scroll
    if (this.follow) this.viewport.scrollLeft = this.maxScroll();
    else if (anchor) this.keepAnchor(anchor);
    if (hadFocusInConfirm && next.confirm === null) this.track.focus();
    // A burst of updates renders once, on the next frame.
    this.scheduleRender();
    this.save();
  }

  // -------------------------------------------------------------------------------------------
  // Input

  private onKeyDown(e: KeyboardEvent): void {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === '+' || e.key === '=') {
      e.preventDefault();
      this.setZoom(1);
      return;
    }
    if (e.key === '-' || e.key === '_') {
      e.preventDefault();
      this.setZoom(-1);
      return;
    }
    const result = handleKey(this.state, e.key, pageSize(this.viewport.clientWidth, this.layout()));
    if (!result) return;
    e.preventDefault();
    this.hideTooltip();
    if (e.key === 'End' && result.state.selectedKey === this.state.items.at(-1)?.key) this.follow = true;
    this.step(result, true);
  }

  private onTrackFocus(): void {
    // Give screen readers an active option at once: the newest item.
    if (this.state.selectedKey === null && this.state.items.length > 0) {
      this.update({ ...this.state, selectedKey: this.state.items[this.state.items.length - 1]!.key });
    }
  }

  private onClick(e: MouseEvent): void {
    const el = (e.target as Element | null)?.closest?.('.tl-item');
    const key = el instanceof HTMLElement ? el.dataset.key : undefined;
    if (key === undefined) return;
    this.hideTooltip();
    const selected = selectKey(this.state, key);
    this.step(activate(selected), true);
  }

  private onPointerOver(e: PointerEvent): void {
    const el = (e.target as Element | null)?.closest?.('.tl-item, .tl-head');
    if (!(el instanceof HTMLElement)) {
      this.hideTooltip();
      return;
    }
    const key = el.classList.contains('tl-head') ? 'head' : el.dataset.key ?? null;
    if (key === this.hoverKey) return;
    this.hoverKey = key;
    clearTimeout(this.tooltipTimer);
    this.tooltipTimer = setTimeout(() => this.showTooltip(el, key), TOOLTIP_DELAY_MS);
    this.scheduleRender(); // restore markers highlight their checkpoint on hover
  }

  private onScroll(): void {
    this.follow = atEnd(this.viewport.scrollLeft, this.viewport.clientWidth, this.slots(), this.layout());
    this.hideTooltip();
    this.scheduleRender();
    this.save();
  }

  private onWheel(e: WheelEvent): void {
    // A vertical wheel scrolls the horizontal timeline.
    if (e.ctrlKey || Math.abs(e.deltaY) <= Math.abs(e.deltaX)) return;
    const before = this.viewport.scrollLeft;
    const scale = e.deltaMode === 1 ? this.slotWidth : e.deltaMode === 2 ? this.viewport.clientWidth : 1;
    this.viewport.scrollLeft = before + e.deltaY * scale;
    if (this.viewport.scrollLeft !== before) e.preventDefault();
  }

  /** Applies a model step: new state, a message to send, focus where the user expects it. */
  private step(result: Step, reveal = false): void {
    const opening = this.state.confirm === null && result.state.confirm !== null;
    const closing = this.state.confirm !== null && result.state.confirm === null;
    this.update(result.state);
    if (result.post) this.api.postMessage(result.post);
    if (reveal) this.revealSelected();
    if (opening) (this.restoreButton.disabled ? this.cancelButton : this.restoreButton).focus();
    else if (closing && !this.track.contains(this.doc.activeElement)) this.track.focus();
  }

  private update(state: TimelineState): void {
    if (state === this.state) return;
    this.state = state;
    this.renderNow();
    this.save();
  }

  private setZoom(direction: 1 | -1): void {
    const width = this.viewport.clientWidth;
    const selected = indexOfKey(this.state, this.state.selectedKey);
    // Keep the selection (else the middle of the view) where it is on screen.
    const index = selected >= 0 ? selected : slotAt(this.viewport.scrollLeft + width / 2, this.layout());
    const offset = slotLeft(index, this.layout()) - this.viewport.scrollLeft;
    const next = zoom(this.slotWidth, direction);
    if (next === this.slotWidth) return;
    this.slotWidth = next;
    this.layoutTrack();
    this.viewport.scrollLeft = this.follow ? this.maxScroll() : slotLeft(index, this.layout()) - offset;
    this.renderNow();
    this.save();
  }

  private goLive(): void {
    this.follow = true;
    this.viewport.scrollLeft = this.maxScroll();
    this.renderNow();
  }

  // -------------------------------------------------------------------------------------------
  // Geometry

  private layout(): SlotLayout {
    return { slotWidth: this.slotWidth, padding: PADDING };
  }

  private isEmpty(): boolean {
    return this.state.session === null && this.state.items.length === 0;
  }

  private hasHead(): boolean {
    return isLive(this.state);
  }

  private slots(): number {
    return this.state.items.length + (this.hasHead() ? 1 : 0);
  }

  private maxScroll(): number {
    return maxScroll(this.slots(), this.viewport.clientWidth, this.layout());
  }

  private layoutTrack(): void {
    this.track.style.width = `${Math.max(contentWidth(this.slots(), this.layout()), 0)}px`;
    this.track.classList.toggle('tl-dense', this.slotWidth < 20);
  }

  /** The first item in view and where it is on screen, to keep it still while items come and go. */
  private anchor(): { key: string; offset: number } | null {
    const i = Math.max(0, slotAt(this.viewport.scrollLeft, this.layout()));
    const item = this.state.items[i];
    return item ? { key: item.key, offset: slotLeft(i, this.layout()) - this.viewport.scrollLeft } : null;
  }

  private keepAnchor(anchor: { key: string; offset: number }): void {
    const i = indexOfKey(this.state, anchor.key);
    if (i >= 0) this.viewport.scrollLeft = slotLeft(i, this.layout()) - anchor.offset;
  }

  private revealSelected(): void {
    const i = indexOfKey(this.state, this.state.selectedKey);
    if (i < 0) return;
    const width = this.viewport.clientWidth;
    const next = revealScroll(i, this.viewport.scrollLeft, width, this.slots(), this.layout(), this.slotWidth);
    if (next !== this.viewport.scrollLeft) this.viewport.scrollLeft = next;
    this.follow = atEnd(next, width, this.slots(), this.layout());
    this.renderNow();
  }

  // -------------------------------------------------------------------------------------------
  // Rendering

  private scheduleRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.renderNow();
    });
  }

  private renderNow(): void {
    const empty = this.isEmpty();
    this.emptyEl.hidden = !empty;
    this.viewport.hidden = empty;
    this.layoutTrack();
    this.renderHeader();
    this.renderNotice();
    this.renderItems();
    this.renderHead();
    this.renderDetails();
    this.renderConfirm();
  }

  private renderHeader(): void {
    const s = this.state;
    const live = isLive(s);
    let iconName = 'circle-outline';
    let text = 'No session';
    let tone = 'idle';
    if (s.pendingRestore !== null) {
      iconName = 'loading codicon-modifier-spin';
      text = `Rewinding to #${s.pendingRestore}…`;
      tone = 'restore';
    } else if (s.end) {
      const status = s.end.status;
      iconName = status === 0 ? 'pass' : status === undefined ? 'debug-stop' : 'error';
      text = status === undefined ? 'Ended' : `Exited · status ${status}`;
      tone = status === 0 ? 'ok' : status === undefined ? 'idle' : 'crash';
    } else if (s.session && live) {
      const elapsed = formatElapsed(headElapsed(s, this.headReceivedAt, Date.now()));
      switch (s.head?.state ?? 'running') {
        case 'running': iconName = 'play'; text = `Running · ${elapsed}`; tone = 'live'; break;
        case 'paused': iconName = 'debug-pause'; text = `Paused · ${elapsed}`; tone = 'paused'; break;
        case 'crashed': iconName = 'error'; text = 'Crashed · waiting for a decision'; tone = 'crash'; break;
        case 'restoring': iconName = 'loading codicon-modifier-spin'; text = 'Restoring…'; tone = 'restore'; break;
        case 'exited': break;
      }
    } else if (s.session) {
      iconName = 'debug-stop';
      text = 'Exited';
    }
    this.statusIcon.className = `codicon codicon-${iconName}`;
    this.statusText.textContent = text;
    this.statusIcon.parentElement!.dataset.tone = tone;

    const c = counts(s);
    const parts = [plural(c.checkpoints, 'checkpoint')];
    if (s.dropped > 0) parts[0] += ` (${s.dropped} dropped)`;
    if (c.crashes > 0) parts.push(plural(c.crashes, 'crash', 'crashes'));
    if (c.repairs > 0) parts.push(plural(c.repairs, 'repair'));
    if (c.restores > 0) parts.push(plural(c.restores, 'restore'));
    if (c.stops > 0) parts.push(plural(c.stops, 'stop'));
    const countText = s.session ? `${s.session.program} · ${parts.join(' · ')}` : parts.join(' · ');
    this.countsEl.textContent = countText;
    this.countsEl.title = countText;
    this.liveButton.hidden = this.follow || this.slots() === 0;
    this.zoomIn.disabled = this.slotWidth >= ZOOM_LEVELS[ZOOM_LEVELS.length - 1]!;
    this.zoomOut.disabled = this.slotWidth <= ZOOM_LEVELS[0]!;
  }

  private renderNotice(): void {
    const n = this.state.notice;
    this.noticeEl.hidden = n === null;
    if (!n) return;
    this.noticeEl.dataset.level = n.level;
    this.noticeIcon.className = `codicon codicon-${n.level === 'info' ? 'info' : n.level}`;
    this.noticeText.textContent = n.text;
    this.noticeText.title = n.text; // a short view shows one line of it
  }

  private renderItems(): void {
    const s = this.state;
    const layout = this.layout();
    const range = visibleRange(this.viewport.scrollLeft, this.viewport.clientWidth || 300, this.slots(), layout);
    const selectedIndex = indexOfKey(s, s.selectedKey);
    const every = tickEvery(this.slotWidth);
    const start = startTime(s);
    // A restore, hovered or selected, highlights the checkpoint it went back to.
    const pointing = [this.hoverKey, s.selectedKey]
      .map((k) => (k === null ? undefined : s.items[indexOfKey(s, k)]))
      .flatMap((it) => (it?.kind === 'restore' ? [`cp:${it.restore.checkpointId}`] : []));
    if (s.confirm !== null) pointing.push(`cp:${s.confirm}`);

    const wanted = new Set<number>();
    for (let i = range.start; i < Math.min(range.end, s.items.length); i++) wanted.add(i);
    if (selectedIndex >= 0) wanted.add(selectedIndex);

    const keep = new Set<string>();
    let activeId: string | null = null;
    for (const i of wanted) {
      const item = s.items[i]!;
      keep.add(item.key);
      let el = this.pool.get(item.key);
      if (!el) {
        el = this.doc.createElement('div');
        el.setAttribute('role', 'option');
        el.id = elementId(item.key);
        el.dataset.key = item.key;
        el.append(this.doc.createElement('span'), this.doc.createElement('span'), this.doc.createElement('span'));
        (el.children[0] as HTMLElement).setAttribute('aria-hidden', 'true');
        (el.children[1] as HTMLElement).setAttribute('aria-hidden', 'true');
        (el.children[2] as HTMLElement).setAttribute('aria-hidden', 'true');
        this.pool.set(item.key, el);
        this.track.append(el);
      }
      const next: Rendered = {
        item,
        index: i,
        selected: i === selectedIndex,
        target: pointing.includes(item.key),
        // Labels stick to checkpoints (by id), so they do not hop when old ones leave the ring buffer.
        tick: item.kind === 'checkpoint' && item.checkpoint.id % every === 0 ? formatTick(item.time - start) : null,
        slotWidth: this.slotWidth,
        setSize: s.items.length,
        start,
      };
      if (!sameRender(this.rendered.get(el), next)) {
        this.paintItem(el, next);
        this.rendered.set(el, next);
      }
      if (next.selected) activeId = el.id;
    }
    for (const [key, el] of this.pool) {
      if (!keep.has(key)) {
        el.remove();
        this.pool.delete(key);
      }
    }
    if (activeId) this.track.setAttribute('aria-activedescendant', activeId);
    else this.track.removeAttribute('aria-activedescendant');
  }

  private paintItem(el: HTMLElement, r: Rendered): void {
    const { item } = r;
    const mark = el.children[0] as HTMLElement;
    const tick = el.children[1] as HTMLElement;
    const gen = el.children[2] as HTMLElement;
    const classes = ['tl-item', `tl-${item.kind}`];
    let markClass = 'tl-mark';
    let generation = 0;
    switch (item.kind) {
      case 'checkpoint':
        markClass += ' tl-dot';
        generation = item.checkpoint.generation;
        if (item.checkpoint.atCrash) classes.push('tl-at-crash');
        // Hollow: held in memory only (instant rewind, gone with the session); filled: saved on disk.
        if (item.checkpoint.inMemory && !item.checkpoint.saved) classes.push('tl-in-memory');
        break;
      case 'crash':
        markClass += ' codicon codicon-error';
        generation = item.crash.generation;
        break;
      case 'repair':
        markClass += ` codicon codicon-${REPAIR_ICONS[item.repair.status]}`;
        classes.push(`tl-repair-${item.repair.status}`);
        generation = item.repair.generation ?? 0;
        break;
      case 'restore':
        markClass += ' codicon codicon-history';
        generation = item.restore.generation;
        break;
      case 'stop':
        markClass += ` codicon codicon-${STOP_ICONS[item.stop.reason]}`;
        classes.push(`tl-stop-${item.stop.reason}`);
        break;
      case 'end':
        markClass += ` codicon codicon-${item.end.status === 0 ? 'pass' : item.end.status === undefined ? 'debug-stop' : 'error'}`;
        if (item.end.status !== undefined && item.end.status !== 0) classes.push('tl-end-failed');
        break;
    }
    classes.push(`tl-gen-${generation % 6}`);
    if (r.selected) classes.push('tl-selected');
    if (r.target) classes.push('tl-target');
    el.className = classes.join(' ');
    mark.className = markClass;
    tick.className = 'tl-tick';
    tick.textContent = r.tick ?? '';
    gen.className = 'tl-gen';
    el.style.transform = `translateX(${slotLeft(r.index, this.layout())}px)`;
    el.style.width = `${r.slotWidth}px`;
    el.setAttribute('aria-selected', String(r.selected));
    el.setAttribute('aria-posinset', String(r.index + 1));
    el.setAttribute('aria-setsize', String(r.setSize));
    el.setAttribute('aria-label', ariaLabel(this.state, item));
  }

  private renderHead(): void {
    const s = this.state;
    const show = this.hasHead();
    this.headEl.hidden = !show;
    if (!show) return;
    const state = s.pendingRestore !== null ? 'restoring' : (s.head?.state ?? 'running');
    this.headEl.className = `tl-head tl-head-${state} tl-gen-${(s.head?.generation ?? 0) % 6}`;
    this.headIcon.className = `codicon codicon-${HEAD_ICONS[state]}`;
    this.headLabel.textContent = 'now';
    this.headEl.style.transform = `translateX(${slotLeft(s.items.length, this.layout())}px)`;
    this.headEl.style.width = `${this.slotWidth}px`;
  }

  private renderDetails(): void {
    const s = this.state;
    const item = selectedItem(s);
    this.details.hidden = s.confirm !== null;
    if (!item) {
      this.detailsTitle.textContent = s.items.length > 0 ? 'Select a checkpoint to rewind to it.' : '';
      this.detailsFacts.textContent =
        s.items.length > 0 ? 'Click a marker, or focus the timeline and use ← → Home End, then Enter.' : 'Waiting for the first checkpoint…';
      this.detailsCode.hidden = true;
      this.detailsAction.hidden = true;
      this.details.title = '';
      return;
    }
    const d = describe(s, item);
    this.detailsTitle.textContent = d.title;
    this.detailsFacts.textContent = d.lines.join(' · ');
    // A short view shows one line of it: the whole of it on hover.
    this.details.title = [d.title, ...d.lines, ...(d.code !== undefined ? [d.code] : [])].join('\n');
    this.detailsCode.hidden = d.code === undefined;
    this.detailsCode.textContent = d.code ?? '';
    const action = ACTIONS[item.kind];
    this.detailsAction.hidden = action === null;
    if (action) {
      this.detailsAction.textContent = action;
      this.detailsAction.disabled = item.kind === 'restore' && indexOfKey(s, `cp:${item.restore.checkpointId}`) < 0;
    }
  }

  private renderConfirm(): void {
    const s = this.state;
    this.confirmEl.hidden = s.confirm === null;
    if (s.confirm === null) return;
    const blocker = restoreBlocker(s, s.confirm);
    this.confirmTitle.textContent = confirmText(s, s.confirm);
    const gen = s.head?.generation;
    this.confirmNote.textContent =
      blocker ??
      `The program goes back to this point and resumes with the current code${gen !== undefined ? ` (generation ${gen})` : ''}. Output printed since then is printed again.`;
    this.confirmEl.dataset.blocked = String(blocker !== null);
    this.confirmEl.title = `${this.confirmTitle.textContent}\n${this.confirmNote.textContent}`;
    this.restoreButton.disabled = blocker !== null;
  }

  // -------------------------------------------------------------------------------------------
  // Tooltip

  private showTooltip(el: HTMLElement, key: string | null): void {
    if (key === null || !el.isConnected) return;
    const s = this.state;
    const t = this.tooltip;
    t.replaceChildren();
    let title: string;
    let lines: string[];
    let code: string | undefined;
    if (key === 'head') {
      title = 'Now';
      const h = s.head;
      lines = [
        `at ${formatElapsed(headElapsed(s, this.headReceivedAt, Date.now()))}`,
        h ? `${h.state}${h.pid ? `, pid ${h.pid}` : ''}` : 'running',
        `code generation ${h?.generation ?? 0}`,
      ];
    } else {
      const i = indexOfKey(s, key);
      if (i < 0) return;
      const d = describe(s, s.items[i]!);
      ({ title, lines, code } = d);
    }
    const titleEl = this.doc.createElement('div');
    titleEl.className = 'tl-tooltip-title';
    titleEl.textContent = title;
    t.append(titleEl);
    for (const line of lines) {
      const l = this.doc.createElement('div');
      l.textContent = line;
      t.append(l);
    }
    if (code !== undefined) {
      const c = this.doc.createElement('div');
      c.className = 'tl-code';
      c.textContent = code;
      t.append(c);
    }
    t.classList.add('tl-visible');
    // Above the marker when there is room, else below; always inside the window.
    const box = el.getBoundingClientRect();
    const tip = t.getBoundingClientRect();
    const winW = this.doc.documentElement.clientWidth;
    const winH = this.doc.documentElement.clientHeight;
    let left = box.left + box.width / 2 - tip.width / 2;
    left = Math.max(4, Math.min(left, winW - tip.width - 4));
    let top = box.bottom + 4;
    if (top + tip.height > winH - 4) top = Math.max(4, box.top - tip.height - 4);
    t.style.left = `${Math.round(left)}px`;
    t.style.top = `${Math.round(top)}px`;
  }

  private hideTooltip(): void {
    clearTimeout(this.tooltipTimer);
    this.tooltip.classList.remove('tl-visible');
    if (this.hoverKey !== null) {
      this.hoverKey = null;
      this.scheduleRender();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Announcements for screen readers

  private announceChange(prev: TimelineState, msg: ToWebviewMessage): void {
    let text: string | null = null;
    switch (msg.type) {
      case 'crash':
        if (indexOfKey(prev, `crash:${msg.crash.id}`) < 0) text = `Crash: ${msg.crash.exceptionType}${msg.crash.message ? `: ${msg.crash.message}` : ''}`;
        break;
      case 'repair': {
        const old = prev.items[indexOfKey(prev, `repair:${msg.repair.id}`)];
        if (old?.kind !== 'repair' || old.repair.status !== msg.repair.status) text = `Repair ${msg.repair.status}`;
        break;
      }
      case 'restore':
        text = `Restored checkpoint ${msg.restore.checkpointId}`;
        break;
      case 'session':
        text = msg.change === 'started' ? `Session started: ${msg.session.program}` : 'Session ended';
        break;
      case 'notice':
        if (msg.notice) text = msg.notice.text;
        break;
      default:
        break;
    }
    if (text !== null) this.announcer.textContent = text;
  }

  // -------------------------------------------------------------------------------------------
  // Persistence (survives the view being hidden and shown)

  private save(): void {
    if (this.saveTimer !== undefined) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      const p: Persisted = {
        v: 1,
        init: toInitMessage(this.state),
        selectedKey: this.state.selectedKey,
        confirm: this.state.confirm,
        pendingRestore: this.state.pendingRestore,
        slotWidth: this.slotWidth,
        follow: this.follow,
        scrollLeft: this.viewport.scrollLeft,
      };
      this.api.setState(p);
    }, SAVE_DELAY_MS);
  }

  private restore(saved: unknown): void {
    if (typeof saved !== 'object' || saved === null) return;
    const p = saved as Partial<Persisted>;
    if (p.v !== 1 || !isInitMessage(p.init)) return;
    let state = apply(initialState(), p.init);
    if (typeof p.selectedKey === 'string' && indexOfKey(state, p.selectedKey) >= 0) state = { ...state, selectedKey: p.selectedKey };
    if (typeof p.confirm === 'number' && indexOfKey(state, `cp:${p.confirm}`) >= 0) state = { ...state, confirm: p.confirm };
    if (typeof p.pendingRestore === 'number' && isLive(state)) state = { ...state, pendingRestore: p.pendingRestore };
    this.state = state;
    this.headReceivedAt = Date.now();
    if (typeof p.slotWidth === 'number' && ZOOM_LEVELS.includes(p.slotWidth)) this.slotWidth = p.slotWidth;
    this.follow = p.follow !== false;
    this.layoutTrack();
    if (!this.follow && typeof p.scrollLeft === 'number') this.viewport.scrollLeft = p.scrollLeft;
  }
}

const REPAIR_ICONS = {
  proposed: 'lightbulb-sparkle',
  accepted: 'check',
  rejected: 'close',
  failed: 'warning',
  verified: 'verified-filled',
} as const;

const STOP_ICONS = {
  breakpoint: 'debug-breakpoint',
  step: 'debug-step-over',
  pause: 'debug-pause',
  exception: 'debug-breakpoint-conditional',
} as const;

const HEAD_ICONS = {
  running: 'play',
  paused: 'debug-pause',
  crashed: 'error',
  restoring: 'loading codicon-modifier-spin',
  exited: 'debug-stop',
} as const;

const ACTIONS: Record<TimelineItem['kind'], string | null> = {
  checkpoint: 'Rewind here…',
  crash: 'Show crash',
  repair: 'Open repair',
  restore: 'Go to checkpoint',
  stop: null,
  end: null,
};

/** An element id from an item key that may hold any character. */
export function elementId(key: string): string {
  return `tl-i-${key.replace(/[^A-Za-z0-9-]/g, (c) => `_${c.charCodeAt(0).toString(16)}_`)}`;
}

function sameRender(a: Rendered | undefined, b: Rendered): boolean {
  return (
    a !== undefined &&
    a.item === b.item &&
    a.index === b.index &&
    a.selected === b.selected &&
    a.target === b.target &&
    a.tick === b.tick &&
    a.slotWidth === b.slotWidth &&
    a.setSize === b.setSize &&
    a.start === b.start
  );
}
