"""Bench: what the agent's file journal costs a program that opens, writes and closes a file per step.

    python3 bench/filewrites.py append|overwrite|create STEPS EPOCH_EVERY

Each step opens a file in the current folder, writes to it and closes it. append: a line appended to
results.txt; overwrite: latest.json rewritten (1 kB); create: a new file out/step-N.json. Under the
agent with AXOLOTL_FILES_JOURNAL set, every EPOCH_EVERY steps the program starts the journal's next
epoch in its page, as a checkpoint does, so the next change of each file is journaled again.
Prints one line: BENCH {"step_us": <median microseconds per step over blocks of EPOCH_EVERY steps>}.
"""
import json
import os
import sys
import time

mode, steps, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
journal = os.environ.get("AXOLOTL_FILES_JOURNAL")
page = os.open(os.path.join(journal, "state"), os.O_RDWR) if journal else None
epoch = 0
payload = "x" * 1000
os.makedirs("out", exist_ok=True)


def step(i):
    if mode == "append":
        with open("results.txt", "a") as f:
            f.write("step %d\n" % i)
    elif mode == "overwrite":
        with open("latest.json", "w") as f:
            f.write(payload)
    else:
        with open("out/step-%d.json" % i, "w") as f:
            f.write(payload)


blocks = []
for start in range(0, steps, every):
    if page is not None:
        epoch += 1
        os.pwrite(page, b"%020d\n" % epoch, 0)  # what a checkpoint does to the page
    t = time.perf_counter()
    for i in range(start, min(steps, start + every)):
        step(i)
    blocks.append((time.perf_counter() - t) / (min(steps, start + every) - start))
blocks.sort()
print("BENCH " + json.dumps({"step_us": blocks[len(blocks) // 2] * 1e6, "blocks": len(blocks)}))
