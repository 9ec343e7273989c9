"""The engine's signals: SIGUSR1 "poll me" (after a restore, when a crash is decided, when breakpoints
change) and, with snapshots, SIGUSR2 (snapshots.py); and the crash wait loop's wait for SIGUSR1."""
import os
import signal
import threading
import time

from . import channel
from .state import S


def hello():
    """Tells the engine this copy runs (at the start, after a restore or a wake-up); its reply carries
    the debugger's settings, and may ask for a pause (then the program stops at its next line)."""
    from . import debugger
    debugger.on_reply(channel.hello())
    debugger.after_poll(None)


def poll(crashed):
    from . import debugger
    reply = channel.poll(crashed)
    debugger.on_reply(reply)
    return reply


def _on_usr1(signum, frame):
    if S.crashed or S.busy:
        S.poked = True  # the wait loop / the end of the busy section handles it
        return
    poll_and_swap(frame)


def poll_and_swap(frame=None):
    """Not crashed: after a restore the engine may have a newer generation for us; swap it in
    before any more user code runs (we are in a signal handler between two bytecodes).
    `frame`: where the program was interrupted, for a pause the engine asked for (debugger.py)."""
    from . import hotswap
    if S.worker:
        from . import workers
        workers.poll_and_swap()
        return
    S.busy = True
    try:
        S.poked = False
        parent = os.getppid()
        reply = poll(False)
        if reply and reply.get("type") == "patch" and int(reply.get("generation", 0)) > S.generation:
            hotswap.apply_and_report(reply.get("files") or {}, int(reply["generation"]), restarted=None)
        hello()
        S.polled_parent = parent
    except Exception:
        pass
    finally:
        S.busy = False
        S.polls += 1
    if S.poked and not S.crashed:
        poll_and_swap(frame)
        return
    from . import debugger
    debugger.after_poll(frame)


def catch_up():
    """In a thread other than the main one, as an exception leaves the user's code: when the process
    was restored since the main thread last polled (its parent is the restore's now), wait for that
    poll, so that a call that raised in code the repair replaces is made again with the new code (the
    main thread swaps it in when the engine's SIGUSR1 comes: until then the thread would hand the old
    code's exception to the program as a crash of the repair)."""
    if S.polled_parent is None or S.crashed or os.getppid() == S.polled_parent:
        return   # (paused on a crash, the main thread swaps a repair in by its own decision)
    before = S.polls
    if not S.busy:
        os.kill(os.getpid(), signal.SIGUSR1)   # reparented for another reason: it is polled all the same
    deadline = time.monotonic() + 10.0
    while S.polls == before and not S.crashed and time.monotonic() < deadline:
        time.sleep(0.002)


def flush_deferred():
    """Called when a busy section ends: handle a SIGUSR1 that arrived meanwhile."""
    if S.poked and not S.crashed and not S.busy:
        poll_and_swap()


def wait_for_poke():
    """Block until SIGUSR1. No socket is open here, so CRIU may dump the process at any time."""
    if S.poked:
        S.poked = False
        return
    usr1 = {signal.SIGUSR1}
    if hasattr(signal, "sigtimedwait") and threading.current_thread() is threading.main_thread():
        old = signal.pthread_sigmask(signal.SIG_BLOCK, usr1)
        try:
            while not S.poked:
                if signal.sigtimedwait(usr1, 0.5) is not None:
                    break
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    else:
        while not S.poked:
            time.sleep(0.05)
    S.poked = False


def woken():
    """A fork snapshot was woken by the engine: it is the live program now (as after a restore)."""
    if S.crashed or S.busy:
        hello()
        S.poked = True  # the wait loop / the end of the busy section polls
    else:
        poll_and_swap()  # polls, swaps a newer generation in, then says hello


def install():
    """The handlers, in the main thread, before any user code runs."""
    if threading.current_thread() is not threading.main_thread():
        return
    from . import snapshots, workers
    workers.install()
    S.polled_parent = os.getppid()
    signal.signal(signal.SIGUSR1, _on_usr1)
    if S.config.snapshots:
        snapshots.install(woken)
