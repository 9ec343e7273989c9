"""AST instrumentation of the user's code, the compiled-code registry, the code cache and the import hook.

Every user function body is wrapped (line numbers and columns of the user's statements are untouched,
so tracebacks are identical to plain Python's)::

    def f(a, b, *args, c, **kw):
        __axl_p__ = (b,)                    # only parameters the body rebinds (restart rolls them back)
        __axl_g__ = __axl_gsnap__(('n',))   # only when the body declares `global n` and assigns it
        try:
            <body>
        except BaseException:
            if __axl_hook__(FLAGS):         # the agent decides in the raising frame, before unwinding
                raise                       # bare raise: the traceback is unchanged
        else:
            return None
        return __axl_done__(__axl_fn__(__axl_g__)(a, __axl_p__[0], *args, c=c, **kw))

The last line runs only when the agent asked this frame to restart; it runs outside the except clause
so the restarted call does not see the old exception as its context.  Generators and coroutines
get only ``except BaseException: __axl_hook__(FLAGS); raise`` (they cannot be restarted).
On Python 3.11+ the try costs nothing on the happy path; on 3.8-3.10 it is SETUP_FINALLY/POP_BLOCK.

Hook names end in ``__`` so class-private name mangling leaves them alone; they live in builtins so
the user's module namespaces are not polluted.
"""
import ast
import io
import marshal
import os
import sys
import types
import importlib.machinery

from . import AGENT_VERSION, AGENT_DIR
from .state import S, PY311

# Flags passed to __axl_hook__ (a constant in the code, so the happy path pays nothing for them).
F_GEN = 1        # generator / async generator body
F_ASYNC = 2      # coroutine or async generator
F_PROP = 4       # property/cached_property getter: AttributeError is the attribute protocol
F_LOOPBODY = 8   # hoisted body of a top-level loop of the main script

CO_OPTIMIZED = 0x1

REGISTRY = {}    # id(code) -> CodeInfo (keeps the code alive so ids stay valid)
CURRENT = {}     # filename -> SourceVersion currently in force
OVERRIDES = {}   # filename -> patched text of user modules not imported yet
HOIST_OUTER = set()   # ids of top-level loop statements' code (frames hidden from tracebacks)
_MEM_CACHE = {}


class SourceVersion:
    """One text of one file as compiled by the agent; parsed lazily for analysis and patch matching."""

    def __init__(self, filename, text, generation, is_main=False):
        self.filename = filename
        self.text = text
        self.generation = generation
        self.is_main = is_main
        self._tree = None
        self._nodes = None
        self._fps = {}

    @property
    def tree(self):
        if self._tree is None:
            self._tree = ast.parse(self.text, self.filename)
        return self._tree

    def node_for(self, qualname):
        if self._nodes is None:
            self._nodes = index_defs(self.tree)
        return self._nodes.get(qualname)

    def qualnames(self):
        if self._nodes is None:
            self._nodes = index_defs(self.tree)
        return self._nodes

    def fingerprint(self, qualname):
        """Line-insensitive dump of the def's own code (nested defs reduced to their header)."""
        fp = self._fps.get(qualname)
        if fp is None:
            node = self.node_for(qualname)
            fp = own_dump(node) if node is not None else ""
            self._fps[qualname] = fp
        return fp


class CodeInfo:
    __slots__ = ("code", "qualname", "version", "kind", "flags", "loopkey")

    def __init__(self, code, qualname, version, kind, flags=0, loopkey=None):
        self.code = code
        self.qualname = qualname
        self.version = version
        self.kind = kind          # function | class | module | stmt | loopbody | loopouter | other
        self.flags = flags
        self.loopkey = loopkey


def current_key(path):
    """The key under which a file is known (compile filenames may be relative on 3.8)."""
    if path in CURRENT:
        return path
    real = os.path.realpath(os.path.abspath(path))
    for k in CURRENT:
        if os.path.realpath(os.path.abspath(k)) == real:
            return k
    return real


def info_for(code):
    ci = REGISTRY.get(id(code))
    if ci is not None and ci.code is code:
        return ci
    return None


# ----------------------------------------------------------------------------------------------
# Helpers over the AST

