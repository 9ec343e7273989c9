"""Instrumented code: compiling and patching user code, the registry of what was patched, the cache.

User code is compiled exactly as plain Python compiles it; then every function in it gets the
bytecode appendix of patch_zerocost (3.11+) or patch_blocks (3.8-3.10), and the main script's module
code gets the module variant.  What the patch did (prologue length, appendix start, snapshot layout)
is read back from the patched code itself when needed, so a code object loaded from a cache or from
the main script's .pyc is registered without patching and without any marker in its constants.
"""
import marshal
import os
import sys
import types

from . import AGENT_VERSION, AGENT_DIR
from .sources import SourceVersion, decode_source, loop_body_lines  # noqa: F401  (re-exported)
from .state import S, PY311


def _load_patcher():
    global _patcher
    if PY311:
        from . import patch_zerocost as _patcher
    else:
        from . import patch_blocks as _patcher
    return _patcher


class _LazyPatcher:
    """The patcher is imported when code is first patched or read back (a program that imports no
    user module, from a cached main script, never needs it)."""

    def __getattr__(self, name):
        return getattr(_load_patcher(), name)


_patcher = _LazyPatcher()

LOOP_ITERATORS = True   # the main script's handlers hand over a running for loop's iterator
CO_OPTIMIZED = 0x1
CO_GENERATOR_LIKE = 0x20 | 0x80 | 0x100 | 0x200

REGISTRY = {}    # id(code) -> CodeInfo (keeps the code alive so ids stay valid)
CURRENT = {}     # filename -> SourceVersion currently in force
OVERRIDES = {}   # filename -> patched text of user modules not imported yet
_MEM_CACHE = {}


class CodeInfo:
    __slots__ = ("code", "qualname", "version", "kind", "_facts", "partial")

    def __init__(self, code, qualname, version, kind):
        self.code = code
        self.qualname = qualname
        self.version = version
        self.kind = kind          # function | generator | module | class | statement | other
        self._facts = None
        self.partial = None       # continuation code: (first line, last line, iterator) of a partial iteration

    @property
    def facts(self):
        if self._facts is None:
            self._facts = _patcher.facts(self.code) or (0, None, (), ())
        return self._facts

    @property
    def prologue(self):
        return self.facts[0]

    @property
    def appendix(self):
        return self.facts[1]

    @property
    def params(self):
        return self.facts[2]

    @property
    def globals_(self):
        return self.facts[3]

    @property
    def is_main(self):
        return self.kind == "module" and self.version is not None and self.version.is_main

    def original_table(self):
        """3.11+: the program's own exception-table entries, in the instrumented code's units."""
        if not PY311 or self.appendix is None:
            return None
        return [e for e in _patcher.read_exception_table(self.code.co_exceptiontable) if e[2] < self.appendix]

    @property
    def snapshot_size(self):
        return len(self.params) + len(self.globals_)


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
# Patching and registering

def _kind(c):
    if c.co_name.startswith("<"):
        return "other"
    if not c.co_flags & CO_OPTIMIZED:
        return "class"
    return "generator" if c.co_flags & CO_GENERATOR_LIKE else "function"


def patch_tree(code, main_loops=None, boot=None):
    """Instrumented copy of module code: all its functions patched; the module code itself only
    when main_loops is given (the main script: line spans of top-level for-loop bodies)."""
    consts = code.co_consts
    new = []
    changed = False
    for c in consts:
        if isinstance(c, types.CodeType):
            nc = _patch_nested(c)
            changed = changed or nc is not c
            new.append(nc)
        else:
            new.append(c)
    if changed:
        code = code.replace(co_consts=tuple(new))
    if main_loops is None:
        return code
    return _patcher.patch(code, "module", main_loops, boot)[0]


def _patch_nested(c):
    consts = c.co_consts
    new = [(_patch_nested(x) if isinstance(x, types.CodeType) else x) for x in consts]
    if any(a is not b for a, b in zip(new, consts)):
        c = c.replace(co_consts=tuple(new))
    kind = _kind(c)
    if kind not in ("function", "generator"):
        return c
    return _patcher.patch(c, kind)[0]


