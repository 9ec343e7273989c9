"""Bytecode instrumentation for Python 3.11+ (exception tables, "zero-cost" exceptions).

The code object that plain Python compiles is kept; no instruction the program executes normally
changes.  Added:

* An appendix after the last instruction, reached only through exception-table entries that cover
  every instruction no handler of the program covers: it sees exactly the exceptions that leave the
  frame.  When the agent object (see hooknames) is false, as without an engine, it re-raises with
  ``RERAISE 1``, which puts the frame's f_lasti back on the raising instruction, so f_lineno,
  tracebacks and trace events are plain Python's.  Otherwise it tells the agent (AGENT[exc]) and
  reads the answer: re-raise, raise another exception (the agent's RestartFrame), or restart this
  frame: then AGENT[(RESTART, snapshot)] hands over the call to make, whose result is returned.  The
  appendix has no line numbers, except the restart path, shown on the ``def`` line; at most four
  stack slots above the snapshot.  If telling the agent fails (a NameError while the interpreter
  exits, a RecursionError), a cleanup entry re-raises the original exception.
* For functions that rebind a parameter or assign a declared global: a prologue before RESUME that
  pushes their entry values and leaves them at the bottom of the value stack for the frame's life
  (no new local variable: locals(), co_varnames and f_locals are unchanged; no allocation per call).  A global
  unbound at entry is recorded as MISSING_MARK (the NameError is caught by the prologue's own entry).
* Main-script module code gets the same appendix with AGENT[(CONT, iterator)] in place of the
  restart; in the bodies of top-level ``for`` loops its entries keep the loop's iterator and hand it
  over, so a repaired loop can go on with the iterations that are left.
"""
import opcode
import sys

V = sys.version_info[:2]
OP = opcode.opmap
_CACHE_TABLE = getattr(opcode, "_inline_cache_entries", None)

from .hooknames import AGENT, RESTART, DONE, CONT, ENTER, MISSING_MARK, CO_GENERATOR_LIKE, param_count  # noqa: E402


def caches(name):
    if isinstance(_CACHE_TABLE, dict):
        return _CACHE_TABLE.get(name, 0)
    return _CACHE_TABLE[OP[name]]


_JUMP_IF_FALSE = "POP_JUMP_FORWARD_IF_FALSE" if V < (3, 12) else "POP_JUMP_IF_FALSE"
_JUMP_IF_NONE = "POP_JUMP_FORWARD_IF_NONE" if V < (3, 12) else "POP_JUMP_IF_NONE"


# ----------------------------------------------------------------------------------------------
# Exception table: entries (start, end, target, depth, lasti) in code units.

def _read_item(table, i):
    b = table[i]
    val = b & 63
    i += 1
    while b & 64:
        b = table[i]
        i += 1
        val = (val << 6) | (b & 63)
    return val, i


def read_exception_table(table):
    out = []
    i = 0
    n = len(table)
    while i < n:
        start, i = _read_item(table, i)
        size, i = _read_item(table, i)
        target, i = _read_item(table, i)
        dl, i = _read_item(table, i)
        out.append((start, start + size, target, dl >> 1, dl & 1))
    return out


def _write_item(out, value, msb):
    if value < 64:
        out.append(value | msb)
        return
    chunks = [value & 63]
    value >>= 6
    while value:
        chunks.append(value & 63)
        value >>= 6
    chunks.reverse()
    last = len(chunks) - 1
    for k, c in enumerate(chunks):
        out.append(c | (64 if k < last else 0) | (msb if k == 0 else 0))


def write_exception_table(entries):
    out = bytearray()
    for start, end, target, depth, lasti in sorted(entries):
        for v, msb in ((start, 128), (end - start, 0), (target, 0), ((depth << 1) | lasti, 0)):
            if v < 64:
                out.append(v | msb)
            elif v < 4096:
                out.append((v >> 6) | 64 | msb)
                out.append(v & 63)
            else:
                _write_item(out, v, msb)
    return bytes(out)


def covers(entries, unit):
    for s, e, _, _, _ in entries:
        if s <= unit < e:
            return True
    return False