def index_defs(tree):
    """qualname -> FunctionDef/ClassDef node, following CPython's __qualname__ rules."""
    out = {}

    def walk(node, prefix, in_func):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if prefix is None:
                    q = child.name
                else:
                    q = prefix + (".<locals>." if in_func else ".") + child.name
                out[q] = child
                walk(child, q, not isinstance(child, ast.ClassDef))
            elif isinstance(child, ast.Lambda):
                continue
            else:
                walk(child, prefix, in_func)

    walk(tree, None, False)
    return out


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def own_dump(node):
    def fmt(n, top=False):
        if isinstance(n, ast.AST):
            if not top and isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return "Def(%s,%s,%s,%s)" % (n.name, fmt(n.decorator_list), fmt(n.args.defaults),
                                            fmt(n.args.kw_defaults))
            if not top and isinstance(n, ast.ClassDef):
                return "Class(%s,%s,%s,%s)" % (n.name, fmt(n.decorator_list), fmt(n.bases), fmt(n.keywords))
            return "%s(%s)" % (type(n).__name__, ",".join(
                "%s=%s" % (f, fmt(getattr(n, f, None))) for f in n._fields))
        if isinstance(n, list):
            return "[" + ",".join(fmt(x) for x in n) + "]"
        return repr(n)

    return fmt(node, True)


def walk_scope(nodes):
    """ast.walk over statements, not entering nested function/class/lambda scopes."""
    stack = list(nodes)
    while stack:
        n = stack.pop()
        yield n
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, _SCOPES):
                stack.append(c)


def bound_names(nodes):
    """Names a block binds in its own scope (assignment, for, with, except-as, import, def, walrus...)."""
    out = set()
    for n in walk_scope(nodes):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                out.add((a.asname or a.name).split(".")[0])
        elif isinstance(n, _SCOPES[:3]):
            out.add(n.name)
        elif type(n).__name__ in ("MatchAs", "MatchStar") and getattr(n, "name", None):
            out.add(n.name)
        elif type(n).__name__ == "MatchMapping" and getattr(n, "rest", None):
            out.add(n.rest)
    # defs are yielded but not entered by walk_scope only when nested; count their names too
    for n in nodes:
        if isinstance(n, _SCOPES[:3]):
            out.add(n.name)
    return out


def _contains(nodes, types_):
    return any(isinstance(n, types_) for n in walk_scope(nodes))


def _name(id_, ctx=None):
    return ast.Name(id=id_, ctx=ctx or ast.Load())


def _call(func, args, keywords=()):
    return ast.Call(func=func, args=list(args), keywords=list(keywords))


def _index(value, k):
    sl = ast.Constant(k)
    if sys.version_info < (3, 9):
        sl = ast.Index(value=sl)
    return ast.Subscript(value=value, slice=sl, ctx=ast.Load())


def _locate(node, lineno, col, end_lineno=None, end_col=None):
    """Give every node without a location the given one (generated code sits on the def line)."""
    for n in ast.walk(node):
        if "lineno" in n._attributes and getattr(n, "lineno", None) is None:
            n.lineno = lineno
            n.col_offset = col
            n.end_lineno = lineno if end_lineno is None else end_lineno
            n.end_col_offset = col if end_col is None else end_col
    return node


def _is_docstring(stmt):
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
            and isinstance(stmt.value.value, str))


def _is_property(decorators):
    for d in decorators:
        if isinstance(d, ast.Name) and d.id in ("property", "cached_property"):
            return True
        if isinstance(d, ast.Attribute) and d.attr in ("getter", "cached_property"):
            return True
    return False


# ----------------------------------------------------------------------------------------------
# The transform

