"""Runs once, in the interpreter that runs the program, before the program's first statement:
imported by the first instruction of the instrumented main script (see launch.py), or by the
sitecustomize of _shim/ for a directory, a zip application or `-m module`.

It makes the process look as `python script.py` would have made it, then installs the agent: the
builtins instrumented code reaches, the import hook, and with an engine the signal handlers, the
output tail, the audit hook that hears from instrumented code, the hello and, at exit, the exit
message.
"""
import os
import sys

from . import launch
from .state import S


def _fix_path_entry(spec):
    """Drop the agent's folders from sys.path and give the user's PYTHONPATH back to the environment."""
    from . import AGENT_DIR
    ours = {os.path.realpath(os.path.dirname(AGENT_DIR)), os.path.realpath(os.path.join(AGENT_DIR, "_shim"))}
    user = spec.get("pythonpath") or ""
    if spec.get("pythonpath_unset"):
        os.environ.pop("PYTHONPATH", None)
        keep = set()
    else:
        os.environ["PYTHONPATH"] = user
        keep = {os.path.realpath(p) for p in user.split(os.pathsep) if p}
    sys.path[:] = [p for p in sys.path if not p or os.path.realpath(p) not in ours or os.path.realpath(p) in keep]


def _main_frame():
    g = sys.modules["__main__"].__dict__
    f = sys._getframe(1)
    while f is not None:
        if f.f_globals is g and f.f_code.co_name == "<module>":
            return f
        f = f.f_back
    return None


def _as_plain_script(spec):
    """What `python script.py` would show: argv, sys.path[0], orig_argv, __file__, __loader__."""
    import importlib.machinery
    script, filename, pyc = spec["script"], spec["file"], spec["pyc"]
    sys.argv[0] = script
    if spec.get("orig_argv"):
        sys.orig_argv[:] = spec["orig_argv"].split(launch.LIST_SEP)
    if sys.path and not (sys.flags.isolated or getattr(sys.flags, "safe_path", False)) \
            and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(pyc)):
        sys.path[0] = os.path.dirname(os.path.realpath(script))
    main = sys.modules["__main__"]
    main.__file__ = filename
    main.__loader__ = importlib.machinery.SourceFileLoader("__main__", filename)
    if pyc:
        try:
            os.unlink(pyc)   # the interpreter has read it
        except OSError:
            pass
        # and the private folders it was in (launch._write_pyc), up to their root
        root, d = spec.get("pyc_root") or "", os.path.dirname(pyc)
        while root and d.startswith(root):
            try:
                os.rmdir(d)
            except OSError:
                break
            d = os.path.dirname(d)


def _register_main(spec):
    from . import instrument, toplevel
    filename = spec["file"]
    frame = _main_frame()
    S.program = toplevel.MainProgram(filename, sys.modules["__main__"])
    if frame is None:
        return
    try:
        with open(spec["script"], "rb") as fh:
            text = instrument.decode_source(fh.read())
    except (OSError, UnicodeDecodeError, SyntaxError):
        text = ""
    version = instrument.SourceVersion(filename, text, S.generation, is_main=True)
    instrument.register_tree(frame.f_code, version)
    instrument.CURRENT[filename] = version


def _exit_code():
    exc = S.exit_exc
    last = getattr(sys, "last_value", None)
    if isinstance(exc, SystemExit):
        c = exc.code
        return c if isinstance(c, int) else (0 if c is None else 1)
    if isinstance(last, KeyboardInterrupt) or isinstance(exc, KeyboardInterrupt):
        return 130
    if last is not None or exc is not None:
        return 1
    return 0


def _at_exit():
    from . import channel
    try:
        channel.send_exit(_exit_code())
    except Exception:
        pass


def boot():
    spec = launch.decode(os.environ.pop("AXOLOTL_BOOT", ""))
    _fix_path_entry(spec)
    from . import crashhook, filejournal, instrument, loader
    if spec.get("mode") == "script":
        _as_plain_script(spec)
        S.config.script = os.path.abspath(spec["script"])
    else:
        S.config.script = spec.get("target") or ""
    # Before any user code (and after the agent's own files are gone): every file the program
    # changes is journaled.
    filejournal.install()
    S.config.root = os.path.realpath(spec.get("root") or os.getcwd())
    if spec.get("mode") == "script":
        _register_main(spec)
    else:
        from . import toplevel
        S.program = toplevel.MainProgram(None, sys.modules["__main__"])
    crashhook.install()
    loader.install()
    if S.active:
        import atexit
        from . import channel, signals, tee
        atexit.register(_at_exit)
        tee.install()
        signals.install()
        signals.hello()


boot()
