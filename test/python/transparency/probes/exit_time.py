"""At exit: suspended generators' finally blocks, __del__ of module globals, atexit handlers, and
__main__.__file__ (deleted once the script is done)."""
import atexit
import sys


def gen():
    try:
        yield 1
        yield 2
    finally:
        print("generator finally", flush=True)


class Res:
    def __del__(self):
        print("Res.__del__", flush=True)

    def close(self):
        raise RuntimeError("close failed")


def at_exit():
    import __main__
    print("atexit: __file__ in __main__:", hasattr(__main__, "__file__"), flush=True)


atexit.register(at_exit)
g = gen()
next(g)
r = Res()
holder = [gen()]
next(holder[0])
print("end of script", flush=True)
