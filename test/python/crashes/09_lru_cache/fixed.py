import functools

RATES = {0: 1, 1: 2, 2: 3}


@functools.lru_cache(maxsize=None)
def cost(n):
    if n == 0:
        return 10
    return RATES.get(n, 0) * 100


print("prologue")
warm = cost(1)
print("cost 0", cost(0))
print("cost 3", cost(3))
print("cost 1", cost(1))
print("cost 2", cost(2))
