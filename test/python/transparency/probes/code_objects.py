"""What a function's code and frame show: no agent locals, same varnames, closure variables, and
the same frame size for a function with a normal stack (see the report for tiny functions)."""
import inspect
import sys

COUNT = 0
LIMIT = 10


def rebinds(a, b=2, *rest, key=None, **kw):
    global COUNT
    a = a + 1
    b = [b]
    key = key or "k"
    COUNT += 1
    return sorted(locals().items(), key=str)


def closure(x):
    y = x * 2

    def inner(z):
        return x + y + z + LIMIT + len(str(z))

    return inner


print(rebinds(1, 3, 4, key=None, extra=5))
print(rebinds.__code__.co_varnames, rebinds.__code__.co_nlocals, rebinds.__code__.co_argcount)
print(inspect.getclosurevars(closure(1)))
print(inspect.getclosurevars(rebinds))
print(inspect.signature(rebinds), inspect.getsource(closure).count("\n"))


print(COUNT)
