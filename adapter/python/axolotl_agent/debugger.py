"""The debugger in the agent: breakpoints (line, conditional, hit-count, logpoints), the "raised"
exception filter, pause, and stepping; the stop itself; and the debug commands served while the
program is paused, at a stop or at a crash.

Configuration comes with the engine's replies to `hello` and `poll` (`debug`, agentProtocol.ts
DebugConfig), so it is there before any user code runs and again after every SIGUSR1 (breakpoints set
while the program runs, a restore). A reply may also ask for a pause.

A stop sends `stopped` (reason, frames) and then waits exactly as a crash does: no connection is open
while it waits for SIGUSR1, so the engine may always talk to it; on SIGUSR1 it polls with
`stopped: true` and runs the debug commands it is handed (evaluate.py) until the engine says
`resume` (continue, next, stepIn, stepOut). tracing.py decides when the program is watched at all.

Where the program counts as stopped, and what a step is:
  * frames of the agent are never stopped in (its instrumentation adds no line of its own: the code
    is Python's, with a handler after the last instruction that only an exception leaving the frame
    reaches);
  * steps stop in the user's code only (AXOLOTL_ROOT), breakpoints wherever they are set;
  * depth: the number of frames the user sees below and at a frame (report.live_stack), so top-level
    statements are at depth 1. Step Over
    stops at the next line at the same depth or less, Step Out at a lower depth, Step Into anywhere.
  * only the main thread is stopped (it is the one that takes the engine's signals).
"""
import os
import sys
import threading

from .state import S, RestartFrame, is_agent_file, MAIN_THREAD

COMMANDS = ("evaluate", "variables", "setVariable", "completions")
STEP_MODES = {"next": "over", "stepIn": "in", "stepOut": "out"}
_NOT_RAISED = (StopIteration, StopAsyncIteration, GeneratorExit, RestartFrame)


class Breakpoint:
    __slots__ = ("id", "line", "condition", "hit", "log", "hits")

    def __init__(self, spec, hits=0):
        self.id = spec.get("id")
        self.line = int(spec.get("line") or 0)
        self.condition = spec.get("condition") or None
        self.hit = spec.get("hitCondition") or None
        self.log = spec.get("logMessage")
        self.hits = hits


class _State:
    def __init__(self):
        self.version = None
        self.files = {}         # real path -> {line: [Breakpoint]}
        self.raised = False     # the "raised" exception filter
        self.step = None        # Step armed by the last resume (or a pause that could not stop at once)
        self.pause_wanted = False
        self.scope = None       # evaluate.Scope of the stop or crash being served
        self.last_raised = None  # the exception the "raised" filter stopped on: it stops once
        self.lines = {}         # id(code) -> (code, frozenset of breakpoint lines of that code)
        self.paths = {}         # co_filename -> real path
        self.user = {}          # co_filename -> is the user's code


D = _State()


# ----------------------------------------------------------------------------------------------
# Configuration

def on_reply(reply):
    """Hook for every engine reply the agent gets while running or paused: debug config, pause."""
    if not isinstance(reply, dict):
        return
    cfg = reply.get("debug")
    if isinstance(cfg, dict):
        try:
            apply_config(cfg)
        except Exception:
            pass  # a bad configuration must not disturb the program
    if reply.get("pause"):
        D.pause_wanted = True


def apply_config(cfg):
    if cfg.get("version") == D.version:
        return
    D.version = cfg.get("version")
    known = {bp.id: bp.hits for by_line in D.files.values() for bps in by_line.values() for bp in bps}
    files = {}
    for path, specs in (cfg.get("breakpoints") or {}).items():
        by_line = {}
        for spec in specs or ():
            if isinstance(spec, dict):
                bp = Breakpoint(spec, known.get(spec.get("id"), 0))
                by_line.setdefault(bp.line, []).append(bp)
        if by_line:
            files[os.path.realpath(path)] = by_line
    D.files = files
    D.raised = bool((cfg.get("exceptions") or {}).get("raised"))
    D.lines.clear()
    if D.files or D.raised or __package__ + ".tracing" in sys.modules:  # nothing to watch: not even loaded
        from . import tracing
        tracing.update(config=True)


# ----------------------------------------------------------------------------------------------
# Code objects and frames

def real_path(filename):
    p = D.paths.get(filename)
    if p is None:
        if S.program is not None and filename == S.program.filename and S.config.script:
            p = os.path.realpath(S.config.script)   # 3.8 compiles the main script with a relative name
        else:
            p = os.path.realpath(filename) if not filename.startswith("<") else filename
        D.paths[filename] = p
    return p


