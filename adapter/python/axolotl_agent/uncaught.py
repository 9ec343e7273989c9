"""Decides, in the frame that raised and before unwinding, whether any caller will catch an exception.

The answer is asymmetric on purpose: a false "caught" only delays the report to the next instrumented
frame outward (at the latest the main script's module frame, where nothing is below to catch it);
a false "uncaught" would pause a healthy program, so every doubt answers "caught".

Exact parts
  * try/except: the caller frames are walked through f_back; for each, the try statements of its
    source whose *body* contains the frame's current line (f_lineno) are found in the AST of the
    source the frame's code was compiled from (the agent keeps every version it compiled; library
    frames use linecache), innermost first.  This AST method is used on every version 3.8-3.13.
    On 3.11+ co_exceptiontable + f_lasti is used first as a fast, precise filter: a library frame
    whose current instruction no exception-table entry covers cannot catch anything.
  * handler types that are names, dotted names (modules/classes only) or tuples of those are
    evaluated in the frame's locals/globals/builtins and matched with isinstance.
  * GeneratorExit, KeyboardInterrupt, SystemExit are never crashes.

Heuristic parts (documented guesses)
  * handler types that are any other expression (calls, subscripts...), or names that cannot be
    resolved, are assumed to match ("caught").
  * a try whose finally-block contains return/break/continue is assumed to swallow ("caught").
  * except* (3.11+) matching any handler type is assumed to catch.
  * with-statements covering the line: contextlib.suppress(T...) suppresses T exactly; a context
    manager whose __exit__ is implemented in C (files, locks) does not suppress; a Python __exit__
    whose every `return` returns None/False/nothing does not suppress; a @contextmanager generator
    whose yield is not inside a try with except clauses does not suppress; any other Python
    __exit__, or a manager we cannot identify without re-evaluating code, is assumed to suppress.
  * protocols: AttributeError escaping __getattr__/__getattribute__/__get__/a property or
    cached_property getter (hasattr, getattr with default); StopIteration escaping __next__ or a
    generator; StopAsyncIteration escaping __anext__ or an async generator; KeyError escaping
    __getitem__/__missing__; IndexError escaping __getitem__ (old iteration protocol); anything
    escaping __del__ (unraisable) -> "caught".  These are checked for every frame the exception
    would leave, not only the raising one.
  * a frame whose source is unavailable (frozen, C-generated) is assumed to catch; so is reaching
    the bottom of a stack that is not the main script's (threads: threading reports them itself).
  * a RecursionError is left to the main script's module frame (there is no room to analyse at the
    recursion limit).
  * any failure of this analysis counts as "caught".
"""
import ast
import contextlib
import linecache
import sys
import types

from .state import S, is_agent_file, PY311
from . import instrument, sources

_NEVER = (GeneratorExit, KeyboardInterrupt, SystemExit)
UNKNOWN = object()

_ast_cache = {}        # filename -> (lines tuple id, tree) for library files
_construct_cache = {}  # (id(code), lineno) -> (code, constructs)


def _is_property_getter(code):
    ci = instrument.info_for(code)
    if ci is None or ci.kind != "function" or ci.version is None:
        return False
    return sources.is_property(ci.version.node_for(ci.qualname))


def protocol_catches(exc, code):
    """Exceptions that leave a frame of this kind are part of a protocol, not a crash."""
    name = code.co_name
    if name == "__del__":
        return "exception in __del__ is unraisable"
    if isinstance(exc, AttributeError) and (name in ("__getattr__", "__getattribute__", "__get__")
                                            or _is_property_getter(code)):
        return "AttributeError from attribute protocol (%s)" % name
    if isinstance(exc, StopIteration) and (name == "__next__" or code.co_flags & 0x20):
        return "StopIteration from iteration protocol (%s)" % name
    if isinstance(exc, StopAsyncIteration) and (name == "__anext__" or code.co_flags & 0x200):
        return "StopAsyncIteration from async iteration protocol (%s)" % name
    if isinstance(exc, KeyError) and name in ("__getitem__", "__missing__"):
        return "KeyError from mapping protocol (%s)" % name
    if isinstance(exc, IndexError) and name == "__getitem__":
        return "IndexError from sequence iteration protocol (%s)" % name
    return None


