"""Looking into a paused program for the debugger: expressions and statements run in a chosen frame,
bounded value views whose children are fetched by reference, assignments, and Debug Console
completions.

Everything runs under a time limit (SIGALRM on the main thread: an endless expression is stopped,
the program stays paused) and every repr is cut to a size. Names that look secret are redacted as in
crash reports (report.is_secret): a variable, attribute or dict key so named, and an expression whose
last name is one (`api_key`, `cfg.token`, `env["PASSWORD"]`), show "<redacted>" and no children.

A Scope is one paused moment (a crash, a breakpoint, a pause): its frames, outermost first as in the
report the engine got, and the containers handed out by reference. References die with the Scope,
when the program runs again.
"""
import ast
import signal
import sys
import threading
import time
import types

from .state import S
from . import report

EVAL_SECONDS = 5.0        # an evaluation, a variables listing, a completion
CONDITION_SECONDS = 1.0   # a breakpoint condition or logpoint expression, evaluated while the program runs
REPR_LIMIT = 1000
MAX_CHILDREN = 300
MAX_COMPLETIONS = 200
CO_OPTIMIZED = 0x1
FILENAME = "<debug>"

_ATOMIC = (str, bytes, bytearray, int, float, complex, bool, type(None), types.FunctionType,
           types.BuiltinFunctionType, types.MethodType, types.CodeType, types.FrameType)


class Timeout(BaseException):
    """The time limit ran out. A BaseException, so an `except Exception` in evaluated code cannot swallow it."""


# Longer than a crash report's: the Debug Console shows one value at a time.
_repr = report.make_repr(REPR_LIMIT, 50, 4)


def bounded_repr(value):
    return report.bounded_repr(value, _repr, REPR_LIMIT)


class time_limit:
    """Raises Timeout in the evaluated code after `seconds` (main thread only; elsewhere no limit).
    The program's own SIGALRM handler and timer are put back afterwards, its timer less the time used."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.active = False

    def __enter__(self):
        if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
            return self
        self.started = time.monotonic()
        self.handler = signal.signal(signal.SIGALRM, self._expired)
        self.timer = signal.setitimer(signal.ITIMER_REAL, self.seconds)
        self.active = True
        return self

    def _expired(self, signum, frame):
        raise Timeout("stopped after %g s" % self.seconds)

    def __exit__(self, *exc):
        if not self.active:
            return False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.handler if self.handler is not None else signal.SIG_DFL)
        delay, interval = self.timer
        if delay or interval:
            used = time.monotonic() - self.started
            signal.setitimer(signal.ITIMER_REAL, max(delay - used, 0.001) if delay else 0, interval)
        return False


def error_text(e):
    if isinstance(e, Timeout):
        return "the evaluation took longer than %g s and was stopped" % EVAL_SECONDS
    try:
        return "%s: %s" % (type(e).__name__, e) if str(e) else type(e).__name__
    except Exception:
        return type(e).__name__


# ----------------------------------------------------------------------------------------------
# Namespaces of a frame

def namespaces(frame):
    """(globals, locals) of a frame. Top-level code (statements and hoisted loop bodies, which the
    agent compiles as separate code objects named <module>) uses the module's globals as locals."""
    g = frame.f_globals
    if frame.f_code.co_name == "<module>":
        return g, g
    return g, frame.f_locals


def write_back(frame, loc):
    """Makes assignments to a function frame's f_locals dict real (3.13's f_locals writes through)."""
    if loc is frame.f_globals or not frame.f_code.co_flags & CO_OPTIMIZED or sys.version_info >= (3, 13):
        return
    import ctypes
    ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))


def _visible_locals(frame):
    g, loc = namespaces(frame)
    if loc is g:
        return report._module_vars(g)
    return {k: v for k, v in loc.items() if not str(k).startswith("__axl")}


# ----------------------------------------------------------------------------------------------
# Values

def _secret_name(tree):
    """The last name of an expression (x, a.b.x, d["x"]), to apply the redaction rule to."""
    node = tree.body if isinstance(tree, ast.Expression) else None
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Subscript):
        sl = node.slice
        if sys.version_info < (3, 9) and isinstance(sl, ast.Index):
            sl = sl.value
        if isinstance(sl, ast.Constant) and isinstance(sl.value, str):
            return sl.value
    return None


def _has_children(value):
    if isinstance(value, _ATOMIC):
        return False
    try:
        if isinstance(value, (list, tuple, dict, set, frozenset)):
            return len(value) > 0
        if isinstance(value, (type, types.ModuleType)):
            return True
        d = getattr(value, "__dict__", None)
        if isinstance(d, dict) and d:
            return True
        return bool(getattr(type(value), "__slots__", None))
    except Exception:
        return False


