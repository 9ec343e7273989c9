"""Breakpoints before Python 3.12 at no cost outside the functions that hold them.

While sys.settrace is set, CPython calls the trace function at every call. So a function that holds
a breakpoint runs a variant of its code instead, whose prologue ends with AGENT[ENTER] (patch_*): the
agent gives that frame its line tracer and turns tracing on, with a builtin as the trace function
(no Python call per call), and off again when the last such frame returns. A breakpoint in a
function that is never called costs nothing.

The variant takes the code's place wherever a function can be made from it or already was: in the
co_consts of the code that defines it, written in place (the main script's module code is already
running when breakpoints arrive), and in the function objects that exist (one gc pass per newly
hooked code that was registered before). Written in place, the constants serve calls already running
too: a closure made after the breakpoint came is hooked whoever makes it. `arm` says when it cannot
cover every breakpoint (module or class level, a generator, a file the agent does not instrument):
tracing.py then traces every call.
"""
import _thread
import gc
import sys
import types

from . import debugger as dbg, instrument
from .state import S, PY311, MAIN_THREAD

_HOOKED = {}      # id(original code) -> (original, variant)
_ORIGINAL = {}    # id(variant) -> original
_ENTERED = set()  # id(frame) of the frames running now that were entered through a hook
_NOOP = getattr   # the trace function while only hooked frames are traced: getattr(frame, "call", None) is None
_tracing = [False]


def available():
    return sys.version_info < (3, 12) and _slots() is not None


def arm():
    """Hooks every current function that holds a breakpoint and unhooks the rest. Returns False when
    some breakpoint is in code no hook can reach."""
    D = dbg.D
    wanted = {}
    # A library's file is never instrumented, so never hooked; the user's files are, now or when imported.
    covered = all(instrument.is_user_file(path) for path in D.files)
    for ci in list(instrument.REGISTRY.values()):
        code = ci.code
        if id(code) in _ORIGINAL or not dbg.code_lines(code):
            continue
        if instrument.CURRENT.get(ci.version.filename) is not ci.version:
            continue   # a text a repair replaced: no new call runs it
        if ci.kind != "function":
            covered = False   # module or class level, a generator
            continue
        wanted[id(code)] = code
    for key, (orig, variant) in list(_HOOKED.items()):
        if key not in wanted:
            _unhook(orig, variant)
    for key, code in wanted.items():
        if key not in _HOOKED and not _hook(code, search=True):
            covered = False
    return covered


def disarm():
    for orig, variant in list(_HOOKED.values()):
        _unhook(orig, variant)
    _ENTERED.clear()
    _stop()


def registered(code):
    """A user module was just compiled (its code runs next): its functions that hold breakpoints are
    hooked in its code before any function is made from it. Returns False when a breakpoint in it is
    where no hook reaches (tracing.py then traces every call)."""
    if not dbg.D.files:
        return True
    covered = True
    stack = [code]
    while stack:
        c = stack.pop()
        stack += [k for k in c.co_consts if isinstance(k, types.CodeType)]
        if id(c) in _HOOKED or not dbg.code_lines(c):
            continue
        ci = instrument.info_for(c)
        if ci is None or ci.kind != "function" or not _hook(c, search=False):
            covered = False
    return covered


def running(frame):
    """A frame that holds a breakpoint was already running when the breakpoint came: traced as if
    it had been entered through its hook."""
    if id(frame) not in _ENTERED:
        _ENTERED.add(id(frame))
        _start()


def on_enter(frame):
    """AGENT[ENTER] from a variant's prologue (in every thread; only the main thread is traced)."""
    if S.busy or _thread.get_ident() != MAIN_THREAD or id(frame.f_code) not in _ORIGINAL:
        return
    from . import tracing
    frame.f_trace = tracing._local
    frame.f_trace_lines = True
    _ENTERED.add(id(frame))
    _start()
    if sys.version_info < (3, 10):
        # 3.8/3.9 give the prologue the first line's range: tracing that starts inside it sees no
        # line event for that line.
        line = frame.f_lineno
        if line in dbg.code_lines(frame.f_code):
            dbg.on_line(frame, line)


def on_return(frame):
    """A traced frame returns (or its exception leaves it): tracing stops with the last hooked frame."""
    if _ENTERED:
        _ENTERED.discard(id(frame))
        if not _ENTERED:
            _stop()


