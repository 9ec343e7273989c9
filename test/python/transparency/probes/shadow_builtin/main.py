"""A user file named like a built-in module (gc.py) must not shadow it: plain Python imports the
built-in (BuiltinImporter comes before the path finder). A user json.py does shadow the stdlib one."""
import gc
import json
import sys

print(gc.__name__, hasattr(gc, "collect"), getattr(gc, "USER", None))
print(json.__name__, getattr(json, "USER", None))
print(type(sys.meta_path[0]).__name__, [type(f).__name__ for f in sys.meta_path][:3])
