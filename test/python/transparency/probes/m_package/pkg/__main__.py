"""`-m pkg`: runpy's frames are the plain ones, and so is the traceback."""
import sys
from . import core

print(__name__, __package__, sys.argv[0].endswith("__main__.py"), sys.argv[1:])
core.crash(2)
