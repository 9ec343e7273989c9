"""The names instrumented code and the agent agree on (patch_zerocost / patch_blocks emit them,
crashhook installs them in builtins)."""

ON = "__axl_on__"          # bool: call the hooks at all (false without an engine, or, on 3.12+, no restart in flight)
HOOK = "__axl_hook__"      # hook[exc]: an exception leaves a function frame
MHOOK = "__axl_mhook__"    # mhook[(exc, in_loop)]: an exception leaves the main script's module frame
RESTART = "__axl_restart__"  # restart[snapshot] -> callable running the frame's function again
DONE = "__axl_done__"      # done[result] -> result, once a restarted call has returned
CONT = "__axl_cont__"      # cont[iterator or None]: go on with the repaired main script
NAMES = (ON, HOOK, MHOOK, RESTART, DONE, CONT)

MISSING_MARK = "<axolotl: unbound global>"   # a snapshot of a global that was unbound at entry
CO_GENERATOR_LIKE = 0x20 | 0x80 | 0x100 | 0x200   # generator, coroutine, iterable coroutine, async gen
