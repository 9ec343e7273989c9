"""Loads the agent into an interpreter that runs a directory, a zip application or `-m module` under
Axolotl (see axolotl_agent/launch.py), after the real sitecustomize, if there is one."""
import os
import sys


def _chain():
    here = os.path.realpath(os.path.dirname(__file__))
    sys.path[:] = [p for p in sys.path if not p or os.path.realpath(p) != here]
    me = sys.modules.pop("sitecustomize")
    try:
        import sitecustomize  # noqa: F401  (the real one: importlib then returns it for ours)
    except ImportError as exc:
        if exc.name != "sitecustomize":
            raise
        sys.modules["sitecustomize"] = me   # importlib takes it back; the loader drops it later


_chain()
del _chain
import axolotl_agent._boot  # noqa: E402,F401