def uncovered(entries, n):
    """Unit ranges of [0, n) that no entry covers."""
    out = []
    pos = 0
    for s, e in sorted((s, e) for s, e, _, _, _ in entries):
        if s > pos:
            out.append((pos, s))
        pos = max(pos, e)
    if pos < n:
        out.append((pos, n))
    return out


# ----------------------------------------------------------------------------------------------
# Line table (PEP 657 locations).  Every entry starts with a byte >= 0x80, no other byte does.

def _split_linetable(lt):
    starts = [i for i, b in enumerate(lt) if b & 0x80]
    return [lt[a:b] for a, b in zip(starts, starts[1:] + [len(lt)])]


def _rv(data, i):
    b = data[i]
    i += 1
    val = b & 63
    shift = 0
    while b & 64:
        b = data[i]
        i += 1
        shift += 6
        val |= (b & 63) << shift
    return val, i


def _rsv(data, i):
    v, i = _rv(data, i)
    return (-(v >> 1) if v & 1 else v >> 1), i


def _wv(out, val):
    while val >= 64:
        out.append(64 | (val & 63))
        val >>= 6
    out.append(val)


def _wsv(out, val):
    _wv(out, ((-val) << 1) | 1 if val < 0 else val << 1)


def decode_location(entry):
    """(units, line_delta, end_line_delta, col, end_col); line_delta None for "no location"."""
    head = entry[0]
    code = (head >> 3) & 15
    units = (head & 7) + 1
    if code == 15:
        return units, None, 0, None, None
    if code == 14:
        d, i = _rsv(entry, 1)
        e, i = _rv(entry, i)
        c, i = _rv(entry, i)
        ec, i = _rv(entry, i)
        return units, d, e, (c - 1 if c else None), (ec - 1 if ec else None)
    if code == 13:
        d, _ = _rsv(entry, 1)
        return units, d, 0, None, None
    if code >= 10:
        return units, code - 10, 0, entry[1], entry[2]
    second = entry[1]
    col = code * 8 + (second >> 4)
    return units, 0, 0, col, col + (second & 15)


def encode_location(units, line_delta, end_delta=0, col=None, end_col=None):
    out = bytearray()
    while units > 0:
        n = min(units, 8)
        if line_delta is None:
            out.append(0x80 | (15 << 3) | (n - 1))
        elif col is None:
            out.append(0x80 | (13 << 3) | (n - 1))
            _wsv(out, line_delta)
        else:
            out.append(0x80 | (14 << 3) | (n - 1))
            _wsv(out, line_delta)
            _wv(out, end_delta)
            _wv(out, col + 1)
            _wv(out, (end_col if end_col is not None else col) + 1)
        if line_delta is not None:
            line_delta = 0   # later chunks stay on the same line
        units -= n
    return bytes(out)


def unit_lines(code):
    """Line number of each code unit (None where there is none)."""
    out = []
    line = code.co_firstlineno
    for part in _split_linetable(code.co_linetable):
        units, d, _, _, _ = decode_location(part)
        if d is None:
            out.extend([None] * units)
        else:
            line += d
            out.extend([line] * units)
    return out


# ----------------------------------------------------------------------------------------------
# Emitting instructions

