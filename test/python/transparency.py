"""Transparency: real programs behave the same under `python -m axolotl_agent` as under plain python.

    python3 test/python/transparency.py [--python python3.X ...] [-k substring] [-j N] [-v]

Each program runs twice on each Python 3.8-3.13 found, plain and under the agent, in the same fresh
folder; exit status, stdout and stderr must be equal byte for byte once addresses and timings are
masked.  Programs:
  * a fixed list of CPython's own test modules (STDLIB_TESTS), from the lib/python3.X/test of the
    interpreter under test (their folder is the user's code: everything in it is instrumented);
  * the probes in transparency/probes/, one per behaviour the agent once changed (see each file's
    docstring), also run with a fake engine attached (hooks and, on 3.12+, sys.monitoring on).
    A probe is a file, or a folder with an ARGS file (the command line after the interpreter); a
    folder NAME.pyz.d in it becomes the zip application NAME.pyz.  A first line "# requires: 3.X"
    limits the versions; "# residual: 3.X" (or 3.X-3.Y) marks a difference that remains on those
    versions (the docstring says why): there the probe runs only with --residual, to show it.
Prints one line per failure and finally `N passed, M failed`.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_engine as fe  # noqa: E402
from run_tests import resolve_python, DEFAULT_PYTHONS, diff_msg  # noqa: E402

PROBES = os.path.join(HERE, "transparency", "probes")

# CPython's own tests: (module, first version, how) -- how: "script" (python3 test_x.py: the main
# script path) or "unittest" (python3 -m unittest test.test_x: imported, as CPython's test runner
# does; for modules that compare __builtins__ with a dict, which only holds when imported).  Chosen
# for what the agent touches (frames, tracebacks, tracing, code objects, exceptions, imports,
# generators, exit) and for running in seconds without network or timing assertions.
STDLIB_TESTS = [
    ("test_exceptions", None, "script"), ("test_traceback", None, "script"), ("test_scope", None, "script"),
    ("test_sys_settrace", (3, 10), "script"), ("test_frame", (3, 10), "unittest"), ("test_typing", None, "script"),
    ("test_generators", None, "script"), ("test_raise", None, "script"), ("test_with", None, "script"),
    ("test_contextlib", None, "script"), ("test_keywordonlyarg", None, "script"),
    ("test_positional_only_arg", None, "script"), ("test_funcattrs", None, "unittest"),
    ("test_decorators", None, "script"), ("test_property", None, "script"), ("test_class", None, "script"),
    ("test_unpack_ex", None, "script"), ("test_global", None, "script"),
    ("test_exception_variations", None, "script"), ("test_baseexception", None, "script"),
    ("test_genexps", None, "script"), ("test_listcomps", None, "script"), ("test_dataclasses", None, "script"),
    ("test_inspect", None, "script"), ("test_warnings", None, "script"), ("test_bdb", (3, 11), "script"),
    ("test_cprofile", None, "script"), ("test_trace", None, "script"), ("test_patma", (3, 10), "script"),
    ("test_exception_group", (3, 11), "script"), ("test_except_star", (3, 11), "script"),
    ("test_coroutines", None, "script"), ("test_grammar", None, "script"), ("test_gc", None, "script"),
    ("test_pdb", None, "script"),
]

# CPython tests that show what remains different (run with --residual; see the probes and the report):
# they inspect the test file's own code objects (instructions, constants, positions, frame sizes),
# where the instrumentation lives; 3.8/3.9 also cannot restore f_lasti on re-raise, and report a
# debugger's jump from a function's first line as a jump into a try block.
RESIDUAL_STDLIB_TESTS = [
    ("test_dis", None, "script"), ("test_code", None, "script"), ("test_compile", None, "script"),
    ("test_sys", None, "script"), ("test_frame", None, "script"), ("test_sys_settrace", None, "script"),
]

_MASKS = [
    (re.compile(r"0x[0-9a-fA-F]+"), "0xADDR"),
    (re.compile(r"\b(in|took) \d+\.\d+s\b"), r"\1 X.XXXs"),
    (re.compile(r"\d+\.\d+ ?(seconds|sec|ms)\b"), r"X.XX \1"),
]


def mask(text):
    for rx, rep in _MASKS:
        text = rx.sub(rep, text)
    return text


def test_dir(py):
    out = subprocess.run([py, "-c", "import os, test; print(os.path.dirname(test.__file__))"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=fe.plain_env())
    return out.stdout.decode().strip()


def version_of(py):
    out = subprocess.run([py, "-c", "import sys; print('%d %d' % sys.version_info[:2])"], stdout=subprocess.PIPE)
    return tuple(int(x) for x in out.stdout.split())


def stdlib_target(tdir, name, how="script"):
    """(argv after the interpreter, root) for one CPython test module: a file runs as a script (or
    through unittest), a package as -m (its __main__, else through unittest)."""
    if os.path.isfile(os.path.join(tdir, name + ".py")):
        if how == "unittest":
            return ["-m", "unittest", "test." + name], tdir
        return [os.path.join(tdir, name + ".py")], tdir
    if os.path.isfile(os.path.join(tdir, name, "__main__.py")):
        return ["-m", "test." + name], tdir
    if os.path.isdir(os.path.join(tdir, name)):
        return ["-m", "unittest", "test." + name], tdir
    return None, None


def _run(cmd, cwd, env, timeout, stdin=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, input=stdin)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        return "timeout", "", ""


def compare(py, argv, files=None, root=None, engine=False, timeout=300, stdin=None):
    """Run plain and under the agent in the same fresh folder; return None or a failure message."""
    d = tempfile.mkdtemp(prefix="axl-tr-")
    eng = None
    try:
        for name, src in (files or {}).items():
            path = os.path.join(d, name)
            if name.endswith(".pyz.d"):
                _zipapp(src, path[:-2])
            elif os.path.isdir(src):
                shutil.copytree(src, path)
            else:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                shutil.copy(src, path)
        plain = _run([py] + argv, d, fe.plain_env(), timeout, stdin)
        extra = {"AXOLOTL_ROOT": root} if root else {}
        if engine:
            eng = fe.FakeEngine(lambda m: {"type": "abort"} if m.get("type") in ("crash", "poll")
                                else {"type": "ok"})
            env = fe.agent_env(eng.path, extra)
        else:
            env = fe.agent_env(None, extra)
        agent = _run([py, "-m", "axolotl_agent"] + argv, d, env, timeout, stdin)
    finally:
        if eng is not None:
            eng.close()
        shutil.rmtree(d, ignore_errors=True)
    if plain[0] == "timeout" or agent[0] == "timeout":
        return "timed out (plain %s, agent %s)" % (plain[0], agent[0])
    msgs = []
    if plain[0] != agent[0]:
        msgs.append("exit status %s, plain %s" % (agent[0], plain[0]))
    for k, what in ((1, "stdout"), (2, "stderr")):
        a, b = mask(plain[k]), mask(agent[k])
        if a != b:
            msgs.append(diff_msg(a, b, what))
    return "\n".join(msgs) or None


def _zipapp(src, dest):
    import zipfile
    with zipfile.ZipFile(dest, "w") as z:
        for n in sorted(os.listdir(src)):
            z.write(os.path.join(src, n), n)


def _header(path):
    """(minimum version, (first, last) versions where a residual difference remains, or None)."""
    with open(path) as fh:
        first = fh.readline()
    m = re.match(r"#\s*(requires|residual):\s*3\.(\d+)(?:-3\.(\d+))?", first)
    if not m:
        return (3, 0), None
    v = (3, int(m.group(2)))
    if m.group(1) == "requires":
        return v, None
    return (3, 0), (v, (3, int(m.group(3))) if m.group(3) else (3, 99))


def probe_jobs(py, ver, residual=False):
    out = []
    for path in sorted(glob.glob(os.path.join(PROBES, "*"))):
        name = os.path.basename(path)
        if os.path.isdir(path):
            files = {n: os.path.join(path, n) for n in os.listdir(path)}
            with open(os.path.join(path, "ARGS")) as fh:
                argv = fh.read().split()
            main = os.path.join(path, argv[-1] if argv[-1].endswith(".py") else "ARGS")
        elif name.endswith(".py"):
            files = {"main.py": path}
            argv = ["main.py"]
            main = path
        else:
            continue
        files.pop("ARGS", None)
        need, residual_on = _header(main)
        if ver < need or (residual_on is not None and residual_on[0] <= ver <= residual_on[1]) != residual:
            continue
        for engine in (False, True):
            out.append(("%s%s" % (name, " +engine" if engine else ""), (py, argv, files, None, engine)))
    return out


def stdlib_jobs(py, ver, residual=False):
    tdir = test_dir(py)
    out = []
    for name, since, how in (RESIDUAL_STDLIB_TESTS if residual else STDLIB_TESTS):
        if since and ver < since:
            continue
        argv, root = stdlib_target(tdir, name, how)
        if argv is None:
            continue
        out.append((name, (py, argv, None, root, False)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", action="append")
    ap.add_argument("-k", default="")
    ap.add_argument("-j", type=int, default=os.cpu_count() or 2)
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--no-stdlib", action="store_true")
    ap.add_argument("--residual", action="store_true", help="run the probes of known remaining differences")
    a = ap.parse_args()
    jobs = []
    missing = []
    for n in a.python or DEFAULT_PYTHONS:
        py = resolve_python(n)
        if py is None:
            missing.append(n)
            continue
        ver = version_of(py)
        todo = probe_jobs(py, ver, a.residual) + ([] if a.no_stdlib else stdlib_jobs(py, ver, a.residual))
        jobs += [(n, name, args) for name, args in todo if a.k in name]
    t0 = time.time()
    passed = failed = 0
    with concurrent.futures.ThreadPoolExecutor(a.j) as pool:
        futs = {pool.submit(lambda args: (time.time(), compare(*args), time.time()), args): (label, name)
                for label, name, args in jobs}
        for f in concurrent.futures.as_completed(futs):
            label, name = futs[f]
            try:
                start, err, end = f.result()
            except Exception as e:  # the harness itself failing is a failure
                start = end = 0
                err = "harness error: %r" % (e,)
            if err is None:
                passed += 1
                if a.v:
                    print("PASS %-10s %s (%.1fs)" % (label, name, end - start), flush=True)
            else:
                failed += 1
                print("FAIL %-10s %s (%.1fs)\n    %s" % (label, name, end - start, err.replace("\n", "\n    ")),
                      flush=True)
    for n in missing:
        print("FAIL %s: interpreter not found" % n)
        failed += 1
    print("\n(%.1fs)" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
