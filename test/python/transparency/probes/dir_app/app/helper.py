def double(x):
    return x * 2


def fail():
    raise ValueError("from the directory app")
