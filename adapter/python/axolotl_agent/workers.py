"""The program's other processes.

A process forked from the program (a multiprocessing pool worker with the fork start method, a
ProcessPoolExecutor's worker, os.fork) inherits the agent: its signal handlers, its instrumented code,
the engine's socket. Right after the fork it tells the engine that it runs the agent (`worker`), and
from then on it polls for repaired code on SIGUSR1 as the program does, so that after a restore, or a
repair resumed in place, the repaired function runs in the workers too. It never pauses on a crash
(a pool hands a worker's exception to the program, which reports it), takes no fork snapshots, reports
no exit and does not stop at breakpoints: only the program itself does all that.

Workers started by the spawn and forkserver methods are fresh interpreters without the agent: they
import the program's files from disk, where a repair is written before the program runs on, so one
started after a repair runs it (hotswap.py removes cached bytecode that could still serve the old text).
criu cannot checkpoint such a program (its semaphores are named files in /dev/shm), so no restore brings
back a spawned worker that runs older code.
"""
import os
import time

from .state import S, RestartFrame

_installed = [False]
RAISED = "__axl_raised__"   # on an exception: (generation, epoch seconds) of the code that raised it


def install():
    if _installed[0] or not hasattr(os, "register_at_fork"):
        return
    _installed[0] = True
    os.register_at_fork(after_in_child=_forked)


def _forked():
    """In the new process, before the code that forked it goes on."""
    if S.snapshot_forking:
        return  # the agent's own fork snapshot: a copy of the program, not a worker
    from . import channel
    S.worker = True
    # What the parent was doing (a hook, a swap, a crash in another thread) is not this process's.
    S.busy = S.crashed = S.poked = S.verify_pending = False
    S.snapshot_children = set()
    channel.forget_requests()
    _no_breakpoints()
    try:
        # Not waiting for the reply: the worker starts its work at once.
        channel.request({"type": "worker", "pid": os.getpid(), "parent": os.getppid(), "generation": S.generation},
                        channel.NOTE_TIMEOUT, reply=False)
    except Exception:
        pass


def _no_breakpoints():
    """Only the program stops in the debugger: a worker forked from its main thread would otherwise stop
    at its breakpoints too, and wait for an engine that talks to the program only."""
    import sys
    debugger = sys.modules.get(__package__ + ".debugger")
    if debugger is None:
        return
    try:
        debugger.D.step = None
        debugger.D.pause_wanted = False
        debugger.apply_config({"version": ("worker", os.getpid()), "breakpoints": {}, "exceptions": {}})
    except Exception:
        pass


def mark_raised(exc, frame):
    """Notes on an exception when, and by which generation of the code, it was raised (first seen by the
    agent, leaving `frame`). A pool carries the note from a worker to the program (pickled with the
    exception), whose crash report says it: the engine then rewinds to a checkpoint taken before the
    exception, not to one that caught it on its way (a worker's result not yet read, a `with` block still
    closing its pool); and a crash raised by code older than the repair (a thread of a restored program
    that raised before the program swapped) is answered with the repair, not taken for its failure."""
    try:
        d = exc.__dict__
        if RAISED not in d:
            d[RAISED] = (_generation_of(frame), time.time())
    except Exception:
        pass  # an exception without a __dict__ is reported without the note


def _generation_of(frame):
    """The generation of the code `frame` runs: older than the process's when a repair replaced that
    code while the call ran."""
    if S.generation == 0:
        return 0
    from . import hotswap, instrument
    ci = instrument.info_for(frame.f_code)
    if ci is not None and ci.kind == "function" and hotswap.frame_changed(frame):
        return min(ci.version.generation, S.generation - 1)
    return S.generation


def report_raised(rep, exc):
    """Adds the note of mark_raised to a crash report (raisedAt in epoch ms, raisedGeneration), and takes
    it off the exception: raised again later (a stored exception), it is new again."""
    try:
        generation, at = exc.__dict__.pop(RAISED)
        rep["raisedGeneration"] = int(generation)
        rep["raisedAt"] = float(at) * 1000.0
    except Exception:
        pass


def on_exception(exc, frame):
    """crashhook.on_exception in a worker: `exc` is leaving instrumented `frame`. Returns the exception
    to let it go on, or None to restart the frame. A worker never reports a crash, but a call that
    raises in code the repair replaced (a restore caught it half done, before the worker swapped) is
    made again with the new code, as the program restarts such a frame by itself."""
    if type(exc) is RestartFrame:
        return exc
    mark_raised(exc, frame)
    from . import hotswap
    try:
        again = hotswap.replaced_call(frame)
        if again is None:
            return exc
        S.pending_fn = again.fn
        S.restarting[id(frame)] = frame
        hotswap.note_restart(again, "it raised in code the repair replaced")
        return None
    except Exception:
        return exc


def poll_and_swap():
    """SIGUSR1 in a worker: a newer generation, if the engine has one, is swapped in (no restart: the
    worker crashed in nothing; the next call of a repaired function runs the new code)."""
    from . import channel, hotswap
    S.busy = True
    try:
        S.poked = False
        reply = channel.request({"type": "poll", "pid": os.getpid(), "generation": S.generation, "crashed": False})
        if reply and reply.get("type") == "patch" and int(reply.get("generation", 0)) > S.generation:
            hotswap.apply_and_report(reply.get("files") or {}, int(reply["generation"]))
    except Exception:
        pass
    finally:
        S.busy = False
    if S.poked:
        poll_and_swap()
