"""Mask secret values in step output before anything stores or prints it.

Every value of a Secret the run references is replaced by ``***``; for a multi-line value
(a PEM key, a kubeconfig) each of its lines is masked on its own too, because tools often
print such values line by line. Output arrives in arbitrary chunks, so a secret may be split
between two reads: :class:`StreamMasker` holds back the tail of a chunk that could be the
start of a secret until the next chunk (or the end of the stream) decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = b"***"


def secret_patterns(values: Iterable[str]) -> list[bytes]:
    """The byte strings to mask: each value and each non-blank line of multi-line values.

    Longest first, so a value that contains another one is masked whole. Blank values and
    blank lines are skipped (masking "" or whitespace would destroy every log).
    """
    out: set[bytes] = set()
    for value in values:
        if not value or not value.strip():
            continue
        out.add(value.encode())
        stripped = value.strip()
        out.add(stripped.encode())
        if "\n" in stripped or "\r" in stripped:
            for line in stripped.splitlines():
                line = line.strip()
                if line:
                    out.add(line.encode())
    return sorted(out, key=lambda b: (-len(b), b))


class Masker:
    """Replaces every secret in a complete piece of text by ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.patterns = secret_patterns(secrets)
        self._regex = re.compile(b"|".join(re.escape(p) for p in self.patterns)) if self.patterns else None
        self.longest = max((len(p) for p in self.patterns), default=0)

    def __bool__(self) -> bool:
        return self._regex is not None

    def mask(self, data: bytes) -> bytes:
        if self._regex is None:
            return data
        return self._regex.sub(MASK, data)

    def held_tail(self, data: bytes) -> int:
        """Length of the longest suffix of ``data`` that is a proper prefix of some secret."""
        if not self.patterns or not data:
            return 0
        limit = min(self.longest - 1, len(data))
        for n in range(limit, 0, -1):
            tail = data[-n:]
            if any(len(p) > n and p.startswith(tail) for p in self.patterns):
                return n
        return 0


class StreamMasker:
    """Masks one output stream chunk by chunk without ever letting a split secret through."""

    def __init__(self, masker: Masker) -> None:
        self.masker = masker
        self._pending = b""

    def feed(self, chunk: bytes) -> bytes:
        """Returns what can be released now; keeps a possible secret prefix for later."""
        if not self.masker:
            return chunk
        data = self.masker.mask(self._pending + chunk)
        hold = self.masker.held_tail(data)
        if hold:
            self._pending = data[-hold:]
            return data[:-hold]
        self._pending = b""
        return data

    def flush(self) -> bytes:
        """End of stream: release what is left (it did not turn out to be a secret)."""
        data, self._pending = self._pending, b""
        return self.masker.mask(data)
