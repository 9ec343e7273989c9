VALUE = 1
OTHER = 2


def f():
    return VALUE
