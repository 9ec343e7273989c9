"""Bytecode instrumentation for Python 3.8-3.10 (exception handling by a runtime block stack).

The same contract as patch_zerocost (read that first), with the means of these versions: the
prologue ends with SETUP_FINALLY to a handler appended after the last instruction, so the handler
sees every exception that leaves the frame; the snapshot tuple, when there is one, sits below that
block for the frame's life and is popped before each RETURN_VALUE (3.9 and 3.10 would leak it).  The
code is decoded into instructions with symbolic jump targets and assembled again (EXTENDED_ARG
sizes to a fixed point); line numbers are carried over: 3.8/3.9 keep every line-table entry at the
new address of the instruction it marked, 3.10 keeps each instruction's line.  On 3.10 the handler
re-raises with RERAISE 1 (f_lasti goes back to the raising instruction); 3.8/3.9 have no way to do
that, so there a frame that an exception left reports its last line as f_lineno.

Skipped (left plain): code whose block stack could overflow with one more block.
"""
import dis
import sys

V = sys.version_info[:2]
OP = dis.opmap
EXT = OP["EXTENDED_ARG"]
UNIT = 2 if V >= (3, 10) else 1          # jump arguments count instructions on 3.10, bytes before
HASJREL = set(dis.hasjrel)
HASJABS = set(dis.hasjabs)
_SETUPS = {OP[n] for n in ("SETUP_FINALLY", "SETUP_WITH", "SETUP_ASYNC_WITH") if n in OP}
MAXBLOCKS = 20

from .hooknames import MISSING_MARK, AGENT, RESTART, DONE, CONT, ENTER, CO_GENERATOR_LIKE, param_count  # noqa: E402


class Ins:
    __slots__ = ("op", "arg", "target", "line", "anchor", "offset", "size")

    def __init__(self, op, arg=0, target=None, line=None, anchor=None):
        self.op = op
        self.arg = arg
        self.target = target    # Ins jumped to
        self.line = line        # 3.10: line number (None: no line)
        self.anchor = anchor    # the original Ins whose line-table position this one shares
        self.offset = 0
        self.size = 2


def _ins(name, arg=0, target=None):
    return Ins(OP[name], arg, target)


# ----------------------------------------------------------------------------------------------
# Decoding

def _lnotab_events(code):
    """3.8/3.9: [(byte offset, line increment)] for every nonzero increment (those start line ranges)."""
    tab = code.co_lnotab
    out = []
    addr = 0
    for i in range(0, len(tab), 2):
        addr += tab[i]
        incr = tab[i + 1]
        if incr >= 128:
            incr -= 256
        if incr:
            out.append((addr, incr))
    return out


def _line_of_offsets(code):
    """3.10: byte offset -> line (None: no line)."""
    tab = code.co_linetable
    out = {}
    line = code.co_firstlineno
    addr = 0
    for i in range(0, len(tab), 2):
        sd = tab[i]
        ld = tab[i + 1]
        if ld >= 128:
            ld -= 256
        if ld == -128:
            cur = None
        else:
            line += ld
            cur = line
        for a in range(addr, addr + sd):
            out[a] = cur
        addr += sd
    return out


def decode(code):
    co = code.co_code
    instrs = []
    ext = 0
    start = None
    for off in range(0, len(co), 2):
        op, arg = co[off], co[off + 1]
        if start is None:
            start = off
        if op == EXT:
            ext = (ext | arg) << 8
            continue
        ins = Ins(op, arg | ext)
        ins.offset = start
        ins.size = off + 2 - start
        instrs.append(ins)
        ext = 0
        start = None
    by_off = {i.offset: i for i in instrs}
    for i in instrs:
        if i.op in HASJREL:
            i.target = by_off[i.offset + i.size + i.arg * UNIT]
        elif i.op in HASJABS:
            i.target = by_off[i.arg * UNIT]
    if V >= (3, 10):
        lines = _line_of_offsets(code)
        for i in instrs:
            i.line = lines.get(i.offset + i.size - 2)
    for i in instrs:
        i.anchor = i
    return instrs, by_off


