"""Entry point: python3 -m axolotl_agent script.py args...   (or: -m module args...)"""
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
    if os.environ.get("AXOLOTL_SOCKET"):
        _close_leaked_fds()
    from . import filejournal
    filejournal.install()  # before any user code: every file the program changes is journaled
    from . import runner
    from .state import S

    def send_exit(code):
        if S.active:
            from . import channel
            channel.send_exit(code)
    argv = sys.argv[1:]
    if not argv:
        sys.stderr.write("usage: python3 -m axolotl_agent script.py [args...] | -m module [args...]\n")
        return 2
    code = 0
    try:
        if argv[0] == "-m" and len(argv) > 1:
            runner.run_module(argv[1], argv[2:])
        else:
            runner.run_script(argv[0], argv[1:])
    except SystemExit as e:
        c = e.code
        code = c if isinstance(c, int) else (0 if c is None else 1)
        send_exit(code)
        raise
    except KeyboardInterrupt as e:
        runner.print_exception(e)
        send_exit(130)
        runner.die_of_sigint()
    except BaseException as e:
        runner.print_exception(e)
        send_exit(1)
        raise SystemExit(1)
    send_exit(code)
    return None


if __name__ == "__main__":
    sys.exit(main())
