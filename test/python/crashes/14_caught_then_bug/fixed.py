import contextlib
import os


class Config:
    def __init__(self):
        self.values = {"name": "demo"}

    def __getattr__(self, name):
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name)

    @property
    def level(self):
        raise AttributeError("level not set")


class Countdown:
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return self

    def __next__(self):
        if self.n <= 0:
            raise StopIteration
        self.n -= 1
        return self.n


def risky(x):
    if x < 0:
        raise ValueError("negative")
    return x * 2


def lookup(d, k):
    return d[k]


def careful():
    out = []
    for x in (1, -1, 2):
        try:
            out.append(risky(x))
        except ValueError:
            out.append(0)
    try:
        lookup({}, "missing")
    except (KeyError, IndexError):
        out.append("keyerror")
    with contextlib.suppress(ZeroDivisionError):
        out.append(1 / 0)
    with open(os.devnull) as fh:
        out.append(fh.read())
    return out


print("prologue")
cfg = Config()
print(hasattr(cfg, "missing"), getattr(cfg, "other", "dflt"), cfg.name, hasattr(cfg, "level"))
print(list(Countdown(3)), sum(i * i for i in Countdown(4)))
print(careful())
print(next(iter([]), "empty"))


def average(xs):
    return sum(xs) / len(xs) if xs else 0.0


print("avg", average([1, 2, 3]))
print("avg", average([]))
print("end")
