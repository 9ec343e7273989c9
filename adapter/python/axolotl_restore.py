"""Runs `criu restore` for the engine and becomes the restored program's parent.

Why a wrapper: `criu restore -d` hands the restored task to PID 1, which reaps it slowly (the PID
stays busy for 1-2 s, so the next restore fails with "File exists"), while without -d criu always
exits 0 and the program's exit status is lost. As a child subreaper we adopt the task the moment
criu exits, reap it at once and exit with its real status (code, or 128 + signal, like a shell).

Usage: axolotl_restore.py PIDFILE CRIU-COMMAND...
Our fds 0-2 (the engine's new sockets for the restored program) reach criu as fds 10-12, for its
--inherit-fd fd[10..12] options; criu's own stdio is /dev/null (it logs to its -o file, and nothing of
criu's may end up in the program's output). criu's own fd 0 must not be one of the sockets either: a
shell job's restore puts its stdin aside, and fails on one it has already handed to --inherit-fd.
Writes "pid <N>\\n" to fd 3 (when open) as soon as the task exists. Standard library only.
"""
import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
INHERITED = 10  # criu finds the program's sockets at fds 10, 11 and 12


def main():
    pidfile, command = sys.argv[1], sys.argv[2:]
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        sys.stderr.write("axolotl: cannot become a child subreaper (errno %d)\n" % ctypes.get_errno())
        return 125
    for fd in (0, 1, 2):
        os.dup2(fd, INHERITED + fd, inheritable=True)
    with open(os.devnull, "r+b") as devnull:
        rc = subprocess.call(command, stdin=devnull, stdout=devnull, stderr=devnull, close_fds=True,
                             pass_fds=tuple(INHERITED + fd for fd in (0, 1, 2)))
    if rc != 0:
        return 125 if rc < 0 else min(rc, 125)
    with open(pidfile) as f:
        pid = int(f.read().strip())
    try:
        os.write(3, ("pid %d\n" % pid).encode())
        os.close(3)
    except OSError:
        pass
    for sig in FORWARDED:
        signal.signal(sig, lambda s, _f: _forward(pid, s))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return 125
    _reap_orphans()
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _reap_orphans(grace=0.5):
    """The program's children outlive it when it is killed (a pool's workers, killed with it a moment
    later): as subreaper we inherit them. Reaped here, their IDs are free at once; left to PID 1, which
    may take seconds, a restore would wait for them. Children still running after `grace` are left."""
    deadline = time.monotonic() + grace
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        except InterruptedError:
            continue
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)


def _forward(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
