"""What instrumented code and the agent agree on (patch_zerocost / patch_blocks emit it, crashhook
provides it).

Instrumented code reaches the agent through one builtin looked up with LOAD_GLOBAL (a constant would
not survive marshal: the main script runs from a .pyc and code is cached on disk).  Its key is the
string "None": plain CPython keeps None under that key, unused, since no program can name it, and
inspect.getclosurevars, like the rest of CPython, ignores that name in co_names.  The object:
  * is true (a one-item list; C-level truth, no call) while the agent must be told, that is while an
    engine is attached;
  * subscripted, calls sys.audit("axolotl", key) (its __getitem__ is that bound builtin), so the
    agent's audit hook runs with tracing and profiling off: debuggers, coverage and profilers never
    see it, and no call shows in a profile;
  * answers through AGENT.None.None: a threading.local in a slot named None (C-level reads).
Keys and answers:
  AGENT[exc]                 an exception leaves a function frame. Answer: False (re-raise it),
                             None (restart this frame), or an exception to raise instead
  AGENT[(exc, iterator)]     the same for the main script's module frame (the iterator of the
                             running top-level for loop, or None; 3.8-3.10 pass a bool)
  AGENT[(RESTART, snapshot)] answer: the callable that runs the frame's function again
  AGENT[(DONE, result)]      a restarted call returned
  AGENT[(CONT, iterator)]    answer: the callable that runs the rest of the repaired main script
  AGENT[ENTER]               before 3.12, first thing in a function that holds a breakpoint (a
                             variant of its code, entryhooks.py): trace this frame. No answer
"""

AGENT = "None"
RESTART, DONE, CONT = "axolotl:restart", "axolotl:done", "axolotl:cont"   # tags (constants, not names)
ENTER = "axolotl:enter"
AUDIT_EVENT = "axolotl"

MISSING_MARK = "<axolotl: unbound global>"   # a snapshot of a global that was unbound at entry


def param_count(code):
    """How many parameters `code` takes (positional, keyword-only, *args, **kwargs): the first
    co_varnames, the ones a restart passes again."""
    n = code.co_argcount + code.co_kwonlyargcount
    if code.co_flags & 0x04:
        n += 1
    if code.co_flags & 0x08:
        n += 1
    return n
CO_GENERATOR_LIKE = 0x20 | 0x80 | 0x100 | 0x200   # generator, coroutine, iterable coroutine, async gen
