def readings(n):
    for i in range(n):
        yield 100 // (i - 4) if i != 4 else 0


def collect(n):
    out = []
    for v in readings(n):
        out.append(v)
    return out


print("prologue")
print(collect(8))
print("end")
