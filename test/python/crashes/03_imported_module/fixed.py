import geometry

print("prologue")
shapes = [("circle", 1), ("square", 2), ("rect", 2, 3), ("square", 5)]
areas = []
for s in shapes:
    areas.append(round(geometry.area(s), 2))
    print(s[0], areas[-1])
print("sum", round(sum(areas), 2))
