"""Undo journal of the files the program changes, so that a rewind puts them back as they were at the
checkpoint (the engine applies it: adapter/engine/fileRewind.ts).

Checkpoints cut the run into epochs. An audit hook, which Python calls *before* each operation, saves
the first time in an epoch that the program changes a file of the workspace what is needed to put
the file back as it was when the epoch began:

  open 'a' (append)                        its size                           {"k": "size"}
  open 'w', 'r+', os.truncate,             its content (reflinked where the   {"k": "copy"}
  sqlite3.connect (db, -journal, -wal)     filesystem can; else copied)
  os.remove, rename onto it, rmtree        a hard link to the old inode       {"k": "link"}
  renamed away                             its content                        {"k": "copy"}
  created                                  that it did not exist              {"k": "absent"}
  mkdir / rmdir                            that the folder did not / did exist

One JSON line per entry in <journal>/<epoch>.log, copies under <journal>/<epoch>/. A rewind to a
checkpoint applies the entries of its epoch and of every later one, newest first. Files outside the
workspace are only named ({"k": "outside"}); files too big to copy too ({"k": "big"}).

The epoch is a number in <journal>/state, a page mapped in memory and read at each operation. It
advances at every checkpoint: here when the agent forks a snapshot (before_snapshot), or in criu's
post-dump script when criu froze the program itself (adapter/python/axolotl_files.sh). Either can
fall between this hook and the operation it announces (a snapshot request is served between two
bytecodes, also the hook's), so the hook first names the files it is about to change in the same
page (the "in flight" lines), before it reads the epoch; the checkpoint saves those files as they
are at that moment, in the new epoch.

Standard library only, Python 3.8+. Nothing here may raise into the program: an exception from an
audit hook would abort the program's operation.
"""
import fcntl
import os
import stat
import sys
# Nothing that plain Python does not import before the program: a user module named like one (json.py
# beside the script) must shadow it as it would without the agent (entries are written by _json).
from _thread import get_ident

STATE_BYTES = 4096
EPOCH_LEN = 21  # "%020d\n"
_FICLONE = 0x40049409
_SIZE, _FULL = 1, 2

_mm = None
_dir = ""
_workspace = ()        # folders (with a trailing "/") whose files are rewound
_exclude = ()          # folders never journaled: the run folders, the agent's cache
_max_copy = 256 << 20
_held = False          # save files held open for writing at each snapshot (fork backend)
_epoch = 0
_epoch_raw = b""
_seen = {}             # path -> (level, size) recorded in the current epoch
_marks = {}            # thread id -> its "in flight" lines
_busy = set()          # threads running this module's code (its own file operations are not journaled)
_cwd = None
_blobs = 0
_made = set()          # epoch folders created
_held_last = {}        # path -> (size, mtime_ns, ino, blob) of its last copy at a snapshot
_own_fd = -1           # the descriptor mmap keeps of the state page (before Python 3.13)
_G = globals()


def install():
    """Starts journaling when the engine asked for it (AXOLOTL_FILES_JOURNAL). Must run before user code."""
    global _mm, _dir, _workspace, _exclude, _max_copy, _held, _own_fd
    d = os.environ.get("AXOLOTL_FILES_JOURNAL")
    if not d or _mm is not None:
        return False
    import mmap
    state = os.path.join(d, "state")
    try:
        fd = os.open(state, os.O_RDWR | os.O_CLOEXEC)
        try:
            if sys.version_info >= (3, 13):
                _mm = mmap.mmap(fd, STATE_BYTES, trackfd=False)
            else:
                _mm = mmap.mmap(fd, STATE_BYTES)
        finally:
            os.close(fd)
    except (OSError, ValueError, TypeError):
        return False
    if sys.version_info < (3, 13):
        _own_fd = _fd_of(state)  # a duplicate mmap keeps open: not one of the program's files
    _dir = d
    folders = lambda name: tuple(os.path.normpath(p).rstrip("/") + "/"
                                 for p in os.environ.get(name, "").split(os.pathsep) if p)
    _workspace = folders("AXOLOTL_FILES_WORKSPACE")
    _exclude = folders("AXOLOTL_FILES_EXCLUDE") + (os.path.normpath(d).rstrip("/") + "/",)
    cache = os.environ.get("AXOLOTL_CACHE_DIR")
    if cache:
        _exclude += (os.path.normpath(cache).rstrip("/") + "/",)
    try:
        _max_copy = int(os.environ.get("AXOLOTL_FILES_MAX_COPY") or _max_copy)
    except ValueError:
        pass
    _held = os.environ.get("AXOLOTL_FILES_HELD") == "1"
    sys.addaudithook(_hook)
    return True


