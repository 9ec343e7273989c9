"""Talking to the engine: one short unix-socket connection per exchange (never held open, so a CRIU
dump never sees one), SIGUSR1 "poll me", SIGUSR2 fork snapshots, and the crash wait loop."""
import os
import signal
import sys
import threading
import time

from . import filejournal
from .state import S

REPLY_TIMEOUT = 30.0
NOTE_TIMEOUT = 5.0

# A fork snapshot taken while a connection is open would keep that connection open in the stopped
# copy, and the engine (which never dumps while one is open) would wait forever: SIGUSR2 arriving
# inside request() is served when the connection is closed.
_open_requests = 0
_snapshot_wanted = False


def request(msg, timeout=REPLY_TIMEOUT, reply=True):
    """Send one JSON line, return the reply dict (or {} if the engine closed without one).
    None when the engine is unreachable. reply=False: do not wait for the reply (returns {})."""
    path = S.config.socket
    if not path:
        return None
    import json
    import socket
    global _open_requests
    _open_requests += 1
    s = None
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(path)
        s.sendall((json.dumps(msg, default=str) + "\n").encode("utf-8"))
        if not reply:
            return {}
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        line = buf.split(b"\n", 1)[0].strip()
        return json.loads(line.decode("utf-8")) if line else {}
    except (OSError, ValueError):
        return None
    finally:
        try:
            if s is not None:
                s.close()
        except OSError:
            pass
        _open_requests -= 1
        if _snapshot_wanted and not _open_requests:
            _on_usr2(signal.SIGUSR2, None)


def note(msg):
    """Fire-and-forget message (hello, patched, verified, exit, snapshot): the reply is ignored."""
    try:
        return request(msg, NOTE_TIMEOUT)
    except Exception:
        return None


def hello():
    from . import debugger
    debugger.on_reply(note({"type": "hello", "pid": os.getpid(), "python": sys.version.split()[0],
                            "script": S.config.script or "", "root": S.config.root or "",
                            "generation": S.generation}))
    debugger.after_poll(None)  # a pause asked before the program started stops at its first line


def poll(crashed):
    from . import debugger
    reply = request({"type": "poll", "pid": os.getpid(), "generation": S.generation, "crashed": bool(crashed)})
    debugger.on_reply(reply)
    return reply


def send_exit(code):
    if S.active:
        if S.config.snapshots:
            # A snapshot request may still be on its way; Python's finalization would put SIGUSR2 back
            # to its default action and the program would die of it (status 140) instead of exiting.
            try:
                signal.signal(signal.SIGUSR2, signal.SIG_IGN)
            except (ValueError, OSError):
                pass
        note({"type": "exit", "pid": os.getpid(), "code": code})


def send_verified():
    if S.verify_pending:
        S.verify_pending = False
        note({"type": "verified", "pid": os.getpid(), "generation": S.generation})


# ----------------------------------------------------------------------------------------------
# SIGUSR1

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
        reply = poll(False)
        if reply and reply.get("type") == "patch" and int(reply.get("generation", 0)) > S.generation:
            hotswap.apply_and_report(reply.get("files") or {}, int(reply["generation"]), restarted=None)
        hello()
    except Exception:
        pass
    finally:
        S.busy = False
    if S.poked and not S.crashed:
        poll_and_swap(frame)
        return
    from . import debugger
    debugger.after_poll(frame)


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


# ----------------------------------------------------------------------------------------------
# SIGUSR2: fork snapshots

def _snapshot_warnings():
    warnings = []
    others = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
    if others:
        warnings.append("threads alive: " + ", ".join(others))
    try:
        kids = []
        for tid in os.listdir("/proc/self/task"):
            with open("/proc/self/task/%s/children" % tid) as fh:
                kids += fh.read().split()
        # our own snapshots, held by the engine, are not the program's children
        kids = [k for k in kids if int(k) not in S.snapshot_children]
        if kids:
            warnings.append("child processes alive: " + " ".join(kids))
    except OSError:
        pass
    try:
        socks = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink("/proc/self/fd/" + fd).startswith("socket:"):
                    socks += 1
            except OSError:
                pass
        if socks:
            warnings.append("%d open socket(s) will be shared with the snapshot" % socks)
    except OSError:
        pass
    return warnings


def _write_offsets():
    """(fd, offset, size) of every regular file open for writing: a snapshot shares them with the live copy."""
    import fcntl
    import stat
    out = []
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return out
    for name in fds:
        try:
            fd = int(name)
            st = os.fstat(fd)
            if filejournal.own_fd(fd):
                continue
            if not stat.S_ISREG(st.st_mode) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
                continue
            out.append((fd, os.lseek(fd, 0, os.SEEK_CUR), st.st_size))
        except (OSError, ValueError):
            pass
    return out


def _on_usr2(signum, frame):
    global _snapshot_wanted
    if _open_requests:
        _snapshot_wanted = True
        return
    _snapshot_wanted = False
    try:
        take_snapshot()
    except Exception:
        pass