# ----------------------------------------------------------------------------------------------
# Assembling

def _size(arg):
    if arg < 0:
        raise ValueError("negative argument")
    n = 2
    while arg > 255:
        arg >>= 8
        n += 2
    return n


def assemble(instrs):
    for i in instrs:
        i.size = _size(i.arg) if i.target is None else 2
    while True:
        off = 0
        for i in instrs:
            i.offset = off
            off += i.size
        changed = False
        for i in instrs:
            if i.target is None:
                continue
            if i.op in HASJREL:
                i.arg = (i.target.offset - i.offset - i.size) // UNIT
            else:
                i.arg = i.target.offset // UNIT
            need = _size(i.arg)
            if need > i.size:
                i.size = need
                changed = True
        if not changed:
            break
    out = bytearray()
    for i in instrs:
        n = i.size // 2
        for k in range(n - 1, 0, -1):
            out += bytes((EXT, (i.arg >> (8 * k)) & 255))
        out += bytes((i.op, i.arg & 255))
    return bytes(out)


def _encode_lnotab(events):
    out = bytearray()
    prev = 0
    for addr, incr in events:
        d = addr - prev
        prev = addr
        while d > 255:
            out += bytes((255, 0))
            d -= 255
        while incr > 127 or incr < -128:
            step = 127 if incr > 0 else -128
            out += bytes((d, step & 255))
            d = 0
            incr -= step
        out += bytes((d, incr & 255))
    return bytes(out)


def _encode_linetable(instrs, firstlineno):
    out = bytearray()
    prev_line = firstlineno
    run_start = 0
    run_line = instrs[0].line if instrs else None
    pos = 0

    def emit(bdelta, line):
        nonlocal prev_line
        if bdelta == 0:
            return
        if line is None:
            ld = -128
        else:
            ld = line - prev_line
            prev_line = line
            while ld > 127:
                out.extend((0, 127))
                ld -= 127
            while ld < -127:
                out.extend((0, (-127) & 255))
                ld += 127
        while bdelta > 254:
            out.extend((254, ld & 255))
            ld = -128 if line is None else 0
            bdelta -= 254
        out.extend((bdelta, ld & 255))

    for i in instrs:
        if i.line != run_line:
            emit(pos - run_start, run_line)
            run_start = pos
            run_line = i.line
        pos += i.size
    emit(pos - run_start, run_line)
    return bytes(out)


# ----------------------------------------------------------------------------------------------
# What to snapshot

def rebound(code, instrs):
    """(('fast'|'deref', index) of the parameters the body rebinds, globals it assigns)."""
    nparams = param_count(code)
    params = code.co_varnames[:nparams]
    cells = code.co_cellvars
    out = set()
    gl = set()
    for i in instrs:
        name = dis.opname[i.op]
        if name in ("STORE_FAST", "DELETE_FAST") and i.arg < nparams:
            out.add(("fast", i.arg))
        elif name in ("STORE_DEREF", "DELETE_DEREF") and i.arg < len(cells) and cells[i.arg] in params:
            out.add(("deref", i.arg))
        elif name in ("STORE_GLOBAL", "DELETE_GLOBAL"):
            gl.add(code.co_names[i.arg])
    # in localsplus order (the order the restart reads them back in)
    def key(p):
        return params.index(code.co_varnames[p[1]] if p[0] == "fast" else cells[p[1]])
    return tuple(sorted(out, key=key)), tuple(sorted(gl))


