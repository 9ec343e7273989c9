"""Agent tests on every Python given (default: python3.8 ... python3.13).

    python3 test/python/run_tests.py [--python python3.X ...] [-k substring] [-v]

For each catalogue program in crashes/NN_name and each Python:
  standalone  `python -m axolotl_agent main.py` without AXOLOTL_SOCKET == plain python (stdout, stderr,
              exit status) for buggy and fixed sources
  patch       crash report contents; after the patch the output equals `python fixed.py` from scratch,
              the prologue ran once, patched ok + verified were sent, exactly one crash was reported
  abort       stderr is exactly plain Python's traceback, exit 1, and the report's traceback equals it
Plus: caught exceptions are never reported; restart after restore (SIGUSR1 + patch while running);
automatic restart of a frame still running replaced code; fork snapshots; programs Python runs
through runpy (a directory, -m package); the debugger (breakpoints, steps, pause, evaluate and the
other commands of a paused agent); the program's workers and resuming in place (worker_cases.py).
Prints one line per test and finally `N passed, M failed`.
"""
import argparse
import concurrent.futures
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_engine as fe  # noqa: E402
import worker_cases  # noqa: E402

DEFAULT_PYTHONS = ["python3.%d" % v for v in range(8, 14)]


def resolve_python(name):
    """A working interpreter path for `name` (falls back to pyenv's versions folder)."""
    exe = shutil.which(name)
    if exe:
        try:
            if subprocess.run([exe, "-c", "pass"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=20).returncode == 0:
                return exe
        except (OSError, subprocess.TimeoutExpired):
            pass
    ver = name.replace("python", "")
    roots = []
    try:
        roots.append(subprocess.run(["pyenv", "root"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    timeout=20).stdout.decode().strip())
    except (OSError, subprocess.TimeoutExpired):
        pass
    roots.append(os.path.expanduser("~/.pyenv"))
    for r in roots:
        for cand in sorted(glob.glob(os.path.join(r, "versions", ver + ".*", "bin", name)), reverse=True):
            if os.access(cand, os.X_OK):
                return cand
    return None


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def diff_msg(a, b, what):
    import difflib
    d = "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True), "expected", "got", n=1))
    return "%s differs:\n%s" % (what, d[:1500])


def programs(filter_):
    out = []
    for d in sorted(glob.glob(os.path.join(HERE, "crashes", "*"))):
        if os.path.isdir(d) and (not filter_ or filter_ in os.path.basename(d)):
            out.append(d)
    return out


def test_standalone(py, prog):
    buggy, fixed = fe.load_program(prog)
    for label, files in (("buggy", buggy), ("fixed", fixed)):
        rc1, out1, err1, _ = fe.run_plain(py, files)
        rc2, out2, err2, _ = fe.run_plain(py, files, agent=True)
        # the temp folder differs between the two runs: normalise it in tracebacks
        err1 = _norm_paths(err1)
        err2 = _norm_paths(err2)
        check(out1 == out2, diff_msg(out1, out2, label + " stdout"))
        check(err1 == err2, diff_msg(err1, err2, label + " stderr"))
        check(rc1 == rc2, "%s exit status %s != %s" % (label, rc2, rc1))


def _norm_paths(text):
    import re
    return re.sub(r"/tmp/axl-prog-[A-Za-z0-9_]+", "<dir>", text)


def _expected(prog):
    with open(os.path.join(prog, "expected")) as fh:
        return json.load(fh)


def test_patch(py, prog):
    buggy, fixed = fe.load_program(prog)
    exp = _expected(prog)
    rc_f, out_f, err_f, _ = fe.run_plain(py, fixed)
    r = fe.run_crash_scenario(py, buggy, fixed, "patch")
    msgs = r["messages"]
    crashes = [m for m in msgs if m.get("type") == "crash"]
    check(len(crashes) == 1, "expected exactly 1 crash report, got %d; stderr=%s" % (len(crashes), r["stderr"][-800:]))
    c = crashes[0]
    check(c["exception"]["type"] == exp["exception"], "exception %s != %s" % (c["exception"]["type"], exp["exception"]))
    check(c["exception"]["qualifiedType"].endswith("." + exp["exception"]), "qualifiedType %s" % c["exception"]["qualifiedType"])
    check(c["traceback"].startswith("Traceback (most recent call last):\n"), "traceback text")
    check("axolotl_agent" not in c["traceback"] and "runpy" not in c["traceback"], "agent frames in traceback")
    frames = [f for f in c["frames"] if f["qualname"] == exp["function"]]
    check(frames, "no frame %s in %s" % (exp["function"], [f["qualname"] for f in c["frames"]]))
    check(all(f["user"] for f in c["frames"] if f["file"].startswith(r["dir"])), "user flag")
    name, value = exp["local"]
    check(any(f.get("locals", {}).get(name, {}).get("repr") == value for f in frames),
          "local %s=%s not found: %s" % (name, value, [f.get("locals", {}).get(name) for f in frames]))
    if "redacted" in exp:
        check(any(f.get("locals", {}).get(exp["redacted"], {}).get("redacted") is True
                  and f["locals"][exp["redacted"]]["repr"] == "<redacted>" for f in frames), "redaction")
    if "not_restartable" in exp:
        check(all(not f["restartable"] for f in c["frames"] if f["qualname"] == exp["not_restartable"]),
              "%s should not be restartable" % exp["not_restartable"])
    check(any(f["restartable"] for f in c["frames"]), "no restartable frame")
    patched = [m for m in msgs if m.get("type") == "patched"]
    check(patched and patched[0]["ok"], "patched not ok: %s" % patched)
    check(exp["restarted"] in patched[0].get("restarted", ""), "restarted %r" % patched[0].get("restarted"))
    check(any(m.get("type") == "verified" for m in msgs), "no verified message")
    check(any(m.get("type") == "hello" for m in msgs), "no hello")
    exits = [m for m in msgs if m.get("type") == "exit"]
    check(exits and exits[-1]["code"] == 0, "exit message %s" % exits)
    check(r["rc"] == 0, "exit status %s; stderr=%s" % (r["rc"], r["stderr"][-1500:]))
    check(r["stdout"] == out_f, diff_msg(out_f, r["stdout"], "stdout vs fixed from scratch"))
    check(r["stdout"].count("prologue") == 1, "prologue printed %d times" % r["stdout"].count("prologue"))
    check(r["stderr"] == err_f, diff_msg(err_f, r["stderr"], "stderr"))
    check("outputTail" in c and "prologue" in c["outputTail"], "outputTail")


def test_abort(py, prog):
    buggy, fixed = fe.load_program(prog)
    r = fe.run_crash_scenario(py, buggy, fixed, "abort")
    crashes = [m for m in r["messages"] if m.get("type") == "crash"]
    check(len(crashes) == 1, "expected 1 crash, got %d" % len(crashes))
    # plain python in the same folder, so paths in the traceback are identical
    d = fe.materialize(buggy)
    try:
        p = subprocess.run([py, "main.py"], cwd=d, env=fe.plain_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    plain_err = _norm_paths(p.stderr.decode())
    got_err = _norm_paths(r["stderr"])
    check(r["rc"] == 1 and p.returncode == 1, "exit status %s (plain %s)" % (r["rc"], p.returncode))
    check(got_err == plain_err, diff_msg(plain_err, got_err, "abort stderr"))
    check(r["stdout"] == p.stdout.decode(), diff_msg(p.stdout.decode(), r["stdout"], "abort stdout"))
    check(_norm_paths(crashes[0]["traceback"]) == plain_err,
          diff_msg(plain_err, _norm_paths(crashes[0]["traceback"]), "report traceback vs plain stderr"))


def test_caught_never_reported(py):
    _, fixed = fe.load_program(os.path.join(HERE, "crashes", "14_caught_then_bug"))
    rc_f, out_f, err_f, _ = fe.run_plain(py, fixed)
    r = fe.run_crash_scenario(py, fixed, fixed, "abort")
    crashes = [m for m in r["messages"] if m.get("type") == "crash"]
    check(not crashes, "caught exception reported: %s" % [c["exception"] for c in crashes])
    check(r["stdout"] == out_f and r["rc"] == 0, diff_msg(out_f, r["stdout"], "stdout"))


RESTORE_OLD = '''import sys


def compute(x):
    return x * 2


print("ready", flush=True)
for line in sys.stdin:
    print("value", compute(int(line)), flush=True)
'''
RESTORE_NEW = RESTORE_OLD.replace("return x * 2", "return x * 3")


def test_restore_swap(py):
    r = fe.run_restore_scenario(py, RESTORE_OLD, RESTORE_NEW)
    check(r["lines"] == ["ready\n", "value 2\n", "value 6\n"], "lines %s stderr=%s" % (r["lines"], r["stderr"][-800:]))
    patched = [m for m in r["messages"] if m.get("type") == "patched"]
    check(patched and patched[0]["ok"] and patched[0]["swapped"] == ["compute"], "patched %s" % patched)
    check(len([m for m in r["messages"] if m.get("type") == "hello"]) == 2, "hello after restore")
    check(not [m for m in r["messages"] if m.get("type") == "crash"], "unexpected crash")
    check(r["rc"] == 0, "rc %s" % r["rc"])


POOL_OLD = '''import sys
from concurrent.futures import ThreadPoolExecutor


def parse(s):
    return int(s.split("=")[1])


print("ready", flush=True)
sys.stdin.readline()
with ThreadPoolExecutor(2) as ex:
    print("sum", sum(ex.map(parse, ["a=1", "b: 2"])), flush=True)
'''
POOL_NEW = POOL_OLD.replace('s.split("=")', 's.replace(":", "=").split("=")')

# Starts the program, says its pid, and leaves it to init when its own stdin closes (as a restore
# hands the program to the restore's wrapper: the program's parent changes).
_MIDDLE = "import subprocess, sys; p = subprocess.Popen(sys.argv[3:], stdin=int(sys.argv[1]), stdout=int(sys.argv[2]), " \
          "pass_fds=(int(sys.argv[1]), int(sys.argv[2]))); print(p.pid, flush=True); sys.stdin.read()"


def test_thread_catches_up_after_restore(py):
    """A pool thread raises in code a repair replaces before the main thread has polled (a restored
    program: its parent changed): the thread waits for the main thread's poll and makes its call again
    with the new code, instead of handing the old code's exception to the program as a crash."""
    d = fe.materialize({"main.py": POOL_OLD})
    path = os.path.join(os.path.realpath(d), "main.py")

    def decide(msg):
        if msg.get("type") == "poll" and not msg.get("crashed"):
            return {"type": "patch", "generation": 1, "files": {path: POOL_NEW}} if msg.get("generation") == 0 else {"type": "continue"}
        if msg.get("type") == "crash":
            return {"type": "abort"}
        return {"type": "ok"}

    eng = fe.FakeEngine(decide)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    pid = None
    try:
        mid = subprocess.Popen([sys.executable, "-c", _MIDDLE, str(in_r), str(out_w), py, "-m", "axolotl_agent", "main.py"],
                               cwd=d, env=fe.agent_env(eng.path), stdin=subprocess.PIPE, stdout=subprocess.PIPE, pass_fds=(in_r, out_w))
        os.close(in_r)
        os.close(out_w)
        pid = int(mid.stdout.readline())
        out = os.fdopen(out_r, "rb")
        check(out.readline() == b"ready\n", "ready")
        mid.stdin.close()
        mid.wait(timeout=20)
        for _ in range(200):
            if _ppid(pid) != mid.pid:
                break
            time.sleep(0.01)
        check(_ppid(pid) not in (None, mid.pid), "the program was not handed to another parent")
        os.write(in_w, b"go\n")
        rest = out.read().decode()
        check(rest == "sum 3\n", "output %r; messages %s" % (rest, [m.get("type") for m in eng.messages]))
        check(not eng.of_type("crash"), "a crash was reported: %s" % eng.of_type("crash"))
    finally:
        _kill_snapshot(pid)
        os.close(in_w)
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


def _ppid(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError):
        return None


AUTO_OLD = '''import sys


def main():
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        print("value", 10 // (n - 2), flush=True)


main()
'''
AUTO_NEW = AUTO_OLD.replace("10 // (n - 2)", "10 // (n - 2) if n != 2 else 0")


def test_auto_restart_old_frame(py):
    """main() keeps running old code after a patch (as after a restore to an earlier checkpoint);
    when that old code crashes, the agent restarts main with the new code without asking."""
    d = fe.materialize({"main.py": AUTO_OLD})
    path = os.path.join(os.path.realpath(d), "main.py")
    sent = []

    def decide(msg):
        if msg.get("type") == "poll" and not msg.get("crashed") and not sent:
            sent.append(1)
            return {"type": "patch", "generation": 1, "files": {path: AUTO_NEW}}
        if msg.get("type") == "crash":
            return {"type": "abort"}
        return {"type": "continue"} if msg.get("type") == "poll" else {"type": "ok"}

    eng = fe.FakeEngine(decide)
    try:
        proc = subprocess.Popen([py, "-m", "axolotl_agent", "main.py"], cwd=d, env=fe.agent_env(eng.path),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        lines = [proc.stdout.readline().decode()]
        proc.stdin.write(b"1\n")
        proc.stdin.flush()
        lines.append(proc.stdout.readline().decode())
        os.kill(proc.pid, signal.SIGUSR1)
        check(eng.wait_for(lambda m: m.get("type") == "patched"), "no patched")
        out, err = proc.communicate(b"2\n3\n", timeout=30)
        lines += out.decode().splitlines(True)
        check(lines == ["ready\n", "value -10\n", "ready\n", "value 10\n"], "lines %s stderr=%s" % (lines, err.decode()[-800:]))
        check(not eng.of_type("crash"), "crash reported instead of automatic restart")
        auto = [m for m in eng.of_type("patched") if "automatically" in m.get("restarted", "")]
        check(auto and "main" in auto[0]["restarted"], "patched(auto) %s" % eng.of_type("patched"))
        check(proc.returncode == 0, "rc %s" % proc.returncode)
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


RUNPY_MAIN = '''print("prologue")


def f(x):
    return 10 // x


total = 0
for v in [2, 1, 0, 5]:
    total += f(v)
    print(v, total)
print("end", total)
'''
RUNPY_FIXED = RUNPY_MAIN.replace("10 // x", "10 // x if x else -1")
RUNPY_TOP = RUNPY_MAIN.replace("total += f(v)", "total += 10 // v")
RUNPY_TOP_FIXED = RUNPY_TOP.replace("10 // v", "(10 // v if v else -1)")


def _runpy_case(py, files, fixed, argv, restarted):
    """A program that Python runs through runpy (a directory, `-m package`): the crash is reported
    with its frames, the repair restarts the right frame, and the output equals the fixed program's."""
    rc_f, out_f, err_f, _ = fe.run_plain(py, fixed, argv=argv)
    r = fe.run_crash_scenario(py, files, fixed, "patch", argv=argv)
    crashes = [m for m in r["messages"] if m.get("type") == "crash"]
    check(len(crashes) == 1, "expected 1 crash report, got %d; stderr=%s" % (len(crashes), r["stderr"][-800:]))
    check(crashes[0]["exception"]["type"] == "ZeroDivisionError", "exception %s" % crashes[0]["exception"])
    patched = [m for m in r["messages"] if m.get("type") == "patched"]
    check(patched and patched[0]["ok"] and restarted in patched[0].get("restarted", ""), "patched %s" % patched)
    check(r["rc"] == 0 and r["stdout"] == out_f, diff_msg(out_f, r["stdout"], "stdout (rc %s)" % r["rc"]))


def test_directory_app(py):
    """python3 app/ (sys.path[0] is relative on 3.8): the crash in a function is repaired."""
    _runpy_case(py, {"app/__main__.py": RUNPY_MAIN}, {"app/__main__.py": RUNPY_FIXED}, ["app"], "function f")


def test_module_package(py):
    """python3 -m pkg: a crash in the package's __main__ module code itself (its top-level loop)."""
    files = {"pkg/__init__.py": "", "pkg/__main__.py": RUNPY_TOP}
    fixed = {"pkg/__init__.py": "", "pkg/__main__.py": RUNPY_TOP_FIXED}
    _runpy_case(py, files, fixed, ["-m", "pkg"], "iteration of the loop at line 9 restarted")


FORK_PROG = '''import sys, time
print("ready", flush=True)
for line in sys.stdin:
    print("got", line.strip(), flush=True)
'''


def _state(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _kill_snapshot(pid):
    """A snapshot a test left stopped (or that is already gone)."""
    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _why_no_snapshot(proc, eng):
    """What a failed snapshot test needs to be understood: the program's state and signal masks, its
    children, the messages the engine got."""
    lines = ["program exit status %s, state %s" % (proc.poll(), _state(proc.pid))]
    try:
        with open("/proc/%d/status" % proc.pid) as fh:
            lines += [l.strip() for l in fh if l.split(":")[0] in ("SigPnd", "ShdPnd", "SigBlk", "SigCgt", "Threads")]
        with open("/proc/%d/wchan" % proc.pid) as fh:
            lines.append("wchan " + fh.read())
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as fh:
            lines.append("children " + " ".join("%s(%s)" % (c, _state(int(c))) for c in fh.read().split()))
    except OSError as e:
        lines.append(str(e))
    lines.append("engine got %s" % [m.get("type") for m in eng.messages])
    return "\n".join(lines)


def _wait_state(pid, states, seconds=4.0):
    for _ in range(int(seconds / 0.02)):
        if _state(pid) in states:
            return True
        time.sleep(0.02)
    return False


def test_fork_snapshot(py):
    """A snapshot stays stopped until the engine says go: a SIGCONT alone (criu resuming a task it
    dumps, an orphaned process group) makes it ask, and on "stop" it stops again without running."""
    d = fe.materialize({"main.py": FORK_PROG})
    verdict = {"wake": "stop"}

    def decide(m):
        if m.get("type") == "poll":
            return {"type": "continue"}
        if m.get("type") == "wake":
            return {"type": verdict["wake"]}
        return {"type": "ok"}
    eng = fe.FakeEngine(decide)
    child = None
    try:
        env = fe.agent_env(eng.path, {"AXOLOTL_BACKEND": "fork"})
        proc = subprocess.Popen([py, "-m", "axolotl_agent", "main.py"], cwd=d, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check(proc.stdout.readline() == b"ready\n", "ready")
        os.kill(proc.pid, signal.SIGUSR2)
        snap = eng.wait_for(lambda m: m.get("type") == "snapshot")
        check(snap and snap["pid"] > 0 and snap["parent"] == proc.pid and snap["seq"] == 1,
              "snapshot %s\n%s" % (snap, _why_no_snapshot(proc, eng)))
        child = snap["pid"]
        # the parent goes on; the child is stopped until the engine continues it
        proc.stdin.write(b"a\n")
        proc.stdin.flush()
        check(proc.stdout.readline() == b"got a\n", "parent runs on")
        check(_wait_state(child, ("T", "t")), "snapshot child not stopped")
        # woken by somebody else: it asks, is told to wait, and stops again having run nothing
        os.kill(child, signal.SIGCONT)
        check(eng.wait_for(lambda m: m.get("type") == "wake" and m.get("pid") == child), "child asked")
        check(_wait_state(child, ("T", "t")), "snapshot child did not stop again after 'stop'")
        check(not [m for m in eng.messages if m.get("pid") == child and m.get("type") in ("hello", "poll")],
              "a snapshot told to stop ran on")
        # woken on purpose
        verdict["wake"] = "go"
        os.kill(child, signal.SIGCONT)
        check(eng.wait_for(lambda m: m.get("type") == "hello" and m.get("pid") == child), "child hello")
        check(eng.wait_for(lambda m: m.get("type") == "poll" and m.get("pid") == child), "child poll")
        proc.communicate(timeout=20)
        check(proc.returncode == 0, "rc")
    finally:
        _kill_snapshot(child)
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


SNAP_PROG = '''import atexit, sys
atexit.register(lambda: open("atexit.txt", "a").write("atexit\\n"))
sys.stdout.write("buffered, not flushed")
print("ready", file=sys.stderr, flush=True)
sys.stdin.readline()
'''


def test_snapshot_without_engine(py):
    """A snapshot woken when no engine is there leaves at once: no user code, no atexit, no flush."""
    d = fe.materialize({"main.py": SNAP_PROG})
    eng = fe.FakeEngine(lambda m: {"type": "continue"} if m.get("type") == "poll" else {"type": "ok"})
    child = None
    try:
        env = fe.agent_env(eng.path, {"AXOLOTL_BACKEND": "fork", "PYTHONUNBUFFERED": ""})
        env.pop("PYTHONUNBUFFERED", None)
        proc = subprocess.Popen([py, "-m", "axolotl_agent", "main.py"], cwd=d, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        check(proc.stderr.readline() == b"ready\n", "ready")
        os.kill(proc.pid, signal.SIGUSR2)
        snap = eng.wait_for(lambda m: m.get("type") == "snapshot")
        child = snap["pid"]
        check(_wait_state(child, ("T", "t")), "snapshot child not stopped")
        eng.close()
        os.kill(child, signal.SIGCONT)
        check(_wait_state(child, ("Z", None)), "a snapshot with no engine to ask did not leave")
        proc.stdin.write(b"\n")
        out, _ = proc.communicate(timeout=20)
        check(out == b"buffered, not flushed", "the live program's output: %r" % out)
        with open(os.path.join(d, "atexit.txt")) as fh:
            check(fh.read() == "atexit\n", "atexit ran in the snapshot, or not in the program")
    finally:
        _kill_snapshot(child)
DEBUG_PROG = '''import sys, time


def work(n):
    total = 0
    for i in range(n):
        total += i
    return total


def never_called():
    return 0


api_token = "abc"
x = work(5)
print("x", x, flush=True)
try:
    int("not a number")
except ValueError:
    pass
if sys.argv[1:] == ["loop"]:
    for k in range(200):
        time.sleep(0.01)
print("end", flush=True)
'''


def _debug_session(py, breakpoints, script, args=(), raised=False, on_start=None, files=None):
    """Runs DEBUG_PROG (or `files`, main.py first) under the agent with an engine that sets `breakpoints`
    ({line: spec} in main.py, or {file: {line: spec}}) and answers each stop with the next entries of
    `script` (debug commands, then a resume). Returns (out, messages)."""
    d = fe.materialize(files or {"main.py": DEBUG_PROG})
    main = os.path.join(d, "main.py")
    by_file = breakpoints if breakpoints and isinstance(next(iter(breakpoints)), str) else {"main.py": breakpoints}
    script = list(script)
    state = {"proc": None, "pause": False, "main": main}
    config = {"version": 1, "exceptions": {"raised": raised},
              "breakpoints": {os.path.join(os.path.realpath(d), name): [dict(spec, id=line, line=line) for line, spec in bps.items()]
                              for name, bps in by_file.items()}}

    def decide(m):
        t = m.get("type")
        if t == "hello":
            return {"type": "ok", "debug": state.get("config", config)}
        if t == "stopped":
            return {"type": "wait"}
        if t == "poll" and not m.get("stopped") and not m.get("crashed"):
            reply = dict(state.pop("next_poll", None) or {"type": "continue"}, debug=state.get("config", config))
            if state["pause"]:
                state["pause"] = False
                reply["pause"] = True
            return reply
        if t in ("poll", "debugResult"):
            return script.pop(0) if script else {"type": "resume", "mode": "continue"}
        return {"type": "ok"}

    eng = fe.FakeEngine(decide)

    def after(m):
        if m.get("type") == "stopped":
            time.sleep(0.02)
            os.kill(state["proc"].pid, signal.SIGUSR1)

    eng.after_reply = after
    try:
        proc = subprocess.Popen([py, "-m", "axolotl_agent", "main.py"] + list(args), cwd=d, env=fe.agent_env(eng.path),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        state["proc"] = proc
        if on_start:
            on_start(proc, state, eng)
        out, err = proc.communicate(timeout=60)
        check(proc.returncode == 0, "rc %s: %s" % (proc.returncode, err.decode()[-1500:]))
        return out.decode(), list(eng.messages)
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


def _stops(msgs):
    return [(m["reason"], m["frames"][-1]["function"], m["frames"][-1]["line"]) for m in msgs if m.get("type") == "stopped"]


def _results(msgs):
    return {m["id"]: m for m in msgs if m.get("type") == "debugResult"}


def test_debug_breakpoints_steps_evaluate(py):
    """A hit-count breakpoint, evaluate / setVariable / completions / variables, step over and out."""
    out, msgs = _debug_session(py, {7: {"hitCondition": "3"}, 12: {}}, [
        {"type": "evaluate", "id": 1, "frame": 1, "expression": "(i, total)", "context": "repl"},
        {"type": "evaluate", "id": 2, "frame": 1, "expression": "1/0", "context": "repl"},
        {"type": "setVariable", "id": 3, "frame": 1, "scope": "locals", "name": "total", "value": "1000"},
        {"type": "completions", "id": 4, "frame": 1, "text": "tot", "offset": 3},
        {"type": "variables", "id": 5, "frame": 0, "scope": "locals"},
        {"type": "evaluate", "id": 6, "frame": 0, "expression": "api_token", "context": "watch"},
        {"type": "resume", "mode": "next"},
        {"type": "resume", "mode": "stepOut"},
        {"type": "resume", "mode": "continue"},
    ])
    check(_stops(msgs) == [("breakpoint", "work", 7), ("step", "work", 6), ("step", "<module>", 17)],
          "stops %s" % _stops(msgs))
    r = _results(msgs)
    check(r[1]["value"]["repr"] == "(2, 1)", "evaluate %s" % r[1])
    check(not r[2]["ok"] and r[2]["error"] == "ZeroDivisionError: division by zero", "raising evaluate %s" % r[2])
    check(r[3]["value"]["repr"] == "1000", "setVariable %s" % r[3])
    check([t["label"] for t in r[4]["targets"]] == ["total"], "completions %s" % r[4])
    names = {v["name"]: v for v in r[5]["variables"]}
    check(names["api_token"]["redacted"] and names["api_token"]["repr"] == "<redacted>", "variables %s" % r[5])
    check(r[6]["value"]["repr"] == "<redacted>", "redacted evaluate %s" % r[6])
    check(out.startswith("x 1009\n"), "the program saw the new total: %r" % out)


def test_debug_conditions_logpoints_raised(py):
    """A condition, a logpoint, a breakpoint in a function never called, and the "raised" filter."""
    out, msgs = _debug_session(py, {7: {"condition": "i == 4"}, 8: {"logMessage": "total={total}"}, 12: {}},
                               [{"type": "resume", "mode": "continue"}] * 2, raised=True)
    check(_stops(msgs) == [("breakpoint", "work", 7), ("exception", "<module>", 19)], "stops %s" % _stops(msgs))
    exc = [m for m in msgs if m.get("type") == "stopped"][1]["exception"]
    check(exc["type"] == "ValueError" and exc["qualifiedType"] == "builtins.ValueError", "exception %s" % exc)
    logs = [m["text"] for m in msgs if m.get("type") == "debugOutput"]
    check(logs == ["total=10\n"], "logpoint %s" % logs)
    check(out == "x 10\nend\n", "output %r" % out)


HOOKS_MAIN = '''import sys


def probe():
    return sys.gettrace() is not None


def work(n):
    total = n
    return total, probe()


def maker():
    def closure(x):
        return x + 1
    return closure


print("outside", probe(), flush=True)
print("inside", work(1)[1], flush=True)
print("after", probe(), flush=True)
import mod
print("mod", mod.f(2), flush=True)
print("closure", maker()(1), flush=True)
print("same function", work.__code__.co_name, flush=True)
'''

HOOKS_MOD = '''def f(x):
    y = x * 3
    return y
'''


def test_debug_entry_hooks(py):
    """Breakpoints in a function of the running script, in one of a module imported later, on a
    function's first line and in a closure stop alike on every version; before 3.12 the program is
    traced only while a function that holds a breakpoint runs (sys.monitoring traces nothing)."""
    out, msgs = _debug_session(py, {"main.py": {9: {}, 15: {}}, "mod.py": {2: {}}}, [], files={"main.py": HOOKS_MAIN, "mod.py": HOOKS_MOD})
    check(_stops(msgs) == [("breakpoint", "work", 9), ("breakpoint", "f", 2), ("breakpoint", "closure", 15)],
          "stops %s" % _stops(msgs))
    old = _version(py) < (3, 12)
    want = "outside False\ninside %s\nafter False\nmod 6\nclosure 2\nsame function work\n" % old
    check(out == want, "output %r, not %r" % (out, want))


LATE_PROG = '''import sys, time


def work(n):
    total = n
    return total


print("ready", flush=True)
for k in range(300):
    work(k)
    time.sleep(0.01)
print("end", "axolotl:enter" in work.__code__.co_consts, sys.gettrace() is not None, flush=True)
'''


def test_debug_breakpoint_while_running(py):
    """A breakpoint set while the program runs stops in a function that exists already; removed, the
    function runs its own code again, untraced."""
    def on_start(proc, state, eng):
        check(proc.stdout.readline() == b"ready\n", "ready")
        path = os.path.join(os.path.realpath(os.path.dirname(state["main"])), "main.py")
        state["config"] = {"version": 2, "exceptions": {}, "breakpoints": {path: [{"id": 1, "line": 5}]}}
        os.kill(proc.pid, signal.SIGUSR1)
        check(eng.wait_for(lambda m: m.get("type") == "stopped"), "no stop at the breakpoint set while running")
        state["config"] = {"version": 3, "exceptions": {}, "breakpoints": {}}

    out, msgs = _debug_session(py, {}, [
        {"type": "evaluate", "id": 1, "frame": 0, "expression": "'axolotl:enter' in work.__code__.co_consts", "context": "repl"},
        {"type": "resume", "mode": "continue", "debug": {"version": 3, "exceptions": {}, "breakpoints": {}}}],
        files={"main.py": LATE_PROG}, on_start=on_start)
    check([s[:2] for s in _stops(msgs)] == [("breakpoint", "work")], "stops %s" % _stops(msgs))
    hooked = _results(msgs)[1]["value"]["repr"]
    check(hooked == str(_version(py) < (3, 12)), "the function ran a variant with an entry hook: %s" % hooked)
    check(out == "end False False\n", "output %r" % out)


REPAIRED_OLD = '''import os, time


def work(n):
    total = n * 2
    return total


print("ready", flush=True)
while not os.path.exists("go"):
    time.sleep(0.01)
print("value", work(1), flush=True)
'''


def test_debug_breakpoint_in_repaired_code(py):
    """A repair swapped in while a breakpoint is set in the function it changes: the new code stops there too."""
    def on_start(proc, state, eng):
        check(proc.stdout.readline() == b"ready\n", "ready")
        path = os.path.realpath(state["main"])
        state["next_poll"] = {"type": "patch", "generation": 1, "files": {path: REPAIRED_OLD.replace("n * 2", "n * 3")}}
        os.kill(proc.pid, signal.SIGUSR1)
        check(eng.wait_for(lambda m: m.get("type") == "patched"), "the repair was not swapped in")
        open(os.path.join(os.path.dirname(path), "go"), "w").close()

    out, msgs = _debug_session(py, {5: {}}, [], files={"main.py": REPAIRED_OLD}, on_start=on_start)
    check(out == "value 3\n", "output %r" % out)
    check(_stops(msgs) == [("breakpoint", "work", 5)], "stops %s" % _stops(msgs))


_VERSIONS = {}


def _version(py):
    if py not in _VERSIONS:
        r = subprocess.run([py, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"], capture_output=True, text=True)
        _VERSIONS[py] = tuple(int(x) for x in r.stdout.split())
    return _VERSIONS[py]


def test_debug_pause(py):
    """A pause asked while the program sleeps in a loop stops it there; continue lets it finish."""
    def on_start(proc, state, eng):
        check(proc.stdout.readline() == b"x 10\n", "first line")
        time.sleep(0.2)
        state["pause"] = True
        os.kill(proc.pid, signal.SIGUSR1)
        check(eng.wait_for(lambda m: m.get("type") == "stopped"), "no stop after the pause")

    out, msgs = _debug_session(py, {}, [
        {"type": "evaluate", "id": 1, "frame": 0, "expression": "k > 0", "context": "repl"},
        {"type": "resume", "mode": "continue"}], args=["loop"], on_start=on_start)
    check(_stops(msgs) == [("pause", "<module>", 24)], "stops %s" % _stops(msgs))
    check(_results(msgs)[1]["value"]["repr"] == "True", "evaluate %s" % _results(msgs))
    check(out == "end\n", "output %r" % out)


# A snapshot request arrives while the file journal's hook runs (it sends itself SIGUSR2 from within):
# the snapshot is then taken before the operation the hook announced, so the file as it is then (here:
# not there yet) must be in the journal of the snapshot's epoch, or a rewind to it would keep the file.
JOURNAL_PROG = '''import os, signal
from axolotl_agent import filejournal
touch, before = filejournal._touch, filejournal.before_snapshot
seen = []
def touch_and_ask(p, need, how):
    done = touch(p, need, how)  # the hook has recorded the file in the epoch before the snapshot
    if p.endswith("results.txt") and not seen:
        os.kill(os.getpid(), signal.SIGUSR2)
        sum(i for i in range(1000))  # bytecode: where Python runs the handler, inside the hook
    return done
def before_and_look():
    seen.append(os.path.exists("results.txt"))
    return before()
filejournal._touch, filejournal.before_snapshot = touch_and_ask, before_and_look
with open("results.txt", "a") as f:
    f.write("1\\n")
for _ in range(200):
    if seen:
        break
    sum(i for i in range(1000))
print("file existed at the snapshot:", seen, flush=True)
'''


def test_snapshot_after_journaled_operation(py):
    d = fe.materialize({"main.py": JOURNAL_PROG})
    journal = os.path.join(d, ".journal")
    os.mkdir(journal)
    with open(os.path.join(journal, "state"), "wb") as fh:
        fh.write(b"0" * 20 + b"\n" * (4096 - 20))
    eng = fe.FakeEngine(lambda m: {"type": "ok"})
    snap = None
    try:
        env = fe.agent_env(eng.path, {"AXOLOTL_BACKEND": "fork", "AXOLOTL_FILES_JOURNAL": journal, "AXOLOTL_FILES_WORKSPACE": d})
        proc = subprocess.Popen([py, "-m", "axolotl_agent", "main.py"], cwd=d, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        snap = eng.wait_for(lambda m: m.get("type") == "snapshot")
        check(snap and snap.get("epoch") == 1, "the snapshot started epoch 1: %s" % snap)
        line = proc.stdout.readline()
        os.kill(snap["pid"], signal.SIGKILL)  # the stopped snapshot holds the program's stdout too
        _, err = proc.communicate(timeout=20)
        check(proc.returncode == 0, "rc %s: %s" % (proc.returncode, err.decode()))
        check(line == b"file existed at the snapshot: [False]\n", "taken inside the hook: %r" % line)
        with open(os.path.join(journal, "1.log")) as fh:
            entries = [json.loads(line) for line in fh]
        check({"k": "absent", "p": os.path.join(os.path.realpath(d), "results.txt")} in entries,
              "the file the open was about to create is in the snapshot's epoch: %s" % entries)
    finally:
        if snap and snap.get("pid", 0) > 0:
            try:
                os.kill(snap["pid"], signal.SIGKILL)
            except OSError:
                pass
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


SECRET_CHECK = """import json, sys
from axolotl_agent import report
t = json.load(open(sys.argv[1]))
wrong = [n for n in t["secret"] if not report.is_secret(n)] + [n for n in t["notSecret"] if report.is_secret(n)]
words = sorted(report.SECRET_WORDS) == sorted(t["words"])
print(json.dumps({"wrong": wrong, "words": words}))
"""


def test_secret_names(py):
    """The agent redacts by the one rule the engine applies too (test/fixtures/redaction/secret-names.json)."""
    table = os.path.join(HERE, "..", "fixtures", "redaction", "secret-names.json")
    r = subprocess.run([py, "-c", SECRET_CHECK, table], env=fe.agent_env(), capture_output=True, timeout=60)
    check(r.returncode == 0, r.stderr.decode()[-1500:])
    got = json.loads(r.stdout.decode().strip().splitlines()[-1])
    check(got["words"], "the agent's secret words are not the table's")
    check(not got["wrong"], "names the agent judges against the table: %s" % got["wrong"])


def run_one(py_label, py, name, fn, *args):
    t0 = time.time()
    try:
        fn(py, *args)
        return (True, py_label, name, "", time.time() - t0)
    except Failure as e:
        return (False, py_label, name, str(e), time.time() - t0)
    except Exception:
        return (False, py_label, name, traceback.format_exc(), time.time() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", action="append", help="interpreter (repeatable); default python3.8..python3.13")
    ap.add_argument("-k", default="", help="only programs/tests whose name contains this")
    ap.add_argument("-j", type=int, default=max(2, (os.cpu_count() or 2) * 2))
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    names = a.python or DEFAULT_PYTHONS
    jobs = []
    missing = []
    for n in names:
        exe = resolve_python(n)
        if exe is None:
            missing.append(n)
            continue
        label = n
        for prog in programs(None):
            pn = os.path.basename(prog)
            for kind, fn in (("standalone", test_standalone), ("patch", test_patch), ("abort", test_abort)):
                jobs.append((label, exe, "%s:%s" % (pn, kind), fn, prog))
        jobs.append((label, exe, "caught_never_reported", test_caught_never_reported))
        jobs.append((label, exe, "restore_swap", test_restore_swap))
        jobs.append((label, exe, "auto_restart_old_frame", test_auto_restart_old_frame))
        jobs.append((label, exe, "thread_catches_up", test_thread_catches_up_after_restore))
        jobs.append((label, exe, "fork_snapshot", test_fork_snapshot))
        jobs.append((label, exe, "snapshot_without_engine", test_snapshot_without_engine))
        jobs.append((label, exe, "secret_names", test_secret_names))
        jobs.append((label, exe, "debug_steps_evaluate", test_debug_breakpoints_steps_evaluate))
        jobs.append((label, exe, "debug_breakpoint_kinds", test_debug_conditions_logpoints_raised))
        jobs.append((label, exe, "debug_pause", test_debug_pause))
        jobs.append((label, exe, "debug_entry_hooks", test_debug_entry_hooks))
        jobs.append((label, exe, "debug_late_breakpoint", test_debug_breakpoint_while_running))
        jobs.append((label, exe, "debug_repaired_breakpoint", test_debug_breakpoint_in_repaired_code))
        jobs.append((label, exe, "snapshot_after_journaled_operation", test_snapshot_after_journaled_operation))
        jobs.append((label, exe, "directory_app", test_directory_app))
        jobs.append((label, exe, "module_package", test_module_package))
        for name, fn in worker_cases.CASES:
            jobs.append((label, exe, name, fn))
    if a.k:
        jobs = [j for j in jobs if a.k in j[2]]
    passed = failed = 0
    t0 = time.time()
    results = []
    with concurrent.futures.ThreadPoolExecutor(a.j) as pool:
        futs = [pool.submit(run_one, label, exe, name, fn, *rest) for (label, exe, name, fn, *rest) in jobs]
        for f in concurrent.futures.as_completed(futs):
            ok, label, name, err, dt = f.result()
            results.append((label, name, ok))
            if ok:
                passed += 1
                if a.v:
                    print("PASS %-10s %s (%.1fs)" % (label, name, dt), flush=True)
            else:
                failed += 1
                print("FAIL %-10s %s (%.1fs)\n    %s" % (label, name, dt, err.replace("\n", "\n    ")), flush=True)
    for n in missing:
        print("FAIL %s: interpreter not found" % n)
        failed += 1
    # summary table: program x python
    labels = [n for n in names if n not in missing]
    rows = sorted(set(name.split(":")[0] for _, name, _ in results))
    print("\n%-26s %s" % ("test", " ".join("%-10s" % l for l in labels)))
    for row in rows:
        cells = []
        for l in labels:
            rs = [ok for (lb, name, ok) in results if lb == l and name.split(":")[0] == row]
            cells.append("%-10s" % ("-" if not rs else ("ok" if all(rs) else "FAIL(%d)" % rs.count(False))))
        print("%-26s %s" % (row, " ".join(cells)))
    print("\n(%.1fs)" % (time.time() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
