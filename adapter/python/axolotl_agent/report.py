"""The crash report: bounded value views with secret redaction, Python-identical traceback text,
frame lists without agent frames (the output tail comes from tee.py)."""
import os
import reprlib
import sys
import traceback
import types

from .state import S, is_agent_file, PY311
from . import instrument

REPR_LIMIT = 200
MAX_CHILDREN = 20
MAX_DEPTH = 2
# The one rule for secret-looking names (the engine's repair/redact.ts applies the same to program
# output; both are tested against test/fixtures/redaction/secret-names.json): a name is split into
# words at every character that is not an ASCII letter, between a lower-case and an upper-case letter
# (apiKey) and before the last capital of a run of capitals followed by lower case (APIToken); it is
# secret when a word is one of these, or when its last word is "key" after another (api_key). Whole
# words only: `keys`, `author`, `monkey`, `tokenizer` are shown, and so is `key` alone (the most
# common name in a KeyError: hiding it would hide the bug).
SECRET_WORDS = frozenset((
    "token", "tokens", "password", "passwords", "passwd", "pwd", "secret", "secrets", "credential", "credentials",
    "apikey", "auth", "authorization", "cookie", "session", "private", "passphrase", "signature",
))
_NAME_WORDS = None

class _Repr(reprlib.Repr):
    """reprlib gives bytes and bytearray no bound: it would build the whole repr (800 MB for a 200 MB
    buffer, seconds of work, then cut it). Cut first, like reprlib does for str."""

    def repr_bytes(self, x, level):
        s = repr(x[:self.maxstring])
        if len(s) > self.maxstring:
            i = max(0, (self.maxstring - 3) // 2)
            j = max(0, self.maxstring - 3 - i)
            s = s[:i] + "..." + s[len(s) - j:]
        return s

    repr_bytearray = repr_bytes


def make_repr(limit, items, levels):
    """reprlib settings: `limit` characters per string/object, `items` per container, `levels` deep."""
    r = _Repr()
    r.maxstring = r.maxother = limit
    r.maxlist = r.maxtuple = r.maxset = r.maxfrozenset = r.maxdeque = r.maxdict = items
    r.maxlevel = levels
    return r


_repr = make_repr(REPR_LIMIT, 20, 3)


def name_words(name):
    """`apiKey`, `API_KEY`, `db-password2`, `APIToken` as lower-case words."""
    global _NAME_WORDS
    if _NAME_WORDS is None:
        import re
        _NAME_WORDS = (re.compile(r"([a-z])([A-Z])"), re.compile(r"([A-Z]+)([A-Z][a-z])"), re.compile(r"[^A-Za-z]+"))
    camel, acronym, sep = _NAME_WORDS
    text = acronym.sub(r"\1_\2", camel.sub(r"\1_\2", str(name)))
    return [w.lower() for w in sep.split(text) if w]


def is_secret(name):
    words = name_words(name)
    if any(w in SECRET_WORDS for w in words):
        return True
    return len(words) > 1 and words[-1] == "key"


def bounded_repr(value, r=_repr, limit=REPR_LIMIT):
    """repr() cut to `limit` characters (`r`: the reprlib settings; the debugger shows more)."""
    try:
        text = r.repr(value)
    except Exception as e:
        text = "<repr failed: %s>" % type(e).__name__
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text


def _type_name(value):
    try:
        return type(value).__qualname__
    except Exception:
        return "?"


def agent_value(value, name=None, depth=0):
    if name is not None and is_secret(name):
        return {"repr": "<redacted>", "type": _type_name(value), "redacted": True}
    out = {"repr": bounded_repr(value), "type": _type_name(value)}
    if depth >= MAX_DEPTH:
        return out
    children = None
    try:
        if isinstance(value, (list, tuple)):
            children = {"[%d]" % i: agent_value(v, None, depth + 1) for i, v in enumerate(value[:MAX_CHILDREN])}
        elif isinstance(value, dict):
            children = {}
            for i, (k, v) in enumerate(value.items()):
                if i >= MAX_CHILDREN:
                    break
                children[bounded_repr(k)] = agent_value(v, k if isinstance(k, str) else None, depth + 1)
        elif isinstance(value, (set, frozenset)):
            children = {}
            for i, v in enumerate(value):
                if i >= MAX_CHILDREN:
                    break
                children["{%d}" % i] = agent_value(v, None, depth + 1)
        elif not isinstance(value, (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
                                    types.MethodType, str, bytes, int, float, complex, bool)):
            d = getattr(value, "__dict__", None)
            if isinstance(d, dict):
                children = {}
                for i, (k, v) in enumerate(d.items()):
                    if i >= MAX_CHILDREN:
                        break
                    children[str(k)] = agent_value(v, k, depth + 1)
    except Exception:
        children = None
    if children:
        out["children"] = children
    return out


def _module_vars(g):
    out = {}
    for k, v in g.items():
        if k.startswith("__") or isinstance(v, (types.ModuleType, types.FunctionType, type)):
            continue
        out[k] = v
        if len(out) >= 100:
            break
    return out


def frame_locals(frame):
    try:
        code = frame.f_code
        if code.co_name == "<module>":
            loc = _module_vars(frame.f_globals)
        else:
            loc = frame.f_locals
        return {str(k): agent_value(v, k) for k, v in list(loc.items()) if not str(k).startswith("__axl")}
    except Exception:
        return {}


def qualname_of(code):
    ci = instrument.info_for(code)
    if ci is not None and ci.qualname:
        return ci.qualname
    if code.co_name == "<module>":
        return "<module>"
    return getattr(code, "co_qualname", code.co_name)


def hidden(code):
    """The agent's own frames (the ones a continuation of the main script runs under)."""
    return is_agent_file(code.co_filename)


def live_stack(frame):
    """The callers of `frame`, outermost first: up to the main script's module frame (the frames
    below it, runpy's for `-m`, are not the program's), without agent frames."""
    out = []
    f = frame.f_back
    prog = S.program
    if prog is not None and prog.is_main_frame(frame):
        return out
    while f is not None:
        if not hidden(f.f_code):
            out.append(f)
        if prog is not None and prog.is_main_frame(f):
            break
        f = f.f_back
    out.reverse()
    return out


def _tb_entries(tb):
    keep = []
    while tb is not None:
        if not hidden(tb.tb_frame.f_code):
            keep.append(tb)
        tb = tb.tb_next
    return keep


def filter_tb(tb):
    """A copy of a traceback chain without agent frames (what plain Python would have)."""
    entries = [(t.tb_frame, t.tb_lasti, t.tb_lineno) for t in _tb_entries(tb)]
    new = None
    for fr, lasti, lineno in reversed(entries):
        new = types.TracebackType(new, fr, lasti, lineno)
    return new


def clean_exception(exc, seen=None):
    """Strip agent frames from exc and its chained exceptions, in place."""
    if seen is None:
        seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        try:
            exc.__traceback__ = filter_tb(exc.__traceback__)
        except Exception:
            pass
        if exc.__cause__ is not None:
            clean_exception(exc.__cause__, seen)
        exc = exc.__context__


def full_traceback(exc, outer_frames):
    """Traceback text as Python will print it: live callers + the exception's own traceback."""
    tb = filter_tb(exc.__traceback__)
    for f in reversed(outer_frames):
        tb = types.TracebackType(tb, f, f.f_lasti, f.f_lineno)
    saved = exc.__traceback__
    try:
        exc.__traceback__ = tb
        clean_exception(exc.__context__) if exc.__context__ is not None else None
        te = traceback.TracebackException(type(exc), exc, tb)
        return "".join(te.format())
    finally:
        exc.__traceback__ = saved


def agent_frame(frame, line, restartable):
    code = frame.f_code
    user = instrument.is_user_file(code.co_filename)
    d = {
        "file": os.path.abspath(code.co_filename) if not code.co_filename.startswith("<") else code.co_filename,
        "line": line or 0,
        "function": code.co_name,
        "qualname": qualname_of(code),
        "user": user,
        "restartable": bool(restartable),
    }
    if user:
        d["locals"] = frame_locals(frame)
    return d


def build_report(exc, outer_frames, restartable, notes):
    """outer_frames: live callers (outermost first); the rest comes from exc.__traceback__."""
    frames = [agent_frame(f, f.f_lineno, restartable(f)) for f in outer_frames]
    for t in _tb_entries(exc.__traceback__):
        frames.append(agent_frame(t.tb_frame, t.tb_lineno, restartable(t.tb_frame)))
    t = type(exc)
    mod = getattr(t, "__module__", "builtins")
    try:
        message = str(exc)
    except Exception:
        message = "<str() failed>"
    rep = {
        "type": "crash",
        "pid": os.getpid(),
        "generation": S.generation,
        "exception": {"type": t.__name__, "message": message[:2000],
                      "qualifiedType": "%s.%s" % (mod, t.__qualname__)},
        "traceback": full_traceback(exc, outer_frames),
        "frames": frames,
    }
    if S.tail is not None:
        rep["outputTail"] = S.tail.text()
    if notes:
        rep["notes"] = list(notes)
    return rep


# ----------------------------------------------------------------------------------------------
