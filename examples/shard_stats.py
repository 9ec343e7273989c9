"""Axolotl demo: a slow job that crashes after doing most of its work.

Each "shard" takes a while to load (think: download + parse). Shard 7 is empty, and the summary
divides by its length. Under Axolotl the crash is repaired and the job resumes from the last
checkpoint: shards 0-6 are not loaded again.
"""
import time

SHARDS = 10


def load_shard(i):
    time.sleep(0.4)  # the expensive part
    return [] if i == 7 else [(i * 37 + k * 11) % 101 for k in range(1000)]


def summarize(values):
    mean = sum(values) / len(values)
    return {"n": len(values), "mean": round(mean, 2), "max": max(values)}


print("prologue: connecting to the shard store", flush=True)
stats = []
for i in range(SHARDS):
    shard = load_shard(i)
    stats.append(summarize(shard))
    print(f"shard {i}: {stats[-1]}", flush=True)

total = sum(s["n"] for s in stats)
print(f"done: {len(stats)} shards, {total} values", flush=True)
