"""Proves that a criu works here by doing what Axolotl does with it, on throwaway processes.

`criu check` is not proof: on some kernels a criu passes it and then hangs in every dump (its
parasite waits for a hardware-breakpoint trap that never fires), and a stopped task is resumed
during the dump. So the probe
  1. dumps a running process with --leave-running: criu must finish, the process must run on;
  2. dumps a stopped child of this process (as a fork snapshot is: stopped, in its parent's process
     group and session, which the probe leads as a program leads its own; --shell-job) with
     --leave-running: criu must finish and the task must never run;
  3. restores that image stopped, then continues it: it must run exactly once, from the stop.
Every criu command is bounded by a timeout and killed with its whole session when it overruns.

Usage: axolotl_criu_probe.py CRIU [--timeout SECONDS] [--env NAME=VALUE]...
Prints one JSON object: {"ok", "version", "stage", "error", "log", "ms"}; exit status 0 when ok.
Needs root (or criu's capabilities). Standard library only, Python 3.6+.
"""
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36


class ProbeFailure(Exception):
    def __init__(self, stage, error, log=""):
        Exception.__init__(self, error)
        self.stage, self.error, self.log = stage, error, log


def state(pid):
    """The one-letter state of `pid` ('R', 'S', 'T', 't', 'Z'...), or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rindex(")") + 2]
    except (OSError, ValueError):
        return None


def wait_for(pred, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def log_tail(path, lines=12):
    try:
        with open(path, errors="replace") as f:
            return "\n".join(f.read().rstrip().split("\n")[-lines:])
    except OSError:
        return ""


def kill_session(sid):
    """SIGKILL every process of session `sid` (criu and whatever it forked)."""
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                s = f.read()
            if int(s[s.rindex(")") + 2:].split()[3]) == sid:
                os.kill(int(name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def run_criu(criu, args, env, timeout, stage, workdir, log_name):
    """Runs one criu command in its own session; raises ProbeFailure when it fails or overruns."""
    proc = subprocess.Popen([criu] + args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out = proc.communicate(timeout=timeout)[0].decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        kill_session(proc.pid)
        proc.communicate()
        raise ProbeFailure(stage, "criu %s did not finish within %g s (it hung and was killed)" % (args[0], timeout),
                           log_tail(os.path.join(workdir, log_name)))
    if proc.returncode != 0:
        raise ProbeFailure(stage, "criu %s failed (status %d)" % (args[0], proc.returncode),
                           log_tail(os.path.join(workdir, log_name)) or out.strip()[-2000:])


def fork_target(stopped, marker):
    """A child that either sleeps in its own session (running) or stops itself at once and, when
    continued, writes `marker` (what a woken fork snapshot would do: run on from the stop)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.closerange(3, 256)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            if stopped:
                os.kill(os.getpid(), signal.SIGSTOP)
                fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.write(fd, b"ran\n")
                os.close(fd)
            else:
                os.setsid()
            while True:
                time.sleep(60)
        finally:
            os._exit(0)
    return pid


