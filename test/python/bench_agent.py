"""Overhead of the agent vs plain python: median of 5 runs (child CPU time, startup included) of
  call-heavy     3M calls of small functions
  loop-heavy     a 12M-iteration loop in a function
  global-calls   3M calls of a function that assigns two module globals (`global`)
  dhrystone      bench_programs/dhrystone_like.py (pystone's kind of work: records, globals
                 assigned through `global`, rebound parameters, small procedures)
  top-level      a 3M-iteration loop at the top level of the script

    python3 test/python/bench_agent.py [--python python3.X] [--runs 5] [--socket] [--json] [--breakpoints]

--socket runs the agent with an engine listening (AXOLOTL_SOCKET set: the agent is told of every
exception that leaves a function, output tee and signal handlers on).
--breakpoints measures the debugger instead: the agent with an engine that sets no breakpoint, and
with one breakpoint in a function the program never calls (3.12+: sys.monitoring; before: settrace).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fake_engine as fe  # noqa: E402

CALL_HEAVY = '''
def add(a, b):
    return a + b

def step(i, acc):
    return add(acc, i & 7)

def main():
    acc = 0
    for i in range(3000000):
        acc = step(i, acc)
    print(acc)

main()
'''

LOOP_HEAVY = '''
def main():
    acc = 0
    for i in range(12000000):
        acc += (i * i) & 1023
    print(acc)

main()
'''


GLOBAL_CALLS = '''
counter = 0
total = 0

def tick(i):
    global counter, total
    counter += 1
    total += i & 7

def main():
    for i in range(3000000):
        tick(i)
    print(counter, total)

main()
'''

TOP_LEVEL = '''
acc = 0
for i in range(3000000):
    acc += (i * i) & 1023
print(acc)
'''

with open(os.path.join(HERE, "bench_programs", "dhrystone_like.py")) as _fh:
    DHRYSTONE = _fh.read()

PROGRAMS = (("call-heavy", CALL_HEAVY), ("loop-heavy", LOOP_HEAVY), ("global-calls", GLOBAL_CALLS),
            ("dhrystone", DHRYSTONE), ("top-level", TOP_LEVEL))


def timed(cmd, env, cwd):
    """CPU seconds (user+sys) of the child: robust against other load on the machine."""
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = status
    if status != 0:
        raise SystemExit("benchmark program failed: %s" % cmd)
    return ru.ru_utime + ru.ru_stime


def bench(python, text, runs, sock):
    d = fe.materialize({"main.py": text})
    plain, agent = [], []
    env_a = fe.agent_env(sock)
    for _ in range(runs):  # interleaved so machine noise hits both alike
        plain.append(timed([python, "main.py"], fe.plain_env(), d))
        agent.append(timed([python, "-m", "axolotl_agent", "main.py"], env_a, d))
    return statistics.median(plain), statistics.median(agent)


NEVER_CALLED = "def never_called():\n    return 0\n\n\n"   # the breakpoint goes on line 2


def _debug_engine(breakpoints):
    """An engine that answers hello (and polls) with this debugger configuration."""
    config = {"version": 1, "breakpoints": breakpoints, "exceptions": {"raised": False}}
    return fe.FakeEngine(lambda m: {"type": "ok", "debug": config} if m.get("type") == "hello"
                         else {"type": "continue", "debug": config} if m.get("type") == "poll" else {"type": "ok"})


def bench_breakpoints(python, runs):
    """Three runs besides plain python: no breakpoint; one in a function never called; one in a
    generator never called (before 3.12 no entry hook reaches a generator: every call is traced)."""
    for name, text in (("call-heavy", CALL_HEAVY), ("loop-heavy", LOOP_HEAVY)):
        d = fe.materialize({"main.py": NEVER_CALLED + text, "gen.py": NEVER_CALLED.replace("return", "yield") + text})
        path = os.path.join(os.path.realpath(d), "main.py")
        gpath = os.path.join(os.path.realpath(d), "gen.py")
        none = _debug_engine({})
        one = _debug_engine({path: [{"id": 1, "line": 2}]})
        gen = _debug_engine({gpath: [{"id": 1, "line": 2}]})
        try:
            plain, t_none, t_one, t_gen = [], [], [], []
            for _ in range(runs):  # interleaved so machine noise hits all alike
                plain.append(timed([python, "main.py"], fe.plain_env(), d))
                t_none.append(timed([python, "-m", "axolotl_agent", "main.py"], fe.agent_env(none.path), d))
                t_one.append(timed([python, "-m", "axolotl_agent", "main.py"], fe.agent_env(one.path), d))
                t_gen.append(timed([python, "-m", "axolotl_agent", "gen.py"], fe.agent_env(gen.path), d))
        finally:
            none.close()
            one.close()
            gen.close()
        p, n, o, g = (statistics.median(x) for x in (plain, t_none, t_one, t_gen))
        print("%-10s plain %.3fs  no breakpoint %.3fs (%.3fx)  one in a function never called %.3fs (%.3fx; %.3fx of no breakpoint)"
              "  one in a generator never called %.3fs (%.3fx)" % (name, p, n, n / p, o, o / p, o / n, g, g / p), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--socket", action="store_true")
    ap.add_argument("--json", action="store_true", help="also print one JSON line with the figures")
    ap.add_argument("-k", default="", help="only programs whose name contains this")
    ap.add_argument("--breakpoints", action="store_true")
    a = ap.parse_args()
    if a.breakpoints:
        version = subprocess.run([a.python, "--version"], stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
        print("%s, breakpoints (agent with an engine; CPU seconds, ratios to plain python):" % version)
        bench_breakpoints(a.python, a.runs)
        return
    eng = fe.FakeEngine(lambda m: {"type": "ok"}) if a.socket else None
    figures = {}
    try:
        sp, sg = bench(a.python, "pass\n", a.runs, eng.path if eng else None)
        figures["startup"] = {"plain": sp, "agent": sg}
        print("%-12s plain %.3fs  agent %.3fs  (startup, CPU seconds)" % ("empty", sp, sg))
        for name, text in PROGRAMS:
            if a.k not in name:
                continue
            p, g = bench(a.python, text, a.runs, eng.path if eng else None)
            figures[name] = {"plain": p, "agent": g, "ratio": g / p,
                             "ratioWithoutStartup": (g - sg) / max(p - sp, 1e-9)}
            print("%-12s plain %.3fs  agent %.3fs  ratio %.3fx  (without startup: %.3fx)"
                  % (name, p, g, g / p, (g - sg) / max(p - sp, 1e-9)), flush=True)
    finally:
        if eng:
            eng.close()
    if a.json:
        import json
        figures["python"] = subprocess.run([a.python, "-c", "import sys; print(sys.version.split()[0])"],
                                           stdout=subprocess.PIPE).stdout.decode().strip()
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