def catcher_of(exc, frame, notes):
    """Whether some caller handles `exc`, which is escaping `frame` right now: (caught, the frame that
    will handle it or None when unknown). Why it was decided goes into `notes`."""
    if isinstance(exc, _NEVER):
        return True, None
    try:
        prog = S.program
        if prog is not None and prog.is_main_frame(frame):
            return False, None          # leaving the main script's module code: nobody catches
        why = protocol_catches(exc, frame.f_code)
        if why:
            notes.append(why)
            return True, frame.f_back
        f = frame.f_back
        while f is not None:
            c = f.f_code
            if is_agent_file(c.co_filename):
                f = f.f_back
                continue
            why = frame_catches(f, exc)
            if why:
                notes.append(why)
                return True, f
            if prog is not None and prog.is_main_frame(f):
                return False, None      # the main script's module code does not catch it: nobody does
            why = protocol_catches(exc, c)
            if why:
                notes.append(why)
                return True, f.f_back
            f = f.f_back
        notes.append("not below the main script's module code: assumed handled elsewhere")
        return True, None
    except Exception as e:  # the analysis must never make the program worse
        notes.append("analysis failed (%r): assumed caught" % (e,))
        return True, None


# ----------------------------------------------------------------------------------------------

def _exception_table_covers(code, lasti):
    """3.11+: is instruction offset `lasti` inside any exception-table range of `code`?"""
    from .patch_zerocost import read_exception_table
    unit = lasti // 2
    return any(s <= unit < e for s, e, _, _, _ in read_exception_table(code.co_exceptiontable))


def _tree_for(code, frame):
    ci = instrument.info_for(code)
    if ci is not None:
        return ci.version.tree, ci
    lines = linecache.getlines(code.co_filename, frame.f_globals)
    if not lines:
        return None, None
    key = code.co_filename
    cached = _ast_cache.get(key)
    if cached is not None and cached[0] is lines:
        return cached[1], None
    tree = ast.parse("".join(lines), code.co_filename)
    _ast_cache[key] = (lines, tree)
    return tree, None


def _scope_node(tree, code, ci):
    if code.co_name == "<module>" or (ci is not None and ci.kind in ("statement", "module")):
        return tree
    if ci is not None and ci.kind in ("function", "generator", "class"):
        return ci.version.node_for(ci.qualname)
    if code.co_name.startswith("<"):
        return "none"  # lambda / comprehension: cannot contain try or with
    first = code.co_firstlineno
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == code.co_name:
            if n.lineno == first or (n.decorator_list and n.decorator_list[0].lineno == first):
                return n
    return None


def _in_block(block, line):
    return bool(block) and block[0].lineno <= line <= (getattr(block[-1], "end_lineno", None) or block[-1].lineno)


def _constructs(code, lineno, frame):
    """Try/With statements of the frame's own scope whose body holds `lineno`, innermost first."""
    key = (id(code), lineno)
    hit = _construct_cache.get(key)
    if hit is not None and hit[0] is code:
        return hit[1]
    tree, ci = _tree_for(code, frame)
    if tree is None:
        return None
    scope = _scope_node(tree, code, ci)
    if scope is None:
        return None
    out = []
    if scope != "none":
        body = scope.body if hasattr(scope, "body") else []
        for n in sources.walk_scope(body):
            t = type(n).__name__
            if t in ("Try", "TryStar", "With", "AsyncWith") and _in_block(n.body, lineno):
                out.append(n)
    out.sort(key=lambda n: (n.lineno, n.col_offset), reverse=True)  # innermost (latest start) first
    _construct_cache[key] = (code, out)
    return out