def reap(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass


def marks(marker):
    try:
        with open(marker) as f:
            return f.read().count("ran")
    except OSError:
        return 0


def probe(criu, timeout, extra_env):
    env = dict(os.environ)
    env.update(extra_env)
    work = tempfile.mkdtemp(prefix="axolotl-criu-probe-")
    children = []
    try:
        # 1. a running process, left running
        running = fork_target(False, None)
        children.append(running)
        wait_for(lambda: state(running) in ("S", "R"), 2)
        d1 = os.path.join(work, "running")
        os.mkdir(d1)
        run_criu(criu, ["dump", "-t", str(running), "-D", d1, "--leave-running", "-o", "dump.log", "-v4"],
                 env, timeout, "dump-running", d1, "dump.log")
        if state(running) not in ("S", "R"):
            raise ProbeFailure("dump-running", "the dumped process did not keep running (state %s)" % state(running),
                               log_tail(os.path.join(d1, "dump.log")))

        # 2. a stopped child in our session: it must stay stopped through the dump
        marker = os.path.join(work, "marker")
        stopped = fork_target(True, marker)
        children.append(stopped)
        if not wait_for(lambda: state(stopped) == "T", 5):
            raise ProbeFailure("dump-stopped", "the probe's stopped process never stopped")
        d2 = os.path.join(work, "stopped")
        os.mkdir(d2)
        run_criu(criu, ["dump", "-t", str(stopped), "-D", d2, "--leave-running", "--shell-job", "-o", "dump.log", "-v4"],
                 env, timeout, "dump-stopped", d2, "dump.log")
        time.sleep(0.05)
        if marks(marker):
            raise ProbeFailure("dump-stopped", "criu resumed a stopped process during the dump (it ran while it should have stayed stopped)",
                               log_tail(os.path.join(d2, "dump.log")))
        if state(stopped) != "T":
            raise ProbeFailure("dump-stopped", "the stopped process was not stopped after the dump (state %s)" % state(stopped),
                               log_tail(os.path.join(d2, "dump.log")))

        # 3. restore it stopped, then continue it: it runs once, from the stop
        reap(stopped)
        children.remove(stopped)
        pidfile = os.path.join(d2, "restore.pid")
        run_criu(criu, ["restore", "-D", d2, "-d", "--shell-job", "--leave-stopped", "--pidfile", pidfile,
                        "-o", "restore.log", "-v4"], env, timeout, "restore", d2, "restore.log")
        with open(pidfile) as f:
            restored = int(f.read().strip())
        children.append(restored)  # adopted by us (child subreaper) once criu has exited
        # criu stops it as its last act: the stop may still be on its way when criu has exited.
        if not wait_for(lambda: state(restored) in ("T", "t"), 2):
            raise ProbeFailure("restore", "the restored process was not left stopped (state %s)" % state(restored),
                               log_tail(os.path.join(d2, "restore.log")))
        if marks(marker):
            raise ProbeFailure("restore", "the restored process ran before it was continued")
        os.kill(restored, signal.SIGCONT)
        if not wait_for(lambda: marks(marker) == 1, 5):
            raise ProbeFailure("restore", "the restored process did not run on when continued (state %s)" % state(restored),
                               log_tail(os.path.join(d2, "restore.log")))
    finally:
        for pid in children:
            reap(pid)
        shutil.rmtree(work, ignore_errors=True)


def version(criu, env):
    try:
        out = subprocess.run([criu, "--version"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, timeout=10).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def own_session():
    """Makes the probe a session leader, as every program Axolotl checkpoints is (it is spawned in a
    session of its own). criu refuses a --shell-job task whose session leader it cannot see, which is
    the case when the probe inherits a session from outside its pid namespace (a container or CI
    runner). Returns in the process that goes on; a parent that had to fork relays its exit status."""
    if os.getsid(0) == os.getpid():
        return
    try:
        os.setsid()
        return
    except OSError:
        pass  # a process-group leader cannot start a session: a child can
    pid = os.fork()
    if pid == 0:
        os.setsid()
        return
    _, status = os.waitpid(pid, 0)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main(argv):
    criu, timeout, extra = None, 10.0, {}
    it = iter(argv)
    for a in it:
        if a == "--timeout":
            timeout = float(next(it))
        elif a == "--env":
            k, _, v = next(it).partition("=")
            extra[k] = v
        else:
            criu = a
    if not criu:
        sys.stderr.write(__doc__)
        return 2
    env = dict(os.environ)
    env.update(extra)
    result = {"ok": False, "criu": criu, "version": version(criu, env), "env": extra, "stage": None, "error": None, "log": ""}
    started = time.monotonic()
    own_session()
    # The restored task is re-parented to us when criu exits, so we can reap it.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if result["version"] is None:
        result.update(stage="version", error="%s --version did not answer" % criu)
    else:
        try:
            probe(criu, timeout, extra)
            result["ok"] = True
        except ProbeFailure as e:
            result.update(stage=e.stage, error=e.error, log=e.log)
        except OSError as e:
            result.update(stage="setup", error=str(e))
    result["ms"] = round((time.monotonic() - started) * 1000)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
