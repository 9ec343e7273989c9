"""A stand-in for the TypeScript engine (stdlib only): listens on a unix socket, speaks the protocol of
adapter/engine/agentProtocol.ts, and drives the agent through crash / patch / abort / restore scenarios.

Usable as a library (run_tests.py) or by hand:
    python3 fake_engine.py [--python python3.X] [--abort] program_dir
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
AGENT_PATH = os.path.join(REPO, "adapter", "python")


class FakeEngine:
    """Accepts one connection per exchange, records every message, replies via `decide(msg)`."""

    def __init__(self, decide):
        self.decide = decide
        self.dir = tempfile.mkdtemp(prefix="axl-eng-")
        self.path = os.path.join(self.dir, "engine.sock")
        self.messages = []
        self.lock = threading.Condition()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.closed = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(10)
                buf = b""
                while b"\n" not in buf:
                    chunk = conn.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
                msg = json.loads(buf.split(b"\n", 1)[0].decode())
                with self.lock:
                    self.messages.append(msg)
                    self.lock.notify_all()
                reply = self.decide(msg)
                if reply is not None:
                    conn.sendall((json.dumps(reply) + "\n").encode())
            except Exception as e:  # a broken exchange is recorded, not fatal
                with self.lock:
                    self.messages.append({"type": "engine-error", "error": repr(e)})
            finally:
                conn.close()
                if 'msg' in locals() and isinstance(msg, dict):
                    after = getattr(self, "after_reply", None)
                    if after:
                        after(msg)

    def wait_for(self, pred, timeout=20):
        end = time.time() + timeout
        with self.lock:
            while True:
                for m in self.messages:
                    if pred(m):
                        return m
                left = end - time.time()
                if left <= 0:
                    return None
                self.lock.wait(left)

    def of_type(self, t):
        return [m for m in self.messages if m.get("type") == t]

    def close(self):
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def agent_env(sock=None, extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = AGENT_PATH
    env.pop("AXOLOTL_SOCKET", None)
    env.pop("AXOLOTL_ROOT", None)
    env["PYTHONHASHSEED"] = "0"
    if sock:
        env["AXOLOTL_SOCKET"] = sock
        env["AXOLOTL_BACKEND"] = "none"
    if extra:
        env.update(extra)
    return env


def plain_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PYTHONHASHSEED"] = "0"
    return env


def load_program(prog_dir):
    """-> (buggy files {relname: text}, fixed files {relname: text}). buggy.py/fixed.py become main.py;
    helper X.py is fixed by X.fixed.py when present."""
    buggy, fixed = {}, {}
    for name in sorted(os.listdir(prog_dir)):
        p = os.path.join(prog_dir, name)
        if not name.endswith(".py") or not os.path.isfile(p):
            continue
        with open(p) as fh:
            text = fh.read()
        if name == "buggy.py":
            buggy["main.py"] = text
        elif name == "fixed.py":
            fixed["main.py"] = text
        elif name.endswith(".fixed.py"):
            fixed[name[:-len(".fixed.py")] + ".py"] = text
        else:
            buggy[name] = text
    for k, v in buggy.items():
        fixed.setdefault(k, v)
    return buggy, fixed


def materialize(files):
    d = tempfile.mkdtemp(prefix="axl-prog-")
    for k, v in files.items():
        path = os.path.join(d, k)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(v)
    return d


def run_plain(python, files, timeout=60, agent=False, argv=("main.py",)):
    d = materialize(files)
    try:
        cmd = [python, "-m", "axolotl_agent"] + list(argv) if agent else [python] + list(argv)
        p = subprocess.run(cmd, cwd=d, env=agent_env() if agent else plain_env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode(), d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def run_crash_scenario(python, buggy, fixed, decision="patch", timeout=60, argv=("main.py",)):
    """Run buggy main.py (or `argv`) under the agent with an engine that answers the crash with
    `decision` (patch: the fixed files, written to disk too like an editor would; abort; retry).
    Returns dict(rc, stdout, stderr, messages, dir)."""
    d = materialize(buggy)
    patch = {os.path.join(os.path.realpath(d), k): v for k, v in fixed.items() if buggy.get(k) != v}
    state = {"proc": None, "crashes": 0}

    def decide(msg):
        t = msg.get("type")
        if t == "crash":
            state["crashes"] += 1
            return {"type": "wait"}
        if t == "poll":
            if not msg.get("crashed"):
                return {"type": "continue"}
            if decision == "abort":
                return {"type": "abort"}
            if decision == "retry" or state["crashes"] > 1:
                return {"type": "abort"} if state["crashes"] > 3 else {"type": "retry"}
            for path, text in patch.items():
                with open(path, "w") as fh:
                    fh.write(text)
            return {"type": "patch", "generation": 1, "files": patch}
        return {"type": "ok"}

    eng = FakeEngine(decide)

    def after(msg):
        if msg.get("type") == "crash" and state["proc"] is not None:
            time.sleep(0.05)
            try:
                os.kill(state["proc"].pid, signal.SIGUSR1)
            except OSError:
                pass

    eng.after_reply = after
    try:
        proc = subprocess.Popen([python, "-m", "axolotl_agent"] + list(argv), cwd=d, env=agent_env(eng.path),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        state["proc"] = proc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        time.sleep(0.05)
        return {"rc": proc.returncode, "stdout": out.decode(), "stderr": err.decode(),
                "messages": list(eng.messages), "dir": d}
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


def run_restore_scenario(python, program_text, new_text, timeout=30):
    """A running (not crashed) program gets SIGUSR1 and a patch (as after a restore); the next
    call of the changed function must run the new code. The program reads commands from stdin."""
    d = materialize({"main.py": program_text})
    path = os.path.join(os.path.realpath(d), "main.py")
    state = {"sent": False}

    def decide(msg):
        if msg.get("type") == "poll" and not msg.get("crashed") and not state["sent"]:
            state["sent"] = True
            return {"type": "patch", "generation": 1, "files": {path: new_text}}
        if msg.get("type") == "poll":
            return {"type": "continue"}
        return {"type": "ok"}

    eng = FakeEngine(decide)
    try:
        proc = subprocess.Popen([python, "-m", "axolotl_agent", "main.py"], cwd=d, env=agent_env(eng.path),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        first = proc.stdout.readline().decode()          # "ready"
        proc.stdin.write(b"1\n")
        proc.stdin.flush()
        before = proc.stdout.readline().decode()
        os.kill(proc.pid, signal.SIGUSR1)
        eng.wait_for(lambda m: m.get("type") == "patched", timeout=10)
        proc.stdin.write(b"2\n")
        proc.stdin.flush()
        after = proc.stdout.readline().decode()
        out, err = proc.communicate(timeout=timeout)
        return {"rc": proc.returncode, "lines": [first, before, after], "rest": out.decode(),
                "stderr": err.decode(), "messages": list(eng.messages)}
    finally:
        eng.close()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--decision", default="patch", choices=["patch", "abort", "retry"])
    ap.add_argument("program_dir")
    a = ap.parse_args()
    b, f = load_program(a.program_dir)
    r = run_crash_scenario(a.python, b, f, a.decision)
    for m in r["messages"]:
        if m.get("type") == "crash":
            m = dict(m, frames="[%d frames]" % len(m["frames"]))
        print(json.dumps(m)[:600])
    print("--- rc", r["rc"])
    print("--- stdout\n" + r["stdout"])
    print("--- stderr\n" + r["stderr"])