class Emitter:
    def __init__(self, names, consts, base):
        self.code = bytearray()
        self.names = list(names)
        self.consts = list(consts)
        self.base = base      # unit index of the first emitted unit in the final code
        self.fixups = []
        self.labels = {}

    @property
    def here(self):
        return self.base + len(self.code) // 2

    def name(self, n):
        try:
            return self.names.index(n)
        except ValueError:
            self.names.append(n)
            return len(self.names) - 1

    def const(self, c):
        for i, x in enumerate(self.consts):
            if type(x) is type(c) and x == c:
                return i
        self.consts.append(c)
        return len(self.consts) - 1

    def op(self, name, arg=0):
        if arg > 255:
            if arg > 0xFFFF:
                raise ValueError("argument too large")
            self.code += bytes((OP["EXTENDED_ARG"], arg >> 8))
            arg &= 255
        self.code += bytes((OP[name], arg))
        self.code += b"\0\0" * caches(name)

    def load_global(self, n):
        self.op("LOAD_GLOBAL", self.name(n) << 1)

    def load_const(self, c):
        self.op("LOAD_CONST", self.const(c))

    def load_agent(self):
        self.load_global(AGENT)

    def jump_if_agent_off(self, label):
        self.load_agent()
        if V >= (3, 13):
            self.op("TO_BOOL")     # 3.13 jumps test for an exact bool
        self.jump_forward_if(_JUMP_IF_FALSE, label)

    def answer(self):
        """Push the agent's answer (AGENT.None.None)."""
        self.load_agent()
        self.load_attr(AGENT)
        self.load_attr(AGENT)

    def load_attr(self, n):
        self.op("LOAD_ATTR", self.name(n) << 1 if V >= (3, 12) else self.name(n))

    def mark(self, label):
        self.labels[label] = self.here

    def jump_forward_if(self, name, label):
        """A forward conditional jump (name: _JUMP_IF_FALSE / _JUMP_IF_NONE) or JUMP_FORWARD."""
        self.code += bytes((OP[name], 0))
        self.fixups.append((len(self.code) - 1, label, caches(name)))
        self.code += b"\0\0" * caches(name)

    def jump_back(self, target):
        after = self.here + 1
        dist = after - target
        if dist > 255:
            self.code += bytes((OP["EXTENDED_ARG"], dist >> 8))
            dist = after + 1 - target
        self.code += bytes((OP["JUMP_BACKWARD_NO_INTERRUPT"], dist & 255))

    def resolve(self):
        for pos, label, ncache in self.fixups:
            after = self.base + (pos + 1) // 2 + ncache
            dist = self.labels[label] - after
            if not 0 <= dist <= 255:
                raise ValueError("jump too far")
            self.code[pos] = dist

    def call0(self):
        """Call the callable on top of the stack with no arguments."""
        self.op("PUSH_NULL")
        if V < (3, 13):
            self.op("SWAP", 2)   # 3.11-3.12: NULL below the callable; 3.13: above it
        if V < (3, 12):
            self.op("PRECALL", 0)
        self.op("CALL", 0)

    def tell(self, tag):
        """AGENT[(tag, TOS)]; TOS stays."""
        self.load_agent()
        self.load_const(tag)
        self.op("COPY", 3)
        self.op("BUILD_TUPLE", 2)
        self.op("BINARY_SUBSCR")
        self.op("POP_TOP")


# ----------------------------------------------------------------------------------------------
# What the instrumentation needs to know about a code object

_STORES_FAST = {OP[n] for n in ("STORE_FAST", "DELETE_FAST", "LOAD_FAST_AND_CLEAR",
                                "STORE_FAST_STORE_FAST", "STORE_FAST_LOAD_FAST") if n in OP}
_STORES_DEREF = {OP["STORE_DEREF"], OP["DELETE_DEREF"]}
_STORES_GLOBAL = {OP["STORE_GLOBAL"], OP["DELETE_GLOBAL"]}
_EXT = OP["EXTENDED_ARG"]
_CACHE_AFTER = bytes(caches(opcode.opname[i]) if opcode.opname[i] in OP else 0 for i in range(256))


def instructions(co_code):
    """(unit index, opcode, arg) with EXTENDED_ARG folded in; cache units skipped."""
    i = 0
    n = len(co_code)
    ext = 0
    while i < n:
        op = co_code[i]
        arg = co_code[i + 1] | ext
        start = i // 2
        i += 2
        if op == _EXT:
            ext = arg << 8
            continue
        ext = 0
        i += 2 * _CACHE_AFTER[op]
        yield start, op, arg


def _args_of(co, op):
    """The arguments of every `op` instruction in co_code (found with bytes.find, C-level)."""
    out = []
    needle = bytes((op,))
    i = co.find(needle)
    while i >= 0:
        if not i & 1:
            arg = co[i + 1]
            k = i
            shift = 8
            while k >= 2 and co[k - 2] == _EXT:   # EXTENDED_ARG prefixes (a cache unit is 0, 0)
                arg |= co[k - 1] << shift
                shift += 8
                k -= 2
            out.append(arg)
        i = co.find(needle, i + 1)
    return out


