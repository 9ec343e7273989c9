class Stats:
    def __init__(self):
        self.n = 0
        self.total = 0.0
        self.history = []

    def push(self, item):
        weight = 1.0 / item["w"]
        self.n += 1
        self.total += item["v"] * weight
        self.history.append(round(self.total, 3))
        return self.total / self.n


print("prologue")
stats = Stats()
data = [{"v": 1, "w": 1}, {"v": 4, "w": 2}, {"v": 9}, {"v": 2, "w": 4}]
for item in data:
    print(round(stats.push(item), 3))
print(stats.n, stats.history)
