import time


def simulate(steps):
    auth_token = "s3cr3t-value"
    state = {"pos": 0, "vel": 1}
    trace = []
    for t in range(steps):
        state["pos"] += state["vel"]
        if t % 7 == 6:
            state["vel"] = -state["vel"]
        denom = state["pos"] - 3
        ratio = state["pos"] / denom if denom else 0.0
        trace.append(round(ratio, 2))
        time.sleep(0.001)
    return trace


print("prologue")
result = simulate(40)
print(len(result), result[:5], result[-5:])
