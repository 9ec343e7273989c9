"""A script that does not compile: Python reports it exactly (the agent hands such a script to
Python unchanged)."""
print("never")
def broken(:
    pass
