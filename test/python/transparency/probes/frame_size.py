# residual: 3.8-3.10
"""sys.getsizeof(frame) (the frame holds the code's value stack): unchanged on 3.11+ for a function
that neither rebinds a parameter nor assigns a global and whose own stack is at least 4 slots deep,
which the instrumentation's handler fits in.  Remains on 3.8-3.10: a block-stack handler receives six
values, so frames of functions with a shallower stack than about nine slots grow (see also
frame_size_residual.py)."""
import sys


def busy(a, b, c, d):
    return sys.getsizeof(sys._getframe()) if max(a, b, c, d) else None


print(busy(1, 2, 3, 4))
