print("prologue")
readings = [3, 5, 8]
count = len([r for r in readings if r > 10])
total = sum(r for r in readings if r > 10)
mean = total / count if count else 0.0
print("mean", mean)
print("after", count, total)
