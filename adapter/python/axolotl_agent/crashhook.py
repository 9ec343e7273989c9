"""What instrumented code reaches (the builtin described in hooknames) and the crash decision flow:
analyse -> report -> wait for SIGUSR1 -> poll -> patch/retry/abort -> restart.

Instrumented code tells the agent through sys.audit; this module's audit hook answers in the
thread-local AGENT.None.None (see hooknames).  Audit hooks run with tracing and profiling off, so
the whole decision (analysis, report, the wait while paused) is invisible to debuggers, coverage and
profilers, whatever the Python version.  The agent is told only while an engine is attached.
"""
import _thread
import builtins
import os
import sys
import types

from .state import S, RestartFrame, PY311, MAIN_THREAD
from . import hooknames, instrument

# channel, hotswap, report, uncaught and toplevel are imported on first use: a program that never
# crashes (or runs without an engine) does not pay for loading them.

_NEVER = (GeneratorExit, KeyboardInterrupt, SystemExit)


class Agent(list):
    """The builtin instrumented code reaches: true while the agent must be told. Its one item is
    RecursionError, which 3.8-3.10 code does not tell (calling would fail at the recursion limit)."""
    __slots__ = ("None",)
    __getitem__ = types.MethodType(sys.audit, hooknames.AUDIT_EVENT)


AGENT = Agent()
_ANSWER = _thread._local()
setattr(AGENT, "None", _ANSWER)


def _answer(value):
    setattr(_ANSWER, "None", value)


def _audit(event, args):
    if event != hooknames.AUDIT_EVENT:
        return
    key = args[0]
    if key.__class__ is str:   # AGENT[ENTER]: a breakpoint's function starts (before 3.12)
        from . import entryhooks
        try:
            entryhooks.on_enter(sys._getframe(1))
        except Exception:
            pass
        return
    _answer(False)
    try:
        frame = sys._getframe(1)
        if type(key) is tuple and len(key) == 2 and type(key[0]) is str:
            tag, value = key
            if tag == hooknames.RESTART:
                fn = S.pending_fn
                S.pending_fn = None
                _answer(restart_call(frame, fn, value))
            elif tag == hooknames.DONE:
                S.restarting.pop(id(frame), None)
                if S.verify_pending:
                    from . import channel
                    channel.send_verified()
            elif tag == hooknames.CONT:
                import functools
                from . import toplevel
                _answer(functools.partial(toplevel.resume, frame, value))
            return
        if type(key) is tuple:
            exc, it = key
        else:
            exc = key
        r = on_exception(exc, frame)
        _answer(False if r is exc else r)
    except BaseException as e:  # RestartFrame from a nested decision, KeyboardInterrupt while paused
        _answer(e if isinstance(e, RestartFrame) else False)


def on_exception(exc, frame):
    """`exc` is leaving `frame`. Returns None (restart `frame`), or the exception to raise."""
    if type(exc) is RestartFrame:
        if exc.target is frame:
            S.pending_fn = exc.fn
            S.restarting[id(frame)] = frame
            return None
        return exc
    main = S.program is not None and S.program.is_main_frame(frame)
    if isinstance(exc, _NEVER) or isinstance(exc, RecursionError):
        # RecursionError: the stack is at its limit, analysing it here would fail; it is
        # reported (if uncaught) by the outermost frame, where there is room again
        if main:
            S.exit_exc = exc
        return exc
    if not S.active:
        if S.worker:
            from . import workers
            if not S.busy:
                return workers.on_exception(exc, frame)
            workers.mark_raised(exc, frame)
        return exc
    if _thread.get_ident() != MAIN_THREAD:
        from . import signals
        signals.catch_up()
    from . import workers
    # Marked even while the agent is busy in another thread (swapping a repair in after a restore): a
    # thread pool hands the exception to the program, whose report must say which code raised it.
    workers.mark_raised(exc, frame)
    if S.busy:
        return exc
    try:
        plan = decide(exc, frame)
    finally:
        if S.program is not None:
            S.program.crash_exc = None
        if S.poked and not S.crashed and not S.busy:
            from . import signals
            signals.flush_deferred()
    if plan is None:
        if main:
            S.exit_exc = exc
        return exc
    if plan.target is frame:
        S.pending_fn = plan.fn
        S.restarting[id(frame)] = frame
        return None
    return RestartFrame(plan.target, plan.fn)


