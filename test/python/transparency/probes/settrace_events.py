# residual: 3.9-3.9
"""sys.settrace sees the same call/line/return/exception events (coverage, debuggers).  Remains on
3.9: that version reports a line event whenever an exception enters a handler in another line
range, and the instrumentation's handler is one (it sits in the function's last line): a tracer sees
one more line event, on the function's last line, when an exception leaves a function."""
import sys

events = []


def tracer(frame, event, arg):
    if frame.f_code.co_filename == __file__:
        events.append((event, frame.f_code.co_name, frame.f_lineno,
                       type(arg).__name__ if event == "exception" else None))
    return tracer


def raises(n):
    if n > 2:
        raise ValueError(n)
    return n


def catches(n):
    total = 0
    for i in range(n):
        try:
            total += raises(i)
        except ValueError:
            total -= 1
        finally:
            total *= 2
    return total


def gen(n):
    for i in range(n):
        yield i
    return "done"


def uses_gen():
    out = list(gen(3))
    g = gen(2)
    next(g)
    g.close()
    return out


def escapes():
    try:
        return catches(4) / 0
    finally:
        pass


sys.settrace(tracer)
catches(5)
uses_gen()
try:
    escapes()
except ZeroDivisionError:
    pass
for k in range(2):
    raises(k)
sys.settrace(None)
for e in events:
    print(e)