def register_tree(code, version, kind="module", qualname=None):
    """Register `code` and every code object nested in it with its qualname and kind."""
    REGISTRY[id(code)] = CodeInfo(code, qualname, version, kind)
    is_func = kind in ("function", "generator")
    for c in code.co_consts:
        if not isinstance(c, types.CodeType):
            continue
        if PY311:
            q = c.co_qualname
        elif qualname is None:
            q = c.co_name
        else:
            q = qualname + (".<locals>." if is_func else ".") + c.co_name
        register_tree(c, version, _kind(c), q)


def codes_by_qualname(code, out=None):
    """qualname -> code for the functions nested in registered module/statement code."""
    if out is None:
        out = {}
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            ci = info_for(c)
            if ci is not None and ci.kind in ("function", "generator"):
                out[ci.qualname] = c
            codes_by_qualname(c, out)
    return out


# ----------------------------------------------------------------------------------------------
# Compiling (plain compile, then patch), with an in-memory and an optional on-disk cache

_STAMP = []


def _stamp():
    """A checksum of the files that decide what patched code looks like: a cache written by another
    build of the agent (same version number, other patcher) is never taken for this one's."""
    if not _STAMP:
        import zlib
        crc = 0
        for name in ("instrument.py", "patch_zerocost.py", "patch_blocks.py", "hooknames.py"):
            try:
                with open(os.path.join(AGENT_DIR, name), "rb") as fh:
                    crc = zlib.crc32(fh.read(), crc)
            except OSError:
                pass
        _STAMP.append("%s+%08x" % (AGENT_VERSION, crc))
    return _STAMP[0]


def _cache_key(kind, filename, data):
    """Key of one compiled text: agent build + Python version + kind + file + source checksums."""
    import zlib
    head = ("%s|%s|%s|%s|" % (_stamp(), sys.version, kind, filename)).encode()
    return "%08x%08x%08x%x" % (zlib.crc32(head), zlib.crc32(data), zlib.adler32(data), len(data))


def cache_dir():
    """AXOLOTL_CACHE_DIR, else the user's cache folder (the engine does not set one: without it
    every start would patch every imported module again)."""
    d = S.config.cache_dir
    if d:
        return d
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "axolotl", "code")


def cache_path(key, kind, filename, data):
    """One cache file per source file, kind and Python (a new text replaces the old one); what it
    holds is checked against the whole key."""
    import zlib
    head = ("%s|%s|%s|%s" % (AGENT_VERSION, sys.version, kind, filename)).encode()
    return os.path.join(cache_dir(), "%s-%08x%08x.axl" % (kind.split(":")[0], zlib.crc32(head), zlib.adler32(head)))


def _cache_get(key, kind, filename, data):
    v = _MEM_CACHE.get(key)
    if v is not None:
        return v
    try:
        with open(cache_path(key, kind, filename, data), "rb") as fh:
            stored_key, v = marshal.loads(fh.read())
    except Exception:
        return None
    if stored_key != key:
        return None
    _MEM_CACHE[key] = v
    return v


def _cache_put(key, value, kind, filename, data):
    _MEM_CACHE[key] = value
    p = cache_path(key, kind, filename, data)
    try:
        os.makedirs(os.path.dirname(p), exist_ok=True)
        tmp = "%s.%d.tmp" % (p, os.getpid())
        with open(tmp, "wb") as fh:
            marshal.dump((key, value), fh)
        os.replace(tmp, p)
    except Exception:
        pass  # the cache is an optimisation only


def compile_plain(source, filename):
    return compile(source, filename, "exec", dont_inherit=True)


_plain = compile_plain


