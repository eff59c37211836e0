"""What Go's ``json.Marshal`` writes for decoded JSON (``interface{}``) values.

Triggers decodes event bodies into ``interface{}``: objects become maps (marshalled with sorted
keys), every number becomes a float64 (``1503`` stays ``1503``, ``2.0`` prints as ``2``), and
strings are HTML-escaped (``<`` -> ``\\u003c``). A binding such as ``$(body.repository)`` puts
exactly that text into a param, so tektite writes the same bytes.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

_HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_HTML_RE = re.compile("[<>&\u2028\u2029]")


def go_float(value: float) -> str:
    """``strconv.FormatFloat`` as ``encoding/json`` uses it: shortest digits, exponent outside 1e-6..1e21."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"json: unsupported value: {value}")
    if value == 0:
        return "0"
    mag = abs(value)
    if mag < 1e-6 or mag >= 1e21:
        text = repr(value)  # Python's shortest repr uses the same mantissa digits as Go's 'e' format
        if "e" not in text:
            text = f"{value:e}"
        mant, _, exp = text.partition("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        if len(digits) < 2 and sign == "+":
            digits = digits.rjust(2, "0")
        return f"{mant}e{sign}{digits}"
    if value == int(value):
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def _string(value: str) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return _HTML_RE.sub(lambda m: _HTML_ESCAPES[m.group(0)], text)


def marshal(value: Any) -> str:
    """Go's ``json.Marshal`` of a decoded-JSON value: compact, sorted keys, numbers as float64."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 2**53 else go_float(float(value))
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        items = sorted((str(k), v) for k, v in value.items())
        return "{" + ",".join(f"{_string(k)}:{marshal(v)}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(marshal(v) for v in value) + "]"
    if isinstance(value, bytes):
        import base64

        return _string(base64.b64encode(value).decode())
    raise ValueError(f"json: unsupported type: {type(value).__name__}")
