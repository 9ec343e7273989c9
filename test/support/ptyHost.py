"""A pseudo-terminal for tests (Python's pty module: nothing to build).

    python3 ptyHost.py COLS ROWS -- COMMAND [ARGS...]

Runs COMMAND as the session leader of a new terminal COLS x ROWS. What it writes to the terminal comes
out on our stdout, byte for byte; what arrives on our stdin is typed into it. On stderr, one JSON line
when it starts ({"pid": N}) and one when it has ended: {"status": N, "icanon": bool, "echo": bool},
the exit status as a shell reports it and the terminal's modes as COMMAND left them.
If this process is killed, the terminal closes and COMMAND gets its hangup, as a closed window does.
"""
import fcntl
import json
import os
import pty
import select
import struct
import sys
import termios
import time


def report(obj):
    sys.stderr.write(json.dumps(obj) + "\n")
    sys.stderr.flush()


def main():
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    pid, master = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvp(cmd[0], cmd)
    report({"pid": pid})
    inputs = [master, 0]
    status = None
    drain_until = None
    while True:
        if status is None:
            done, st = os.waitpid(pid, os.WNOHANG)
            if done:
                status = os.waitstatus_to_exitcode(st)
                if status < 0:
                    status = 128 - status
                drain_until = time.monotonic() + 0.5
        if drain_until is not None and time.monotonic() > drain_until:
            break
        ready, _, _ = select.select(inputs, [], [], 0.05)
        if master in ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: nothing has the terminal open any more
                data = b""
            if not data:
                inputs.remove(master)
                if status is not None:
                    break
                continue
            os.write(1, data)
        if 0 in ready:
            data = os.read(0, 4096)
            if data:
                os.write(master, data)
            else:
                inputs.remove(0)
        if master not in inputs and status is None:
            _, st = os.waitpid(pid, 0)
            status = os.waitstatus_to_exitcode(st)
            if status < 0:
                status = 128 - status
            break
    lflag = termios.tcgetattr(master)[3]
    report({"status": status, "icanon": bool(lflag & termios.ICANON), "echo": bool(lflag & termios.ECHO)})


main()
