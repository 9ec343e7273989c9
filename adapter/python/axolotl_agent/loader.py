"""Loading the user's modules instrumented.

A sys.path_hooks entry, placed before the standard FileFinder hook, answers only for folders of the
user's code with a FileFinder whose source loader instruments: the built-in, frozen and every other
importer keep their places and run no agent code.  The loader takes the code exactly as plain Python
would (from __pycache__, or compiled and written there, unchanged), then patches its functions.

The loader's functions are labelled as importlib's own (file "<frozen importlib._bootstrap_external>",
module "importlib._bootstrap_external"): CPython drops importlib frames from import tracebacks (a
SyntaxError in an imported module) and debuggers skip them; the agent's loader is part of that
machinery and is shown and hidden the same way.
"""
import sys
import importlib.machinery as _m
from os import getcwd as _getcwd

from . import instrument

_FROZEN_FILE = "<frozen importlib._bootstrap_external>"
_FROZEN_NAME = "importlib._bootstrap_external"


class InstrumentingLoader(_m.SourceFileLoader):

    def get_code(self, fullname):
        trace = sys.gettrace()
        if trace is not None:
            sys.settrace(None)  # a debugger stepping into the import skips the agent's work
        try:
            return _code(self, fullname, sys._getframe(1).f_code)
        finally:
            if trace is not None:
                sys.settrace(trace)

    def get_source(self, fullname):
        path = self.get_filename(fullname)
        if path in instrument.OVERRIDES:
            return instrument.OVERRIDES[path]
        return _m.SourceFileLoader.get_source(self, fullname)


def _code(loader, fullname, caller):
    path = loader.get_filename(fullname)
    # runpy asks for the code it runs as __main__ (a directory, a zip application, -m module)
    main = caller.co_name == "_get_module_details" and "runpy" in caller.co_filename
    text = instrument.OVERRIDES.get(path)
    if text is not None:   # a repaired text of a module not imported before the repair
        data = text.encode("utf-8", "surrogatepass")
        plain = instrument.compile_plain(data, path)
    else:
        # exactly what plain Python does: __pycache__ read or written, the compiler's warnings
        plain = _m.SourceFileLoader.get_code(loader, fullname)
        data = loader.get_data(path)
        text = instrument.decode_source(data)
    if main:
        code = instrument.instrumented_main(data, path, plain_code=plain)
        shim = sys.modules.get("sitecustomize")
        if getattr(shim, "__file__", "").startswith(_SHIM_DIR):
            del sys.modules["sitecustomize"]   # there was no real one
        if instrument.S.program is not None:
            instrument.S.program.filename = path
    else:
        code = instrument.instrumented_module(data, path, plain)
    version = instrument.SourceVersion(path, text, instrument.S.generation, is_main=main)
    instrument.register_tree(code, version)
    instrument.CURRENT[path] = version
    tracing = sys.modules.get(__package__ + ".tracing")
    if tracing is not None:
        tracing.registered(code)   # breakpoints in it, before 3.12: hooked before it runs
    return code


_SUPPORTED = None
_AGENT = _SHIM_DIR = "\0"


_ROOTS = ()


def _path_hook(path):
    # string operations only: a debugger stepping into an import must meet no agent frame here
    p = path if path.startswith("/") else _getcwd() + ("/" + path if path else "")
    if not (p + "/").startswith(_ROOTS) or "-packages" in p or p.startswith(_AGENT):
        raise ImportError("not a folder of the user's code", path=path)
    return _m.FileFinder(path, *_SUPPORTED)


def _disguise(fn):
    fn.__code__ = fn.__code__.replace(co_filename=_FROZEN_FILE)


def install():
    """Put the hook before the standard one and forget the finders already made for user folders."""
    global _SUPPORTED, _ROOTS, _AGENT, _SHIM_DIR, __name__
    import os
    root = instrument.S.config.root
    _ROOTS = tuple({r.rstrip("/") + "/" for r in (root, os.path.abspath(root))} if root else ())
    _AGENT = instrument.AGENT_DIR
    _SHIM_DIR = os.path.join(_AGENT, "_shim")
    _SUPPORTED = [(_m.ExtensionFileLoader, _m.EXTENSION_SUFFIXES),
                  (InstrumentingLoader, _m.SOURCE_SUFFIXES),
                  (_m.SourcelessFileLoader, _m.BYTECODE_SUFFIXES)]
    for fn in (InstrumentingLoader.get_code, InstrumentingLoader.get_source, _path_hook, _code):
        _disguise(fn)
    __name__ = _FROZEN_NAME  # noqa: F841 (the frames' module name, for debuggers' skip lists)
    hooks = sys.path_hooks
    pos = len(hooks)
    for i, h in enumerate(hooks):
        if "FileFinder" in getattr(h, "__qualname__", ""):
            pos = i
            break
    hooks.insert(pos, _path_hook)
    for p in list(sys.path_importer_cache):
        if instrument.is_user_dir(p):
            del sys.path_importer_cache[p]
