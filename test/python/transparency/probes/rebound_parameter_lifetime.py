# residual: 3.11
"""An object only a parameter refers to is freed when the parameter is rebound.  Remains on 3.11+:
the agent keeps the entry value of a rebound parameter (to restart the function with its entry
arguments), so the object lives until the function returns (3.8-3.10 keep it too, in the caller)."""
class Obj:
    def __del__(self):
        print("freed", flush=True)


def rebinds(x):
    print("start", flush=True)
    x = None
    print("rebound", flush=True)
    return x


rebinds(Obj())
print("after")