def _reap_snapshots(signum=None, frame=None):
    """Reaps the snapshots the engine has let go of (only those: the user's children are theirs)."""
    for pid in list(S.snapshot_children):
        try:
            done = os.waitpid(pid, os.WNOHANG)[0]
        except ChildProcessError:
            done = pid
        except OSError:
            continue
        if done:
            S.snapshot_children.discard(pid)


def _await_go(seq):
    """Keeps this fork snapshot stopped until the engine wakes it on purpose; returns the signal mask
    to put back. A SIGCONT alone is no go: criu may resume a task it dumps, and the kernel continues
    stopped members of a process group that becomes orphaned. So every wake-up asks the engine, which
    answers "go" only for a copy it woke itself; "stop" means wait again, and anything else (no engine)
    means leave at once, without running user code, atexit handlers or buffered-output flushes.
    Signals stay blocked meanwhile: no handler of the program's may run in a copy that is not live."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP})
    while True:
        os.kill(os.getpid(), signal.SIGSTOP)
        verdict = _ask_wake(seq)
        if verdict == "go":
            return mask
        if verdict != "stop":
            os._exit(0)


def _ask_wake(seq):
    """The engine's verdict on this wake-up ("go", "stop"), or None when it is gone. A slow engine is
    asked again: only a refused connection means there is nobody to wake us on purpose."""
    import json
    import socket
    msg = (json.dumps({"type": "wake", "pid": os.getpid(), "seq": seq}) + "\n").encode("utf-8")
    for _ in range(20):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.settimeout(REPLY_TIMEOUT)
            s.connect(S.config.socket or "")
            s.sendall(msg)
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    return None
                buf += chunk
            return json.loads(buf.split(b"\n", 1)[0].decode("utf-8")).get("type")
        except socket.timeout:
            continue
        except (OSError, ValueError):
            return None
        finally:
            s.close()
    return None


def take_snapshot():
    _reap_snapshots()
    S.snapshot_seq += 1
    seq = S.snapshot_seq
    warnings = _snapshot_warnings()
    if threading.active_count() > 1:
        note({"type": "snapshot", "pid": 0, "parent": os.getpid(), "seq": seq,
              "warnings": ["refused to fork: other threads are alive"] + warnings})
        return
    started = time.perf_counter()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # or the child would write the buffered output a second time
        except Exception:
            pass
    offsets = _write_offsets()
    epoch = filejournal.before_snapshot()  # the files' next epoch starts with this snapshot
    S.snapshot_forking = True  # the copy is the program's, not a worker (workers.py)
    try:
        pid = os.fork()
    finally:
        S.snapshot_forking = False
    if pid == 0:
        S.snapshot_children = set()
        # The SIGUSR2 queued for a woken snapshot (fork a replacement) must wait for the offsets.
        mask = _await_go(seq)
        # Woken: the engine has put the files back as it saved them just after the fork, but the
        # offsets are shared with the copy that ran on: move them back, and cut what was written
        # between the fork and the engine's copy.
        for fd, pos, size in offsets:
            try:
                if os.fstat(fd).st_size > size:
                    os.ftruncate(fd, size)
                os.lseek(fd, pos, os.SEEK_SET)
            except OSError:
                pass
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        # Continued by the engine: this copy is now the live program (like after a restore).
        if S.crashed or S.busy:
            hello()
            S.poked = True  # the wait loop / the end of the busy section polls
        else:
            poll_and_swap()  # polls, swaps a newer generation in, then says hello
        return
    pause_ms = (time.perf_counter() - started) * 1000.0  # what the program itself lost to the fork
    S.snapshot_children.add(pid)
    # Not waiting for the engine's reply: the program runs on as soon as the message is sent.
    try:
        request({"type": "snapshot", "pid": pid, "parent": os.getpid(), "seq": seq, "pauseMs": pause_ms,
                 "warnings": warnings, "writableFiles": len(offsets), "epoch": epoch}, NOTE_TIMEOUT, reply=False)
    except Exception:
        pass


def forget_requests():
    """In a process just forked: the connections other threads of its parent had open are not its own."""
    global _open_requests, _snapshot_wanted
    _open_requests = 0
    _snapshot_wanted = False


def install_signals():
    if threading.current_thread() is not threading.main_thread():
        return
    from . import workers
    workers.install()
    signal.signal(signal.SIGUSR1, _on_usr1)
    if S.config.snapshots:
        signal.signal(signal.SIGUSR2, _on_usr2)
    if S.config.snapshots and signal.getsignal(signal.SIGCHLD) in (signal.SIG_DFL, None):
        # Snapshots the engine drops are killed; reaping them frees their PIDs for a restore. A program
        # that sets its own SIGCHLD handler replaces this one: its snapshots are then reaped at the next.
        signal.signal(signal.SIGCHLD, _reap_snapshots)
