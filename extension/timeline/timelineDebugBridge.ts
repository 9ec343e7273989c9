// Feeds the timeline from the debug adapter: each custom DAP event TIMELINE_DAP_EVENT carries one
// TimelineUpdate as its body. The timeline follows one debug session at a time, the one that most
// recently said `session started`; events of other sessions are ignored. When the followed debug
// session ends without having reported the program's end (adapter killed, say), the bridge ends it.
import * as vscode from 'vscode';
import { isTimelineUpdate, TIMELINE_DAP_EVENT, type TimelineUpdate } from '../../adapter/protocol/timeline';
import type { TimelineState } from '../../webview/timelineModel';

export interface TimelineSink {
  post(update: TimelineUpdate): void;
  readonly state: TimelineState;
}

export class TimelineDebugBridge implements vscode.Disposable {
  private followed: vscode.DebugSession | undefined;
  private readonly subscriptions: vscode.Disposable[];

  /** `debugType`: the `type` of Axolotl's debug configurations. */
  constructor(private readonly timeline: TimelineSink, private readonly debugType: string, private readonly log?: (message: string) => void) {
    this.subscriptions = [
      vscode.debug.onDidReceiveDebugSessionCustomEvent((e) => this.onEvent(e)),
      vscode.debug.onDidTerminateDebugSession((s) => this.onTerminated(s)),
    ];
  }

  /** The debug session the timeline shows (to send it restore requests, say). */
  get session(): vscode.DebugSession | undefined {
    return this.followed;
  }

  dispose(): void {
    for (const d of this.subscriptions.splice(0)) d.dispose();
  }

  private onEvent(e: vscode.DebugSessionCustomEvent): void {
    if (e.event !== TIMELINE_DAP_EVENT || e.session.type !== this.debugType) return;
    if (!isTimelineUpdate(e.body)) {
      this.log?.(`timeline: ignored a malformed ${TIMELINE_DAP_EVENT} event from the debug adapter`);
      return;
    }
    const update = e.body;
    if (update.type === 'session' && update.change === 'started') this.followed = e.session;
    else if (this.followed === undefined) this.followed = e.session;
    else if (this.followed.id !== e.session.id) return;
    this.timeline.post(update);
  }

  private onTerminated(session: vscode.DebugSession): void {
    if (session.id !== this.followed?.id) return;
    this.followed = undefined;
    const state = this.timeline.state;
    if (state.session !== null && state.end === null) {
      this.timeline.post({ type: 'session', change: 'ended', end: { time: Date.now(), reason: 'debug session ended' } });
    }
  }
}
