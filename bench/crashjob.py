import os
import sys
import time

MB = int(sys.argv[1]) if len(sys.argv) > 1 else 20
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
ballast = bytearray(os.urandom(1 << 20)) * max(0, MB - 10)
table = {"a": 1, "b": 2}


def lookup(key):
    return table[key]


def main():
    start = time.time()
    i = 0
    while time.time() - start < SECONDS:
        print("tick", i, flush=True)
        i += 1
        time.sleep(0.01)
    total = lookup("a") + lookup("c")
    print("total", total, flush=True)
    for j in range(30):
        print("after", j, flush=True)
        time.sleep(0.01)


main()
