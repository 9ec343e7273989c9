"""Ends every process of an Axolotl session when the engine that started them is gone.

The engine (the CLI, or the debug adapter) normally stops what it started. But it can be SIGKILLed, a
test can time out, an editor can crash: the program, its stopped fork snapshots, a criu that hangs
or a restored copy would then run on, or wait stopped, for ever. The engine starts this keeper
first, in a session of its own, and tells it on stdin the session ID of each process it starts
("sid N": the program, each criu, each restore wrapper, each restored task). Everything the
program forks (its children, its snapshots) stays in one of those sessions. When stdin reaches its
end, because the engine closed it or died, the keeper stops and kills every process in those
sessions and every descendant of one, until none is left, runs the commands it was given for that
moment ("run [argv as JSON]": removing a container, whose processes podman's conmon holds, not us;
"drop [argv]" when the engine did it itself), and exits.

A session ID is never handed out as a new process ID while its session lives, so this never hits an
unrelated process. Standard library only, Python 3.6+.
"""
import json
import os
import signal
import subprocess
import sys
import time

# a command left for the end must not keep the keeper for ever (podman waits on locks)
RUN_TIMEOUT_S = 60


def table():
    """pid -> (ppid, sid, state) for every process, as /proc shows them now."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                s = f.read()
            fields = s[s.rindex(")") + 2:].split()
            out[int(name)] = (int(fields[1]), int(fields[3]), fields[0])
        except (OSError, ValueError, IndexError):
            pass
    return out


def targets(sids, me):
    procs = table()
    found = {p for p, (_, sid, st) in procs.items() if sid in sids and st != "Z"}
    # descendants too: a process that made a session of its own is still a child of ours
    grew = True
    while grew:
        grew = False
        for p, (ppid, _, st) in procs.items():
            if ppid in found and p not in found and st != "Z":
                found.add(p)
                grew = True
    found.discard(me)
    found.discard(1)
    return found


def sweep(sids):
    me = os.getpid()
    for _ in range(200):
        found = targets(sids, me)
        if not found:
            return
        # Stopped first, so that none forks while the rest are killed; then killed.
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for p in found:
                try:
                    os.kill(p, sig)
                except OSError:
                    pass
        time.sleep(0.02)


def run_all(commands):
    for argv in commands:
        try:
            subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=RUN_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError):
            pass


def command(text):
    try:
        argv = json.loads(text)
    except ValueError:
        return None
    if isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv):
        return argv
    return None


def main():
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C is the engine's to handle
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sids = set()
    commands = []
    for line in sys.stdin:
        if line.startswith("run ") or line.startswith("drop "):
            verb, _, rest = line.partition(" ")
            argv = command(rest)
            if argv and verb == "run" and argv not in commands:
                commands.append(argv)
            elif argv and verb == "drop" and argv in commands:
                commands.remove(argv)
            continue
        parts = line.split()
        if len(parts) == 2 and parts[0] == "sid" and parts[1].isdigit() and int(parts[1]) > 1:
            sids.add(int(parts[1]))
        elif parts == ["forget"]:
            sids.clear()
            commands = []
    sweep(sids)
    run_all(commands)
    return 0


if __name__ == "__main__":
    sys.exit(main())
