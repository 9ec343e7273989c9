"""`python -m axolotl_agent script.py args...`: compiles the script instrumented and replaces this
interpreter (same pid, same open files) by one that runs it the way `python script.py` would.

The instrumented code goes into a .pyc that the new interpreter is given as its script: CPython then
runs it as __main__ itself, from C, so no agent frame is ever below the program (stack introspection,
warnings' stacklevel, the recursion limit, tracebacks, exit handling, threads and interpreter
shutdown are plain Python's).  Its first instruction imports axolotl_agent._boot, which puts back
what naming a .pyc changed (sys.argv[0], sys.path[0], __file__, __loader__) and deletes the .pyc
before the script's first statement.

Cases handed to the interpreter unchanged, so that they behave exactly as plain Python:
  * the script cannot be read or does not compile: plain Python reports it;
  * a directory, a zip application, `-m module`: run as given, with the agent loaded by the
    sitecustomize in _shim/ (which then loads the real sitecustomize, if any);
  * -E / -I, under which the agent could not be found: run without the agent.
"""
import os
import sys

from . import AGENT_DIR

BOOT_MODULE = "axolotl_agent._boot"
SEP = "\x1e"        # between the fields of AXOLOTL_BOOT
LIST_SEP = "\x1f"   # between the items of a list field


def _program_name():
    """argv[0] as this interpreter was started (sys.executable is derived from it)."""
    orig = getattr(sys, "orig_argv", None)
    if orig:
        return orig[0], orig[1:]
    try:
        with open("/proc/self/cmdline", "rb") as fh:
            parts = fh.read().split(b"\0")[:-1]
        return os.fsdecode(parts[0]), [os.fsdecode(p) for p in parts[1:]]
    except (OSError, IndexError):
        return sys.executable, []


def _user_pythonpath():
    """PYTHONPATH as the user set it (the engine puts the agent's folder first)."""
    pp = os.environ.get("PYTHONPATH")
    if pp is None:
        return None
    parent = os.path.realpath(os.path.dirname(AGENT_DIR))
    rest = [p for p in pp.split(os.pathsep) if not p or os.path.realpath(p) != parent]
    return os.pathsep.join(rest) if rest else None


def _exec(argv, env):
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, env)


def _cache_own_bytecode():
    """Write the agent's own modules' bytecode when it is missing or older than the source (into the
    agent's folder, when that can be written): both interpreters import them, and under
    PYTHONDONTWRITEBYTECODE they would be compiled from source at every start.  The program's files
    are not concerned."""
    if not sys.dont_write_bytecode:
        return   # Python writes it itself
    try:
        from importlib.util import cache_from_source
        for name in os.listdir(AGENT_DIR):
            if name.endswith(".py"):
                src = os.path.join(AGENT_DIR, name)
                pyc = cache_from_source(src)
                try:
                    if os.stat(pyc).st_mtime >= os.stat(src).st_mtime:
                        continue
                except OSError:
                    pass
                import py_compile
                py_compile.compile(src, pyc, doraise=True)
    except Exception:
        pass   # a folder we may not write: the agent is compiled at each start, as before


def run(args):
    _cache_own_bytecode()
    name, orig_rest = _program_name()
    # the options the user gave before `-m axolotl_agent`: the new interpreter gets the same
    try:
        opts = orig_rest[:orig_rest.index("-m")]
    except ValueError:
        opts = []
    env = dict(os.environ)
    user_pp = _user_pythonpath()
    if user_pp is None:
        env.pop("PYTHONPATH", None)
    else:
        env["PYTHONPATH"] = user_pp
    if sys.flags.ignore_environment or sys.flags.isolated:
        _exec([name] + opts + args, env)          # the agent could not be imported there
    agent_path = os.path.dirname(AGENT_DIR)
    boot = {"pythonpath": user_pp or "", "pythonpath_unset": "1" if user_pp is None else "", "generation": os.environ.get("AXOLOTL_GENERATION", "")}
    target = args[0]
    runpy_case = target == "-m" or os.path.isdir(target) or _is_zip(target)
    if runpy_case:
        boot.update(mode="runpy", target=args[1] if target == "-m" else target, module=target == "-m",
                    root=os.environ.get("AXOLOTL_ROOT") or (os.getcwd() if target == "-m" or not os.path.isdir(target)
                                                            else os.path.realpath(target)))
        env["PYTHONPATH"] = os.pathsep.join([os.path.join(AGENT_DIR, "_shim"), agent_path] + ([user_pp] if user_pp else []))
        env["AXOLOTL_BOOT"] = _encode(boot)
        _exec([name] + opts + args, env)
    try:
        with open(target, "rb") as fh:
            source = fh.read()
        filename = target if sys.version_info < (3, 9) else os.path.abspath(target)
        from . import instrument
        code = instrument.instrumented_main(source, filename, BOOT_MODULE)
    except Exception:
        _exec([name] + opts + args, env)          # unreadable, or does not compile: Python says why
    pyc, pyc_root = _write_pyc(code, target)
    boot.update(mode="script", script=target, file=filename, pyc=pyc, pyc_root=pyc_root,
                root=os.environ.get("AXOLOTL_ROOT") or os.path.dirname(os.path.realpath(target)),
                orig_argv=LIST_SEP.join([name] + opts + args) if hasattr(sys, "orig_argv") else "")
    env["PYTHONPATH"] = os.pathsep.join([agent_path] + ([user_pp] if user_pp else []))
    env["AXOLOTL_BOOT"] = _encode(boot)
    _exec([name] + opts + [pyc] + args[1:], env)


def _is_zip(path):
    """Plain Python runs a script through runpy when the zip importer accepts it (a zip
    application, with or without a #! line in front)."""
    import zipimport
    try:
        zipimport.zipimporter(path)
        return True
    except Exception:
        return False


def _write_pyc(code, script):
    """A private .pyc of the instrumented script, that the boot deletes once the interpreter has
    read it (the instrumented code itself is cached by instrument); and the private folder it is in.
    Its path ends with the script's own absolute path ("…/axolotl-main-42-0/home/me/job.py.pyc"), so
    that ps, /proc/PID/cmdline and whoever looks for the program by its script still find it."""
    import marshal
    magic = sys.modules["importlib._bootstrap_external"].MAGIC_NUMBER
    data = magic + b"\0\0\0\0" + b"\0" * 8 + marshal.dumps(code)
    tmp = os.environ.get("TMPDIR") or "/tmp"
    for n in range(100):
        root = os.path.join(tmp, "axolotl-main-%d-%d" % (os.getpid(), n))
        try:
            os.mkdir(root, 0o700)
        except FileExistsError:
            continue
        path = os.path.join(root, os.path.abspath(script).lstrip(os.sep) + ".pyc")
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return path, root
    raise OSError("no temporary file for the instrumented script")


def _encode(d):
    return SEP.join("%s=%s" % (k, "" if v is None else v) for k, v in d.items())


def decode(s):
    out = {}
    for part in s.split(SEP) if s else ():
        k, _, v = part.partition("=")
        out[k] = v
    return out
