"""Agent tests of the program's other processes and of resuming in place (run by run_tests.py on every
Python): a forked pool worker announces itself, polls and swaps the repair in; a worker call caught
running replaced code is made again with the new code; a worker never reports a crash, and the
program's report says when (and by which generation) the exception was raised; a restart that would
run a top-level statement again is refused when the engine says so; a repair removes the cached
bytecode of the file it changes."""
import os
import shutil
import signal
import subprocess
import sys
import time

import fake_engine as fe

HERE = os.path.dirname(os.path.abspath(__file__))


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


POOL = '''import multiprocessing as mp
import sys
import time


def compute(x):
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
    return 100 // x


if __name__ == "__main__":
    with mp.get_context("fork").Pool(1) as pool:
        print("ready", flush=True)
        for line in sys.stdin:
            print("value", pool.apply(compute, (int(line),)), flush=True)
'''
POOL_NEW = POOL.replace("return 100 // x", "return 100 // x if x else -1")


def _engine(path, new_text, answer_crash="abort"):
    """Answers every poll of an agent older than generation 1 with the new text."""
    def decide(msg):
        t = msg.get("type")
        if t == "poll":
            if msg.get("crashed"):
                return {"type": answer_crash}
            if int(msg.get("generation", 0)) < 1:
                return {"type": "patch", "generation": 1, "files": {path: new_text}}
            return {"type": "continue"}
        if t == "crash":
            return {"type": "wait"}
        return {"type": "ok"}
    return fe.FakeEngine(decide)