def _start():
    if not _tracing[0]:
        _tracing[0] = True
        from . import tracing
        if not tracing.tracing_every_call():
            sys.settrace(_NOOP)


def _stop():
    if _tracing[0]:
        _tracing[0] = False
        from . import tracing
        if not tracing.tracing_every_call():
            sys.settrace(None)


def settle():
    """tracing.py does not trace every call (any more): tracing on only while hooked frames run (and
    a trace function of the program's own left alone when there are none)."""
    want = bool(_ENTERED)
    if want or _tracing[0]:
        sys.settrace(_NOOP if want else None)
    _tracing[0] = want


# ----------------------------------------------------------------------------------------------
# Variants and where they go

def _hook(code, search):
    variant = _variant(code)
    if variant is None:
        return False
    _HOOKED[id(code)] = (code, variant)
    _ORIGINAL[id(variant)] = code
    _replace(code, variant, search)
    return True


def _unhook(orig, variant):
    _replace(variant, orig, True)
    del _HOOKED[id(orig)]
    del _ORIGINAL[id(variant)]


def _variant(code):
    """The code of `code`'s function as the agent patched it, with AGENT[ENTER] at its entry; its
    nested code objects are `code`'s own (they stay registered)."""
    ci = instrument.info_for(code)
    if ci is None or ci.version is None:
        return None
    try:
        plain = _plain_code(ci)
        if plain is None:
            return None
        nested = [k for k in code.co_consts if isinstance(k, types.CodeType)]
        consts, it = [], iter(nested)
        for k in plain.co_consts:
            consts.append(next(it) if isinstance(k, types.CodeType) else k)
        plain = plain.replace(co_consts=tuple(consts), co_filename=code.co_filename)
        variant, facts = instrument._patcher.patch(plain, "function", enter=True)
        # read back as the agent will read it: the same entry values as the code it stands for
        if facts is None or tuple(instrument._patcher.facts(variant) or ())[2:] != tuple(ci.facts[2:]):
            return None
    except Exception:
        return None
    instrument.REGISTRY[id(variant)] = instrument.CodeInfo(variant, ci.qualname, ci.version, ci.kind)
    return variant


def _plain_code(ci):
    """The code plain Python compiles for the function of `ci` (from the text the agent compiled)."""
    version = ci.version
    cache = getattr(version, "_plain_codes", None)
    if cache is None:
        top = compile(version.text, version.filename, "exec", dont_inherit=True)
        cache = {}
        stack = [(top, None)]
        while stack:
            c, prefix = stack.pop()
            for k in c.co_consts:
                if isinstance(k, types.CodeType):
                    if PY311:
                        q = k.co_qualname
                    elif prefix is None:
                        q = k.co_name
                    else:   # as instrument.register_tree names it
                        fn = instrument._kind(c) in ("function", "generator")
                        q = prefix + (".<locals>." if fn else ".") + k.co_name
                    cache.setdefault(q, k)
                    stack.append((k, q))
        version._plain_codes = cache
    return cache.get(ci.qualname)


def _replace(old, new, search):
    """`new` in the place of `old`: in every registered code's constants and, with `search`, in every
    function made from it."""
    slots = _slots()
    for ci in list(instrument.REGISTRY.values()):
        consts = ci.code.co_consts
        for i, k in enumerate(consts):
            if k is old:
                slots(consts)[i] = new
    if search:
        for obj in gc.get_objects():
            if type(obj) is types.FunctionType and obj.__code__ is old:
                obj.__code__ = new


_slot_writer = []


def _slots():
    """A writer of a tuple's items in place (CPython's layout: the items follow the header), or None
    where ctypes is missing. The tuple keeps the reference it had; the new item is kept alive by
    _HOOKED / the registry."""
    if not _slot_writer:
        try:
            import ctypes
            incref = ctypes.pythonapi.Py_IncRef
            incref.argtypes = [ctypes.py_object]
            size = ctypes.sizeof(ctypes.c_void_p)
            base = tuple.__basicsize__

            class _Items:
                def __init__(self, t):
                    self.t = t

                def __setitem__(self, i, value):
                    if not 0 <= i < len(self.t):
                        raise IndexError(i)
                    incref(value)
                    ctypes.c_void_p.from_address(id(self.t) + base + i * size).value = id(value)

            probe = (object(), object())
            mark = object()
            _Items(probe)[1] = mark
            _slot_writer.append(_Items if probe[1] is mark else None)
        except Exception:
            _slot_writer.append(None)
    return _slot_writer[0]
