"""Talking to the engine: one short unix-socket connection per exchange, never held open, so that a
CRIU dump never sees one. What the engine's signals do is in signals.py (SIGUSR1, "poll me") and
snapshots.py (SIGUSR2, fork snapshots)."""
import os
import signal
import sys

from .state import S

REPLY_TIMEOUT = 30.0
NOTE_TIMEOUT = 5.0

# A fork snapshot taken while a connection is open would keep that connection open in the stopped
# copy, and the engine (which never dumps while one is open) would wait forever: SIGUSR2 arriving
# inside request() is served when the last connection is closed (S.open_requests, S.when_idle).


def request(msg, timeout=REPLY_TIMEOUT, reply=True):
    """Send one JSON line, return the reply dict (or {} if the engine closed without one).
    None when the engine is unreachable. reply=False: do not wait for the reply (returns {})."""
    path = S.config.socket
    if not path:
        return None
    import json
    import socket
    S.open_requests += 1
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
        S.open_requests -= 1
        if S.when_idle is not None and not S.open_requests:
            wanted, S.when_idle = S.when_idle, None
            wanted()


def note(msg):
    """Fire-and-forget message (hello, patched, verified, exit, snapshot): the reply is ignored."""
    try:
        return request(msg, NOTE_TIMEOUT)
    except Exception:
        return None


def hello():
    """Returns the engine's reply (which carries the debugger's settings: signals.hello)."""
    return note({"type": "hello", "pid": os.getpid(), "python": sys.version.split()[0],
                 "script": S.config.script or "", "root": S.config.root or "", "generation": S.generation})


def poll(crashed):
    return request({"type": "poll", "pid": os.getpid(), "generation": S.generation, "crashed": bool(crashed)})


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


def forget_requests():
    """In a process just forked: the connections other threads of its parent had open are not its own."""
    S.open_requests = 0
    S.when_idle = None
