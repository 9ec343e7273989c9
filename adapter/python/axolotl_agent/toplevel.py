"""The main script's top level after a repair: which statement runs again, and running the rest.

The main script runs as one module code object, as under plain Python.  When a crash is repaired and
the restart falls on the top level, the module frame stops (its appendix calls cont[iterator]) and
the rest of the program runs from the new text as module code in the same namespace:

Statement alignment (old text -> new text): difflib.SequenceMatcher over ast.dump() of the top-level
statements (line-insensitive).  For the statement i that was running:
  equal block   -> same statement j; it is unchanged; it runs again
  replace block -> statement j1+(i-i1) of the new block (clamped to it); it is changed: it runs again
  delete block  -> changed; the first new statement after the deleted block runs
and everything after it follows.
A crash inside the body of a top-level for/while loop whose header (target and iterable, or
condition) is the same in the new text resumes the loop: the body statement that was running (found
by the same alignment inside the body) runs again from the new body, then the rest of that body,
then the iterations left (a for loop takes the same iterator, so no item is fetched twice), then the
new else clause.  Names the iteration had already bound keep their values.
"""
import builtins
import sys
import weakref

from . import instrument
from .state import S

_seq = [0]


def align(old, new, i):
    """(index in `new` to run again, whether it changed) for index `i` in `old` (lists of dumps)."""
    import difflib
    jr = len(new)
    tag = "delete"
    for t, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if i1 <= i < i2:
            tag = t
            if t == "equal":
                jr = j1 + (i - i1)
            elif t == "replace":
                jr = min(j1 + (i - i1), j2 - 1)
            else:
                jr = j1
            break
    return jr, tag != "equal"


def _header(node):
    import ast
    if isinstance(node, ast.For):
        return ("for", ast.dump(node.target), ast.dump(node.iter))
    if isinstance(node, ast.While):
        return ("while", ast.dump(node.test))
    return None


def _body_index(body, line):
    for k, st in enumerate(body):
        first = st.decorator_list[0].lineno if getattr(st, "decorator_list", None) else st.lineno
        if first <= line <= (st.end_lineno or st.lineno):
            return k
    return None


class Plan:
    """What runs when the top level restarts (computed from the text in force when it is asked)."""

    def __init__(self, version, stmt, changed, desc, body_index=None, use_iterator=None):
        self.version = version
        self.stmt = stmt              # index in version.tree.body
        self.changed = changed
        self.desc = desc
        self.body_index = body_index  # resume inside that loop's body at this index (None: whole statement)
        self.use_iterator = use_iterator  # the loop's iterator when it is not the one the frame holds


