"""Go's ``encoding/json`` output, ``time.Duration`` strings and Kubernetes timestamps, in Python.

Chains builds provenance from Go structs: what ends up in a statement is what ``json.Marshal``
writes. Byproduct ``content`` is base64 of those exact bytes, so the encoding has to match
byte for byte: compact separators, map keys sorted (struct fields keep the order they were
normalized in), and Go's HTML-safe escaping of ``<``, ``>``, ``&``, U+2028 and U+2029.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "format_duration",
    "format_timestamp",
    "go_json_bytes",
    "parse_duration",
    "parse_timestamp",
]

_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_HTML_RE = re.compile("[<>&\u2028\u2029]")


def go_json_bytes(value: Any) -> bytes:
    """``json.Marshal(value)``: compact, HTML-escaped, UTF-8. Dict order is kept as given."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _HTML_RE.sub(lambda m: _HTML_ESCAPES[m.group(0)], text).encode("utf-8")


# -- time.Duration -------------------------------------------------------------------------------

_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """``time.ParseDuration``: ``"1h30m"`` -> nanoseconds. Raises ``ValueError`` when invalid."""
    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise ValueError(f"invalid duration {text!r}")
    total = 0
    pos = 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}")
        number, unit = m.group(1), m.group(2)
        whole, _, frac = number.partition(".")
        scale = _NS[unit]
        total += int(whole or "0") * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = m.end()
    return -total if neg else total


def _frac(value: int, prec: int) -> tuple[str, int]:
    """Go's ``fmtFrac``: the fractional digits of ``value`` (``prec`` of them), zeros trimmed."""
    digits = ""
    printed = False
    for _ in range(prec):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        value //= 10
    return ("." + digits if printed else ""), value


def format_duration(ns: int) -> str:
    """``time.Duration.String()``: 3600e9 -> ``"1h0m0s"``, 1.5e6 -> ``"1.5ms"``."""
    neg = ns < 0
    u = -ns if neg else ns
    if u < 10**9:
        if u == 0:
            return "0s"
        if u < 1_000:
            text = f"{u}ns"
        elif u < 1_000_000:
            frac, whole = _frac(u, 3)
            text = f"{whole}{frac}µs"
        else:
            frac, whole = _frac(u, 6)
            text = f"{whole}{frac}ms"
    else:
        frac, secs = _frac(u, 9)
        text = f"{secs % 60}{frac}s"
        mins = secs // 60
        if mins > 0:
            text = f"{mins % 60}m" + text
            hours = mins // 60
            if hours > 0:
                text = f"{hours}h" + text
    return "-" + text if neg else text


# -- metav1.Time / RFC 3339 ----------------------------------------------------------------------

_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_timestamp(text: str) -> tuple[datetime, int]:
    """RFC 3339 -> (UTC datetime to the second, nanoseconds). Raises ``ValueError`` when invalid."""
    m = _RFC3339.match(text)
    if not m:
        raise ValueError(f"invalid RFC 3339 time {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac = m.group(7)
    nanos = int((frac[1:] + "000000000")[:9]) if frac else 0
    zone = m.group(8)
    if zone in ("Z", "z"):  # already UTC: the common case
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC), nanos
    offset = zone
    stamp = datetime.fromisoformat(
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}{offset}"
    )
    return stamp.astimezone(UTC), nanos


def format_timestamp(stamp: datetime, nanos: int = 0, *, proto: bool = False) -> str:
    """RFC 3339 in UTC with the fraction Go prints.

    ``time.RFC3339Nano`` trims trailing zeros; protojson's ``Timestamp`` prints 0, 3, 6 or 9 digits.
    """
    if stamp.tzinfo is not UTC:
        stamp = stamp.astimezone(UTC)
    if stamp.year >= 1000:  # strftime leaves smaller years unpadded
        base = f"{stamp.year}-{stamp.month:02d}-{stamp.day:02d}T{stamp.hour:02d}:{stamp.minute:02d}:{stamp.second:02d}"
    else:
        base = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        digits = f"{nanos:09d}"
        if proto:
            base += "." + (
                digits[:3] if nanos % 1_000_000 == 0 else digits[:6] if nanos % 1_000 == 0 else digits
            )
        else:
            base += "." + digits.rstrip("0")
    return base + "Z"