class Instrumenter(ast.NodeTransformer):
    def __init__(self):
        self.flagmap = {}  # (lineno, name) -> flags, for the registry

    def visit_FunctionDef(self, node):
        return self._wrap(node, False)

    def visit_AsyncFunctionDef(self, node):
        return self._wrap(node, True)

    def _wrap(self, node, is_async, extra_flags=0, params_snapshot=True, gsnap=True):
        self.generic_visit(node)
        body = node.body
        doc = []
        if body and _is_docstring(body[0]):
            doc, body = [body[0]], body[1:]
        if not body:
            return node
        is_gen = _contains(body, (ast.Yield, ast.YieldFrom))
        flags = extra_flags
        if is_gen:
            flags |= F_GEN
        if is_async:
            flags |= F_ASYNC
        if _is_property(node.decorator_list):
            flags |= F_PROP
        self.flagmap[(node.lineno, node.name)] = flags
        ln, col = node.lineno, node.col_offset
        hook = _call(_name("__axl_hook__"), [ast.Constant(flags)])
        if is_gen or is_async:
            handler = ast.ExceptHandler(type=_name("BaseException"), name=None,
                                        body=[ast.Expr(hook), ast.Raise(exc=None, cause=None)])
            wrapped = ast.Try(body=body, handlers=[handler], orelse=[], finalbody=[])
            ast.copy_location(wrapped, body[0])
            _locate(wrapped, ln, col)
            node.body = doc + [wrapped]
            return node

        a = node.args
        posonly = list(getattr(a, "posonlyargs", []))
        positional = posonly + list(a.args)
        params = [p.arg for p in positional] + ([a.vararg.arg] if a.vararg else []) + \
                 [p.arg for p in a.kwonlyargs] + ([a.kwarg.arg] if a.kwarg else [])
        rebound = [p for p in params if p in bound_names(body)] if params_snapshot else []
        prologue = []
        if rebound:
            prologue.append(ast.Assign(targets=[_name("__axl_p__", ast.Store())],
                                       value=ast.Tuple(elts=[_name(p) for p in rebound], ctx=ast.Load())))
        gnames = []
        if gsnap:
            declared = set()
            for n in walk_scope(body):
                if isinstance(n, ast.Global):
                    declared.update(n.names)
            gnames = sorted(declared & bound_names(body))
        if gnames:
            prologue.append(ast.Assign(targets=[_name("__axl_g__", ast.Store())],
                                       value=_call(_name("__axl_gsnap__"),
                                                   [ast.Tuple(elts=[ast.Constant(g) for g in gnames],
                                                              ctx=ast.Load())])))

        def arg(p):
            if p in rebound:
                return _index(_name("__axl_p__"), rebound.index(p))
            return _name(p)

        args = [arg(p.arg) for p in positional]
        if a.vararg:
            args.append(ast.Starred(value=arg(a.vararg.arg), ctx=ast.Load()))
        kws = [ast.keyword(arg=p.arg, value=arg(p.arg)) for p in a.kwonlyargs]
        if a.kwarg:
            kws.append(ast.keyword(arg=None, value=arg(a.kwarg.arg)))
        fn = _call(_name("__axl_fn__"), [_name("__axl_g__") if gnames else ast.Constant(None)])
        restart = ast.Return(value=_call(_name("__axl_done__"), [_call(fn, args, kws)]))
        handler = ast.ExceptHandler(type=_name("BaseException"), name=None,
                                    body=[ast.If(test=hook, body=[ast.Raise(exc=None, cause=None)], orelse=[])])
        wrapped = ast.Try(body=body, handlers=[handler], orelse=[ast.Return(value=ast.Constant(None))],
                          finalbody=[])
        ast.copy_location(wrapped, body[0])
        for n in prologue + [restart, handler, wrapped.orelse[0]]:
            _locate(n, ln, col)
        node.body = doc + prologue + [wrapped, restart]
        return node


# ----------------------------------------------------------------------------------------------
# Top-level loop hoisting (main script only)

_NO_HOIST = (ast.Yield, ast.YieldFrom, ast.Await, ast.Return, ast.FunctionDef, ast.AsyncFunctionDef,
             ast.ClassDef, ast.Lambda, ast.Global, ast.Nonlocal, ast.AnnAssign)
_SCOPE_BUILTINS = {"locals", "vars", "dir", "eval", "exec", "super", "globals"}


def hoistable(stmt):
    """A top-level for/while whose body calls something and has nothing we cannot map into a function."""
    if not isinstance(stmt, (ast.For, ast.While)):
        return False
    body = stmt.body
    has_call = False
    for n in ast.walk(ast.Module(body=body, type_ignores=[])):
        if isinstance(n, _NO_HOIST):
            return False
        if type(n).__name__ in ("Match", "TryStar"):
            return False
        if isinstance(n, ast.ImportFrom) and any(a.name == "*" for a in n.names):
            return False
        if isinstance(n, ast.Call):
            has_call = True
            if isinstance(n.func, ast.Name) and n.func.id in _SCOPE_BUILTINS:
                return False
        if isinstance(n, ast.Name) and n.id.startswith("__axl"):
            return False
    return has_call


