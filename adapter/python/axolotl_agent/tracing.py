"""Watching the running program for the debugger, at no cost while nothing is asked of it.

  * Nothing set (no breakpoint, "raised" off, no step): nothing is installed at all.
  * Breakpoints on 3.12+: sys.monitoring. PY_START/PY_RESUME fire once per code object (the callback
    returns DISABLE); a code object that holds a breakpoint line then gets LINE events of its own, and
    each of its lines that holds no breakpoint is DISABLEd at its first event. A breakpoint in a
    function that is never called costs one callback per code object that runs.
  * The "raised" filter on 3.12+: the RAISE event (a callback only when something is raised).
  * Breakpoints before 3.12: a function that holds one runs a variant of its code that turns tracing
    on at its entry, for its own frame, and off when it returns (entryhooks.py). Where no variant can
    reach a breakpoint (module or class level, a generator, a library's file), sys.settrace
    with a trace function at every call, which gives a line tracer only to frames whose code holds a
    breakpoint; that costs at every call (`npm run bench` measures both).
  * The "raised" filter before 3.12: sys.settrace, an exception-only tracer in the user's frames.
  * Steps and a pause that could not stop at once, on every version: sys.settrace, with a line tracer
    only in the frames where the step can end (Step.may_stop_in), until the step stops.
Frames already running get their tracer when the configuration changes (settrace never sees their
`call` event; sys.monitoring's PY_START has passed). Only the main thread is traced.
"""
import sys

from .state import S
from . import debugger as dbg

PY312 = sys.version_info >= (3, 12)

_tool = None          # the sys.monitoring tool id we hold (False: none was free)
_cache_get = dbg.D.lines.get
_line_codes = {}      # id(code) -> code: code objects with local LINE events
_settrace_on = False


_hooks = [False]   # before 3.12: entry hooks cover every breakpoint (entryhooks.py)


def update(config=False):
    """Installs or removes what the breakpoints, the filters and the step need (`config`: the
    breakpoints or filters changed; otherwise only the step did, or code was swapped)."""
    D = dbg.D
    has_bps = bool(D.files)
    mon = _monitoring(has_bps or D.raised)
    if mon is not None and config:
        _update_monitoring(mon, has_bps, D.raised)
    if mon is None:
        _update_hooks(has_bps)
    _update_settrace(D.step is not None or (mon is None and ((has_bps and not _hooks[0]) or D.raised)))


def _update_hooks(has_bps):
    """Before 3.12, at every update: a repair may have brought new code for a function with a breakpoint."""
    if has_bps or _hooks[0] or __package__ + ".entryhooks" in sys.modules:
        from . import entryhooks
        if has_bps and entryhooks.available():
            _hooks[0] = entryhooks.arm()
        else:
            entryhooks.disarm()
            _hooks[0] = False


def registered(code):
    """A user module was compiled and is about to run (loader.py)."""
    if _hooks[0] and dbg.D.files:
        from . import entryhooks
        if not entryhooks.registered(code):
            _hooks[0] = False
            _update_settrace(True)


def tracing_every_call():
    return _settrace_on


def _stack():
    f = sys._getframe(1)
    while f is not None:
        yield f
        f = f.f_back


# ----------------------------------------------------------------------------------------------
# sys.monitoring (3.12+)

def _monitoring(wanted):
    """The tool id to use, claimed on first need; None before 3.12 or when no tool id is free."""
    global _tool
    if not PY312 or _tool is False or (_tool is None and not wanted):
        return None
    if _tool is None:
        M = sys.monitoring
        E = M.events
        for t in (M.DEBUGGER_ID, 3, 4):
            if M.get_tool(t) is None:
                M.use_tool_id(t, "axolotl")
                M.register_callback(t, E.PY_START, _on_start)
                M.register_callback(t, E.PY_RESUME, _on_start)
                M.register_callback(t, E.LINE, _on_line)
                M.register_callback(t, E.RAISE, _on_raise)
                _tool = t
                break
        else:
            _tool = False
            return None
    return _tool