def max_block_depth(code, instrs):
    """Upper bound of the runtime block stack (SETUP_* blocks, EXCEPT_HANDLER replaces one)."""
    setups = sum(1 for i in instrs if i.op in _SETUPS)
    if setups + 2 < MAXBLOCKS:
        return setups
    index = {id(i): k for k, i in enumerate(instrs)}
    pops = {OP["POP_BLOCK"], OP["POP_EXCEPT"]}
    seen = {}
    work = [(0, 0)]
    best = 0
    while work:
        k, d = work.pop()
        while k < len(instrs):
            if seen.get(k, -1) >= d:
                break
            seen[k] = d
            best = max(best, d)
            i = instrs[k]
            if i.op in _SETUPS:
                work.append((index[id(i.target)], d + 1))  # the handler runs under EXCEPT_HANDLER
                d += 1
            elif i.op in pops:
                d = max(0, d - 1)
            elif i.target is not None:
                work.append((index[id(i.target)], d))
                if dis.opname[i.op] in ("JUMP_ABSOLUTE", "JUMP_FORWARD"):
                    break
            if dis.opname[i.op] in ("RETURN_VALUE", "RAISE_VARARGS", "RERAISE"):
                break
            k += 1
    return best


# ----------------------------------------------------------------------------------------------
# The patch

class _Pool:
    def __init__(self, code):
        self.names = list(code.co_names)
        self.consts = list(code.co_consts)

    def name(self, n):
        if n not in self.names:
            self.names.append(n)
        return self.names.index(n)

    def const(self, c):
        for k, x in enumerate(self.consts):
            if type(x) is type(c) and x == c:
                return k
        self.consts.append(c)
        return len(self.consts) - 1


def _is(pool, value, target):
    """TOS is `value` ? jump to target (pops both compared values)."""
    out = [_ins("DUP_TOP"), _ins("LOAD_CONST", pool.const(value))]
    if V >= (3, 9):
        out.append(_ins("IS_OP", 0))
    else:
        out.append(_ins("COMPARE_OP", 8))
    out.append(_ins("POP_JUMP_IF_TRUE", target=target))
    return out


def _handler(pool, kind, snap, in_loop, L, def_line):
    """The appendix part an exception enters: [S?|iterator?, old tb/val/type, tb, val, type] under an
    EXCEPT_HANDLER block.  Returns (instructions, first instruction).  No line numbers, except the
    restart call of a function, shown on the def line in tracebacks through it."""
    out, head = _handler_code(pool, kind, snap, in_loop, L)
    call = next((k for k, i in enumerate(out) if dis.opname[i.op] == "CALL_FUNCTION"), len(out))
    for k, i in enumerate(out):
        i.line = def_line if k >= call and kind == "function" else None
        i.anchor = None
    return out, head