class _LoopControl(ast.NodeTransformer):
    """break -> return True, continue -> return None, for the loop being hoisted only."""

    def visit_For(self, node):
        node.orelse = [self.visit(s) for s in node.orelse]  # else-clause break/continue are ours
        return node

    visit_While = visit_For
    visit_AsyncFor = visit_For

    def visit_Break(self, node):
        return ast.copy_location(ast.Return(value=ast.Constant(True)), node)

    def visit_Continue(self, node):
        return ast.copy_location(ast.Return(value=ast.Constant(None)), node)

    def visit_FunctionDef(self, node):
        return node

    visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = visit_FunctionDef


def _hoist(stmt, loopkey, inst):
    """Return (outer loop stmt, body FunctionDef, global names) for a hoistable loop."""
    gnames = sorted(bound_names(stmt.body))
    ctl = _LoopControl()
    body = [ctl.visit(s) for s in stmt.body]
    first = body[0]
    decl = [ast.copy_location(ast.Global(names=gnames), first)] if gnames else []
    fdef = ast.FunctionDef(name="__axl_body__", args=ast.arguments(
        posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]),
        body=decl + body, decorator_list=[], returns=None, type_comment=None)
    if "type_params" in ast.FunctionDef._fields:
        fdef.type_params = []
    ast.copy_location(fdef, stmt)
    fdef = inst._wrap(fdef, False, extra_flags=F_LOOPBODY, params_snapshot=False, gsnap=False)
    call = ast.If(test=_call(_name("__axl_iter__"), [ast.Constant(loopkey)]),
                  body=[ast.Break()], orelse=[])
    _locate(call, stmt.lineno, stmt.col_offset)
    stmt.body = [call]
    stmt.orelse = [inst.visit(s) for s in stmt.orelse]
    if isinstance(stmt, ast.For):
        stmt.iter = inst.visit(stmt.iter)
    else:
        stmt.test = inst.visit(stmt.test)
    return stmt, fdef, gnames


# ----------------------------------------------------------------------------------------------
# Compilation, registry, cache

def _future_flags(tree):
    import __future__
    flags = 0
    for st in tree.body:
        if _is_docstring(st):
            continue
        if isinstance(st, ast.ImportFrom) and st.module == "__future__":
            for a in st.names:
                feat = getattr(__future__, a.name, None)
                if feat is not None:
                    flags |= feat.compiler_flag
            continue
        break
    return flags


def decode_source(data):
    """bytes -> text with universal newlines, like importlib.util.decode_source (without importing it)."""
    head = data[:400]
    if b"coding" not in head:  # no PEP 263 cookie possible: UTF-8 (tokenize is slow to import)
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    else:
        import tokenize
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    return io.IncrementalNewlineDecoder(None, True).decode(data.decode(encoding))


def _cache_key(kind, filename, text):
    """Key of one compiled text: agent version + Python version + kind + file + source hash.
    zlib's checksums (two of them, plus the length) are cheap to import; the disk cache adds sha256."""
    import zlib
    head = ("%s|%s|%s|%s|" % (AGENT_VERSION, sys.version, kind, filename)).encode()
    data = text.encode("utf-8", "surrogatepass")
    return "%08x%08x%08x%x" % (zlib.crc32(head), zlib.crc32(data), zlib.adler32(data), len(data))


