"""Axolotl Python agent: runs a user's script so that a crashed process can be repaired in place,
and otherwise exactly as plain Python runs it.

Run as ``python3 -m axolotl_agent script.py args...`` (standard library only, Python 3.8+).
See adapter/engine/agentProtocol.ts for the wire protocol with the engine.

  launch      the first interpreter: compiles the script as Python does, instruments it, writes a
              .pyc and execs the interpreter on it (a directory, zip app or -m: unchanged, with
              _shim/sitecustomize.py loading the agent)
  _boot       in the program's interpreter, before its first statement: plain-Python namespace and
              sys state, then the agent's hooks
  instrument  compile + patch + registry + cache; patch_zerocost (3.11+) and patch_blocks (3.8-3.10)
              add the exception handler the agent is told through (hooknames); loader: the import
              path hook for the user's modules
  crashhook   the audit hook instrumented code reaches, and the decision flow (uncaught: will anyone
              catch it; report: what is sent, secrets redacted; hotswap: swap and choose the restart;
              toplevel: the main script's top level after a repair)
  channel     the socket to the engine (one short connection per message); signals: what SIGUSR1
              does (poll for repaired code) and the crash wait; snapshots: fork snapshots (SIGUSR2)
              and their wait for the engine's go
  workers     processes forked from the program (pool workers): they poll and swap too
  debugger    breakpoints, steps, pause (tracing: sys.monitoring or settrace, entryhooks before 3.12;
              evaluate: the Debug Console's commands); filejournal: the undo journal of files the
              program writes
Modules import downward in that order: channel knows none of the others, hotswap uses channel,
signals and snapshots use both.
"""
import os

AGENT_VERSION = "0.1.0"
# Frames whose code lives in this folder are the agent's own; they are hidden from tracebacks/reports.
AGENT_DIR = os.path.dirname(os.path.abspath(__file__))
