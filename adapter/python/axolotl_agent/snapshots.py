"""Fork snapshots (SIGUSR2): the program forks a stopped copy of itself, which the engine holds as a
rewind point (snapshotPool.ts). The copy runs nothing until the engine says go (_await_go); woken, it
is the live program and polls for repaired code (the `woken` callback signals.py installs)."""
import os
import signal
import sys
import threading
import time

from . import channel, filejournal
from .channel import NOTE_TIMEOUT, REPLY_TIMEOUT
from .state import S

_woken = [None]   # what a woken copy runs first: signals.woken


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
    if S.open_requests:
        S.when_idle = lambda: _on_usr2(signal.SIGUSR2, None)
        return
    me = os.getpid()
    try:
        take_snapshot()
    except Exception as e:
        if os.getpid() != me:
            return   # the woken copy failed on its way out of the handler: no snapshot of its own
        # Said, not swallowed: the engine would otherwise wait for a snapshot until its timeout.
        try:
            channel.note({"type": "snapshot", "pid": 0, "parent": os.getpid(), "seq": S.snapshot_seq,
                          "warnings": ["could not fork a snapshot: %s: %s" % (type(e).__name__, e)]})
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
        channel.note({"type": "snapshot", "pid": 0, "parent": os.getpid(), "seq": seq,
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
        _woken[0]()  # signals.woken: polls (now, or at the end of what the copy was busy with), says hello
        return
    pause_ms = (time.perf_counter() - started) * 1000.0  # what the program itself lost to the fork
    S.snapshot_children.add(pid)
    # Not waiting for the engine's reply: the program runs on as soon as the message is sent.
    try:
        channel.request({"type": "snapshot", "pid": pid, "parent": os.getpid(), "seq": seq, "pauseMs": pause_ms,
                 "warnings": warnings, "writableFiles": len(offsets), "epoch": epoch}, NOTE_TIMEOUT, reply=False)
    except Exception:
        pass


def install(woken):
    _woken[0] = woken
    signal.signal(signal.SIGUSR2, _on_usr2)
    if signal.getsignal(signal.SIGCHLD) in (signal.SIG_DFL, None):
        # Snapshots the engine drops are killed; reaping them frees their PIDs for a restore. A program
        # that sets its own SIGCHLD handler replaces this one: its snapshots are then reaped at the next.
        signal.signal(signal.SIGCHLD, _reap_snapshots)