def _children(value):
    """[(name, child value, how to assign it, name for the redaction rule)] bounded by MAX_CHILDREN;
    a final ("…", count, None, None) says how many were left out."""
    out = []
    total = None
    if isinstance(value, dict):
        total = len(value)
        for k, v in value.items():
            if len(out) >= MAX_CHILDREN:
                break
            out.append((bounded_repr(k)[:200], v, ("item", k), k if isinstance(k, str) else None))
    elif isinstance(value, (list, tuple)):
        total = len(value)
        for i, v in enumerate(value[:MAX_CHILDREN]):
            out.append((str(i), v, ("item", i) if isinstance(value, list) else None, None))
    elif isinstance(value, (set, frozenset)):
        total = len(value)
        for i, v in enumerate(value):
            if i >= MAX_CHILDREN:
                break
            out.append((str(i), v, None, None))
    else:
        names = []
        d = getattr(value, "__dict__", None)
        if isinstance(d, (dict, types.MappingProxyType)):
            names = [k for k in d if isinstance(k, str) and not (k.startswith("__") and k.endswith("__"))]
        for cls in type(value).__mro__:
            for k in getattr(cls, "__slots__", ()) or ():
                if isinstance(k, str) and k not in names and not k.startswith("__"):
                    names.append(k)
        total = len(names)
        for k in names[:MAX_CHILDREN]:
            try:
                v = getattr(value, k)
            except Timeout:
                raise
            except Exception as e:
                v = _Unreadable(e)
            out.append((k, v, ("attr", k), k))
    if total is not None and total > len(out):
        out.append(("…", _More(total - len(out)), None, None))
    return out


class _Unreadable:
    def __init__(self, e):
        self.text = "<%s>" % error_text(e)


class _More:
    def __init__(self, n):
        self.text = "(%d more not shown)" % n


class Scope:
    """One paused moment: its frames (outermost first) and the values handed out by reference."""

    def __init__(self, frames, exc=None):
        self.frames = list(frames)
        self.exc = exc
        self._refs = []   # index + 1 = reference: (container, frame index, kind)

    def frame(self, index):
        if index is None:
            index = len(self.frames) - 1
        if not isinstance(index, int) or not 0 <= index < len(self.frames):
            raise LookupError("no frame %r in the paused program" % (index,))
        return self.frames[index]

    def _ref(self, container, frame_index, kind):
        self._refs.append((container, frame_index, kind))
        return len(self._refs)

    def _lookup(self, ref):
        if not isinstance(ref, int) or not 0 < ref <= len(self._refs):
            raise LookupError("the value is no longer available (the program ran since)")
        return self._refs[ref - 1]

    def describe(self, value, frame_index, name=None):
        if isinstance(value, (_Unreadable, _More)):
            return {"repr": value.text, "type": "", "ref": 0}
        tname = report._type_name(value)
        if name is not None and report.is_secret(name):
            return {"repr": "<redacted>", "type": tname, "ref": 0, "redacted": True}
        out = {"repr": bounded_repr(value), "type": tname,
               "ref": self._ref(value, frame_index, "value") if _has_children(value) else 0}
        if isinstance(value, (list, tuple, dict, set, frozenset)):
            out["count"] = len(value)
        return out

    # ---- the commands ------------------------------------------------------------------------

    def evaluate(self, frame_index, expression, context):
        frame = self.frame(frame_index)
        frame_index = self.frames.index(frame)
        g, loc = namespaces(frame)
        expression = expression.strip()
        try:
            tree = ast.parse(expression, FILENAME, "eval")
        except SyntaxError:
            if context != "repl":
                raise
            # A statement typed in the Debug Console: run it for its effect.
            code = compile(expression, FILENAME, "exec")
            with time_limit(EVAL_SECONDS):
                exec(code, g, loc)
            write_back(frame, loc)
            return {"repr": "", "type": "", "ref": 0}
        if context == "hover" and not _side_effect_free(tree):
            raise ValueError("hovers show names, attributes and items only")
        code = compile(tree, FILENAME, "eval")
        with time_limit(EVAL_SECONDS):
            value = eval(code, g, loc)
            if context == "repl":
                write_back(frame, loc)  # a walrus, or a call that assigned through locals()
            return self.describe(value, frame_index, _secret_name(tree))

    def variables(self, ref=None, frame_index=None, scope="locals"):
        with time_limit(EVAL_SECONDS):
            if ref:
                container, frame_index, kind = self._lookup(ref)
            else:
                frame = self.frame(frame_index)
                frame_index = self.frames.index(frame)
                container, kind = self._scope_container(frame, scope)
            if kind == "value":
                items = _children(container)
            else:
                items = [(str(k), v, None, k) for k, v in container.items()][:MAX_CHILDREN]
            out = []
            for name, v, _how, secret in items:
                d = self.describe(v, frame_index, secret)
                d["name"] = name
                out.append(d)
            return out

    def _scope_container(self, frame, scope):
        if scope == "globals":
            return report._module_vars(frame.f_globals), "scope"
        return _visible_locals(frame), "scope"

    def set_variable(self, name, value_text, ref=None, frame_index=None, scope="locals"):
        if ref:
            container, frame_index, kind = self._lookup(ref)
        else:
            kind = scope
        frame = self.frame(frame_index)
        frame_index = self.frames.index(frame)
        g, loc = namespaces(frame)
        with time_limit(EVAL_SECONDS):
            value = eval(compile(value_text.strip(), FILENAME, "eval"), g, loc)
            if kind == "locals":
                if name not in loc and loc is not g:
                    raise NameError("no local variable %r in %s" % (name, frame.f_code.co_name))
                loc[name] = value
                write_back(frame, loc)
            elif kind == "globals":
                g[name] = value
            else:
                self._assign_child(container, name, value)
            return self.describe(value, frame_index, name)

    def _assign_child(self, container, name, value):
        for child, _v, how, _secret in _children(container):
            if child != name:
                continue
            if how is None:
                break
            if how[0] == "item":
                container[how[1]] = value
            else:
                setattr(container, how[1], value)
            return
        raise ValueError("%s cannot be changed here" % name)

    def completions(self, frame_index, text, offset):
        import re
        import rlcompleter
        import builtins
        frame = self.frame(frame_index)
        g, loc = namespaces(frame)
        token = re.search(r"[A-Za-z_][\w.]*$|$", text[:max(0, offset)]).group(0)
        ns = dict(vars(builtins))
        ns.update(g)
        if loc is not g:
            ns.update(loc)
        completer = rlcompleter.Completer(ns)
        found = []
        with time_limit(EVAL_SECONDS):
            if not token:
                found = sorted(k for k in ns if not k.startswith("__axl"))
            else:
                state = 0
                while len(found) < MAX_COMPLETIONS:
                    r = completer.complete(token, state)
                    if r is None:
                        break
                    found.append(r)
                    state += 1
        head = token.rpartition(".")[0]
        out = []
        seen = set()
        for r in found[:MAX_COMPLETIONS]:
            call = r.endswith("(")
            r = r.rstrip("(").rstrip(": ")
            label = r[len(head) + 1:] if head and r.startswith(head + ".") else r
            if not label or label in seen or label.startswith("__axl"):
                continue
            seen.add(label)
            kind = "function" if call else ("property" if head else "variable")
            if not head and label in _KEYWORDS:
                kind = "keyword"
            out.append({"label": label, "type": kind})
        return {"targets": out, "replace": len(token) - len(head) - (1 if head else 0)}


