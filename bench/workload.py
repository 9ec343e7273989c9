"""Bench workload: holds about RSS_MB of resident memory (distinct pages), then runs a fixed amount of
work and times it from the inside.

    python3 bench/workload.py cpu|alloc|files RSS_MB UNITS
    python3 bench/workload.py hold|spin RSS_MB [SECONDS]
    python3 bench/workload.py tree RSS_MB PROCESSES

cpu    integer arithmetic, no allocation: the memory is never written again
alloc  builds and drops dicts, strings and tuples; a rotating window keeps ~6 MB of them alive
files  cpu (20 times more per step), and each step appends a line to a file and rewrites another
       (opened and closed each time, in the working folder): what the file journal adds to a checkpoint
hold   prints "tick N" every 2 ms (restore latency)
spin   runs cpu steps without end (criu's own dump time of a busy program)
tree   a program with worker processes, as a pool: forks PROCESSES - 1 workers first, each then holds
       RSS_MB / PROCESSES of its own and waits, as idle pool workers do; the parent holds its share and
       spins. "ready TOTAL" counts the resident memory of the whole tree.

Output: "ready RSS_MB" once the memory is held; "GAP <epoch s> <ms>" as soon as one step of the loop
took more than GAP_MS (a checkpoint froze it, or a page-fault storm after a fork); at the end one
line "BENCH {json}" with the work time (perf_counter, memory setup excluded), the CPU time the
process used meanwhile (process_time: blind to being frozen, but not to load from other programs)
and the time of one step.
"""
import json
import os
import struct
import sys
import time

GAP_MS = 1.0
PAGE = 4096


def rss_mb():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def hold_memory(target_mb):
    """Random 1 MiB repeated, each page stamped with its offset: every page distinct, cheap to make."""
    mb = max(0, int(target_mb - rss_mb()))
    block = bytearray(os.urandom(1 << 20)) * mb
    for off in range(0, len(block), PAGE):
        struct.pack_into("<Q", block, off, off)
    return block


def cpu_step(acc):
    for i in range(500):
        acc = (acc * 1103515245 + i) & 0x7FFFFFFF
    return acc


KEEP = [None] * 128


def alloc_step(acc):
    KEEP[acc & 127] = [{"i": j, "s": str(j), "t": (j, acc)} for j in range(150)]
    return acc + 1


def files_step(acc):
    # Mostly computing: a checkpoint seldom lands while a file is open (then criu's saver of open files
    # runs, which is not the journal's cost).
    for _ in range(20):
        acc = cpu_step(acc)
    with open("bench-results.txt", "a") as f:
        f.write("%d\n" % acc)
    with open("bench-latest.json", "w") as f:
        f.write('{"acc": %d}' % acc)
    return acc


def run(kind, units):
    step = {"cpu": cpu_step, "alloc": alloc_step, "files": files_step}[kind]
    out = sys.stdout
    acc = 1
    limit = GAP_MS / 1000.0
    gaps = 0
    samples = []
    c0 = time.process_time()
    t0 = time.perf_counter()
    wall0 = time.time()
    prev = t0
    for u in range(units):
        acc = step(acc)
        now = time.perf_counter()
        d = now - prev
        if d > limit:
            gaps += 1
            out.write("GAP %.6f %.3f\n" % (wall0 + (prev - t0), d * 1000.0))
            out.flush()
            now = time.perf_counter()  # the print is ours, not the checkpoint's
        elif u % 997 == 0:
            samples.append(d)
        prev = now
    work = prev - t0
    cpu = time.process_time() - c0
    samples.sort()
    step_ms = samples[len(samples) // 2] * 1000.0 if samples else 0.0
    out.write("BENCH " + json.dumps({"kind": kind, "units": units, "work_s": work, "cpu_s": cpu, "step_ms": step_ms,
                                     "gaps": gaps, "rss_mb": rss_mb(), "acc": acc & 1}) + "\n")
    out.flush()


def hold(seconds):
    i = 0
    end = time.time() + seconds
    while time.time() < end:
        sys.stdout.write("tick %d\n" % i)
        sys.stdout.flush()
        i += 1
        time.sleep(0.002)


def tree(target_mb, processes):
    """Workers forked before any memory is held, so that no page is shared copy-on-write with the parent:
    the tree holds RSS_MB of distinct pages, like a single process of the same size."""
    share = target_mb / processes
    workers = []
    for _ in range(processes - 1):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            mem = hold_memory(share)
            os.write(w, b"x")
            parent = os.getppid()
            while os.getppid() == parent:
                time.sleep(0.05)
            del mem
            os._exit(0)
        os.close(w)
        os.read(r, 1)
        os.close(r)
        workers.append(pid)
    mem = hold_memory(share)
    total = rss_mb()
    for pid in workers:
        with open("/proc/%d/status" % pid) as fh:
            total += next(int(l.split()[1]) for l in fh if l.startswith("VmRSS:")) / 1024.0
    sys.stdout.write("ready %.0f\n" % total)
    sys.stdout.flush()
    acc = 1
    while True:
        acc = cpu_step(acc)
    del mem


def main():
    kind = sys.argv[1]
    target = float(sys.argv[2])
    if kind == "tree":
        tree(target, int(sys.argv[3]))
        return
    if kind == "alloc":
        for i in range(len(KEEP)):
            alloc_step(i)  # the live window counts towards the RSS asked for
    mem = hold_memory(target)
    sys.stdout.write("ready %.0f\n" % rss_mb())
    sys.stdout.flush()
    if kind == "hold":
        hold(float(sys.argv[3]) if len(sys.argv) > 3 else 3600.0)
    elif kind == "spin":
        acc = 1
        while True:
            acc = cpu_step(acc)
    else:
        run(kind, int(sys.argv[3]))
    del mem


if __name__ == "__main__":
    main()
