"""Entry point: python3 -m axolotl_agent script.py args...   (or: -m module args..., or a directory or
zip application): the program runs in this same process, replaced by the interpreter launch.py
prepares."""
import sys


def _close_leaked_fds():
    """Under the engine, every fd above 2 was leaked to us (VS Code's extension host keeps its log
    files open without close-on-exec). The program never asked for them, and a rewind would have to
    reckon with them as files open for writing, so they are closed before any user code runs."""
    import os
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd")]
    except OSError:
        return
    for fd in fds:
        if fd > 2:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own fd, already gone


def main():
    import os
    argv = sys.argv[1:]
    if not argv or argv == ["-m"]:
        sys.stderr.write("usage: python3 -m axolotl_agent script.py [args...] | -m module [args...]\n")
        return 2
    if os.environ.get("AXOLOTL_SOCKET"):
        _close_leaked_fds()
    from . import launch
    launch.run(argv)   # does not return


if __name__ == "__main__":
    sys.exit(main())
