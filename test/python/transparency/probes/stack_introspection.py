"""What stack introspection sees: no agent frame below the program."""
import inspect
import io
import logging
import sys
import traceback

print("module f_back:", sys._getframe().f_back)
traceback.print_stack(file=sys.stdout)


def inner():
    print([(f.function, f.lineno) for f in inspect.stack()])
    print(len(traceback.extract_stack()), traceback.format_stack()[0].splitlines()[0])
    f = sys._getframe()
    n = 0
    while f is not None:
        n += 1
        f = f.f_back
    print("depth", n)
    buf = io.StringIO()
    logging.basicConfig(stream=buf, format="%(message)s")
    logging.getLogger("probe").warning("with stack", stack_info=True)
    print(buf.getvalue())


def outer():
    inner()


outer()
for i in range(1):
    print("in loop", sys._getframe().f_locals is globals(), sys._getframe().f_code.co_name, locals() is globals())
