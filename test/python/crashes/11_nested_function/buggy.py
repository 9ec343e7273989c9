def report(rows):
    def fmt(row):
        name, score = row
        return "%-6s %5.1f%%" % (name, 100.0 * score / row[2])

    lines = []
    for r in rows:
        lines.append(fmt(r))
    return lines


print("prologue")
rows = [("ann", 3, 4), ("bob", 5, 10), ("cy", 1, 3)]
for line in report(rows):
    print(line)
