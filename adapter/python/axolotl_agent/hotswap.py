"""Applying a patch to the live process and choosing what to restart.

Swap: every changed user file is recompiled with the same instrumentation; live function objects
(found in one gc pass, so closures, methods and decorated originals are included) whose code came
from that file get the new code of the same qualname (`__code__` assignment keeps identity, so
references held anywhere see the new code).  When the free variables differ, the function is
rebound in its module/class namespace if it has no closure, otherwise it keeps its old code and the
new code takes effect the next time its enclosing function creates it.  lru_cache/cache wrappers of
swapped functions are cleared.  New top-level imports, defs, classes (new methods of existing classes
are added) and literal constant assignments are executed; other top-level code is never re-run by a
swap (in the main script: only before the statement that crashed).  linecache gets the new text so
tracebacks show the new lines.

Restart choice (documented rule): among the frames on the crashed stack (the main script's module
frame is the outermost; restarting it re-runs a top-level statement, see toplevel.py), take the outermost whose code changed semantically (AST dump of the
function's own code, nested defs reduced to their header; a top-level statement changed when it is not
in an `equal` block of the statement alignment).  If it cannot be restarted (generator, coroutine,
lambda, comprehension, already restarting) its nearest restartable caller is restarted instead.  If no
frame changed, the innermost restartable frame is restarted (same as `retry`).
"""
import ast
import copy
import gc
import functools
import linecache
import os
import sys
import types

from .state import S, MISSING
from . import instrument, channel

SWAPPED_FROM = {}   # id(old code) -> (old code, [functions that had it])
_GEN_FLAGS = 0x20 | 0x80 | 0x200   # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR


class Plan:
    def __init__(self, target, fn, desc):
        self.target = target
        self.fn = fn
        self.desc = desc


def apply_and_report(files, generation, restarted=None):
    swapped, errors, warnings = apply_patch(files, generation)
    msg = {"type": "patched", "pid": os.getpid(), "generation": S.generation, "ok": not errors,
           "swapped": swapped}
    if restarted:
        msg["restarted"] = restarted
    if errors:
        msg["error"] = "; ".join(errors)
    if warnings:
        msg["warnings"] = warnings
    channel.note(msg)
    return swapped, errors


def note_restart(plan, why):
    """Tells the engine the agent restarted a call by itself with the current generation's code."""
    channel.note({"type": "patched", "pid": os.getpid(), "generation": S.generation, "ok": True, "swapped": [],
                  "restarted": "%s (automatically: %s)" % (plan.desc, why)})


def _module_for(path):
    for m in list(sys.modules.values()):
        f = getattr(m, "__file__", None)
        if f and os.path.realpath(f) == os.path.realpath(path):
            return m
    return None


def _literal_assign(st):
    if not isinstance(st, ast.Assign) or not all(isinstance(t, ast.Name) for t in st.targets):
        return False
    try:
        ast.literal_eval(st.value)
        return True
    except Exception:
        return False


