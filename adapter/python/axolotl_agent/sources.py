"""The source texts the agent compiled, and the AST views of them that the crash analysis, the hot
swap and the top-level restart need (parsed lazily: a program that never crashes never parses)."""
import io


class SourceVersion:
    """One text of one file as compiled by the agent."""

    def __init__(self, filename, text, generation, is_main=False):
        self.filename = filename
        self.text = text
        self.generation = generation
        self.is_main = is_main
        self._tree = None
        self._nodes = None
        self._fps = {}
        self._dumps = None

    @property
    def tree(self):
        if self._tree is None:
            import ast
            self._tree = ast.parse(self.text, self.filename)
        return self._tree

    def node_for(self, qualname):
        return self.qualnames().get(qualname)

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

    def statement_dumps(self):
        if self._dumps is None:
            import ast
            self._dumps = [ast.dump(s) for s in self.tree.body]
        return self._dumps

    def statement_at(self, line):
        """Index of the top-level statement spanning `line` (None outside every statement)."""
        for i, st in enumerate(self.tree.body):
            first = st.decorator_list[0].lineno if getattr(st, "decorator_list", None) else st.lineno
            if first <= line <= (st.end_lineno or st.lineno):
                return i
        return None


def decode_source(data):
    """bytes -> text with universal newlines, like importlib.util.decode_source (without importing it)."""
    head = data[:400]
    if b"coding" not in head:  # no PEP 263 cookie possible: UTF-8 (tokenize is slow to import)
        encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    else:
        import tokenize
        encoding = tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    return io.IncrementalNewlineDecoder(None, True).decode(data.decode(encoding))


def index_defs(tree):
    """qualname -> FunctionDef/ClassDef node, following CPython's __qualname__ rules."""
    import ast
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


def own_dump(node):
    import ast

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
    import ast
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
    stack = list(nodes)
    while stack:
        n = stack.pop()
        yield n
        for c in ast.iter_child_nodes(n):
            if not isinstance(c, scopes):
                stack.append(c)


def is_property(node):
    """A property/cached_property getter: AttributeError escaping it is the attribute protocol."""
    import ast
    for d in getattr(node, "decorator_list", ()):
        if isinstance(d, ast.Name) and d.id in ("property", "cached_property"):
            return True
        if isinstance(d, ast.Attribute) and d.attr in ("getter", "cached_property"):
            return True
    return False


def loop_body_lines(tree):
    """(first, last) line spans of the bodies of the top-level for loops whose body starts on a line
    of its own (there the loop's iterator is the only thing below the body's stack)."""
    import _ast   # (what compile returns; the ast module takes a few ms to import)
    out = []
    for st in tree.body:
        if isinstance(st, _ast.For) and st.body and st.body[0].lineno > st.lineno:
            out.append((st.body[0].lineno, max(s.end_lineno or s.lineno for s in st.body)))
    return out
