"""Runs the user's script as __main__, one top-level statement at a time, so a crashed statement can be
re-run from the new source and the statements after it continue from the new source.

Statement alignment rule (old text -> new text): difflib.SequenceMatcher over ast.dump() of each
top-level statement (line-insensitive).  For the statement i that is running:
  equal block   -> same statement j; it is unchanged; afterwards continue at j+1
  replace block -> statement j1+(i-i1) of the new block (clamped to it); it is changed: a re-run starts
                   there; afterwards continue after it (after the whole block for its last statement)
  delete block  -> changed; re-run/continue at the first new statement after the deleted block
A running hoisted loop replaced by a hoisted loop with the same header (target and iterable, or
condition) keeps running with the new body: the crashed iteration restarts with the new body (module
globals the body binds are rolled back to their values at the start of the iteration; in-place
mutations are not) and later iterations use the new body.  The old loop's else-clause is kept.
"""
import ast
import os
import signal
import sys
import types

from .state import S, RestartFrame, MISSING, RUNNER_CODES, ITER_CODES
from . import crashhook, instrument


def _exec_unit(code, g):
    exec(code, g)


RUNNER_CODES.add(id(_exec_unit.__code__))


class LoopState:
    __slots__ = ("key", "fn", "gnames", "g", "snap", "line")

    def __init__(self, key, fn, gnames, g, line):
        self.key = key
        self.fn = fn
        self.gnames = gnames
        self.g = g
        self.snap = ((), ())
        self.line = line


def axl_iter(key):
    loop = S.program.loops[key]
    if S.active:
        g = loop.g
        loop.snap = (loop.gnames, [g.get(n, MISSING) for n in loop.gnames])
    return loop.fn()


ITER_CODES.add(id(axl_iter.__code__))


def _header(node):
    if isinstance(node, ast.For):
        return ("for", ast.dump(node.target), ast.dump(node.iter))
    if isinstance(node, ast.While):
        return ("while", ast.dump(node.test))
    return None


class Program:
    def __init__(self, filename, units, version, g):
        self.filename = filename
        self.units = units
        self.version = version
        self.g = g
        self.cur = 0
        self.nxt = 1
        self.stmt_changed = False
        self.loops = {}
        self.running = None          # the unit being executed (maybe from an older version)
        self.running_node = None     # its pristine AST

    def current_line(self):
        body = self.version.tree.body
        if self.cur < len(body):
            return body[self.cur].lineno
        return getattr(self.running_node, "lineno", 0)

    def restart_iteration(self, key):
        loop = self.loops[key]
        names, values = loop.snap
        g = loop.g
        for n, v in zip(names, values):
            if v is MISSING:
                g.pop(n, None)
            else:
                g[n] = v
        return loop.fn()

    def update(self, units, version):
        import difflib
        old = [ast.dump(s) for s in self.version.tree.body]
        new = [ast.dump(s) for s in version.tree.body]
        i = self.cur
        jr = ja = len(new)
        tag = "delete"
        for t, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
            if i1 <= i < i2:
                tag = t
                if t == "equal":
                    jr = j1 + (i - i1)
                    ja = jr + 1
                elif t == "replace":
                    jr = min(j1 + (i - i1), j2 - 1)
                    ja = jr + 1 if i < i2 - 1 else j2
                else:
                    jr = ja = j1
                break
        changed = tag != "equal"
        run = self.running
        if changed and tag == "replace" and run is not None and run.kind == "loop" and jr < len(units):
            nu = units[jr]
            if nu.kind == "loop" and _header(self.running_node) == _header(version.tree.body[jr]) \
                    and run.loopkey in self.loops:
                loop = self.loops[run.loopkey]
                loop.fn = types.FunctionType(nu.bodycode, self.g)
                loop.gnames = nu.gnames
                changed = False
        self.units = units
        self.version = version
        self.cur = jr
        self.nxt = ja
        self.stmt_changed = self.stmt_changed or changed

    def run(self):
        g = self.g
        while self.cur < len(self.units):
            u = self.units[self.cur]
            self.running = u
            self.running_node = None
            self.nxt = self.cur + 1
            self.stmt_changed = False
            if u.kind == "skip" or u.code is None:
                self.cur = self.nxt
                continue
            if u.kind == "loop":
                self.running_node = self.version.tree.body[self.cur]
                self.loops[u.loopkey] = LoopState(u.loopkey, types.FunctionType(u.bodycode, g), u.gnames, g,
                                                  self.running_node.lineno)
            elif S.active:
                self.running_node = self.version.tree.body[self.cur]
            rerun = False
            try:
                _exec_unit(u.code, g)
            except RestartFrame:
                rerun = True
            except BaseException as e:
                if isinstance(e, (SystemExit, KeyboardInterrupt)) or not S.active or S.decided.get(id(e)) is e:
                    raise
                if not crashhook.toplevel_crash(e):
                    S.decided[id(e)] = e
                    raise
                rerun = True
            finally:
                if u.kind == "loop":
                    self.loops.pop(u.loopkey, None)
            if rerun:
                continue  # self.cur was aligned by the patch (or unchanged for retry)
            if S.verify_pending:
                from . import channel
                channel.send_verified()
            self.cur = self.nxt


