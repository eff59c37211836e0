"""The data-only CEL extension functions (cel-go's ext libraries and Triggers' string helpers).

cel-python dispatches ``x.f(a)`` and ``f(x, a)`` to the same function by name. Namespaced calls
(``base64.decode(s)``, ``sets.contains(a, b)``, ``math.greatest(...)``, ``strings.quote(s)``) are
method calls on a namespace sentinel bound as a variable; each dispatcher below checks for it.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Callable
from typing import Any

from celpy import celtypes as t
from celpy.evaluation import CELEvalError, function_contains

from tektite.triggers.bindings import canonical_header


def error(message: str) -> CELEvalError:
    return CELEvalError(message)


class Namespace(t.MapType):
    """``base64``, ``sets``, ``math``, ``strings``: receivers of namespaced function calls."""

    def __init__(self, name: str) -> None:
        super().__init__({})
        self.ns = name

    def __repr__(self) -> str:
        return f"Namespace({self.ns})"


NAMESPACES: dict[str, Namespace] = {n: Namespace(n) for n in ("base64", "sets", "math", "strings")}


def _ns(obj: Any, name: str) -> bool:
    return isinstance(obj, Namespace) and obj.ns == name


def header_get(header: Any, key: str) -> str:
    """``http.Header.Get``: the first value under the canonical form of ``key``, or ``""``."""
    if not isinstance(header, dict):
        return ""
    values = header.get(t.StringType(canonical_header(key))) or []
    return str(values[0]) if values else ""


# -- Triggers' string helpers -------------------------------------------------------------------


def truncate(value: Any, n: Any) -> Any:
    if not isinstance(value, str) or not isinstance(n, int | float):
        return error("no such overload: truncate(string, int)")
    return t.StringType(str(value)[: max(int(n), 0)])


def split(value: Any, sep: Any, n: Any = None) -> Any:
    if not isinstance(value, str) or not isinstance(sep, str):
        return error("no such overload: split(string, string)")
    limit = -1 if n is None else int(n)
    if limit == 0:
        return t.ListType([])
    if sep == "":  # Go splits on "" into characters
        chars = list(str(value))
        parts = (
            chars if limit < 0 or limit >= len(chars) else [*chars[: limit - 1], "".join(chars[limit - 1 :])]
        )
    else:
        parts = str(value).split(str(sep), limit - 1) if limit > 0 else str(value).split(str(sep))
    return t.ListType([t.StringType(p) for p in parts])


def join(values: Any, sep: Any = "") -> Any:
    if not isinstance(values, list):
        return error("no such overload: join(list(string), string)")
    return t.StringType(str(sep).join(str(v) for v in values))


def decodeb64(value: Any) -> Any:
    try:
        return t.StringType(base64.b64decode(str(value), validate=True).decode("utf-8", errors="replace"))
    except (binascii.Error, ValueError) as exc:
        return error(f"failed to decode '{value}' in decodeB64: {exc}")


def first(values: Any) -> Any:
    if not isinstance(values, list):
        return error("no such overload: first(list)")
    return values[0] if values else error("first() called on an empty list")


def last(values: Any) -> Any:
    if not isinstance(values, list):
        return error("no such overload: last(list)")
    return values[-1] if values else error("last() called on an empty list")


def _go_replacement(repl: str) -> str:
    """Go's ``$1`` / ``${name}`` template -> Python's ``\\g<1>``."""
    repl = repl.replace("\\", "\\\\")
    return re.sub(
        r"\$(\{(\w+)\}|(\w+))", lambda m: f"\\g<{m.group(2) or m.group(3)}>", repl.replace("$$", "\0")
    )


def translate(value: Any, pattern: Any, repl: Any) -> Any:
    try:
        rx = re.compile(str(pattern))
        out = rx.sub(_go_replacement(str(repl)), str(value))
    except (re.error, IndexError) as exc:
        return error(f"translate: {exc}")
    return t.StringType(out.replace("\0", "$"))


# -- cel-go ext: strings ------------------------------------------------------------------------


def lower_ascii(value: Any) -> Any:
    return t.StringType("".join(c.lower() if c.isascii() else c for c in str(value)))


def upper_ascii(value: Any) -> Any:
    return t.StringType("".join(c.upper() if c.isascii() else c for c in str(value)))


def replace(value: Any, old: Any, new: Any, n: Any = -1) -> Any:
    return t.StringType(str(value).replace(str(old), str(new), int(n)))


def char_at(value: Any, i: Any) -> Any:
    s, idx = str(value), int(i)
    if idx < 0 or idx > len(s):
        return error(f"index out of range: {idx}")
    return t.StringType(s[idx] if idx < len(s) else "")


def index_of(value: Any, sub: Any, start: Any = 0) -> Any:
    s, begin = str(value), int(start)
    if begin < 0 or begin > len(s):
        return error(f"index out of range: {begin}")
    return t.IntType(s.find(str(sub), begin))


def last_index_of(value: Any, sub: Any, end: Any = None) -> Any:
    s = str(value)
    stop = len(s) if end is None else int(end)
    if stop < 0 or stop > len(s):
        return error(f"index out of range: {stop}")
    return t.IntType(s.rfind(str(sub), 0, stop + len(str(sub))))


def substring(value: Any, start: Any, end: Any = None) -> Any:
    s = str(value)
    a, b = int(start), len(s) if end is None else int(end)
    if a < 0 or a > len(s) or b < a or b > len(s):
        return error(f"substring: index out of range [{a}:{b}] of a string of length {len(s)}")
    return t.StringType(s[a:b])


def trim(value: Any) -> Any:
    return t.StringType(str(value).strip())


def reverse(value: Any) -> Any:
    return t.StringType(str(value)[::-1])


_FORMAT = re.compile(r"%(?:\.(\d+))?([sdfeEbxXo%])")


def str_format(template: Any, args: Any) -> Any:
    values = list(args) if isinstance(args, list) else [args]
    pos = 0

    def one(m: re.Match[str]) -> str:
        nonlocal pos
        prec, verb = m.group(1), m.group(2)
        if verb == "%":
            return "%"
        if pos >= len(values):
            raise IndexError(f"format: not enough arguments for {m.group(0)}")
        v = values[pos]
        pos += 1
        if verb == "s":
            return _format_s(v)
        if verb == "d":
            return str(int(v))
        if verb in "fF":
            return f"{float(v):.{int(prec) if prec else 6}f}"
        if verb in "eE":
            return f"{float(v):.{int(prec) if prec else 6}{verb}}"
        base = {"b": "b", "x": "x", "X": "X", "o": "o"}[verb]
        if isinstance(v, str | bytes):
            data = v.encode() if isinstance(v, str) else bytes(v)
            return data.hex() if verb == "x" else data.hex().upper()
        return format(int(v), base)

    try:
        return t.StringType(_FORMAT.sub(one, str(template)))
    except (IndexError, ValueError, TypeError) as exc:
        return error(str(exc))


def _format_s(v: Any) -> str:
    if isinstance(v, t.BoolType):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(_format_s(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_format_s(k)}:{_format_s(x)}" for k, x in v.items()) + "}"
    if v is None:
        return "null"
    return str(v)


def quote(value: Any) -> str:
    out = ['"']
    for ch in str(value):
        out.append({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}.get(ch, ch))
    out.append('"')
    return "".join(out)


# -- lists ------------------------------------------------------------------------------------------


def list_slice(values: Any, start: Any, end: Any) -> Any:
    if not isinstance(values, list):
        return error("no such overload: slice(list, int, int)")
    a, b = int(start), int(end)
    if a < 0 or b < a or b > len(values):
        return error(f"slice: index out of range [{a}:{b}] of a list of length {len(values)}")
    return t.ListType(values[a:b])


def flatten(values: Any, depth: Any = 1) -> Any:
    def flat(items: list[Any], d: int) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, list) and d > 0:
                out.extend(flat(item, d - 1))
            else:
                out.append(item)
        return out

    if not isinstance(values, list):
        return error("no such overload: flatten(list)")
    return t.ListType(flat(list(values), int(depth)))


# -- namespaced dispatchers ------------------------------------------------------------------------


def _numbers(args: tuple[Any, ...]) -> list[Any]:
    return list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)


_MATH: dict[str, Callable[..., Any]] = {
    "greatest": lambda *a: max(_numbers(a)),
    "least": lambda *a: min(_numbers(a)),
    "ceil": lambda x: t.DoubleType(math.ceil(x)),
    "floor": lambda x: t.DoubleType(math.floor(x)),
    "round": lambda x: t.DoubleType(math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)),
    "trunc": lambda x: t.DoubleType(math.trunc(x)),
    "abs": lambda x: type(x)(abs(x)),
    "sign": lambda x: type(x)((x > 0) - (x < 0)),
    "isInf": lambda x: t.BoolType(math.isinf(x)),
    "isNaN": lambda x: t.BoolType(math.isnan(x)),
    "isFinite": lambda x: t.BoolType(math.isfinite(x)),
}

_SETS: dict[str, Callable[[Any, Any], Any]] = {
    "contains": lambda a, b: t.BoolType(all(x in a for x in b)),
    "equivalent": lambda a, b: t.BoolType(all(x in a for x in b) and all(x in b for x in a)),
    "intersects": lambda a, b: t.BoolType(any(x in a for x in b)),
}


def _b64encode(value: Any) -> Any:
    data = bytes(value) if isinstance(value, bytes) else str(value).encode()
    return t.StringType(base64.b64encode(data).decode())


def _b64decode(value: Any) -> Any:
    text = str(value)
    try:
        return t.BytesType(base64.b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, ValueError) as exc:
        return error(f"base64.decode: {exc}")


def _dispatch(name: str, fallback: Callable[..., Any] | None = None) -> Callable[..., Any]:
    def call(obj: Any, *args: Any) -> Any:
        if _ns(obj, "math") and name in _MATH:
            try:
                return _MATH[name](*args)
            except (TypeError, ValueError) as exc:
                return error(f"math.{name}: {exc}")
        if _ns(obj, "sets") and name in _SETS:
            return _SETS[name](*args)
        if _ns(obj, "base64") and name in ("encode", "decode"):
            return _b64encode(*args) if name == "encode" else _b64decode(*args)
        if _ns(obj, "strings") and name == "quote":
            return t.StringType(quote(*args))
        if fallback is not None and not isinstance(obj, Namespace):
            return fallback(obj, *args)
        return error(f"no such overload: {name}")

    return call


DISPATCH: dict[str, Callable[..., Any]] = {
    name: _dispatch(name, function_contains if name == "contains" else None)
    for name in {*_MATH, *_SETS, "encode", "decode", "quote"}
}

STRINGS: dict[str, Callable[..., Any]] = {
    "truncate": truncate,
    "split": split,
    "join": join,
    "decodeb64": decodeb64,
    "first": first,
    "last": last,
    "translate": translate,
    "lowerAscii": lower_ascii,
    "upperAscii": upper_ascii,
    "replace": replace,
    "charAt": char_at,
    "indexOf": index_of,
    "lastIndexOf": last_index_of,
    "substring": substring,
    "trim": trim,
    "reverse": reverse,
    "format": str_format,
    "slice": list_slice,
    "flatten": flatten,
}
