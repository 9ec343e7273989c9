"""Saves the regular files a frozen program has open for writing (run by axolotl_files.sh at criu's
post-dump, and by the engine for fork snapshots). Standard library only, Python 3.8+.

Environment:
  CRTOOLS_IMAGE_DIR / AXOLOTL_FILES_DIR   the checkpoint folder (files.json and files/ go there)
  AXOLOTL_FILES_PID         the program's root process; its whole tree is scanned
  AXOLOTL_FILES_WORKSPACE   folders (os.pathsep-separated) whose files are saved whole
  AXOLOTL_FILES_PREV        the previous checkpoint folder: unchanged files are hard-linked from it
  AXOLOTL_FILES_MAX_COPY    largest file saved whole, in bytes (default 256 MiB)
  AXOLOTL_FILES_EXCLUDE     folders (os.pathsep-separated) whose files are the engine's (the file journal)

Each file becomes one entry of files.json: {"path", "size", "mtime_ns", "dev", "ino", "mode", "copy"?}
with mode "copy" (saved whole in files/, put back before a restore) or "size" (append-only files,
files outside the workspace and files too big to copy: only cut back to this size before a restore).
Exit status 1 (with the reason on stderr) makes criu fail the dump, so a checkpoint is never kept
without its files.
"""
import json
import os
import shutil
import stat
import sys

FICLONE = 0x40049409
O_ACCMODE = 0o3
O_WRONLY = 0o1
O_APPEND = 0o2000


def children(pid):
    out = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as fh:
                out += [int(x) for x in fh.read().split()]
        except (OSError, ValueError):
            pass
    return out


def tree(root):
    pids, i = [root], 0
    while i < len(pids):
        for c in children(pids[i]):
            if c not in pids:
                pids.append(c)
        i += 1
    return pids


def fd_flags(pid, fd):
    try:
        with open("/proc/%d/fdinfo/%s" % (pid, fd)) as fh:
            for line in fh:
                if line.startswith("flags:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def open_for_writing(pids):
    """(dev, ino) -> entry for every regular file some process of the tree has open for writing."""
    found = {}
    for pid in pids:
        try:
            fds = os.listdir("/proc/%d/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            link_path = "/proc/%d/fd/%s" % (pid, fd)
            try:
                target = os.readlink(link_path)
                st = os.stat(link_path)
            except OSError:
                continue
            if not target.startswith("/") or not stat.S_ISREG(st.st_mode) or target.endswith(" (deleted)"):
                continue
            # The name must lead to this very file from here: a program in a container (another mount
            # namespace) names its files from its own root, and its /tmp/x is not this machine's.
            try:
                named = os.stat(target)
            except OSError:
                continue
            if (named.st_dev, named.st_ino) != (st.st_dev, st.st_ino):
                continue
            flags = fd_flags(pid, fd)
            if flags is None or flags & O_ACCMODE == 0:
                continue
            append_only = flags & O_ACCMODE == O_WRONLY and bool(flags & O_APPEND)
            key = (st.st_dev, st.st_ino)
            e = found.get(key)
            if e is None:
                found[key] = {"path": target, "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                              "dev": st.st_dev, "ino": st.st_ino, "append_only": append_only}
            else:
                e["append_only"] = e["append_only"] and append_only
    return found


def inside(path, folders):
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in folders)


def clone_or_copy(src, dst):
    import fcntl
    with open(src, "rb") as s, open(dst, "wb") as d:
        try:
            fcntl.ioctl(d.fileno(), FICLONE, s.fileno())
            return
        except OSError:
            pass
        shutil.copyfileobj(s, d, 1 << 20)


def previous(prev_dir):
    if not prev_dir:
        return {}
    try:
        with open(os.path.join(prev_dir, "files.json")) as fh:
            entries = json.load(fh)
    except (OSError, ValueError):
        return {}
    return {e["path"]: e for e in entries if e.get("mode") == "copy"}


def main():
    image_dir = os.environ.get("AXOLOTL_FILES_DIR") or os.environ.get("CRTOOLS_IMAGE_DIR")
    pid = int(os.environ.get("AXOLOTL_FILES_PID") or 0)
    if not image_dir or not pid:
        return 0
    workspace = [os.path.realpath(d) for d in os.environ.get("AXOLOTL_FILES_WORKSPACE", "").split(os.pathsep) if d]
    max_copy = int(os.environ.get("AXOLOTL_FILES_MAX_COPY") or 256 << 20)
    prev_dir = os.environ.get("AXOLOTL_FILES_PREV") or ""
    exclude = [os.path.realpath(d) for d in os.environ.get("AXOLOTL_FILES_EXCLUDE", "").split(os.pathsep) if d]
    found = {k: e for k, e in open_for_writing(tree(pid)).items() if not inside(e["path"], exclude)}
    if not found:
        return 0
    prev = previous(prev_dir)
    entries = []
    files_dir = os.path.join(image_dir, "files")
    for n, e in enumerate(sorted(found.values(), key=lambda x: x["path"])):
        copy = inside(e["path"], workspace) and not e["append_only"] and e["size"] <= max_copy
        e["mode"] = "copy" if copy else "size"
        e["inside"] = inside(e["path"], workspace)
        if copy:
            os.makedirs(files_dir, exist_ok=True)
            name = "files/%d" % n
            dst = os.path.join(image_dir, name)
            p = prev.get(e["path"])
            same = p and all(p.get(k) == e[k] for k in ("size", "mtime_ns", "dev", "ino"))
            linked = False
            if same:
                try:
                    os.link(os.path.join(prev_dir, p["copy"]), dst)
                    linked = True
                except OSError:
                    pass
            if not linked:
                clone_or_copy(e["path"], dst)
            e["copy"] = name
            e["reused"] = linked
        entries.append(e)
    tmp = os.path.join(image_dir, "files.json.tmp")
    with open(tmp, "w") as fh:
        json.dump(entries, fh, indent=1)
        fh.flush()
    os.replace(tmp, os.path.join(image_dir, "files.json"))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # criu fails the dump; the engine shows this line
        sys.stderr.write("axolotl: could not save the program's open files: %s\n" % e)
        sys.exit(1)