def frame_catches(f, exc):
    code = f.f_code
    if PY311:
        try:
            ci = instrument.info_for(code)
            table = ci.original_table() if ci is not None else None
            if table is not None:
                if not any(s <= f.f_lasti // 2 < e for s, e, _, _, _ in table):
                    return None
            elif ci is None and not _exception_table_covers(code, f.f_lasti):
                return None
        except Exception:
            pass
    lineno = f.f_lineno
    if lineno is None:
        return None
    cons = _constructs(code, lineno, f)
    if cons is None:
        return "no source for %s (%s): assumed to catch" % (code.co_name, code.co_filename)
    for n in cons:
        t = type(n).__name__
        if t in ("Try", "TryStar"):
            for h in n.handlers:
                if h.type is None:
                    return "bare except in %s line %d" % (code.co_name, h.lineno)
                m = _matches(h.type, f, exc)
                if m:
                    return "%s: except at %s line %d" % (m, code.co_name, h.lineno)
            if n.finalbody and _contains_jump(n.finalbody):
                return "finally with return/break/continue at %s line %d may swallow" % (code.co_name, n.lineno)
        else:
            for item in reversed(n.items):
                why = _with_suppresses(item, f, exc)
                if why:
                    return why + " (with at %s line %d)" % (code.co_name, n.lineno)
    return None


def _contains_jump(block):
    return any(isinstance(x, (ast.Return, ast.Break, ast.Continue)) for x in sources.walk_scope(block))


def _lookup(name, f):
    code = f.f_code
    if code.co_name == "<module>" or name in code.co_varnames or name in code.co_cellvars or name in code.co_freevars:
        loc = f.f_locals
        if name in loc:
            return loc[name]
    g = f.f_globals
    if name in g:
        return g[name]
    b = f.f_builtins
    if name in b:
        return b[name]
    return UNKNOWN


def _evaluate(expr, f):
    """Side-effect-free evaluation of names / module or class attributes / tuples of those."""
    if isinstance(expr, ast.Name):
        return _lookup(expr.id, f)
    if isinstance(expr, ast.Attribute):
        base = _evaluate(expr.value, f)
        if base is UNKNOWN or not isinstance(base, (types.ModuleType, type)):
            return UNKNOWN
        try:
            return getattr(base, expr.attr)
        except Exception:
            return UNKNOWN
    if isinstance(expr, ast.Tuple):
        vals = tuple(_evaluate(e, f) for e in expr.elts)
        return UNKNOWN if any(v is UNKNOWN for v in vals) else vals
    return UNKNOWN


def _matches(type_expr, f, exc):
    t = _evaluate(type_expr, f)
    if t is UNKNOWN:
        return "handler type not evaluable, assumed to match"
    try:
        if isinstance(exc, t):
            return "matching handler"
        return None
    except TypeError:
        return "handler type not a class, assumed to match"


def _c_exit(tp):
    ex = getattr(tp, "__exit__", None)
    if ex is None:
        return None
    return not isinstance(ex, types.FunctionType)


def _function_never_suppresses(fn):
    """A Python __exit__ whose returns are all None/False (or absent) cannot suppress."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return False
    node = _def_node(code, fn)
    if node is None:
        return False
    for n in sources.walk_scope(node.body):
        if isinstance(n, ast.Return) and n.value is not None:
            v = n.value
            if not (isinstance(v, ast.Constant) and v.value in (None, False)):
                return False
    return True


def _def_node(code, fn):
    ci = instrument.info_for(code)
    if ci is not None:
        tree = ci.version.tree
    else:
        lines = linecache.getlines(code.co_filename, getattr(fn, "__globals__", None))
        if not lines:
            return None
        try:
            tree = ast.parse("".join(lines))
        except SyntaxError:
            return None
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == code.co_name:
            if n.lineno == code.co_firstlineno or (n.decorator_list and n.decorator_list[0].lineno == code.co_firstlineno):
                return n
    return None


def _generator_cm_never_suppresses(genfunc):
    node = _def_node(genfunc.__code__, genfunc)
    if node is None:
        return False
    for n in sources.walk_scope(node.body):
        if isinstance(n, ast.Try) and n.handlers and _contains_yield(n.body):
            return False
    return True


def _contains_yield(block):
    return any(isinstance(x, (ast.Yield, ast.YieldFrom)) for x in sources.walk_scope(block))


def _type_never_suppresses(tp):
    c = _c_exit(tp)
    if c is None:
        return False
    if c:
        return True
    return _function_never_suppresses(tp.__exit__)


def _with_suppresses(item, f, exc):
    expr = item.context_expr
    if isinstance(expr, ast.Call):
        func = _evaluate(expr.func, f)
        if func is contextlib.suppress:
            types_ = tuple(_evaluate(a, f) for a in expr.args)
            if any(t is UNKNOWN for t in types_):
                return "contextlib.suppress with unknown types"
            try:
                return "contextlib.suppress" if types_ and isinstance(exc, types_) else None
            except TypeError:
                return "contextlib.suppress with odd types"
        if func is open or getattr(func, "__module__", None) in ("io", "_io") and getattr(func, "__name__", "") == "open":
            return None  # file objects: C __exit__, never suppresses
        if isinstance(func, type):
            return None if _type_never_suppresses(func) else "context manager %s may suppress (Python __exit__)" % func.__qualname__
        wrapped = getattr(func, "__wrapped__", None)
        if isinstance(func, types.FunctionType) and getattr(func, "__module__", None) == "contextlib" and \
                isinstance(wrapped, types.FunctionType):
            if _generator_cm_never_suppresses(wrapped):
                return None
            return "@contextmanager %s may suppress" % wrapped.__qualname__
        return "context manager from a call we cannot classify: assumed to suppress"
    obj = _evaluate(expr, f) if isinstance(expr, ast.Name) else UNKNOWN
    if obj is UNKNOWN and isinstance(expr, ast.Attribute):
        base = _evaluate(expr.value, f)
        d = getattr(base, "__dict__", None) if base is not UNKNOWN else None
        if isinstance(d, dict) and expr.attr in d:
            obj = d[expr.attr]
        elif base is not UNKNOWN and isinstance(base, (types.ModuleType, type)):
            obj = getattr(base, expr.attr, UNKNOWN)
    if obj is UNKNOWN:
        return "context manager not identifiable: assumed to suppress"
    if _type_never_suppresses(type(obj)):
        return None
    return "context manager %s may suppress (Python __exit__)" % type(obj).__qualname__
