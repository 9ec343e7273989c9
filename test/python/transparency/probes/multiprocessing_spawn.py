"""multiprocessing with the spawn start method: children import the main script again by its
__main__.__file__ (plain Python's, not the agent's compiled copy), so functions defined in it work."""
import multiprocessing
import sys


def square(x):
    return x * x


def fails(x):
    return 1 // x


if __name__ == "__main__":
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        print(pool.map(square, range(6)))
        try:
            pool.map(fails, [1, 0])
        except ZeroDivisionError as e:
            print("child raised", type(e).__name__, e)
    p = ctx.Process(target=square, args=(3,))
    p.start()
    p.join()
    print("exit code", p.exitcode, sys.argv[0])
