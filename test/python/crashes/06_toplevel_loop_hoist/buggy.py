print("prologue")
rows = ["4", "8", "15", "n/a", "16", "23"]
count = 0
acc = 0
for row in rows:
    count += 1
    n = int(row)
    acc += n
    print("row", row, count, acc)
print("total", count, acc)
