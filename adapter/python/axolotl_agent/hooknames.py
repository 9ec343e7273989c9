"""What instrumented code and the agent agree on (patch_zerocost / patch_blocks emit it, crashhook
provides it).

Instrumented code reaches the agent through one builtin, AGENT, looked up with LOAD_GLOBAL (a
constant would not survive marshal: the main script runs from a .pyc and code is cached on disk):
  AGENT.on                      bool: call the hooks at all (false without an engine, and on 3.12+
                                while no restart is on its way)
  AGENT[exc]                    an exception leaves a function frame
  AGENT[(exc, iterator)]        an exception leaves the main script's module frame (iterator: the
                                running top-level for loop's, or None; 3.8-3.10 pass a bool)
  AGENT.restart[snapshot]       -> callable running the frame's function again
  AGENT.done[result]            -> result, once a restarted call has returned
  AGENT.cont[iterator]          the main script goes on after a repaired top-level statement
"""

AGENT = "__axl__"
ON, RESTART, DONE, CONT = "on", "restart", "done", "cont"   # attribute names (co_names entries)

MISSING_MARK = "<axolotl: unbound global>"   # a snapshot of a global that was unbound at entry
CO_GENERATOR_LIKE = 0x20 | 0x80 | 0x100 | 0x200   # generator, coroutine, iterable coroutine, async gen