# ----------------------------------------------------------------------------------------------

def _fix_sys_path(script_dir):
    from . import AGENT_DIR
    agent_parent = os.path.dirname(AGENT_DIR)
    same = lambda p: p and os.path.realpath(p) == os.path.realpath(agent_parent)
    sys.path[:] = [p for p in sys.path if not same(p)]
    if sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path[0] = script_dir
    else:
        sys.path.insert(0, script_dir)
    pp = os.environ.get("PYTHONPATH")
    if pp is not None:
        rest = [p for p in pp.split(os.pathsep) if not same(p)]
        if rest:
            os.environ["PYTHONPATH"] = os.pathsep.join(rest)
        else:
            del os.environ["PYTHONPATH"]


def _setup_common(root):
    instrument.set_root(root)
    S.config.root = os.path.realpath(root)
    crashhook.install_builtins(axl_iter)
    instrument.install_import_hook()
    if S.active:
        from . import channel, report
        report.install_tee()
        channel.install_signals()
        channel.hello()


def run_script(script, args):
    import importlib.machinery
    real = os.path.realpath(script)
    script_dir = os.path.dirname(real)
    filename = script if sys.version_info < (3, 9) else os.path.abspath(script)
    S.config.script = os.path.abspath(script)
    _fix_sys_path(script_dir)
    sys.argv[:] = [script] + list(args)
    root = os.environ.get("AXOLOTL_ROOT") or script_dir
    with open(script, "rb") as fh:
        source = fh.read()
    text = instrument.decode_source(source)
    mod = types.ModuleType("__main__")
    g = mod.__dict__
    g.update({"__file__": filename, "__builtins__": __builtins__ if isinstance(__builtins__, types.ModuleType)
              else sys.modules["builtins"], "__cached__": None, "__spec__": None, "__package__": None,
              "__loader__": importlib.machinery.SourceFileLoader("__main__", filename)})
    sys.modules["__main__"] = mod
    _setup_common(root)
    units, version = instrument.compile_main(text, filename)
    S.program = Program(filename, units, version, g)
    S.program.run()


def run_module(modname, args):
    import runpy
    _fix_sys_path(os.getcwd())
    sys.argv[:] = [modname] + list(args)
    S.config.script = modname
    _setup_common(os.environ.get("AXOLOTL_ROOT") or os.getcwd())
    runpy.run_module(modname, run_name="__main__", alter_sys=True)


def print_exception(exc):
    """What Python does with an uncaught exception, minus the agent's frames."""
    from . import report
    report.clean_exception(exc)
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, exc.__traceback__
    if sys.version_info >= (3, 12):
        sys.last_exc = exc
    try:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    except Exception:
        sys.__excepthook__(type(exc), exc, exc.__traceback__)


def die_of_sigint():
    """Python exits via SIGINT after a KeyboardInterrupt traceback; do the same."""
    import atexit
    try:
        atexit._run_exitfuncs()
    except Exception:
        pass
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
        except Exception:
            pass
    try:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except Exception:
        pass
    os._exit(130)