def apply_patch(files, generation):
    """Swap in the new texts: all of them, or none when one does not compile. Returns (semantically
    changed qualnames, errors: nothing was swapped, warnings: swapped, but some code only applies later)."""
    errors = []
    warnings = []
    compiled = []  # (path, old version, new version, new qualname->code)
    for path, text in files.items():
        _drop_cached_bytecode(path)
        path = instrument.current_key(path)
        old = instrument.CURRENT.get(path)
        if old is None:
            if instrument.is_user_file(path):
                instrument.OVERRIDES[path] = text   # imported later: the loader uses this text
                _update_linecache(path, text)
            continue
        if old.text == text:
            continue
        try:
            if old.is_main:
                code, new = instrument.compile_main(text, path, generation)
            else:
                code, new = instrument.compile_module(text, path, generation)
            compiled.append((path, old, new, instrument.codes_by_qualname(code)))
        except SyntaxError as e:
            errors.append("%s: SyntaxError: %s (line %s)" % (path, e.msg, e.lineno))
        except Exception as e:
            errors.append("%s: %s: %s" % (path, type(e).__name__, e))
    if errors:
        return [], errors, []
    for path, old, new, qmap in compiled:
        instrument.CURRENT[path] = new

    by_file = {path: (old, new, qmap) for path, old, new, qmap in compiled}
    swapped = set()
    swapped_funcs = set()
    for obj in gc.get_objects():
        if type(obj) is not types.FunctionType:
            continue
        ci = instrument.info_for(obj.__code__)
        if ci is None or ci.kind not in ("function", "generator"):
            continue
        entry = by_file.get(ci.version.filename)
        if entry is None:
            continue
        old, new, qmap = entry
        newcode = qmap.get(ci.qualname)
        if newcode is None or newcode is obj.__code__:
            continue
        oldcode = obj.__code__
        if oldcode.co_freevars == newcode.co_freevars or (obj.__closure__ is None and not newcode.co_freevars):
            SWAPPED_FROM.setdefault(id(oldcode), (oldcode, []))[1].append(obj)
            obj.__code__ = newcode
            swapped_funcs.add(id(obj))
        else:
            warnings.append("%s: closure variables changed; new code applies when it is next created" % ci.qualname)
    _clear_caches(swapped_funcs)
    for path, old, new, qmap in compiled:
        oldq = old.qualnames()
        for q, node in new.qualnames().items():
            if isinstance(node, ast.ClassDef):
                continue
            if q not in oldq or old.fingerprint(q) != new.fingerprint(q):
                swapped.add(q)

    for path, old, new, qmap in compiled:
        prog = S.program
        if new.is_main and prog is not None:
            g = prog.g
            limit = prog.crash_stmt(new)
        else:
            mod = _module_for(path)
            if mod is None:
                _update_linecache(path, new.text)
                continue
            g = mod.__dict__
            limit = len(new.tree.body)
        for idx, st in enumerate(new.tree.body):
            if idx < limit and _is_new_definition(st, old, g):
                _run_definition(st, g, new)
        _update_linecache(path, new.text)
    S.generation = max(S.generation, generation)
    tracing = sys.modules.get(__package__ + ".tracing")
    if tracing is not None:
        tracing.update()   # before 3.12, a function with a breakpoint got new code without its entry hook
    return sorted(swapped), [], warnings


def _is_new_definition(st, old, g):
    if ast.dump(st) in set(old.statement_dumps()):
        return False
    if isinstance(st, (ast.Import, ast.ImportFrom)):
        return True
    if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return st.name not in g
    if isinstance(st, ast.ClassDef):
        return True
    return _literal_assign(st)


def _run_definition(st, g, version):
    try:
        code = instrument.compile_statements([copy.deepcopy(st)], version, main=False)
        if isinstance(st, ast.ClassDef) and isinstance(g.get(st.name), type):
            scratch = dict(g)
            exec(code, scratch)
            old_cls, new_cls = g[st.name], scratch.get(st.name)
            if isinstance(new_cls, type):
                for k, v in new_cls.__dict__.items():
                    if k not in old_cls.__dict__ and k not in ("__dict__", "__weakref__"):
                        setattr(old_cls, k, v)
            return
        exec(code, g)
    except Exception:
        pass  # a definition that fails now is reported when it is used


def _clear_caches(swapped_ids):
    if not swapped_ids:
        return
    lru = getattr(functools, "_lru_cache_wrapper", None)
    for obj in gc.get_objects():
        if lru is not None and type(obj) is lru:
            w = getattr(obj, "__wrapped__", None)
            seen = 0
            while w is not None and seen < 10:
                if id(w) in swapped_ids:
                    try:
                        obj.cache_clear()
                    except Exception:
                        pass
                    break
                w = getattr(w, "__wrapped__", None)
                seen += 1


def _drop_cached_bytecode(path):
    """Workers started by multiprocessing's spawn or forkserver are plain interpreters: they import the
    repaired file from disk, but a user module through __pycache__, whose .pyc counts as fresh while the
    source has its size and its modification time in whole seconds. A repair of the same size written
    within the same second as the old text would be served the old bytecode: it goes (the repaired file
    is on disk already; the next import compiles it)."""
    folder = os.path.join(os.path.dirname(path), "__pycache__")
    prefix = "%s.%s." % (os.path.splitext(os.path.basename(path))[0], sys.implementation.cache_tag)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(prefix) and name.endswith(".pyc"):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass


def _update_linecache(path, text):
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[path] = (len(text), None, lines, path)


# ----------------------------------------------------------------------------------------------
# Restart planning

