processed = 0
log = []


def handle(event):
    global processed
    processed += 1
    kind, payload = event.split(":", 1)
    log.append(kind)
    return kind, int(payload)


print("prologue")
events = ["a:1", "b:2", "c", "d:4"]
results = [handle(e) for e in events]
print(results)
print("processed", processed, log)