def active():
    return _mm is not None


def own_fd(fd):
    """True for the descriptor of the journal's own page (open for writing, but not the program's)."""
    return fd == _own_fd and _own_fd >= 0


def _fd_of(path):
    real = os.path.realpath(path)
    try:
        for name in os.listdir("/proc/self/fd"):
            try:
                if os.readlink("/proc/self/fd/" + name) == real:
                    return int(name)
            except OSError:
                pass
    except OSError:
        pass
    return -1


# ----------------------------------------------------------------------------------------------
# The hook

def _hook(event, args):
    h = _HANDLERS.get(event)
    if h is None:
        # Any other event of a thread comes after the operation it announced last: no longer in flight.
        if _marks and get_ident() in _marks and get_ident() not in _busy:
            _marks.pop(get_ident(), None)
            _write_marks()
        return
    tid = get_ident()
    if tid in _busy:
        return
    _busy.add(tid)
    try:
        h(args)
    except Exception:
        pass
    finally:
        _busy.discard(tid)


def _on_open(args):
    path, _mode, flags = args
    if not isinstance(flags, int) or isinstance(path, int):
        return
    acc = flags & os.O_ACCMODE
    if flags & os.O_TRUNC:
        how = "content"
    elif acc == os.O_RDONLY or flags & os.O_EXCL:
        if not flags & os.O_CREAT:
            return  # reading
        how = "create"
    elif flags & os.O_APPEND:
        how = "append"
    else:
        how = "content"  # written in place
    p = _abs(path)
    if p:
        _announce([("a" if how == "append" else "c", p)])
        _touch(p, _SIZE if how == "append" else _FULL, how)


def _on_remove(args):
    p = _abs(args[0], args[1] if len(args) > 1 else None)
    if p:
        _announce([("c", p)])
        _touch(p, _FULL, "unlink")


def _on_rename(args):
    src, dst, sfd, dfd = args
    s, d = _abs(src, sfd), _abs(dst, dfd)
    if not s or not d:
        return
    _announce([("c", s), ("c", d)])
    if os.path.isdir(s) and not os.path.islink(s):
        _move_dir(s, d)
        return
    _touch(d, _FULL, "unlink")
    _touch(s, _FULL, "move")


def _on_truncate(args):
    target = args[0]
    if isinstance(target, int):
        try:
            target = os.readlink("/proc/self/fd/%d" % target)
        except OSError:
            return
        if not target.startswith("/") or target.endswith(" (deleted)"):
            return  # a pipe, or a file no longer in any folder: nothing to put back
    p = _abs(target)
    if p:
        _announce([("c", p)])
        _touch(p, _FULL, "content")


def _on_mkdir(args):
    p = _abs(args[0], args[2] if len(args) > 2 else None)
    if p and _where(p) == 1:
        _epoch_now()
        if p not in _seen and not os.path.lexists(p):
            _entry({"k": "nodir", "p": p})
            _seen[p] = (_FULL, None)


def _on_rmdir(args):
    p = _abs(args[0], args[1] if len(args) > 1 else None)
    if p and _where(p) == 1:
        _epoch_now()
        if p not in _seen:
            try:
                st = os.lstat(p)
            except OSError:
                return
            if stat.S_ISDIR(st.st_mode):
                _entry({"k": "dir", "p": p, "mode": stat.S_IMODE(st.st_mode)})
                _seen[p] = (_FULL, None)


def _on_link(args):
    # os.link(src, dst, src_dir_fd, dst_dir_fd, ...) / os.symlink(src, dst, dir_fd): dst is created
    dfd = args[3] if len(args) > 3 else (args[2] if len(args) > 2 else None)
    p = _abs(args[1], dfd)
    if p:
        _announce([("c", p)])
        _touch(p, _FULL, "create")


