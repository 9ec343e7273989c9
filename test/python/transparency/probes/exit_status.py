"""sys.exit from a function: the status, and a message on stderr for a string."""
import sys


def finish(code):
    try:
        sys.exit(code)
    finally:
        print("finally ran")


print("start")
finish("bye: status 1 with a message")
