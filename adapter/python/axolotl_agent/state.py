"""What the agent's modules share: the configuration and the state of the crash, restart, signal and
snapshot flow (S), so that they need not import each other for it. A module's own caches stay with it
and are documented there: instrument's code registry (which code is which version of which file),
hotswap's swapped-from table, the debugger's breakpoints (debugger.D), the file journal's epoch page."""
import os
import sys
import threading


class _Missing:
    """Marks 'name was unbound' in snapshots (None is a legitimate value)."""
    __slots__ = ()

    def __repr__(self):
        return "<missing>"


MISSING = _Missing()


class RestartFrame(BaseException):
    """Unwinds the stack to `target` (a frame), which then calls `fn` (the main script's module frame:
    goes on as toplevel.py planned).

    Derives from BaseException so ordinary `except Exception` handlers in between do not swallow it.
    """

    def __init__(self, target, fn):
        BaseException.__init__(self, "axolotl restart")
        self.target = target
        self.fn = fn


class Config:
    def __init__(self):
        env = os.environ
        self.socket = env.get("AXOLOTL_SOCKET") or None
        self.backend = env.get("AXOLOTL_BACKEND", "none")
        # SIGUSR2 asks for a fork snapshot: the fork backend's checkpoints, and the criu backend's
        # rewind points (which criu persists beside the running program)
        self.snapshots = self.backend == "fork" or env.get("AXOLOTL_SNAPSHOTS") == "1"
        self.cache_dir = env.get("AXOLOTL_CACHE_DIR") or None
        try:
            self.generation = int(env.get("AXOLOTL_GENERATION", "0"))
        except ValueError:
            self.generation = 0
        self.root = None      # real path of the folder whose files are the user's (set by the boot)
        self.script = None


class State:
    def __init__(self):
        self.config = Config()
        self.generation = self.config.generation
        self.busy = False          # the agent itself is running (hook, swap): signal handlers defer
        self.crashed = False       # paused on a crash, waiting for the engine's decision
        self.poked = False         # SIGUSR1 arrived while busy/crashed
        self.pending_fn = None     # what the wrapper of the restart target must call
        self.restarting = {}       # id(frame) -> frame: frames whose wrapper is running a restart call
        self.verify_pending = False
        self.decided = {}          # id(exc) -> exc: exceptions already reported (abort) - never report twice
        self.caught_hint = None    # (exc, id(catcher frame)) from the last "will be caught" decision
        self.program = None        # toplevel.MainProgram of the main script
        self.exit_exc = None       # the exception that ended the main script, for the exit message
        self.tail = None           # report.OutputTail when output is teed
        self.open_requests = 0     # connections to the engine open now (channel.request)
        self.when_idle = None      # run once none is open: a snapshot asked for meanwhile (snapshots.py)
        self.snapshot_seq = 0
        self.snapshot_children = set()  # fork snapshots the engine holds and later kills: ours to reap
        self.snapshot_forking = False   # the fork in progress is a snapshot's, not a worker's (workers.py)
        self.worker = False        # a process forked from the program (workers.py): polls, never pauses
        self.polls = 0             # polls the main thread made while running (signals.poll_and_swap)
        self.polled_parent = None  # the parent at the last of them: another one means restored since

    @property
    def active(self):
        """True when an engine is listening and this is the program itself: only then does the agent
        ever pause (a worker's exceptions are the program's to report: its pool hands them over)."""
        return self.config.socket is not None and not self.worker


S = State()


def is_agent_file(filename):
    from . import AGENT_DIR
    return filename.startswith(AGENT_DIR + os.sep)


PY311 = sys.version_info >= (3, 11)
MAIN_THREAD = threading.main_thread().ident   # the thread that stops in the debugger and polls the engine
