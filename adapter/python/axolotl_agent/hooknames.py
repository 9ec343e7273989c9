"""What instrumented code and the agent agree on (patch_zerocost / patch_blocks emit it, crashhook
provides it).

Instrumented code reaches the agent through one builtin looked up with LOAD_GLOBAL (a constant would
not survive marshal: the main script runs from a .pyc and code is cached on disk).  Its key is the
string "None": no program can name it (None is a keyword), and inspect.getclosurevars, like the rest
of CPython, ignores that name in co_names, so the only name instrumented code adds stays invisible.
The object is a list subclass: its truth (C-level, no call) says whether to call the agent at all
(false without an engine, and on 3.12+ while no restart is on its way); subscripting it calls it:
  AGENT[exc]                    an exception leaves a function frame
  AGENT[(exc, iterator)]        an exception leaves the main script's module frame (iterator: the
                                running top-level for loop's, or None; 3.8-3.10 pass a bool)
  AGENT[(RESTART, snapshot)]    -> callable running the frame's function again
  AGENT[(DONE, result)]         -> result, once a restarted call has returned
  AGENT[(CONT, iterator)]       the main script goes on after a repaired top-level statement
"""

AGENT = "None"
RESTART, DONE, CONT = "axolotl:restart", "axolotl:done", "axolotl:cont"   # tags (constants, not names)

MISSING_MARK = "<axolotl: unbound global>"   # a snapshot of a global that was unbound at entry
CO_GENERATOR_LIKE = 0x20 | 0x80 | 0x100 | 0x200   # generator, coroutine, iterable coroutine, async gen