def _on_sqlite(args):
    db = args[0]
    if isinstance(db, bytes):
        db = os.fsdecode(db)
    db = os.fspath(db) if not isinstance(db, str) else db
    if not db or db == ":memory:" or db.startswith("file::memory:"):
        return
    if db.startswith("file:"):
        from urllib.parse import unquote
        db = unquote(db[5:].split("?", 1)[0].split("#", 1)[0])
        if db.startswith("//"):  # file://host/path: host is empty or localhost
            db = "/" + db[2:].split("/", 1)[-1]
    p = _abs(db)
    if not p:
        return
    files = [p, p + "-journal", p + "-wal", p + "-shm"]
    _announce([("c", f) for f in files])
    for f in files:
        _touch(f, _FULL, "content")


def _on_chdir(args):
    global _cwd
    _cwd = None  # looked up again at the next operation, once the change is done
    _resolved.clear()


_HANDLERS = {
    "open": _on_open,
    "os.remove": _on_remove,
    "os.rename": _on_rename,
    "os.truncate": _on_truncate,
    "os.mkdir": _on_mkdir,
    "os.rmdir": _on_rmdir,
    "os.link": _on_link,
    "os.symlink": _on_link,
    "sqlite3.connect": _on_sqlite,
    "os.chdir": _on_chdir,
}


# ----------------------------------------------------------------------------------------------
# What to keep

def _touch(p, need, how):
    """Records what puts `p` back as it was when the epoch began, unless that is recorded already."""
    where = _where(p)
    if where is None:
        return
    _epoch_now()
    level, size = _seen.get(p, (0, None))
    if level >= need:
        return
    try:
        st = os.lstat(p)
    except OSError:
        st = None
    if st is not None and stat.S_ISLNK(st.st_mode) and how not in ("unlink", "move"):
        real = os.path.realpath(p)
        if real != p:
            _touch(real, need, how)  # the operation follows the link
        return
    if where == 0:
        if st is None or stat.S_ISREG(st.st_mode):
            _entry({"k": "outside", "p": p})
        _seen[p] = (_FULL, None)
        return
    if st is None:
        if level == 0:
            _entry({"k": "absent", "p": p})
        _seen[p] = (_FULL, None)
        return
    if stat.S_ISLNK(st.st_mode):
        _entry({"k": "symlink", "p": p, "t": os.readlink(p)})
        _seen[p] = (_FULL, None)
        return
    if not stat.S_ISREG(st.st_mode) or how == "create":
        if how != "create":
            _seen[p] = (_FULL, None)
        return
    if how == "append":
        _entry({"k": "size", "p": p, "s": st.st_size})
        _seen[p] = (_SIZE, st.st_size)
        return
    # Appended to earlier in this epoch: its first `size` bytes are still what the epoch began with.
    keep = size if level == _SIZE else st.st_size
    if how == "unlink" and st.st_nlink == 1:
        blob = _blob()
        try:
            os.link(p, os.path.join(_dir, blob))  # about to leave the folder: nothing else can change it
            e = {"k": "link", "p": p, "b": blob}
            if level == _SIZE:
                e["s"] = size
            _entry(e)
            _seen[p] = (_FULL, None)
            return
        except OSError:
            pass  # another filesystem: copy
    _save_copy(p, st, keep, whole=level != _SIZE)
    _seen[p] = (_FULL, None)


def _save_copy(p, st, keep, whole, held=False):
    if keep > _max_copy:
        _entry({"k": "big", "p": p, "s": keep})
        return
    blob = _blob()
    _copy(p, os.path.join(_dir, blob), None if whole else keep)
    e = {"k": "copy", "p": p, "b": blob, "m": st.st_mtime}
    if held:
        e["h"] = 1
    _entry(e)
    return blob


def _move_dir(s, d):
    if _where(s) != 1 and _where(d) != 1:
        return
    _epoch_now()
    try:
        if os.path.isdir(d) and not os.path.islink(d):
            _entry({"k": "dir", "p": d, "mode": stat.S_IMODE(os.lstat(d).st_mode)})
    except OSError:
        pass
    _entry({"k": "moved", "p": s, "t": d})
    for k in [k for k in _seen if k.startswith(s + "/") or k.startswith(d + "/")]:
        del _seen[k]


# ----------------------------------------------------------------------------------------------
# Checkpoints