_KEYWORDS = set(__import__("keyword").kwlist)
_SAFE_NODES = (ast.Expression, ast.Name, ast.Attribute, ast.Subscript, ast.Constant, ast.Load, ast.Slice,
               ast.Tuple, ast.UnaryOp, ast.USub, ast.UAdd)
if sys.version_info < (3, 9):
    _SAFE_NODES += (ast.Index, ast.ExtSlice)


def _side_effect_free(tree):
    """Hovers evaluate what the mouse rests on: only names, attributes and items, never a call."""
    return all(isinstance(n, _SAFE_NODES) for n in ast.walk(tree))


def condition(frame, expression):
    """A breakpoint condition or logpoint part, evaluated in a running program's frame. Raises."""
    g, loc = namespaces(frame)
    with time_limit(CONDITION_SECONDS):
        return eval(compile(expression, FILENAME, "eval"), g, loc)


def run_command(scope, cmd):
    """One debug command of the engine (agentProtocol.ts DebugCommand) -> its debugResult."""
    import os
    out = {"type": "debugResult", "pid": os.getpid(), "id": cmd.get("id"), "ok": True}
    kind = cmd.get("type")
    try:
        if scope is None:
            raise LookupError("the program is not paused")
        if kind == "evaluate":
            out["value"] = scope.evaluate(cmd.get("frame"), str(cmd.get("expression", "")), cmd.get("context") or "repl")
        elif kind == "variables":
            out["variables"] = scope.variables(cmd.get("ref"), cmd.get("frame"), cmd.get("scope") or "locals")
        elif kind == "setVariable":
            out["value"] = scope.set_variable(str(cmd.get("name", "")), str(cmd.get("value", "")), cmd.get("ref"),
                                              cmd.get("frame"), cmd.get("scope") or "locals")
        elif kind == "completions":
            out.update(scope.completions(cmd.get("frame"), str(cmd.get("text", "")), int(cmd.get("offset") or 0)))
        else:
            raise ValueError("unknown debug command %r" % (kind,))
    except BaseException as e:  # noqa: B902 - whatever the evaluated code raises is the answer
        if isinstance(e, KeyboardInterrupt):
            raise
        out["ok"] = False
        out["error"] = error_text(e)
    return out
