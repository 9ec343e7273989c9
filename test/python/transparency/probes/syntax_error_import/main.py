"""A SyntaxError in an imported project module: the traceback has the importer's frames only
(CPython drops import machinery frames, and the agent's loader counts as import machinery)."""
print("importing")
import broken  # noqa: E402,F401