def instrumented_module(source, filename, plain_code=None):
    """Instrumented code of an imported user module (its functions; module code stays plain).
    plain_code: the code Python compiled (the loader gets it exactly as plain Python does, with its
    warnings and __pycache__); the cache saves only the patching."""
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    key = _cache_key("module", filename, data)
    code = _cache_get(key, "module", filename, data)
    if code is None:
        code = patch_tree(plain_code if plain_code is not None else _plain(source, filename))
        _cache_put(key, code, "module", filename, data)
    return code


def instrumented_main(source, filename, boot_module=None, plain_code=None):
    """Instrumented code of a main script (module code included). boot_module: the module the code
    imports before the first statement (the agent's boot, when the script is run from a .pyc).
    plain_code: the code runpy got from the loader (a directory, zip app or -m).  Otherwise the
    script is compiled here as plain Python compiles it at every run (its compile-time warnings and
    errors are plain Python's); the cache saves the patching, and the parse for the loops that
    patching needs (that parse gives no warnings: the compile gave them)."""
    data = source.encode("utf-8", "surrogatepass") if isinstance(source, str) else source
    if plain_code is None:
        plain_code = compile(source, filename, "exec", dont_inherit=True)
    key = _cache_key("main:%s" % (boot_module or ""), filename, data)
    code = _cache_get(key, "main", filename, data)
    if code is None:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = compile(source, filename, "exec", 0x400, dont_inherit=True)   # ast.PyCF_ONLY_AST
        code = patch_tree(plain_code, loop_body_lines(tree), boot_module)
        _cache_put(key, code, "main", filename, data)
    return code


def compile_module(text, filename, generation=None):
    """A new text of a user module, instrumented and its code registered (hot swap). It becomes the
    file's current text only when the caller says so (CURRENT): a swap makes all files current or none."""
    gen = S.generation if generation is None else generation
    version = SourceVersion(filename, text, gen)
    code = instrumented_module(text, filename)
    register_tree(code, version)
    return code, version


def compile_main(text, filename, generation=None):
    """A new text of the main script, instrumented and its code registered (hot swap; see
    compile_module for CURRENT)."""
    gen = S.generation if generation is None else generation
    version = SourceVersion(filename, text, gen, is_main=True)
    code = instrumented_main(text, filename)
    register_tree(code, version)
    return code, version


def compile_statements(nodes, version, main=True):
    """Module code for some top-level statements of `version` (a continuation of the main script, or
    one definition to run after a swap), instrumented and registered."""
    import ast
    mod = ast.Module(body=list(nodes), type_ignores=[])
    ast.fix_missing_locations(mod)
    plain = compile(mod, version.filename, "exec", flags=_future_flags(version.tree), dont_inherit=True)
    code = patch_tree(plain, loop_body_lines(mod) if main else None)
    register_tree(code, version, "module" if main else "statement")
    return code


def _future_flags(tree):
    import ast
    import __future__
    flags = 0
    for st in tree.body:
        if isinstance(st, ast.Expr) and isinstance(getattr(st, "value", None), ast.Constant) \
                and isinstance(st.value.value, str):
            continue
        if isinstance(st, ast.ImportFrom) and st.module == "__future__":
            for a in st.names:
                feat = getattr(__future__, a.name, None)
                if feat is not None:
                    flags |= feat.compiler_flag
            continue
        break
    return flags


# ----------------------------------------------------------------------------------------------
# Which files are the user's

def is_user_file(path):
    root = S.config.root
    if not path or root is None or path.startswith("<"):
        return False
    p = os.path.realpath(path)
    if not p.endswith(".py") or p.startswith(AGENT_DIR + os.sep):
        return False
    if "site-packages" in p or "dist-packages" in p:
        return False
    return p == root or p.startswith(root + os.sep)


def is_user_dir(path):
    root = S.config.root
    if not path or root is None:
        return False
    try:
        p = os.path.realpath(path or ".")
    except (OSError, ValueError):
        return False
    if p.startswith(AGENT_DIR) or "site-packages" in p or "dist-packages" in p:
        return False
    return p == root or p.startswith(root + os.sep)
