"""The __main__ namespace and sys state of a script, as `python script.py` sets them."""
import os
import sys

print(__name__, os.path.basename(__file__), type(__loader__).__name__, __spec__, __package__, __cached__)
print(sys.argv, os.path.basename(sys.path[0]) == os.path.basename(os.path.dirname(os.path.realpath(__file__))))
print(type(__builtins__).__name__, __doc__)
if hasattr(sys, "orig_argv"):
    print([os.path.basename(a) for a in sys.orig_argv[1:]])
print(sorted(k for k in globals()))
print(sys.modules["__main__"] is sys.modules[__name__], "PYTHONPATH" in os.environ)