def before_snapshot():
    """Called just before the agent forks a snapshot: starts the next epoch and saves, as they are now,
    what the new epoch cannot learn from later events: the files an operation this hook announced is
    about to change (when the snapshot request arrived while the hook ran, between its announcement
    and the operation) and, for the fork backend, the files held open for writing. Returns the epoch."""
    if _mm is None:
        return None
    tid = get_ident()
    inside = _inside_hook(tid)
    _busy.add(tid)
    try:
        epoch = _read_epoch() + 1
        _mm[0:EPOCH_LEN] = b"%020d\n" % epoch
        _epoch_now()
        if inside:
            _save_in_flight(_marks.get(tid, ""))
        if _held:
            _save_held_open()
        return epoch
    except Exception:
        return None
    finally:
        _busy.discard(tid)


def _inside_hook(tid):
    """True when this thread is running the hook (a signal handler called from within it)."""
    if tid not in _busy:
        f = sys._getframe(2)
        for _ in range(32):
            if f is None:
                return False
            if f.f_globals is _G:
                break
            f = f.f_back
        else:
            return False
    return True


def _save_in_flight(lines):
    for line in lines.splitlines():
        kind, _st, p = line.split("\t", 2)
        _touch(p, _SIZE if kind == "a" else _FULL, "append" if kind == "a" else "content")


def _save_held_open():
    found = {}
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return
    for name in fds:
        try:
            fd = int(name)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                continue
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            acc = flags & os.O_ACCMODE
            if acc == os.O_RDONLY:
                continue
            p = os.readlink("/proc/self/fd/%d" % fd)
        except (OSError, ValueError):
            continue
        if not p.startswith("/") or p.endswith(" (deleted)"):
            continue
        append_only = acc == os.O_WRONLY and bool(flags & os.O_APPEND)
        prev = found.get(p)
        found[p] = (st, append_only and (prev is None or prev[1]))
    for p, (st, append_only) in sorted(found.items()):
        where = _where(p)
        if where is None:
            continue
        try:
            st = os.stat(p)
        except OSError:
            continue
        if where == 0 or append_only:
            e = {"k": "size", "p": p, "s": st.st_size, "h": 1}
            if where == 0:
                e["o"] = 1
            _entry(e)
            _seen[p] = (_SIZE, st.st_size)
            continue
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        last = _held_last.get(p)
        blob = None
        if last and last[:3] == key:
            blob = _blob()
            try:
                os.link(os.path.join(_dir, last[3]), os.path.join(_dir, blob))  # unchanged: the same copy
                _entry({"k": "copy", "p": p, "b": blob, "m": st.st_mtime, "h": 1})
            except OSError:
                blob = None
        if blob is None:
            blob = _save_copy(p, st, st.st_size, whole=True, held=True)
        if blob:
            _held_last[p] = key + (blob,)
        _seen[p] = (_FULL, None)


# ----------------------------------------------------------------------------------------------
# Helpers

def _read_epoch():
    try:
        return int(_mm[0:EPOCH_LEN - 1])
    except ValueError:
        return 0


def _epoch_now():
    global _epoch, _epoch_raw
    raw = _mm[0:EPOCH_LEN - 1]
    if raw != _epoch_raw:
        _epoch_raw = raw
        _epoch = _read_epoch()
        _seen.clear()
    return _epoch


def _announce(items):
    """Names the files this thread is about to change (read by criu's post-dump script), before the
    epoch is read: a freeze from here to the end of the operation then saves them as they are."""
    lines = []
    for kind, p in items:
        if _where(p) != 1 or "\n" in p or "\t" in p:
            continue
        st = "-"
        if kind == "c":
            try:
                s = os.stat(p)
                st = "%d:%d.%09d:%d" % ((s.st_size,) + divmod(s.st_mtime_ns, 10 ** 9) + (s.st_ino,))
            except OSError:
                pass
        lines.append("%s\t%s\t%s\n" % (kind, st, p))
    tid = get_ident()
    text = "".join(lines)
    if _marks.get(tid, "") != text:  # the same file appended to again: the page already says so
        if text:
            _marks[tid] = text
        else:
            _marks.pop(tid, None)
        _write_marks()


