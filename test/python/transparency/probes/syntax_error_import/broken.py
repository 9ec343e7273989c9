def ok():
    return 1


def nope(
    return 2
