"""The recursion limit leaves the program the same headroom as plain Python (no agent frames
below the program), and an uncaught RecursionError prints the same traceback."""
import sys

sys.setrecursionlimit(80)


def depth(n):
    try:
        return depth(n + 1)
    except RecursionError:
        return n


print("max depth", depth(0))


def down(n):
    return down(n + 1) + 1


down(0)
