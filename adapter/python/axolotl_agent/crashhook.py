"""The functions instrumented code calls (installed in builtins) and the crash decision flow:
analyse -> report -> wait for SIGUSR1 -> poll -> patch/retry/abort -> restart."""
import builtins
import os
import sys

from .state import S, RestartFrame, RUNNER, MISSING

# channel, hotswap, report and uncaught are imported on first use: a program that never crashes
# (or runs without an engine) does not pay for loading them.


def axl_hook(flags):
    """Called in the except clause of every instrumented function. True: re-raise unchanged.
    False: this frame must restart (the wrapper then calls __axl_fn__)."""
    if not S.active:
        if S.worker:
            from . import workers
            return workers.on_exception(sys._getframe(1))
        return True
    exc = sys.exc_info()[1]
    frame = sys._getframe(1)
    if type(exc) is RestartFrame:
        if exc.target is frame:
            S.pending_fn = exc.fn
            S.restarting[id(frame)] = frame
            return False
        return True
    if S.busy:
        return True
    from . import workers
    workers.mark_raised(exc)
    try:
        return _decide(exc, frame, flags)
    except (RestartFrame, KeyboardInterrupt):
        raise
    except BaseException:
        return True  # the agent failing must never change what the program does
    finally:
        if S.poked and not S.crashed and not S.busy:
            from . import channel
            channel.flush_deferred()


def axl_fn(gsnap):
    fn = S.pending_fn
    S.pending_fn = None
    if gsnap is not None:
        g, names, values = gsnap
        for n, v in zip(names, values):
            if v is MISSING:
                g.pop(n, None)
            else:
                g[n] = v
    return fn


def axl_done(result):
    S.restarting.pop(id(sys._getframe(1)), None)
    if S.verify_pending:
        from . import channel
        channel.send_verified()
    return result


def axl_gsnap(names):
    g = sys._getframe(1).f_globals
    return (g, names, tuple(g.get(n, MISSING) for n in names))


def install_builtins(axl_iter):
    builtins.__axl_hook__ = axl_hook
    builtins.__axl_fn__ = axl_fn
    builtins.__axl_done__ = axl_done
    builtins.__axl_gsnap__ = axl_gsnap
    builtins.__axl_iter__ = axl_iter


# ----------------------------------------------------------------------------------------------

def _is_ancestor(anc, frame):
    f = frame.f_back
    while f is not None:
        if f is anc:
            return True
        f = f.f_back
    return False


def _live_chain(frame):
    """(callers outermost first without agent frames, whether the runner is below them)."""
    from . import report, uncaught
    out = []
    under_runner = False
    inner = frame
    f = frame.f_back
    while f is not None:
        if id(f.f_code) in uncaught.RUNNER_CODES:
            under_runner = True
            break
        if not report.hidden(f.f_code, inner.f_code):
            out.append(f)
        inner = f
        f = f.f_back
    out.reverse()
    return out, under_runner


def _decide(exc, frame, flags):
    from . import channel, debugger, hotswap, report, uncaught, workers
    if S.decided.get(id(exc)) is exc:
        return True
    hint = S.caught_hint
    if hint is not None and hint[0] is exc and hint[1] is not frame and _is_ancestor(hint[1], frame):
        return True
    notes = []
    if uncaught.will_be_caught(exc, frame, flags, notes):
        # Instrumented frames between here and the catcher need not analyse this exception again.
        catcher = uncaught.LAST_CATCHER[0]
        S.caught_hint = (exc, catcher) if catcher is not None else None
        return True
    S.caught_hint = None
    S.busy = True
    try:
        callers, under_runner = _live_chain(frame)
        chain = callers + [frame]
        auto = hotswap.plan(chain, under_runner, "auto")
        if auto is not None:
            # Restored to an older checkpoint: this frame runs code a newer generation replaced.
            channel.note({"type": "patched", "pid": os.getpid(), "generation": S.generation, "ok": True,
                          "swapped": [], "restarted": auto.desc + " (automatically: crashed in replaced code)"})
            S.verify_pending = True
            return _execute(auto, frame)
        funcs = hotswap.functions_for(chain)
        rep = report.build_report(exc, callers, lambda f: hotswap.frame_restartable(f, funcs), notes)
        workers.report_raised(rep, exc)
        with debugger.crash_scope(exc, callers):
            plan = _decision_loop(rep, chain, under_runner)
        if plan is None:
            S.decided[id(exc)] = exc
            return True
        return _execute(plan, frame)
    finally:
        S.busy = False
        S.crashed = False


def _execute(plan, frame):
    if plan.target is RUNNER:
        raise RestartFrame(RUNNER, None)
    if plan.target is frame:
        S.pending_fn = plan.fn
        S.restarting[id(frame)] = frame
        return False
    raise RestartFrame(plan.target, plan.fn)


def _decision_loop(rep, chain, under_runner):
    """Send the report, pause until the engine decides. Returns a Plan, or None for abort."""
    from . import channel, debugger, hotswap
    reply = channel.request(rep)
    if not reply or reply.get("type") != "wait":
        return None  # unreachable engine (or a refusal) behaves like abort
    S.crashed = True
    while True:
        channel.wait_for_poke()
        reply = debugger.serve(channel.poll(True))  # evaluate & co. at the crash, then the decision
        if reply is None:
            return None
        kind = reply.get("type")
        if kind == "abort":
            return None
        if kind == "patch":
            gen = int(reply.get("generation", 0) or 0)
            swapped, errors = [], []
            if gen > S.generation:
                swapped, errors = hotswap.apply_patch(reply.get("files") or {}, gen)
            if errors:
                channel.note({"type": "patched", "pid": os.getpid(), "generation": S.generation, "ok": False,
                              "swapped": [], "error": "; ".join(errors)})
                continue  # still crashed: the engine may send another patch or abort
            plan = hotswap.plan(chain, under_runner, "patch", toplevel=reply.get("topLevel") is not False)
        elif kind == "retry":
            swapped = []
            plan = hotswap.plan(chain, under_runner, "retry")
        else:
            continue  # "continue" while crashed: keep waiting
        msg = {"type": "patched", "pid": os.getpid(), "generation": S.generation, "ok": plan is not None,
               "swapped": swapped}
        if plan is None:
            msg["error"] = hotswap.REFUSED[0] or "nothing on the stack can be restarted"
            if hotswap.REFUSED[0]:
                msg["cannotResume"] = True
            channel.note(msg)
            return None
        msg["restarted"] = plan.desc
        channel.note(msg)
        S.verify_pending = True
        return plan


def toplevel_crash(exc):
    """An exception reached the top-level statement runner unreported (raised in top-level code,
    or a heuristic said "caught" on the way). The stack is unwound; only re-running the statement
    is possible. Returns True to re-run, False to abort."""
    from . import debugger, report, workers
    S.busy = True
    try:
        notes = ["reached top-level code uncaught"]
        rep = report.build_report(exc, [], lambda f: f.f_code.co_name == "<module>"
                                  and f.f_code.co_filename == (S.program.filename if S.program else None), notes)
        workers.report_raised(rep, exc)
        rep["unwound"] = True
        with debugger.crash_scope(exc, []):
            plan = _decision_loop(rep, [], True)
        return plan is not None
    finally:
        S.busy = False
        S.crashed = False
