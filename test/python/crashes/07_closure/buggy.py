def make_normalizer(offset, pivot):
    seen = []

    def normalize(x):
        r = (x - offset) / (x - pivot)
        seen.append(x)
        return r

    return normalize, seen


print("prologue")
norm, seen = make_normalizer(2, 9)
out = []
for v in [3, 5, 7, 9, 11, 13]:
    out.append(round(norm(v), 3))
print(out)
print(len(seen))