def _start(py, d, eng, args=()):
    return subprocess.Popen([py, "-m", "axolotl_agent", "main.py"] + list(args), cwd=d, env=fe.agent_env(eng.path),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _ask(proc, line):
    proc.stdin.write(line.encode())
    proc.stdin.flush()
    return proc.stdout.readline().decode()


def test_worker_swap(py):
    """The forked worker says it runs the agent; on SIGUSR1 it polls and swaps the repair in (the
    program itself is not told: the value it gets back comes from the worker's new code)."""
    d = fe.materialize({"main.py": POOL})
    path = os.path.join(os.path.realpath(d), "main.py")
    eng = _engine(path, POOL_NEW)
    try:
        proc = _start(py, d, eng)
        check(proc.stdout.readline() == b"ready\n", "no ready")
        worker = eng.wait_for(lambda m: m.get("type") == "worker")
        check(worker and worker["parent"] == proc.pid and worker["generation"] == 0, "worker message %s" % worker)
        check(_ask(proc, "4\n") == "value 25\n", "before the swap")
        os.kill(worker["pid"], signal.SIGUSR1)
        patched = eng.wait_for(lambda m: m.get("type") == "patched" and m.get("pid") == worker["pid"])
        check(patched and patched["ok"] and patched["swapped"] == ["compute"], "worker patched %s" % patched)
        check(_ask(proc, "0\n") == "value -1\n", "the worker runs the new code")
        out, err = proc.communicate(b"", timeout=30)
        check(proc.returncode == 0, "rc %s stderr %s" % (proc.returncode, err.decode()[-800:]))
        check(not eng.of_type("crash"), "a crash was reported")
        check(not [m for m in eng.messages if m.get("type") in ("hello", "poll") and m.get("pid") == worker["pid"]
                   and m.get("type") == "hello"], "the worker said hello as if it were the program")
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


def test_worker_restarts_replaced_call(py):
    """A call the worker began in old code (a restore caught it half done) raises after the swap: the
    worker makes the call again with the new code, and the program gets the new result."""
    d = fe.materialize({"main.py": POOL})
    path = os.path.join(os.path.realpath(d), "main.py")
    eng = _engine(path, POOL_NEW)
    try:
        proc = _start(py, d, eng, ["1.0"])
        check(proc.stdout.readline() == b"ready\n", "no ready")
        worker = eng.wait_for(lambda m: m.get("type") == "worker")
        proc.stdin.write(b"0\n")
        proc.stdin.flush()
        time.sleep(0.4)  # compute(0) is asleep in the worker, in the old code
        os.kill(worker["pid"], signal.SIGUSR1)
        line = proc.stdout.readline().decode()
        check(line == "value -1\n", "got %r" % line)
        auto = [m for m in eng.of_type("patched") if "automatically" in m.get("restarted", "")]
        check(auto and auto[0]["pid"] == worker["pid"] and "compute" in auto[0]["restarted"], "patched %s" % eng.of_type("patched"))
        proc.communicate(b"", timeout=30)
        check(proc.returncode == 0 and not eng.of_type("crash"), "rc %s crashes %s" % (proc.returncode, eng.of_type("crash")))
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


def test_worker_exception_reported_by_program(py):
    """An exception in the worker reaches the program through the pool: the program reports it (the
    worker never does), saying when and by which generation it was raised."""
    d = fe.materialize({"main.py": POOL})
    eng = _engine(os.path.join(os.path.realpath(d), "main.py"), POOL_NEW)
    try:
        proc = _start(py, d, eng)
        check(proc.stdout.readline() == b"ready\n", "no ready")
        worker = eng.wait_for(lambda m: m.get("type") == "worker")
        before = time.time() * 1000
        proc.stdin.write(b"0\n")
        proc.stdin.flush()
        crash = eng.wait_for(lambda m: m.get("type") == "crash")
        check(crash and crash["pid"] == proc.pid, "crash %s" % crash)
        check(crash["exception"]["type"] == "ZeroDivisionError", "exception %s" % crash["exception"])
        check(crash.get("raisedGeneration") == 0 and before - 50 <= crash.get("raisedAt", 0) <= time.time() * 1000,
              "raised %s %s (asked at %s)" % (crash.get("raisedGeneration"), crash.get("raisedAt"), before))
        os.kill(proc.pid, signal.SIGUSR1)  # the engine answers abort
        out, err = proc.communicate(b"", timeout=30)
        check(proc.returncode == 1 and "ZeroDivisionError" in err.decode(), "rc %s" % proc.returncode)
        check(not [m for m in eng.of_type("crash") if m["pid"] == worker["pid"]], "the worker reported a crash")
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


TOPLEVEL = '''print("prologue", flush=True)
if __name__ == "__main__":
    total = 0
    for i in range(3):
        total += 10 // (2 - i)
        print("step", i, total, flush=True)
    print("done", total, flush=True)
'''
TOPLEVEL_NEW = TOPLEVEL.replace("10 // (2 - i)", "10 // (2 - i) if i != 2 else 0")


def _toplevel_run(py, top_level):
    d = fe.materialize({"main.py": TOPLEVEL})
    path = os.path.join(os.path.realpath(d), "main.py")
    state = {"proc": None}

    def decide(msg):
        t = msg.get("type")
        if t == "crash":
            return {"type": "wait"}
        if t == "poll" and msg.get("crashed"):
            reply = {"type": "patch", "generation": 1, "files": {path: TOPLEVEL_NEW}}
            if top_level is not None:
                reply["topLevel"] = top_level
            return reply
        return {"type": "continue"} if t == "poll" else {"type": "ok"}
    eng = fe.FakeEngine(decide)
    eng.after_reply = lambda m: m.get("type") == "crash" and os.kill(state["proc"].pid, signal.SIGUSR1)
    try:
        proc = subprocess.Popen([py, "-m", "axolotl_agent", "main.py"], cwd=d, env=fe.agent_env(eng.path),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        state["proc"] = proc
        out, err = proc.communicate(timeout=30)
        return proc.returncode, out.decode(), err.decode(), eng.of_type("patched")
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


def test_toplevel_rerun_refused(py):
    """topLevel: false: resuming would run the `if __name__ == "__main__":` block again from its start:
    refused (patched ok:false, cannotResume), and the exception ends the program as in plain Python."""
    rc, out, err, patched = _toplevel_run(py, False)
    check(rc == 1, "rc %s stderr %s" % (rc, err[-800:]))
    check(out == "prologue\nstep 0 5\nstep 1 15\n", "stdout %r" % out)
    check(err.rstrip().endswith("ZeroDivisionError: integer division or modulo by zero"), "stderr %s" % err[-800:])
    check(len(patched) == 1 and not patched[0]["ok"] and patched[0].get("cannotResume"), "patched %s" % patched)
    check(patched[0]["error"].startswith("cannot resume in place: the crash reached the program's top level, "
                                         "and resuming would run the statement at line 2 again"), patched[0]["error"])


def test_toplevel_rerun_allowed(py):
    """Without topLevel (or with true: the user asked for in place) the statement runs again, as before."""
    rc, out, err, patched = _toplevel_run(py, None)
    check(rc == 0, "rc %s stderr %s" % (rc, err[-800:]))
    check(out == "prologue\nstep 0 5\nstep 1 15\nstep 0 5\nstep 1 15\nstep 2 15\ndone 15\n", "stdout %r" % out)
    check(patched and patched[0]["ok"] and "re-run" in patched[0].get("restarted", ""), "patched %s" % patched)


HELPER = "def f():\n    return 1\n"
HELPER_NEW = "def f():\n    return 2\n"  # the same size: a .pyc of the old text would pass as fresh
USES_HELPER = '''import sys
import helper
print("ready", helper.f(), flush=True)
for line in sys.stdin:
    print("value", helper.f(), flush=True)
'''


def test_repair_drops_cached_bytecode(py):
    """A spawned worker imports user modules as plain Python does, through __pycache__: the repair of a
    module removes its .pyc, which could pass for fresh (same size, same second)."""
    d = fe.materialize({"main.py": USES_HELPER, "helper.py": HELPER})
    helper = os.path.join(os.path.realpath(d), "helper.py")
    subprocess.run([py, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1])", helper], check=True)
    cache = os.path.join(d, "__pycache__")
    check([n for n in os.listdir(cache) if n.startswith("helper.")], "no .pyc to begin with")
    eng = _engine(helper, HELPER_NEW)
    try:
        proc = _start(py, d, eng)
        check(proc.stdout.readline() == b"ready 1\n", "no ready")
        os.kill(proc.pid, signal.SIGUSR1)
        check(eng.wait_for(lambda m: m.get("type") == "patched"), "no patched")
        check(_ask(proc, "x\n") == "value 2\n", "not swapped")
        tag = subprocess.run([py, "-c", "import sys; print(sys.implementation.cache_tag)"], stdout=subprocess.PIPE).stdout.decode().strip()
        left = [n for n in os.listdir(cache) if n.startswith("helper.%s." % tag)]
        check(not left, "cached bytecode left: %s" % left)
        proc.communicate(b"", timeout=30)
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


CASES = [
    ("worker_swap", test_worker_swap),
    ("worker_restarts_replaced_call", test_worker_restarts_replaced_call),
    ("worker_exception_reported_by_program", test_worker_exception_reported_by_program),
    ("toplevel_rerun_refused", test_toplevel_rerun_refused),
    ("toplevel_rerun_allowed", test_toplevel_rerun_allowed),
    ("repair_drops_cached_bytecode", test_repair_drops_cached_bytecode),
]
