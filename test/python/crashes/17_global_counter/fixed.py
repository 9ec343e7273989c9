processed = 0
log = []


def handle(event):
    global processed
    processed += 1
    kind, _, payload = event.partition(":")
    log.append(kind)
    return kind, int(payload or 0)


print("prologue")
events = ["a:1", "b:2", "c", "d:4"]
results = [handle(e) for e in events]
print(results)
print("processed", processed, log)
