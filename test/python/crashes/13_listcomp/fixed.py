def shares(values):
    total = sum(values)
    return [round(v / total, 3) if total else 0.0 for v in values]


print("prologue")
batches = [[1, 2, 3], [5, 5], [0, 0], [2, 6]]
for b in batches:
    print(b, shares(b))
