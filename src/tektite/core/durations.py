"""Go ``time.ParseDuration`` / ``Duration.String`` for Tekton timeouts ("1h30m", "90s", "0")."""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds in a Go duration string. Raises :class:`DurationError` when malformed."""
    s = text.strip()
    if not s:
        raise DurationError("empty duration")
    sign = 1.0
    if s[0] in "+-":
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(s):
        m = _PART.match(s, pos)
        if not m:
            raise DurationError(f'invalid duration "{text}" (examples: "1h", "30m", "1h30m", "90s", "0")')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String``: 3600 -> "1h0m0s", 90 -> "1m30s", 0 -> "0s"."""
    if seconds == 0:
        return "0s"
    neg = seconds < 0
    seconds = abs(seconds)
    if seconds < 1:
        for unit, scale in (("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
            if seconds >= scale:
                out = f"{seconds / scale:.9f}".rstrip("0").rstrip(".") + unit
                return ("-" if neg else "") + out
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    secs = f"{s:.9f}".rstrip("0").rstrip(".")
    if h:
        out = f"{int(h)}h{int(m)}m{secs}s"
    elif m:
        out = f"{int(m)}m{secs}s"
    else:
        out = f"{secs}s"
    return ("-" if neg else "") + out