class MainProgram:
    def __init__(self, filename, module):
        self.filename = filename
        # weakly: at exit the interpreter must be able to free the module's globals (and run the
        # finally blocks and __del__ methods that this triggers) exactly as without the agent
        self._module = weakref.ref(module)
        self.pending = None
        self.crash_exc = None     # the exception being decided (its traceback has the crash line)

    @property
    def g(self):
        m = self._module()
        return m.__dict__ if m is not None else None

    def is_main_frame(self, frame):
        ci = instrument.info_for(frame.f_code)
        return ci is not None and ci.is_main and frame.f_globals is self.g

    def line_of(self, frame):
        """The line a module frame is at: where the exception being decided left it, else the call
        it is in."""
        exc = self.crash_exc
        tb = exc.__traceback__ if exc is not None else None
        line = None
        while tb is not None:
            if tb.tb_frame is frame:
                line = tb.tb_lineno
            tb = tb.tb_next
        return line if line is not None else frame.f_lineno

    def crash_stmt(self, new):
        """Index in `new` of the top-level statement that runs now (the innermost module frame of the
        main script on this stack): definitions new before it are run after a swap."""
        f = sys._getframe(1)
        while f is not None and not self.is_main_frame(f):
            f = f.f_back
        if f is None:
            return 0
        old = instrument.info_for(f.f_code).version
        i = old.statement_at(self.line_of(f) or 0)
        if i is None:
            return 0
        return align(old.statement_dumps(), new.statement_dumps(), i)[0]

    def plan(self, frame, line):
        """The Plan for restarting the top level, the module frame being at `line`."""
        import ast
        ci = instrument.info_for(frame.f_code)
        old = ci.version
        new = instrument.CURRENT.get(old.filename, old)
        i = old.statement_at(line) if line else None
        if i is None:
            return None
        j, changed = align(old.statement_dumps(), new.statement_dumps(), i)
        old_st = old.tree.body[i]
        new_st = new.tree.body[j] if j < len(new.tree.body) else None
        k_old = _body_index(getattr(old_st, "body", []), line) if _header(old_st) else None
        if k_old is not None and new_st is not None and _header(new_st) == _header(old_st) \
                and (isinstance(old_st, ast.While) or instrument.LOOP_ITERATORS):
            dumps_old = [ast.dump(s) for s in old_st.body]
            dumps_new = [ast.dump(s) for s in new_st.body]
            k, body_changed = align(dumps_old, dumps_new, k_old)
            it = None
            if ci.partial is not None and ci.partial[0] <= line <= ci.partial[1]:
                it = ci.partial[2]
            at = new_st.body[k].lineno if k < len(new_st.body) else new_st.lineno
            return Plan(new, j, body_changed, "iteration of the loop at line %d restarted at line %d"
                        % (new_st.lineno, at), k, it)
        at = new_st.lineno if new_st is not None else 0
        return Plan(new, j, changed, "statement at line %d re-run" % at)

    def run(self, frame, it):
        """cont[]: run the rest of the program as planned; the module frame then returns."""
        import ast
        import copy
        plan = self.pending
        self.pending = None
        S.restarting.pop(id(frame), None)
        if plan is None:
            return
        version = plan.version
        body = version.tree.body
        if plan.stmt >= len(body):
            _verified()
            return
        st = body[plan.stmt]
        if plan.body_index is None:
            first, rest = [copy.deepcopy(st)], body[plan.stmt + 1:]
        else:
            first, it_name = _resume_loop(st, plan.body_index, plan.use_iterator or it)
            rest = body[plan.stmt + 1:]
        code = instrument.compile_statements(first, version)
        if plan.body_index is not None and isinstance(st, ast.For):
            part = st.body[plan.body_index:]
            ci = instrument.info_for(code)
            ci.partial = (part[0].lineno if part else st.lineno,
                          max((s.end_lineno or s.lineno) for s in part) if part else st.lineno,
                          getattr(builtins, it_name))
        exec(code, self.g)
        _verified()
        if rest:
            exec(instrument.compile_statements([copy.deepcopy(s) for s in rest], version), self.g)


def _verified():
    if S.verify_pending:
        from . import channel
        channel.send_verified()


def _resume_loop(loop, k, it):
    """Nodes that run body[k:] once (as an iteration of the loop: break and continue keep their
    meaning), then the iterations left, then the else clause."""
    import ast
    import copy
    loop = copy.deepcopy(loop)
    _seq[0] += 1
    it_name = "__axl_iter_%d__" % _seq[0]
    once = "__axl_once_%d__" % _seq[0]
    verified_name = "__axl_verified_%d__" % _seq[0]
    setattr(builtins, it_name, it)
    setattr(builtins, verified_name, _verified)

    def at(node):
        return ast.copy_location(node, loop)

    verified = at(ast.Expr(value=at(ast.Call(func=at(ast.Name(id=verified_name, ctx=ast.Load())), args=[],
                                             keywords=[]))))
    if isinstance(loop, ast.For):
        rest = at(ast.For(target=loop.target, iter=at(ast.Name(id=it_name, ctx=ast.Load())), body=loop.body,
                          orelse=loop.orelse, type_comment=None))
    else:
        rest = loop
    oneshot = at(ast.For(target=at(ast.Name(id=once, ctx=ast.Store())),
                         iter=at(ast.Tuple(elts=[at(ast.Constant(value=None))], ctx=ast.Load())),
                         body=loop.body[k:] or [at(ast.Pass())], orelse=[verified, rest], type_comment=None))
    cleanup = at(ast.Delete(targets=[at(ast.Name(id=once, ctx=ast.Del()))]))
    return [oneshot, cleanup], it_name


def resume(frame, it):
    """AGENT[(CONT, iterator)] hands this over (as a partial) to the module frame, which calls it."""
    if S.program is not None:
        S.program.run(frame, it)
