print("prologue")


def scale(x):
    factor = 10
    if x == 3:
        return 0.0
    return factor / (x - 3)


total = 0.0
for i in range(6):
    value = scale(i)
    total += value
    print(i, round(value, 3), round(total, 3))
print("done", round(total, 3))
