# requires: 3.11
"""Exception groups and except* (3.11+): handled parts, and the traceback of what is left."""


def fail():
    raise ExceptionGroup("group", [ValueError(1), KeyError(2), TypeError(3)])


try:
    fail()
except* ValueError as eg:
    print("handled", repr(eg.exceptions))
except* KeyError:
    print("keys")