def is_user(code):
    u = D.user.get(code.co_filename)
    if u is None:
        from . import instrument
        u = instrument.is_user_file(code.co_filename)
        D.user[code.co_filename] = u
    return u


def _own_lines(code):
    if hasattr(code, "co_lines"):
        return {line for _s, _e, line in code.co_lines() if line}
    import dis
    return {line for _off, line in dis.findlinestarts(code)}


def code_lines(code):
    """The breakpoint lines that belong to this code object itself (not to the code nested in it)."""
    hit = D.lines.get(id(code))
    if hit is not None and hit[0] is code:
        return hit[1]
    lines = frozenset()
    by_line = D.files.get(real_path(code.co_filename)) if D.files else None
    if by_line:
        own = _own_lines(code)
        lines = frozenset(line for line in by_line if line in own)
    D.lines[id(code)] = (code, lines)
    return lines


def depth(frame):
    """Frames the user sees from the bottom of the stack up to and including `frame`."""
    from . import report
    return len(report.live_stack(frame)) + 1


class Step:
    """What a resume asked for: stop at the next line that `mode` accepts."""

    def __init__(self, mode, frame):
        self.mode = mode        # in | over | out | pause
        self.frame = frame
        self.depth = depth(frame) if frame is not None else 0

    def may_stop_in(self, frame):
        """Could a line of this frame stop the step? (Frames that cannot are not traced.)"""
        if not is_user(frame.f_code):
            return False
        if self.mode in ("in", "pause"):
            return True
        if frame is self.frame:
            return self.mode == "over"
        d = depth(frame)
        return d <= self.depth if self.mode == "over" else d < self.depth

    def stops_at(self, frame, line):
        return self.may_stop_in(frame)


# ----------------------------------------------------------------------------------------------
# Events (called by tracing.py)

def on_line(frame, line):
    if S.busy or S.crashed or threading.get_ident() != MAIN_THREAD:
        return
    reason = None
    step = D.step
    if step is not None and step.stops_at(frame, line):
        reason = "pause" if step.mode == "pause" else "step"
    ids = []
    notes = []
    if line in code_lines(frame.f_code):
        for bp in D.files[real_path(frame.f_code.co_filename)].get(line, ()):
            if _breakpoint_hit(bp, frame, notes):
                ids.append(bp.id)
        if ids:
            reason = "breakpoint"
    if reason is not None:
        stop(frame, reason, ids=ids, notes=notes)


def on_raise(frame, exc):
    """The "raised" filter: stop where an exception is raised in (or first enters) the user's code."""
    if S.busy or S.crashed or not D.raised or exc is D.last_raised or threading.get_ident() != MAIN_THREAD:
        return
    from . import evaluate
    if isinstance(exc, _NOT_RAISED + (evaluate.Timeout,)) or not is_user(frame.f_code):
        return
    D.last_raised = exc
    stop(frame, "exception", exc=exc)


def after_poll(frame):
    """End of a poll while running (signals.poll_and_swap): a pause the reply asked for. In the signal
    handler (`frame`: where the program was interrupted) it stops at once; elsewhere at the next line."""
    if not D.pause_wanted or S.busy or S.crashed:
        return
    f = frame
    while f is not None and is_agent_file(f.f_code.co_filename):
        f = f.f_back
    if f is None:
        D.pause_wanted = False
        D.step = Step("pause", None)
        from . import tracing
        tracing.update()
        return
    stop(f, "pause")


def _breakpoint_hit(bp, frame, notes):
    """Condition, then hit count, then logpoint (which logs and never stops)."""
    from . import evaluate
    busy = S.busy
    S.busy = True   # code the condition calls must not be taken for a crash
    try:
        if bp.condition:
            try:
                if not evaluate.condition(frame, bp.condition):
                    return False
            except BaseException as e:
                if isinstance(e, KeyboardInterrupt):
                    raise
                notes.append("breakpoint condition %r failed: %s" % (bp.condition, evaluate.error_text(e)))
        bp.hits += 1
        if bp.hit and not _hit_count_met(bp.hit, bp.hits):
            return False
        if bp.log is not None:
            _log(bp.log, frame)
            return False
        return True
    finally:
        S.busy = busy


def _hit_count_met(condition, hits):
    """"5" or "==5": the 5th hit; ">5", ">=5", "<5", "<=5"; "%5": every 5th. Anything else: always."""
    import re
    m = re.match(r"\s*(==|>=|<=|>|<|%)?\s*(\d+)\s*$", str(condition))
    if not m:
        return True
    op, n = m.group(1) or "==", int(m.group(2))
    return {"==": hits == n, ">=": hits >= n, "<=": hits <= n, ">": hits > n, "<": hits < n,
            "%": n > 0 and hits % n == 0}[op]


