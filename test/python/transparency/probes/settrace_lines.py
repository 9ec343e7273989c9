"""sys.settrace sees the same events for functions no exception leaves (the 3.9 part of
settrace_events.py): loops, comprehensions, generators, nested functions, exceptions caught inside."""
import sys

events = []


def tracer(frame, event, arg):
    if frame.f_code.co_filename == __file__:
        events.append((event, frame.f_code.co_name, frame.f_lineno))
    return tracer


def compute(n):
    total = 0
    for i in range(n):
        try:
            total += {0: 1}[i]
        except KeyError:
            total += 2
    squares = [x * x for x in range(n) if x % 2]
    while n > 0:
        n -= 2
    return total + sum(squares)


def gen(n):
    yield from range(n)


def outer():
    def inner(k):
        return k + 1
    return [inner(k) for k in gen(3)]


sys.settrace(tracer)
compute(4)
outer()
sys.settrace(None)
for e in events:
    print(e)
