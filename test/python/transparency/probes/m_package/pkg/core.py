def crash(n):
    return {}[n]
