def combine(*parts, scale, sep="-", **opts):
    scale = scale * 2
    parts = [p.upper() if opts.get("upper") else p for p in parts]
    width = int(opts.get("width", 1))
    return sep.join(parts) + ":" + str(scale * width)


print("prologue")
print(combine("a", "b", scale=2, width=3))
print(combine("x", "y", "z", scale=5, sep="+", upper=True, width="4"))
print(combine("q", scale=1))
print("end")