def _update_monitoring(tool, has_bps, raised):
    M = sys.monitoring
    E = M.events
    M.set_events(tool, (E.PY_START | E.PY_RESUME if has_bps else 0) | (E.RAISE if raised else 0))
    for cid, code in list(_line_codes.items()):
        if not has_bps or not dbg.code_lines(code):
            M.set_local_events(tool, code, 0)
            del _line_codes[cid]
    # Lines and code objects DISABLEd under the old breakpoints may hold new ones.
    M.restart_events()
    if has_bps:
        for f in _stack():
            if dbg.code_lines(f.f_code):
                _watch_lines(tool, f.f_code)


def _watch_lines(tool, code):
    if id(code) not in _line_codes:
        _line_codes[id(code)] = code
        sys.monitoring.set_local_events(tool, code, sys.monitoring.events.LINE)


def _on_start(code, offset):
    if dbg.code_lines(code):
        _watch_lines(_tool, code)
    return sys.monitoring.DISABLE


def _on_line(code, line):
    if line not in dbg.code_lines(code):
        return sys.monitoring.DISABLE
    frame = sys._getframe(1)
    if frame.f_trace is _local:
        return None   # a step traces this frame: its line tracer looks at the breakpoint too
    dbg.on_line(frame, line)
    return None


def _on_raise(code, offset, exc):
    dbg.on_raise(sys._getframe(1), exc)


# ----------------------------------------------------------------------------------------------
# sys.settrace

def _wants(frame):
    """(trace lines, trace exceptions) for this frame."""
    D = dbg.D
    code = frame.f_code
    by_settrace = _tool in (None, False)
    lines = (by_settrace and bool(dbg.code_lines(code))) or (D.step is not None and D.step.may_stop_in(frame))
    return lines, by_settrace and D.raised and dbg.is_user(code)


_lines_only = False   # settrace watches breakpoints only (no step, no "raised"): _call's fast path


def _update_settrace(needed):
    """needed: a trace function at every call (steps, "raised", breakpoints no entry hook reaches)."""
    global _settrace_on, _lines_only
    D = dbg.D
    _lines_only = D.step is None and not (D.raised and _tool in (None, False))
    if needed:
        sys.settrace(_call)
        _settrace_on = True
        for f in _stack():
            lines, exceptions = _wants(f)
            if lines or exceptions:
                f.f_trace = _local
                f.f_trace_lines = lines
            elif f.f_trace is _local:
                f.f_trace = None
        return
    hooks = _hooks[0]
    hooks_loaded = __package__ + ".entryhooks" in sys.modules
    if not (_settrace_on or hooks or hooks_loaded):
        return   # nothing traced, nothing to take back
    if _settrace_on:
        sys.settrace(None)
        _settrace_on = False
    for f in _stack():
        if hooks and dbg.code_lines(f.f_code):
            # running already when the breakpoint came: traced as if entered through its hook
            f.f_trace = _local
            f.f_trace_lines = True
            from . import entryhooks
            entryhooks.running(f)
        elif f.f_trace is _local:
            f.f_trace = None
    if hooks or hooks_loaded:
        from . import entryhooks
        entryhooks.settle()


def _call(frame, event, arg):
    # The global trace function sees every call while breakpoints exist before 3.12: the common answer
    # (a code object without breakpoints) must cost as little as possible.
    if _lines_only:
        code = frame.f_code
        hit = _cache_get(id(code))
        if hit is not None and hit[0] is code:
            if not hit[1]:
                return None
        elif not dbg.code_lines(code):
            return None
        if S.busy:
            return None
        frame.f_trace_lines = True
        return _local
    if S.busy:
        return None
    lines, exceptions = _wants(frame)
    if not (lines or exceptions):
        return None
    frame.f_trace_lines = lines
    return _local


def _local(frame, event, arg):
    if event == "line":
        dbg.on_line(frame, frame.f_lineno)
    elif event == "exception" and _tool in (None, False):
        dbg.on_raise(frame, arg[1])
    elif event == "return" and _hooks[0]:
        from . import entryhooks
        entryhooks.on_return(frame)
    # The trampoline keeps f_trace when this returns None: what update() set stays set.
    return frame.f_trace