def _log(message, frame):
    """A logpoint: {expression} parts are evaluated in the frame; the line goes to the Debug Console."""
    from . import channel, evaluate, report
    out = []
    for literal, expr in _split_log(message):
        out.append(literal)
        if expr is None:
            continue
        try:
            value = evaluate.condition(frame, expr)
            if report.is_secret(expr.strip().split(".")[-1]):
                out.append("<redacted>")
            else:
                out.append(value if isinstance(value, str) else evaluate.bounded_repr(value))
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            out.append("<%s>" % evaluate.error_text(e))
    channel.request({"type": "debugOutput", "pid": os.getpid(), "text": "".join(out)[:8000] + "\n"},
                    channel.NOTE_TIMEOUT, reply=False)


def _split_log(message):
    """"x={x}, {{literal}}" -> [("x=", "x"), (", {literal}", None)]"""
    parts = []
    literal = []
    i = 0
    n = len(message)
    while i < n:
        c = message[i]
        if c in "{}" and message[i:i + 2] == c * 2:
            literal.append(c)
            i += 2
            continue
        if c == "{":
            end = message.find("}", i + 1)
            if end < 0:
                literal.append(message[i:])
                break
            parts.append(("".join(literal), message[i + 1:end]))
            literal = []
            i = end + 1
            continue
        literal.append(c)
        i += 1
    parts.append(("".join(literal), None))
    return parts


# ----------------------------------------------------------------------------------------------
# The stop and the commands served while paused

def _frame_dict(f):
    from . import report
    code = f.f_code
    fn = code.co_filename
    return {"file": os.path.abspath(fn) if not fn.startswith("<") else fn, "line": f.f_lineno or 0,
            "function": code.co_name, "qualname": report.qualname_of(code), "user": is_user(code),
            "restartable": False}


def stop(frame, reason, ids=(), exc=None, notes=()):
    """Stops the program at `frame` until the engine says resume; then arms what the resume asked."""
    from . import channel, evaluate, report, signals, tracing
    D.step = None
    D.pause_wanted = False
    frames = report.live_stack(frame) + [frame]
    msg = {"type": "stopped", "pid": os.getpid(), "generation": S.generation, "reason": reason,
           "frames": [_frame_dict(f) for f in frames]}
    if ids:
        msg["breakpointIds"] = list(ids)
    if exc is not None:
        t = type(exc)
        try:
            message = str(exc)
        except Exception:
            message = "<str() failed>"
        msg["exception"] = {"type": t.__name__, "message": message[:2000],
                            "qualifiedType": "%s.%s" % (getattr(t, "__module__", "builtins"), t.__qualname__)}
    if notes:
        msg["text"] = "\n".join(notes)
    busy, scope = S.busy, D.scope
    S.busy = True   # the agent's hooks stand aside and SIGUSR1 is left to the wait loop
    D.scope = evaluate.Scope(frames, exc)
    mode = "continue"
    try:
        reply = channel.request(msg)
        on_reply(reply)
        if reply and reply.get("type") == "wait":
            while True:
                signals.wait_for_poke()
                reply = serve(channel.request({"type": "poll", "pid": os.getpid(), "generation": S.generation,
                                               "crashed": False, "stopped": True}))
                if not reply:
                    break   # the engine is gone: the program runs on
                if reply.get("type") == "resume":
                    mode = reply.get("mode") or "continue"
                    break
    finally:
        D.scope = scope
        S.busy = busy
    if mode in STEP_MODES:
        D.step = Step(STEP_MODES[mode], frame)
    tracing.update()
    if S.poked and not S.busy:
        signals.flush_deferred()


def serve(reply):
    """Runs the debug commands the engine hands out (in a poll reply, then in each result's reply);
    returns the first reply that is not one."""
    from . import channel, evaluate
    on_reply(reply)
    while isinstance(reply, dict) and reply.get("type") in COMMANDS:
        reply = channel.request(evaluate.run_command(D.scope, reply))
        on_reply(reply)
    return reply


class crash_scope:
    """While the agent waits on a crash: its frames (as in the report) are what commands look at, and
    no step stays armed."""

    def __init__(self, exc, callers):
        self.exc = exc
        self.callers = callers

    def __enter__(self):
        self.prev = D.scope
        try:
            from . import evaluate, report, tracing
            frames = list(self.callers) + [t.tb_frame for t in report._tb_entries(self.exc.__traceback__)]
            D.scope = evaluate.Scope(frames, self.exc)
            if D.step is not None:
                D.step = None
                tracing.update()
        except Exception:
            pass
        return self

    def __exit__(self, *exc):
        D.scope = self.prev
        return False
