"""Python 3.12+: crash decisions in sys.monitoring callbacks.

CPython runs monitoring callbacks with every other tracing and monitoring switched off, so unlike a
call from instrumented code these are invisible to sys.settrace / sys.setprofile users (debuggers,
coverage, cProfile).  Two events, both only on the way of an exception out of a frame (an exception
a frame catches itself costs nothing):
  RERAISE at the first re-raise of an instrumented frame's appendix (f_lasti already back on the
          raising instruction): the exception leaves that frame;
  PY_UNWIND of a frame that is not instrumented (library code, lambdas, class bodies...).
A restart is started by raising RestartFrame from the callback, in place of the exception; the
appendix of the frame to restart takes it (see patch_zerocost).
"""
import sys

from . import instrument
from .state import S, RestartFrame
from . import crashhook

_M = getattr(sys, "monitoring", None)
TOOL = None


def _on_reraise(code, offset, exc):
    ci = instrument.info_for(code)
    if ci is None or offset // 2 not in ci.first_reraises:
        return
    _decide(exc)


def _on_unwind(code, offset, exc):
    ci = instrument.info_for(code)
    if ci is not None and ci.appendix is not None:
        return
    if code.co_filename.startswith(_AGENT_PREFIX):
        return
    _decide(exc)


def _decide(exc):
    if S.busy or type(exc) is RestartFrame:
        return
    frame = sys._getframe(2)
    r = crashhook.on_exception(exc, frame)
    if r is not None and r is not exc:
        raise r


_AGENT_PREFIX = ""


def install():
    """Take a free tool id and listen to the two events. Returns False when no id is free."""
    global TOOL, _AGENT_PREFIX
    if _M is None:
        return False
    import os
    from . import AGENT_DIR
    _AGENT_PREFIX = AGENT_DIR + os.sep
    for tool in (4, 3):
        if _M.get_tool(tool) is None:
            _M.use_tool_id(tool, "axolotl")
            TOOL = tool
            break
    else:
        return False
    ev = _M.events
    _M.register_callback(TOOL, ev.RERAISE, _on_reraise)
    _M.register_callback(TOOL, ev.PY_UNWIND, _on_unwind)
    _M.set_events(TOOL, ev.RERAISE | ev.PY_UNWIND)
    return True