def _disk_name(key, kind, filename, text):
    import hashlib
    h = hashlib.sha256(("%s|%s|%s|%s|%s|" % (key, AGENT_VERSION, sys.version, kind, filename)).encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest() + ".axl"


def _cache_get(key, kind, filename, text):
    v = _MEM_CACHE.get(key)
    if v is not None:
        return v
    d = S.config.cache_dir
    if d:
        try:
            with open(os.path.join(d, _disk_name(key, kind, filename, text)), "rb") as fh:
                v = marshal.load(fh)
            _MEM_CACHE[key] = v
            return v
        except Exception:
            return None
    return None


def _cache_put(key, value, kind, filename, text):
    _MEM_CACHE[key] = value
    d = S.config.cache_dir
    if d:
        try:
            os.makedirs(d, exist_ok=True)
            name = _disk_name(key, kind, filename, text)
            tmp = os.path.join(d, "%s.%d.tmp" % (name, os.getpid()))
            with open(tmp, "wb") as fh:
                marshal.dump(value, fh)
            os.replace(tmp, os.path.join(d, name))
        except Exception:
            pass  # the cache is an optimisation only


def _register(code, version, kind, qualname, flagmap, loopkey=None):
    """Register `code` and every code object nested in it with its qualname and kind."""
    REGISTRY[id(code)] = CodeInfo(code, qualname, version, kind,
                                  flagmap.get("%d:%s" % (code.co_firstlineno, code.co_name), 0), loopkey)
    is_func = bool(code.co_flags & CO_OPTIMIZED) and kind not in ("module", "stmt", "loopouter")
    for c in code.co_consts:
        if not isinstance(c, types.CodeType):
            continue
        if PY311:
            q = c.co_qualname
        elif qualname is None:
            q = c.co_name
        else:
            q = qualname + (".<locals>." if is_func else ".") + c.co_name
        if c.co_name.startswith("<"):
            k = "other"
        elif c.co_flags & CO_OPTIMIZED:
            k = "function"
        else:
            k = "class"
        _register(c, version, k, q, flagmap, loopkey)


def _flagmap_for(inst):
    # keyed by the code's co_firstlineno (first decorator line in 3.8+) is awkward; the def line and
    # name are what we know, so resolve both spellings: def line and first decorator line.
    return {"%d:%s" % k: v for k, v in inst.flagmap.items()}


def _fix_decorator_keys(tree, flagmap):
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.decorator_list:
            k = "%d:%s" % (n.lineno, n.name)
            if k in flagmap:
                flagmap["%d:%s" % (n.decorator_list[0].lineno, n.name)] = flagmap[k]


def compile_module(text, filename, generation=None):
    """Instrumented code object for a whole user module (imported modules, -m targets)."""
    gen = S.generation if generation is None else generation
    version = SourceVersion(filename, text, gen)
    key = _cache_key("module", filename, text)
    payload = _cache_get(key, "module", filename, text)
    if payload is None:
        tree = ast.parse(text, filename)  # mutated by the transform; version.tree re-parses pristine text
        inst = Instrumenter()
        tree = inst.visit(tree)
        ast.fix_missing_locations(tree)
        flagmap = _flagmap_for(inst)
        _fix_decorator_keys(tree, flagmap)
        code = compile(tree, filename, "exec", dont_inherit=True)
        payload = (code, flagmap)
        _cache_put(key, payload, "module", filename, text)
    code, flagmap = payload
    _register(code, version, "module", None, flagmap)
    CURRENT[filename] = version
    return code, version


class Unit:
    """One top-level statement of the main script."""
    __slots__ = ("kind", "code", "bodycode", "gnames", "loopkey", "index")

    def __init__(self, kind, code, bodycode, gnames, loopkey, index):
        self.kind = kind        # plain | loop | skip
        self.code = code
        self.bodycode = bodycode
        self.gnames = gnames
        self.loopkey = loopkey
        self.index = index


def _rename_module(code):
    if PY311:
        return code.replace(co_name="<module>", co_qualname="<module>")
    return code.replace(co_name="<module>")


def compile_main(text, filename, generation=None):
    """The main script as a list of separately compiled top-level statements (loops hoisted)."""
    gen = S.generation if generation is None else generation
    version = SourceVersion(filename, text, gen, is_main=True)
    key = _cache_key("main", filename, text)
    payload = _cache_get(key, "main", filename, text)
    if payload is None:
        tree = ast.parse(text, filename)
        fflags = _future_flags(tree)
        inst = Instrumenter()
        items = []
        for idx, st in enumerate(tree.body):
            if idx > 0 and _is_docstring(st):
                items.append(("skip", None, None, ()))  # a bare string is a no-op (not a docstring)
                continue
            loopkey = "%s:%d" % (key[:16], idx)
            if hoistable(st):
                outer, fdef, gnames = _hoist(st, loopkey, inst)
                ast.fix_missing_locations(outer)
                ast.fix_missing_locations(fdef)
                code = compile(ast.Module(body=[outer], type_ignores=[]), filename, "exec",
                               flags=fflags, dont_inherit=True)
                fcode = compile(ast.Module(body=[fdef], type_ignores=[]), filename, "exec",
                                flags=fflags, dont_inherit=True)
                body = [c for c in fcode.co_consts if isinstance(c, types.CodeType)][0]
                items.append(("loop", code, _rename_module(body), tuple(gnames)))
            else:
                st = inst.visit(st)
                ast.fix_missing_locations(st)
                code = compile(ast.Module(body=[st], type_ignores=[]), filename, "exec",
                               flags=fflags, dont_inherit=True)
                items.append(("plain", code, None, ()))
        flagmap = _flagmap_for(inst)
        _fix_decorator_keys(tree, flagmap)
        payload = (tuple(items), flagmap)
        _cache_put(key, payload, "main", filename, text)
    items, flagmap = payload
    units = []
    for idx, (kind, code, body, gnames) in enumerate(items):
        loopkey = "%s:%d" % (key[:16], idx) if kind == "loop" else None
        if code is not None:
            _register(code, version, "loopouter" if kind == "loop" else "stmt", None, flagmap)
            if kind == "loop":
                HOIST_OUTER.add(id(code))
        if body is not None:
            _register(body, version, "loopbody", "<module>", flagmap, loopkey)
            REGISTRY[id(body)].flags = F_LOOPBODY
        units.append(Unit(kind, code, body, gnames, loopkey, idx))
    CURRENT[filename] = version
    return units, version


def compile_statement(node, filename, version):
    """One top-level statement of a module (from a pristine parse), instrumented and registered."""
    inst = Instrumenter()
    node = inst.visit(node)
    ast.fix_missing_locations(node)
    code = compile(ast.Module(body=[node], type_ignores=[]), filename, "exec",
                   flags=_future_flags(version.tree), dont_inherit=True)
    flagmap = _flagmap_for(inst)
    _register(code, version, "stmt", None, flagmap)
    return code


def codes_by_qualname(code, out=None):
    """qualname -> code for the functions nested in a compiled module/statement (registered codes)."""
    if out is None:
        out = {}
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            ci = info_for(c)
            if ci is not None and ci.kind == "function":
                out[ci.qualname] = c
            codes_by_qualname(c, out)
    return out


# ----------------------------------------------------------------------------------------------
# Which files are the user's, and the import hook

_ROOT = None


def set_root(root):
    global _ROOT
    _ROOT = os.path.realpath(root)


def is_user_file(path):
    if not path or _ROOT is None or path.startswith("<"):
        return False
    p = os.path.realpath(path)
    if not p.endswith(".py") or p.startswith(AGENT_DIR + os.sep):
        return False
    if "site-packages" in p or "dist-packages" in p:
        return False
    return p == _ROOT or p.startswith(_ROOT + os.sep)


class InstrumentingLoader(importlib.machinery.SourceFileLoader):
    """Loads user modules through the instrumenter; never writes __pycache__ (plain Python would
    otherwise pick up instrumented bytecode)."""

    def get_code(self, fullname):
        path = self.get_filename(fullname)
        text = OVERRIDES.get(path)
        if text is None:
            text = decode_source(self.get_data(path))
        return compile_module(text, path)[0]

    def get_source(self, fullname):
        path = self.get_filename(fullname)
        if path in OVERRIDES:
            return OVERRIDES[path]
        return importlib.machinery.SourceFileLoader.get_source(self, fullname)

    def set_data(self, *args, **kwargs):
        pass


class UserCodeFinder:
    """sys.meta_path entry: user modules get the instrumenting loader, others are left to the rest."""

    def find_spec(self, fullname, path, target=None):
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        if not is_user_file(spec.origin):
            return None
        spec.loader = InstrumentingLoader(spec.loader.name, spec.loader.path)
        return spec


def install_import_hook():
    sys.meta_path.insert(0, UserCodeFinder())
