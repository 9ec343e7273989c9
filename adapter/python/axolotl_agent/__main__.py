"""Entry point: python3 -m axolotl_agent script.py args...   (or: -m module args...)"""
import sys


def main():
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
