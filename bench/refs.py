"""Reference points for `npm run bench`, measured without Axolotl.

    python3 bench/refs.py fork RSS_MB REPS     ms the parent is paused by fork() of a child that stops itself
    python3 bench/refs.py memcpy MB REPS       GB/s of one in-memory copy of MB (both buffers already resident)

Prints one JSON line.
"""
import json
import os
import signal
import sys
import time

from workload import hold_memory, rss_mb  # the same memory the measured programs hold


def fork_pause(mb, reps):
    mem = hold_memory(mb)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.kill(os.getpid(), signal.SIGSTOP)
            os._exit(0)
        out.append((time.perf_counter() - t) * 1000.0)
        os.waitpid(pid, os.WUNTRACED)  # stopped: it exists as a snapshot would
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        time.sleep(0.05)
    del mem
    return {"rss_mb": rss_mb(), "ms": out}


def memcpy(mb, reps):
    src = bytearray(os.urandom(1 << 20)) * mb
    dst = bytearray(len(src))
    dst[:] = src  # fault every page in first
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        dst[:] = src
        out.append(len(src) / (time.perf_counter() - t) / 1e9)
    return {"mb": mb, "gb_per_s": out}


def main():
    what, mb, reps = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    res = fork_pause(mb, reps) if what == "fork" else memcpy(int(mb), reps)
    print(json.dumps(res))


main()