def functions_for(frames):
    """frame id -> the function object the frame is running (None if not found)."""
    wanted = {}
    for f in frames:
        ci = instrument.info_for(f.f_code)
        if ci is not None and ci.kind == "function":
            wanted[id(f.f_code)] = f.f_code
    found = {k: [] for k in wanted}
    if wanted:
        for obj in gc.get_objects():
            if type(obj) is types.FunctionType and id(obj.__code__) in wanted:
                found[id(obj.__code__)].append(obj)
        for k, code in wanted.items():
            sw = SWAPPED_FROM.get(k)
            if sw is not None and sw[0] is code:
                found[k].extend(sw[1])
    out = {}
    for f in frames:
        cands = found.get(id(f.f_code))
        if not cands:
            continue
        if len(cands) > 1 and f.f_code.co_freevars:
            loc = f.f_locals
            for fn in cands:
                try:
                    if all(c.cell_contents is loc.get(n, MISSING)
                           for n, c in zip(f.f_code.co_freevars, fn.__closure__ or ())):
                        out[id(f)] = fn
                        break
                except ValueError:
                    continue
        if id(f) not in out:
            out[id(f)] = cands[0]
    return out


def _main(f):
    return S.program is not None and S.program.is_main_frame(f)


def frame_restartable(f, funcs):
    if _main(f):
        return True
    ci = instrument.info_for(f.f_code)
    if ci is None or S.restarting.get(id(f)) is f:
        return False
    if ci.kind != "function" or f.f_code.co_flags & _GEN_FLAGS:
        return False
    return id(f) in funcs


def _top_plan(f):
    return S.program.plan(f, S.program.line_of(f))


def frame_changed(f):
    if _main(f):
        p = _top_plan(f)
        return p is not None and p.changed
    ci = instrument.info_for(f.f_code)
    if ci is None or ci.kind != "function":
        return False
    cur = instrument.CURRENT.get(ci.version.filename)
    if cur is None or cur is ci.version or cur.node_for(ci.qualname) is None:
        return False
    return ci.version.fingerprint(ci.qualname) != cur.fingerprint(ci.qualname)


def replaced_call(frame):
    """A Plan that makes `frame`'s call again with the new code, when it still runs code a repair
    replaced (a checkpoint caught it half done) and can be restarted; else None."""
    if S.generation == 0 or _main(frame) or not frame_changed(frame):
        return None
    funcs = functions_for([frame])
    if not frame_restartable(frame, funcs):
        return None
    return Plan(frame, funcs[id(frame)], describe(frame))


class CannotResume(Exception):
    """plan() with toplevel=False: restarting would run a compound top-level statement again."""


def describe(f):
    """What restarting frame `f` does, in words."""
    ci = instrument.info_for(f.f_code)
    return "function %s restarted" % (ci.qualname if ci is not None else f.f_code.co_name)


def plan(chain, mode, toplevel=True):
    """chain: live frames outermost first (the main script's module frame first when it is below),
    ending with the frame the exception is leaving.
    toplevel=False: a plan that would run a compound top-level statement again from its start (the
    whole `if __name__ == "__main__":` block, a `with Pool() as pool:` block) is refused: None, the
    reason in CannotResume, raised. Resuming so repeats what the statement did before the crash (its
    prologue, every batch). A loop resumed at the crashed iteration, or a simple statement run again, is not."""
    found = _plan(chain, mode)
    if found is not None and not toplevel and _main(found.target):
        top = S.program.pending
        if top is not None and top.body_index is None:
            body = top.version.tree.body
            st = body[top.stmt] if top.stmt < len(body) else None
            if st is not None and getattr(st, "body", None) is not None:
                S.program.pending = None
                raise CannotResume("cannot resume in place: the crash reached the program's top level, and "
                                   "resuming would run the statement at line %d again from its start" % st.lineno)
    return found


def _plan(chain, mode):
    entries = list(chain)
    funcs = functions_for(chain)
    ok = [frame_restartable(e, funcs) for e in entries]
    target = None
    if mode in ("patch", "auto"):
        changed = [i for i, e in enumerate(entries) if frame_changed(e)]
        if changed:
            i = changed[0]
            while i >= 0 and not ok[i]:
                i -= 1
            if i >= 0:
                target = i
        elif mode == "auto":
            return None
    if target is None and mode != "auto":
        for i in range(len(entries) - 1, -1, -1):
            if ok[i]:
                target = i
                break
    if target is None:
        return None
    e = entries[target]
    if _main(e):
        top = _top_plan(e)
        if top is None:
            return None
        S.program.pending = top
        return Plan(e, None, top.desc)
    ci = instrument.info_for(e.f_code)
    return Plan(e, funcs[id(e)], "function %s restarted" % ci.qualname)
