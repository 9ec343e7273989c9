"""An uncaught KeyboardInterrupt: non-daemon threads are still joined before the exit."""
import threading
import time


def worker():
    time.sleep(0.3)
    print("worker done", flush=True)


threading.Thread(target=worker).start()
print("main raising", flush=True)
raise KeyboardInterrupt