def rebound(code):
    """(localsplus indices of the parameters the body rebinds, names of the globals it assigns)."""
    co = code.co_code
    nparams = param_count(code)
    idx = set()
    if nparams:
        for name in ("STORE_FAST", "DELETE_FAST", "LOAD_FAST_AND_CLEAR", "STORE_DEREF", "DELETE_DEREF"):
            if name in OP:   # (a parameter that is also a cell keeps its varnames index)
                idx.update(a for a in _args_of(co, OP[name]) if a < nparams)
        for name in ("STORE_FAST_STORE_FAST", "STORE_FAST_LOAD_FAST"):
            if name in OP:
                for a in _args_of(co, OP[name]):
                    idx.update(x for x in ((a >> 4, a & 15) if name == "STORE_FAST_STORE_FAST" else (a >> 4,))
                               if x < nparams)
    gl = set()
    for name in ("STORE_GLOBAL", "DELETE_GLOBAL"):
        gl.update(code.co_names[a] for a in _args_of(co, OP[name]))
    return tuple(sorted(idx)), tuple(sorted(gl))


def stack_depths(code):
    """Stack depth before each instruction (unit index -> depth), by following control flow."""
    import dis
    instrs = list(dis.get_instructions(code))
    by_offset = {ins.offset // 2: k for k, ins in enumerate(instrs)}
    depth = {}
    work = [(0, 0)]
    for s, e, t, d, l in read_exception_table(code.co_exceptiontable):
        work.append((by_offset[t], d + l + 1))
    nojump = {OP[n] for n in ("RETURN_VALUE", "RERAISE", "RAISE_VARARGS", "JUMP_FORWARD", "JUMP_BACKWARD",
                              "JUMP_BACKWARD_NO_INTERRUPT", "RETURN_CONST", "JUMP") if n in OP}
    while work:
        k, d = work.pop()
        while k < len(instrs):
            ins = instrs[k]
            u = ins.offset // 2
            if u in depth:
                break
            depth[u] = d
            op = ins.opcode
            arg = ins.arg if ins.arg is not None else 0
            if op in dis.hasjrel or op in getattr(dis, "hasjabs", ()):
                tgt = ins.argval
                if isinstance(tgt, int) and tgt // 2 in by_offset:
                    work.append((by_offset[tgt // 2], d + dis.stack_effect(op, arg, jump=True)))
                if op in nojump:
                    break
                d += dis.stack_effect(op, arg, jump=False)
            else:
                if op in nojump:
                    break
                d += dis.stack_effect(op, arg) if op >= dis.HAVE_ARGUMENT else dis.stack_effect(op)
            k += 1
    return depth


# ----------------------------------------------------------------------------------------------
# The patch

def patch(code, kind, loop_lines=(), boot=None, enter=False):
    """Instrumented copy of `code`.  kind: 'function' (restartable), 'generator' (hook only) or
    'module' (main script; loop_lines: (first, last) line spans of the bodies of top-level for loops;
    boot: a module to import right after RESUME, before the first statement; enter: AGENT[ENTER]
    right after RESUME, 3.11 only: entryhooks.py).
    Returns (new code, facts): facts = (prologue units, appendix start unit, snapshot parameter
    indices, snapshot globals)."""
    if kind == "function" and code.co_flags & CO_GENERATOR_LIKE:
        kind = "generator"
    if boot:
        code = _import_first(code, boot)
    if enter:
        code = _enter_first(code)
    orig_table = read_exception_table(code.co_exceptiontable)
    co = code.co_code
    n = len(co) // 2
    pidx, gnames = rebound(code) if kind == "function" else ((), ())
    base = len(pidx) + len(gnames)   # the entry values, one stack slot each (no tuple per call)
    loop_units = _loop_units(code, loop_lines) if kind == "module" and loop_lines else []

    # the names and constants the additions use, at fixed indices
    names = list(code.co_names)
    consts = list(code.co_consts)
    idx = {}
    for k, name in enumerate(names):
        if name == AGENT:
            idx["agent"] = k
    if "agent" not in idx:
        idx["agent"] = len(names)
        names.append(AGENT)
    wanted = [None] + ([CONT] if kind == "module" else [RESTART, DONE] if kind == "function" else []) + \
        ([MISSING_MARK] if gnames else [])
    for c in wanted:   # (None and strings equal only themselves: list.index finds the right one)
        try:
            idx[c] = consts.index(c)
        except ValueError:
            idx[c] = len(consts)
            consts.append(c)

    # prologue (before RESUME: the frame is not traceable yet, and no jump can reach it)
    pro = Emitter(names, consts, 0)
    guarded = []   # (start, end, depth, resume unit) of each LOAD_GLOBAL
    for i in pidx:
        pro.op("LOAD_FAST", i)
    for k, g in enumerate(gnames):
        s = pro.here
        pro.load_global(g)
        guarded.append((s, pro.here, len(pidx) + k, pro.here))
    P = pro.here
    start = P + n
    entries = [(s + P, e + P, t + P, d + base, l) for s, e, t, d, l in orig_table]

    body, heads, bodies, cleanup, restart_from = _template(kind, base, bool(loop_units), idx)
    em = Emitter(pro.names, pro.consts, start + len(body) // 2)
    # globals unbound at entry: the prologue's NameError lands here, MISSING goes in its place
    for s, e, depth, resume in guarded:
        entries.append((s, e, em.here, depth, 0))
        em.op("POP_TOP")
        em.op("LOAD_CONST", idx[MISSING_MARK])
        em.jump_back(resume)
    end = em.here

    for s, e in uncovered(orig_table, n):
        s, e = s + P, e + P
        pos = s
        for a, b in loop_units:
            a, b = max(a + P, s), min(b + P, e)
            if a < b:
                if a > pos:
                    entries.append((pos, a, start + heads[0], base, 1))
                entries.append((a, b, start + heads[1], 1, 1))
                pos = b
        if pos < e:
            entries.append((pos, e, start + heads[0], base, 1))
    for a, b, keep_iter in bodies:
        entries.append((start + a, start + b, start + cleanup, (1 if keep_iter else base) + 2, 0))

    # line table: prologue at the location of the first instruction; the appendix without location
    # except the restart path, on the line of the first instruction (the def line)
    lt = code.co_linetable
    first_end = 1
    while first_end < len(lt) and not lt[first_end] & 0x80:
        first_end += 1
    u0, d0, e0, c0, ec0 = decode_location(lt[:first_end]) if lt else (1, 0, 0, None, None)
    if P:
        lt = encode_location(P, d0, e0, c0, ec0) + \
            encode_location(u0, 0 if d0 is not None else None, e0, c0, ec0) + lt[first_end:]
    units = len(body) // 2
    if restart_from < units and kind != "module":
        last = code.co_firstlineno
        for _, _, line in code.co_lines():
            if line is not None:
                last = line
        lt += _none_location(restart_from) + \
            encode_location(units - restart_from, code.co_firstlineno + (d0 or 0) - last)
    else:
        lt += _none_location(units)
    if end > start + units:
        lt += encode_location(end - start - units, None)

    need = 6 if loop_units else base + 4   # telling the agent; the restart path: base + max(base, 4)
    if base:
        need = max(need, 2 * base, base + 4)
    new = code.replace(co_code=bytes(pro.code) + co + body + bytes(em.code), co_consts=tuple(em.consts),
                       co_names=tuple(em.names), co_exceptiontable=write_exception_table(entries),
                       co_linetable=lt, co_stacksize=max(code.co_stacksize + base, need))
    return new, (P, start, pidx, gnames)


_TEMPLATES = {}
_NONE = {}
def _none_location(units):
    b = _NONE.get(units)
    if b is None:
        b = _NONE[units] = encode_location(units, None)
    return b


_SLOTS = {"agent": 100, None: 101, RESTART: 102, DONE: 103, CONT: 104}   # placeholder indices
_SHIFT = {OP["LOAD_GLOBAL"]: 1, OP["LOAD_ATTR"]: 1 if V >= (3, 12) else 0, OP["LOAD_CONST"]: 0}
_BY_SLOT = {v: k for k, v in _SLOTS.items()}


def _template(kind, base, with_loops, idx):
    """_appendix for these indices: built once per kind and snapshot size with placeholder indices,
    whose argument bytes are then set to the real ones (below 128: else it is built directly)."""
    if max(idx.get(k, 0) for k in _SLOTS) > 127:
        return _appendix(kind, base, with_loops, idx)
    key = (kind, base, with_loops)
    tpl = _TEMPLATES.get(key)
    if tpl is None:
        built = _appendix(kind, base, with_loops, _SLOTS)
        spots = []   # (byte offset of an argument, what it stands for, shift)
        for u, op, arg in instructions(built[0]):
            shift = _SHIFT.get(op)
            if shift is not None:
                spots.append((2 * u + 1, _BY_SLOT[arg >> shift], shift))
        tpl = _TEMPLATES[key] = (built, spots)
    (code, heads, bodies, cleanup, restart_from), spots = tpl
    out = bytearray(code)
    for pos, k, shift in spots:
        out[pos] = idx[k] << shift
    return bytes(out), heads, bodies, cleanup, restart_from


class _Fixed(Emitter):
    """An emitter whose names and constants are at indices decided beforehand."""

    def __init__(self, idx):
        Emitter.__init__(self, (), (), 0)
        self.idx = idx

    def name(self, n):
        return self.idx["agent"]

    def const(self, c):
        return self.idx.get(c, 0)


def _appendix(kind, base, with_loops, idx):
    """The handlers, the cleanup and the restart paths: the same bytes for every code object with
    the same kind, snapshot size and indices (only relative jumps inside).  Returns (bytes, handler
    heads, (from, to, keep_iter) of the calls to the agent, cleanup, start of the restart paths),
    offsets relative to the appendix."""
    em = _Fixed(idx)
    # Handler: [K, lasti, exc], K = the snapshot or a loop's iterator (kept) or nothing.  While the
    # agent is told, exc stays at its place: the cleanup entry can re-raise it whatever happens.
    variants = (False, True) if with_loops else (False,)
    heads = []
    bodies = []
    for tag, keep_iter in enumerate(variants):
        heads.append(em.here)
        body = em.here
        em.jump_if_agent_off("same%d" % tag)
        em.load_agent()
        em.op("COPY", 2)
        if kind == "module":
            if keep_iter:
                em.op("COPY", 5)
            else:
                em.load_const(None)
            em.op("BUILD_TUPLE", 2)
        em.op("BINARY_SUBSCR")                         # [K, lasti, exc, None]: the audit call
        em.op("POP_TOP")
        em.answer()                                    # [K, lasti, exc, res]
        bodies.append((body, em.here, keep_iter))
        if kind != "generator":
            em.op("COPY", 1)
            em.jump_forward_if(_JUMP_IF_NONE, "restart%d" % tag)
        em.op("COPY", 1)
        em.jump_forward_if(_JUMP_IF_FALSE, "pop%d" % tag)
        em.op("SWAP", 2)                               # res is an exception to raise instead
        em.mark("pop%d" % tag)
        em.op("POP_TOP")
        em.mark("same%d" % tag)
        em.op("RERAISE", 1)
    # telling the agent failed (a NameError while the interpreter exits, ...): the original goes on
    cleanup = em.here
    em.op("POP_TOP")
    em.op("RERAISE", 1)
    restart_from = em.here
    for tag, keep_iter in enumerate(variants):
        if kind == "generator":
            break
        em.mark("restart%d" % tag)
        em.op("POP_TOP")                               # None
        em.op("POP_TOP")                               # exc
        em.op("POP_TOP")                               # lasti
        if kind == "module":
            if not keep_iter:
                em.load_const(None)
            em.tell(CONT)                              # [it?, it-or-None]
            em.op("POP_TOP")
            em.answer()
            em.call0()
            em.op("POP_TOP")
            em.load_const(None)
            em.op("RETURN_VALUE")
        else:
            if base:
                for _ in range(base):
                    em.op("COPY", base)
                em.op("BUILD_TUPLE", base)
            else:
                em.load_const(None)
            em.tell(RESTART)                           # [S?, S-or-None]
            em.op("POP_TOP")
            em.answer()                                # [S?, call]
            em.call0()                                 # [S?, result]
            em.tell(DONE)
            em.op("RETURN_VALUE")
    em.resolve()
    return bytes(em.code), heads, bodies, cleanup, restart_from


def _import_first(code, module):
    """Module code that runs `import module` (the name is not bound) right after RESUME."""
    def emit(em):
        em.load_const(0)
        em.load_const(None)
        em.op("IMPORT_NAME", em.name(module))
        em.op("POP_TOP")
    return _after_resume(code, emit)


def _enter_first(code):
    """Function code that tells AGENT[ENTER] right after RESUME (before it, sys._getframe would not
    see the frame yet)."""
    def emit(em):
        em.load_agent()
        em.load_const(ENTER)
        em.op("BINARY_SUBSCR")
        em.op("POP_TOP")
    return _after_resume(code, emit)


def _after_resume(code, emit):
    """`code` with the instructions `emit` writes (no location, two stack slots at most) right after RESUME."""
    k = next(u for u, op, _ in instructions(code.co_code) if op == OP["RESUME"]) + 1
    em = Emitter(code.co_names, code.co_consts, k)
    emit(em)
    n = len(em.code) // 2
    table = [(s + (n if s >= k else 0), e + (n if e >= k else 0), t + (n if t >= k else 0), d, l)
             for s, e, t, d, l in read_exception_table(code.co_exceptiontable)]
    parts = _split_linetable(code.co_linetable)
    lt = bytearray()
    pos = 0
    done = False
    for part in parts:
        units, d, e, c, ec = decode_location(part)
        if not done and pos < k < pos + units:      # split the entry that spans the insertion point
            lt += encode_location(k - pos, d, e, c, ec)
            lt += encode_location(n, None)
            lt += encode_location(pos + units - k, 0 if d is not None else None, e, c, ec)
            done = True
        else:
            if not done and pos == k:
                lt += encode_location(n, None)
                done = True
            lt += part
        pos += units
    if not done:
        lt += encode_location(n, None)
    co = code.co_code
    return code.replace(co_code=co[:2 * k] + bytes(em.code) + co[2 * k:], co_names=tuple(em.names),
                        co_consts=tuple(em.consts), co_exceptiontable=write_exception_table(table),
                        co_linetable=bytes(lt), co_stacksize=max(code.co_stacksize, 2))


def _loop_units(code, loop_lines):
    """Unit ranges on the given lines where the loop's iterator is on the stack (depth >= 1)."""
    lines = unit_lines(code)
    depth = stack_depths(code)
    out = []
    cur = None
    d = 0
    for u, line in enumerate(lines):
        d = depth.get(u, d)
        inside = line is not None and d >= 1 and any(a <= line <= b for a, b in loop_lines)
        if inside and cur is None:
            cur = u
        elif not inside and cur is not None:
            out.append((cur, u))
            cur = None
    if cur is not None:
        out.append((cur, len(lines)))
    return out


def facts(code):
    """The facts `patch` returned, read back from patched code (None: not patched)."""
    names = code.co_names
    try:
        agent = names.index(AGENT)
    except ValueError:
        return None
    co = code.co_code
    lg = OP["LOAD_GLOBAL"]
    ours = sorted({t for _, _, t, _, _ in read_exception_table(code.co_exceptiontable)
                   if co[2 * t] == lg and co[2 * t + 1] >> 1 == agent})
    if not ours:
        return None
    params, gnames, P = [], [], 0
    for u, op, arg in instructions(co):   # the prologue: loads, before anything the compiler emits
        name = opcode.opname[op]
        if name == "LOAD_FAST" and not gnames:
            params.append(arg)
        elif name == "LOAD_GLOBAL":
            gnames.append(names[arg >> 1])
        else:
            P = u
            break
    return P, ours[0], tuple(params), tuple(gnames)
