"""Machinery that relies on __main__ being the script: pickle of its classes and functions,
doctest.testmod, inspect.getsource, linecache, functools.wraps."""
import doctest
import functools
import inspect
import linecache
import pickle


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return (self.x, self.y) == (other.x, other.y)


def add(a, b):
    """
    >>> add(2, 3)
    5
    >>> add("a", "b")
    'ab'
    """
    return a + b


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*a):
        return fn(*a)
    return wrapper


@logged
def mul(a, b):
    return a * b


print(pickle.loads(pickle.dumps(Point(1, 2))) == Point(1, 2), pickle.loads(pickle.dumps(add)) is add)
print(doctest.testmod())
print(inspect.getsource(add).splitlines()[0], inspect.getsourcelines(mul)[1], mul.__wrapped__.__name__)
print(linecache.getline(__file__, 1).strip())
print(inspect.getmodule(Point).__name__, Point.__module__, add.__code__.co_filename == __file__)
