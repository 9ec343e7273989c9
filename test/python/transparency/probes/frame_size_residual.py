# residual: 3.8
"""sys.getsizeof(frame) that remains bigger on every version: a function whose own stack is
shallower than the handler needs (`return x`: one slot; the handler needs the raising instruction's
offset, the exception and the agent object, plus the exception again while the agent is told), and
a function that rebinds a parameter or assigns a global (one more slot holds the entry values for
a restart)."""
import sys


def tiny(x):
    return x


def rebinding(a, b, c, d):
    a = a + 1
    return sys.getsizeof(sys._getframe()) if max(a, b, c, d) else None


print(sys.getsizeof(sys._getframe(0)), rebinding(1, 2, 3, 4), tiny.__code__.co_stacksize)
