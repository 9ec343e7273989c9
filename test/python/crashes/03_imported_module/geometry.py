import math


def area(shape):
    kind = shape[0]
    if kind == "circle":
        return math.pi * shape[1] ** 2
    if kind == "square":
        return shape[1] ** 2
    raise ValueError("unknown shape %r" % (kind,))
