"""Axolotl Python agent: runs a user's script so that a crashed process can be repaired in place.

Run as ``python3 -m axolotl_agent script.py args...`` (standard library only, Python 3.8+).
See adapter/engine/agentProtocol.ts for the wire protocol with the engine.
"""
import os

AGENT_VERSION = "0.1.0"
# Frames whose code lives in this folder are the agent's own; they are hidden from tracebacks/reports.
AGENT_DIR = os.path.dirname(os.path.abspath(__file__))
