"""Chained exceptions, exceptions in __del__, threads' uncaught exceptions, exception groups."""
import sys
import threading


class Bad:
    def __del__(self):
        raise RuntimeError("in __del__")


def thread_fail():
    raise ValueError("in a thread")


Bad()
t = threading.Thread(target=thread_fail)
t.start()
t.join()


def first():
    raise KeyError("first")


def second():
    try:
        first()
    except KeyError as e:
        raise ValueError("second") from e


def third():
    try:
        second()
    except ValueError:
        raise TypeError("third")


third()