def _handler_code(pool, kind, snap, in_loop, L):
    reraise = L("RERAISE", 1) if V >= (3, 10) else L("RERAISE") if V >= (3, 9) else L("RAISE_VARARGS", 0)
    pop_reraise = L("POP_TOP")
    head = L("LOAD_GLOBAL", pool.name(AGENT))
    restart = L("POP_TOP")

    def answer():
        return [L("LOAD_GLOBAL", pool.name(AGENT)), L("LOAD_ATTR", pool.name(AGENT)),
                L("LOAD_ATTR", pool.name(AGENT))]

    def tell(tag):   # AGENT[(tag, TOS)], TOS stays
        return [L("DUP_TOP"), L("LOAD_GLOBAL", pool.name(AGENT)), L("LOAD_CONST", pool.const(tag)),
                L("ROT_THREE"), L("ROT_THREE"), L("BUILD_TUPLE", 2), L("BINARY_SUBSCR"), L("POP_TOP")]

    # a RecursionError (the agent object's item) is not told: no room left on the stack to call
    out = [head, L("POP_JUMP_IF_FALSE", target=reraise), L("DUP_TOP"), L("LOAD_GLOBAL", pool.name(AGENT)),
           L("UNPACK_SEQUENCE", 1)]
    if V >= (3, 9):
        tell_it = L("ROT_TWO")
        out += [L("JUMP_IF_NOT_EXC_MATCH", target=tell_it), L("JUMP_ABSOLUTE", target=reraise), tell_it]
    else:
        tell_it = L("ROT_TWO")
        out += [L("COMPARE_OP", 10), L("POP_JUMP_IF_TRUE", target=reraise), tell_it]
    # [.., tb, val, type] -> [.., tb, val, type, val]
    out += [L("DUP_TOP"), L("ROT_THREE")]
    if kind == "module":
        out += [L("LOAD_CONST", pool.const(in_loop)), L("BUILD_TUPLE", 2)]   # (exception, in a loop's body?)
    out += [L("LOAD_GLOBAL", pool.name(AGENT)), L("ROT_TWO"), L("BINARY_SUBSCR"), L("POP_TOP")]
    out += answer()
    # the answer: False = re-raise, None = restart, an exception = raise it instead
    if kind != "generator":
        out += [L("DUP_TOP"), L("LOAD_CONST", pool.const(None))]
        out.append(L("IS_OP", 0) if V >= (3, 9) else L("COMPARE_OP", 8))
        out.append(L("POP_JUMP_IF_TRUE", target=restart))
    out += [L("DUP_TOP"), L("POP_JUMP_IF_FALSE", target=pop_reraise), L("RAISE_VARARGS", 1), pop_reraise, reraise]
    if kind == "generator":
        return out, head
    out += [restart, L("POP_TOP"), L("POP_TOP"), L("POP_TOP"), L("POP_EXCEPT")]
    if kind == "module":
        if not in_loop:
            out.append(L("LOAD_CONST", pool.const(None)))
        out += tell(CONT) + [L("POP_TOP")] + answer() + [L("CALL_FUNCTION", 0), L("POP_TOP")]
        out += [L("LOAD_CONST", pool.const(None)), L("RETURN_VALUE")]
        return out, head
    out.append(L("DUP_TOP") if snap else L("LOAD_CONST", pool.const(None)))
    out += tell(RESTART) + [L("POP_TOP")] + answer() + [L("CALL_FUNCTION", 0)] + tell(DONE)
    if snap:
        out += [L("ROT_TWO"), L("POP_TOP")]
    out.append(L("RETURN_VALUE"))
    return out, head


def _insert_before(instrs, at, extra):
    """`extra` runs before instruction `at`: on its line, at its line-table place, and jumps to `at`
    land on the first of them."""
    for x in extra:
        x.line = at.line
        x.anchor = at
    for j in instrs:
        if j.target is at:
            j.target = extra[0]
    return extra


def _guard_loop(instrs, first_line, last_line, handler, L):
    """Put the body of the top-level for loop whose body spans those lines under a block that goes
    to `handler` (the iterator stays below it).  Returns (new instructions, stubs for the appendix),
    or None when the loop's shape is not the one expected (then it is left alone)."""
    index = {id(i): k for k, i in enumerate(instrs)}
    lines = _lines(instrs)
    start = next((k for k, i in enumerate(instrs) if lines[k] is not None and first_line <= lines[k] <= last_line), None)
    if start is None:
        return None
    fi = next((k for k in range(start - 1, -1, -1) if dis.opname[instrs[k].op] == "FOR_ITER"), None)
    if fi is None or instrs[fi].target is None:
        return None
    loop_head = instrs[fi]
    end = index[id(loop_head.target)]
    if not fi < start < end:
        return None
    inside = set(id(i) for i in instrs[start:end])
    for k, i in enumerate(instrs):
        t = i.target
        if t is not None and id(t) in inside and id(i) not in inside:
            return None                          # a jump into the body from outside it
    before = {}                                  # id(instruction) -> instructions to insert before it
    stubs = []
    for k in range(start, end):
        i = instrs[k]
        t = i.target
        if t is None or id(t) in inside:
            continue
        name = dis.opname[i.op]
        if t is loop_head:                       # next iteration (end of body, continue)
            if name in ("JUMP_ABSOLUTE", "JUMP_FORWARD"):
                before.setdefault(id(i), []).append(L("POP_BLOCK"))
            elif name.startswith("POP_JUMP_IF"):
                stub = [L("POP_BLOCK"), L("JUMP_ABSOLUTE", target=loop_head)]
                for x in stub:
                    x.line = i.line
                i.target = stub[0]
                stubs += stub
            else:
                return None
        elif name in ("JUMP_ABSOLUTE", "JUMP_FORWARD") and k > start and dis.opname[instrs[k - 1].op] == "POP_TOP":
            before.setdefault(id(instrs[k - 1]), []).append(L("POP_BLOCK"))   # break: before the iterator goes
        elif name.startswith("SETUP_") or name == "FOR_ITER":
            return None
        else:
            return None
    setup = L("SETUP_FINALLY", target=handler)
    setup.line = None
    setup.anchor = instrs[start - 1]             # 3.8/3.9: in the for line's range, so the body's first
    out = []                                     # line event comes after the block is set up
    for k, i in enumerate(instrs):
        if k == start:
            out.append(setup)
        if id(i) in before:
            out += _insert_before(instrs, i, before[id(i)])
        out.append(i)
    return out, stubs