def _write_marks():
    data = "".join(_marks.values()).encode("utf-8", "surrogateescape")
    room = STATE_BYTES - EPOCH_LEN - 1
    if len(data) > room:
        data = data[:data.rfind(b"\n", 0, room) + 1]
    data += b"\n"
    _mm[EPOCH_LEN:EPOCH_LEN + len(data)] = data


_resolved = {}         # path as the program gave it (relative to _cwd) -> absolute path


def _abs(p, dir_fd=None):
    """The absolute, normalized path of `p` (paths relative to the working folder are cached)."""
    if dir_fd is None or dir_fd < 0:
        try:
            hit = _resolved.get(p)
        except TypeError:
            hit = None
        if hit is not None:
            return hit
        q = _abs_slow(p, None)
        if q is not None and isinstance(p, (str, bytes)):
            if len(_resolved) > 4096:
                _resolved.clear()
            _resolved[p] = q
        return q
    return _abs_slow(p, dir_fd)


def _abs_slow(p, dir_fd):
    global _cwd
    if isinstance(p, bytes):
        p = os.fsdecode(p)
    elif not isinstance(p, str):
        try:
            p = os.fspath(p)
        except TypeError:
            return None
        if isinstance(p, bytes):
            p = os.fsdecode(p)
    if not p:
        return None
    if p[0] == "/":
        base = ""
    elif dir_fd is not None and dir_fd >= 0:
        try:
            base = os.readlink("/proc/self/fd/%d" % dir_fd)
        except OSError:
            return None
    else:
        if _cwd is None:
            try:
                _cwd = os.getcwd()
            except OSError:
                return None
        base = _cwd
    return os.path.normpath(os.path.join(base, p))


_places = {}           # absolute path -> _where(path)


def _where(p):
    """1: in the workspace (rewound), 0: outside it (named), None: not the program's business."""
    try:
        return _places[p]
    except KeyError:
        pass
    if len(_places) > 4096:
        _places.clear()
    w = _places[p] = _where_slow(p)
    return w


def _where_slow(p):
    q = p + "/"
    for d in _exclude:
        if q.startswith(d):
            return None
    if "/__pycache__/" in p:
        return None
    for d in _workspace:
        if q.startswith(d):
            return 1
    if p.startswith(("/dev/", "/proc/", "/sys/")):
        return None
    return 0


def _blob():
    global _blobs
    _blobs += 1
    if _epoch not in _made:
        os.makedirs(os.path.join(_dir, str(_epoch)), exist_ok=True)
        _made.add(_epoch)
    return "%d/%d-%d" % (_epoch, os.getpid(), _blobs)


_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _json_str(text):
    """A JSON string, ASCII only, as json.dumps writes it. (The json module is not imported: a user
    module of that name must shadow it as it would without the agent.)"""
    out = []
    for ch in text:
        o = ord(ch)
        if 0x20 <= o < 0x7f and ch not in _ESC:
            out.append(ch)
        elif ch in _ESC:
            out.append(_ESC[ch])
        elif o < 0x10000:
            out.append("\\u%04x" % o)
        else:
            o -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xd800 | (o >> 10), 0xdc00 | (o & 0x3ff)))
    return '"' + "".join(out) + '"'


def _json_value(v):
    if isinstance(v, str):
        return _json_str(v)
    if v is None or isinstance(v, bool):
        return {None: "null", True: "true", False: "false"}[v]
    return repr(v)   # int, float: as json writes them


def _json(e):
    return "{" + ",".join("%s:%s" % (_json_str(k), _json_value(v)) for k, v in e.items()) + "}"


def _entry(e):
    line = (_json(e) + "\n").encode("ascii")
    fd = os.open(os.path.join(_dir, "%d.log" % _epoch), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)  # one write: an entry is whole or absent, also when criu freezes us here
    finally:
        os.close(fd)


def _copy(src, dst, count=None):
    """dst = the first `count` bytes of src (all of it when None): a reflink when the filesystem can."""
    sfd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            if count is None:
                try:
                    fcntl.ioctl(dfd, _FICLONE, sfd)
                    return
                except OSError:
                    count = os.fstat(sfd).st_size
            off = 0
            while off < count:
                n = os.sendfile(dfd, sfd, off, count - off)
                if n <= 0:
                    break
                off += n
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)
