# residual: 3.8-3.9
"""frame.f_lineno of a frame an exception has left is the line that raised.  Remains on 3.8 and
3.9: those versions cannot put f_lasti back when an exception is re-raised from a handler, so the
frame reports the line of the instrumentation's handler (the function's last line); tracebacks
(tb_lineno) are right on every version."""
import sys


def fails(n):
    x = n + 1
    y = x / 0
    return y


try:
    fails(1)
except ZeroDivisionError as e:
    tb = e.__traceback__
    while tb.tb_next:
        tb = tb.tb_next
    print("tb_lineno", tb.tb_lineno)
    print("f_lineno", tb.tb_frame.f_lineno, repr(tb.tb_frame).split(",")[-2])