def _lines(instrs):
    """Line of each instruction (3.8/3.9: from the anchors' line-table positions, see decode)."""
    return [i.line for i in instrs]


def patch(code, kind, loop_lines=(), boot=None, enter=False):
    """See patch_zerocost.patch. Returns (new code, facts) or (code, None) when left plain."""
    if kind == "function" and code.co_flags & CO_GENERATOR_LIKE:
        kind = "generator"
    instrs, by_off = decode(code)
    if V < (3, 10):
        _set_lines(code, instrs, by_off)
    depth = max_block_depth(code, instrs) if instrs else MAXBLOCKS
    if depth + 1 + (1 if loop_lines else 0) > MAXBLOCKS:
        return code, None
    pool = _Pool(code)
    params, gnames = rebound(code, instrs) if kind == "function" else ((), ())
    snap = bool(params or gnames)
    first = instrs[0]
    gen_start = V >= (3, 10) and dis.opname[first.op] == "GEN_START"
    body = instrs[1:] if gen_start else instrs
    entry = body[0]

    def L(name, arg=0, target=None, line=None):
        i = _ins(name, arg, target)
        i.line = line
        return i

    appendix, handler = _handler(pool, kind, snap, False, L, code.co_firstlineno)
    stubs = []
    if kind == "module":
        for a, b in loop_lines:
            loop_handler_code, loop_handler = _handler(pool, kind, False, True, L, None)
            guarded = _guard_loop(body, a, b, loop_handler, L)
            if guarded is not None:
                body, extra = guarded
                stubs += extra
                appendix += loop_handler_code
    prologue = []
    for kind_, idx in params:
        prologue.append(L("LOAD_FAST" if kind_ == "fast" else "LOAD_DEREF", idx))
    guard_handlers = []   # (handler, index in prologue of the instruction after the guard)
    for g in gnames:
        h = L("POP_TOP")
        prologue += [L("SETUP_FINALLY", target=h), L("LOAD_GLOBAL", pool.name(g)), L("POP_BLOCK")]
        guard_handlers.append((h, len(prologue)))
    if snap:
        prologue.append(L("BUILD_TUPLE", len(params) + len(gnames)))
    if boot:
        prologue += [L("LOAD_CONST", pool.const(0)), L("LOAD_CONST", pool.const(None)),
                     L("IMPORT_NAME", pool.name(boot)), L("POP_TOP")]
    if enter:
        prologue += [L("LOAD_GLOBAL", pool.name(AGENT)), L("LOAD_CONST", pool.const(ENTER)),
                     L("BINARY_SUBSCR"), L("POP_TOP")]
    prologue.append(L("SETUP_FINALLY", target=handler))
    for i in prologue:
        # 3.10: no line, so the first line event comes after SETUP_FINALLY (as plain, where a jump
        # from the first line starts inside the function's only block); 3.8/3.9 have no way to say
        # "no line": the prologue belongs to the first line's range.
        i.line = None
        i.anchor = entry
    for h, after in guard_handlers:           # a global unbound at entry: MISSING in its place
        guard = [h, L("POP_TOP"), L("POP_TOP"), L("POP_EXCEPT"),
                 L("LOAD_CONST", pool.const(MISSING_MARK)), L("JUMP_ABSOLUTE", target=prologue[after])]
        for i in guard:
            i.line = None
        appendix += guard
    appendix += stubs

    # the snapshot leaves the stack before every return (3.9/3.10 would leak it)
    out = [first] if gen_start else []
    for i in body:
        if snap and dis.opname[i.op] == "RETURN_VALUE":
            out += _insert_before(instrs, i, [L("ROT_TWO"), L("POP_TOP")])
        out.append(i)
    if gen_start:
        new_instrs = out[:1] + prologue + out[1:] + appendix
    else:
        new_instrs = prologue + out + appendix
    co_code = assemble(new_instrs)
    base = 1 if snap else 0
    need = max(base + 9, len(params) + len(gnames) + 7, 10 if stubs or kind == "module" else 0)
    replace = dict(co_code=co_code, co_names=tuple(pool.names), co_consts=tuple(pool.consts),
                   co_stacksize=max(code.co_stacksize + base, need))
    if V >= (3, 10):
        replace["co_linetable"] = _encode_linetable(new_instrs, code.co_firstlineno)
    else:
        at = {}
        for i in new_instrs:
            if i.anchor is not None and id(i.anchor) not in at:
                at[id(i.anchor)] = i.offset
        events = []
        for addr, incr in _lnotab_events(code):
            orig = by_off.get(addr)
            events.append((len(co_code) if orig is None else at[id(orig)], incr))
        replace["co_lnotab"] = _encode_lnotab(events)
    return code.replace(**replace), (0, handler.offset // 2, params, gnames)


def _set_lines(code, instrs, by_off):
    """3.8/3.9: each instruction's line, from the line table (used to find loop bodies)."""
    events = dict()
    line = code.co_firstlineno
    addr = 0
    tab = code.co_lnotab
    marks = []
    for k in range(0, len(tab), 2):
        addr += tab[k]
        incr = tab[k + 1] - 256 if tab[k + 1] >= 128 else tab[k + 1]
        line += incr
        marks.append((addr, line))
    del events
    cur = code.co_firstlineno
    m = 0
    for i in instrs:
        while m < len(marks) and marks[m][0] <= i.offset:
            cur = marks[m][1]
            m += 1
        i.line = cur


def facts(code):
    """See patch_zerocost.facts (3.8-3.10: no first re-raises; prologue units are 0)."""
    if AGENT not in code.co_names:
        return None
    instrs, _ = decode(code)
    params = []
    gnames = []
    setup = None
    hook = 0
    for i in instrs:
        name = dis.opname[i.op]
        if hook:
            hook -= 1
        elif name in ("LOAD_FAST", "LOAD_DEREF") and not gnames:
            params.append(("fast" if name == "LOAD_FAST" else "deref", i.arg))
        elif name == "LOAD_GLOBAL" and code.co_names[i.arg] == AGENT:
            hook = 3   # AGENT[ENTER] (LOAD_GLOBAL, LOAD_CONST, BINARY_SUBSCR, POP_TOP): a variant's (entryhooks.py)
        elif name == "LOAD_GLOBAL":
            gnames.append(code.co_names[i.arg])
        elif name in ("POP_BLOCK", "BUILD_TUPLE", "GEN_START", "IMPORT_NAME", "POP_TOP") or \
                (name == "LOAD_CONST" and setup is None):
            continue
        elif name == "SETUP_FINALLY":
            setup = i
            if i.target is not None and dis.opname[i.target.op] == "LOAD_GLOBAL" and \
                    code.co_names[i.target.arg] == AGENT:
                break
        else:
            return None
    if setup is None or setup.target is None:
        return None
    return 0, setup.target.offset // 2, tuple(params), tuple(gnames)