def _raised_below(exc, frame):
    """The exception was raised in a frame called from `frame` (now gone), not in `frame` itself."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame is not frame:
        tb = tb.tb_next
    return tb is not None and tb.tb_next is not None


def restart_call(frame, fn, snapshot):
    """The call that runs `frame`'s function again with its entry arguments: parameters the body
    rebound and globals it assigned come from the snapshot the prologue took at entry."""
    code = frame.f_code
    ci = instrument.info_for(code)
    loc = dict(frame.f_locals)
    names = code.co_varnames
    nargs = code.co_argcount
    nkw = code.co_kwonlyargcount
    star = bool(code.co_flags & 0x04)
    dstar = bool(code.co_flags & 0x08)
    values = {}
    params = ci.params if ci is not None else ()
    snap = tuple(snapshot) if snapshot is not None else ()
    for k, p in enumerate(params):
        name = names[p] if isinstance(p, int) else \
            (names[p[1]] if p[0] == "fast" else code.co_cellvars[p[1]])
        values[name] = snap[k]
    g = frame.f_globals
    for k, name in enumerate(ci.globals_ if ci is not None else ()):
        v = snap[len(params) + k]
        if v == hooknames.MISSING_MARK and type(v) is str:
            g.pop(name, None)
        else:
            g[name] = v

    def val(n):
        return values[n] if n in values else loc.get(n)

    args = [val(n) for n in names[:nargs]]
    if star:
        args.extend(val(names[nargs + nkw]) or ())
    kwargs = {n: val(n) for n in names[nargs:nargs + nkw]}
    if dstar:
        kwargs.update(val(names[nargs + nkw + star]) or {})
    import functools
    return functools.partial(fn, *args, **kwargs)


def install():
    """Put the agent in builtins.  While the interpreter exits it puts back its own copy of builtins,
    where "None" is None: false, so instrumented code still running then (generators' finally
    blocks, __del__ methods) just re-raises."""
    builtins.__dict__[hooknames.AGENT] = AGENT
    AGENT[:] = [RecursionError] if S.active else []
    if S.active:
        sys.addaudithook(_audit)


# ----------------------------------------------------------------------------------------------
# Deciding

def _is_ancestor(anc_id, frame):
    f = frame.f_back
    while f is not None:
        if id(f) == anc_id:
            return True
        f = f.f_back
    return False


def decide(exc, frame):
    """Returns a hotswap.Plan when the crash was repaired and something must restart, else None."""
    from . import debugger, hotswap, report, uncaught, workers
    if S.decided.get(id(exc)) is exc:
        return None
    # The exception itself (ids get reused at once by the next one), the catcher by id (it is alive
    # while this exception is on its way to it): no frame is kept alive by the agent.
    hint = S.caught_hint
    if hint is not None and hint[0] is exc and hint[1] != id(frame) and _is_ancestor(hint[1], frame):
        return None
    # A call still running code a repair replaced raises: it is made again with the new code, whoever
    # would catch the exception (a thread pool would hand it to the program as the repair's failure).
    again = hotswap.replaced_call(frame)
    if again is not None:
        hotswap.note_restart(again, "it raised in code the repair replaced")
        return again
    notes = []
    caught, catcher = uncaught.catcher_of(exc, frame, notes)
    if caught:
        S.caught_hint = (exc, id(catcher)) if catcher is not None else None
        return None
    S.caught_hint = None
    S.busy = True
    if S.program is not None:
        S.program.crash_exc = exc
    try:
        chain = report.live_stack(frame) + [frame]
        auto = hotswap.plan(chain, "auto")
        if auto is not None:
            # Restored to an older checkpoint: this frame runs code a newer generation replaced.
            hotswap.note_restart(auto, "crashed in replaced code")
            S.verify_pending = True
            return auto
        funcs = hotswap.functions_for(chain)
        rep = report.build_report(exc, chain[:-1], lambda f: hotswap.frame_restartable(f, funcs), notes)
        workers.report_raised(rep, exc)
        if S.program is not None and S.program.is_main_frame(frame) and _raised_below(exc, frame):
            rep["unwound"] = True   # it reached the top level with the frames it was raised in gone
        with debugger.crash_scope(exc, chain[:-1]):
            plan = _decision_loop(rep, chain)
        if plan is None:
            if len(S.decided) > 16:   # an aborted exception normally ends the program: keep a few
                S.decided.pop(next(iter(S.decided)))
            S.decided[id(exc)] = exc
        return plan
    finally:
        S.busy = False
        S.crashed = False


def _decision_loop(rep, chain):
    """Send the report, pause until the engine decides. Returns a Plan, or None for abort."""
    from . import channel, debugger, hotswap, signals
    reply = channel.request(rep)
    if not reply or reply.get("type") != "wait":
        return None  # unreachable engine (or a refusal) behaves like abort
    S.crashed = True
    while True:
        signals.wait_for_poke()
        reply = debugger.serve(signals.poll(True))  # evaluate & co. at the crash, then the decision
        if reply is None:
            return None
        kind = reply.get("type")
        if kind == "abort":
            return None
        if kind == "patch":
            gen = int(reply.get("generation", 0) or 0)
            swapped, errors, warnings, refused = [], [], [], None
            if gen > S.generation:
                swapped, errors, warnings = hotswap.apply_patch(reply.get("files") or {}, gen)
            if errors:
                channel.note({"type": "patched", "pid": os.getpid(), "generation": S.generation, "ok": False,
                              "swapped": [], "error": "; ".join(errors)})
                continue  # still crashed: the engine may send another patch or abort
            try:
                plan = hotswap.plan(chain, "patch", toplevel=reply.get("topLevel") is not False)
            except hotswap.CannotResume as e:
                plan, refused = None, str(e)
        elif kind == "retry":
            swapped, refused = [], None
            plan = hotswap.plan(chain, "retry")
        else:
            continue  # "continue" while crashed: keep waiting
        msg = {"type": "patched", "pid": os.getpid(), "generation": S.generation, "ok": plan is not None,
               "swapped": swapped}
        if kind == "patch" and warnings:
            msg["warnings"] = warnings
        if plan is None:
            msg["error"] = refused or "nothing on the stack can be restarted"
            if refused:
                msg["cannotResume"] = True
            channel.note(msg)
            return None
        msg["restarted"] = plan.desc
        channel.note(msg)
        S.verify_pending = True
        return plan
