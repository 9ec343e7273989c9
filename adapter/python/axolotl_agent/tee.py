"""The bounded tail of what the program writes to stdout/stderr, for crash reports (only with an
engine: the streams are then thin proxies that record what goes through them)."""
import sys

from .state import S

TAIL_BYTES = 4096


class OutputTail:
    def __init__(self):
        self.parts = []
        self.size = 0

    def add(self, s):
        if not isinstance(s, str):
            return
        self.parts.append(s)
        self.size += len(s)
        if self.size > 2 * TAIL_BYTES:
            joined = "".join(self.parts)[-TAIL_BYTES:]
            self.parts = [joined]
            self.size = len(joined)

    def text(self):
        return "".join(self.parts)[-TAIL_BYTES:]


class TeeStream:
    """Thin proxy over sys.stdout/sys.stderr that records what is written; everything else
    (flush, buffer, fileno, encoding, isatty...) is delegated, so buffering is unchanged."""

    def __init__(self, stream, tail):
        object.__setattr__(self, "_axl_stream", stream)
        object.__setattr__(self, "_axl_tail", tail)

    def write(self, s):
        n = self._axl_stream.write(s)
        try:
            self._axl_tail.add(s)
        except Exception:
            pass
        return n

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def __getattr__(self, name):
        return getattr(self._axl_stream, name)

    def __setattr__(self, name, value):
        setattr(self._axl_stream, name, value)

    def __iter__(self):
        return iter(self._axl_stream)


def install():
    tail = OutputTail()
    S.tail = tail
    if sys.stdout is not None:
        sys.stdout = TeeStream(sys.stdout, tail)
    if sys.stderr is not None:
        sys.stderr = TeeStream(sys.stderr, tail)
