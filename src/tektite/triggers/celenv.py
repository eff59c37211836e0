"""CEL for Triggers, on cel-python: the variables and extension functions of ``cel_expressions.md``.

Variables: ``body`` (JSON numbers are doubles, as in Triggers), ``header`` (canonical name -> list
of values), ``requestURL``, ``extensions``. Functions: Triggers' own (``match``, ``canonical``,
``truncate``, ``split``, ``join``, ``decodeb64``, ``compareSecret``, ``parseJSON``, ``parseYAML``,
``parseURL``, ``marshalJSON``, ``first``, ``last``, ``translate``) and cel-go's extension libraries
(strings: ``lowerAscii``, ``upperAscii``, ``replace``, ``charAt``, ``indexOf``, ``lastIndexOf``,
``substring``, ``trim``, ``reverse``, ``format``, ``strings.quote``; encoders: ``base64.encode``,
``base64.decode``; sets: ``sets.contains``, ``sets.equivalent``, ``sets.intersects``; lists:
``slice``, ``flatten``; math: ``math.greatest``, ``math.least``, ``math.ceil`` ...).
"""

from __future__ import annotations

import base64
import functools
import hmac
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from tektite.triggers import celfuncs as f
from tektite.triggers.bindings import canonical_header
from tektite.triggers.gojson import marshal

__all__ = ["CELError", "activation", "evaluate", "to_cel", "to_native"]


class CELError(ValueError):
    """A CEL expression failed to compile or evaluate (the message never carries request data)."""


_LOCK = threading.Lock()


@functools.cache
def _environment() -> Any:
    import celpy  # imported lazily: building its parser takes a moment

    return celpy.Environment()


@functools.lru_cache(maxsize=512)
def _compile(expression: str) -> Any:
    from celpy.celparser import CELParseError

    try:
        return _environment().compile(expression)
    except CELParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise CELError(f"failed to parse expression {expression!r}: {first}") from None


def _clean(exc: BaseException) -> str:
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    return text.split(" (in activation", 1)[0]


def to_cel(value: Any) -> Any:
    """Decoded JSON -> CEL values, every number a double (Triggers decodes JSON numbers as float64)."""
    from celpy import celtypes as t

    if value is None:
        return None
    if isinstance(value, bool):
        return t.BoolType(value)
    if isinstance(value, int | float):
        return t.DoubleType(float(value))
    if isinstance(value, str):
        return t.StringType(value)
    if isinstance(value, bytes):
        return t.BytesType(value)
    if isinstance(value, list | tuple):
        return t.ListType([to_cel(v) for v in value])
    if isinstance(value, dict):
        return t.MapType({t.StringType(str(k)): to_cel(v) for k, v in value.items()})
    return value


def to_native(value: Any) -> Any:
    """CEL values -> JSON-able Python (bytes become base64, as Go's JSON encoder writes them)."""
    from celpy import celtypes as t

    if value is None or isinstance(value, t.NullType):
        return None
    if isinstance(value, t.BoolType):
        return bool(value)
    if isinstance(value, t.IntType | t.UintType):
        return int(value)
    if isinstance(value, t.DoubleType):
        return float(value)
    if isinstance(value, t.StringType):
        return str(value)
    if isinstance(value, t.BytesType):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, t.ListType):
        return [to_native(v) for v in value]
    if isinstance(value, t.MapType):
        return {str(to_native(k)): to_native(v) for k, v in value.items()}
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def activation(
    body: Any, header: Mapping[str, list[str]], request_url: str, extensions: Any
) -> dict[str, Any]:
    from celpy import celtypes as t

    hdr = t.MapType(
        {
            t.StringType(canonical_header(k)): t.ListType([t.StringType(v) for v in vs])
            for k, vs in header.items()
        }
    )
    return {
        "body": to_cel(body),
        "header": hdr,
        "requestURL": t.StringType(request_url),
        "extensions": to_cel(extensions or {}),
        **f.NAMESPACES,
    }


SecretLookup = Callable[[str, str, str], bytes | None]  # (namespace, name, key) -> value


def functions(secret: SecretLookup, namespace: str) -> dict[str, Any]:
    """The extension functions, with ``compareSecret`` bound to the trigger's namespace."""
    from celpy import celtypes as t

    def compare_secret(value: Any, key: Any, name: Any, ns: Any = None) -> Any:
        stored = secret(str(ns) if ns else namespace, str(name), str(key))
        if stored is None:
            return f.error(f'compareSecret: secret "{name}" has no key "{key}"')
        return t.BoolType(hmac.compare_digest(str(value).encode(), stored))

    def header_match(header: Any, key: Any, value: Any) -> Any:
        return t.BoolType(f.header_get(header, str(key)) == str(value))

    def header_canonical(header: Any, key: Any) -> Any:
        return t.StringType(f.header_get(header, str(key)))

    def parse_json(text: Any) -> Any:
        try:
            return to_cel(json.loads(str(text)))
        except ValueError as exc:
            return f.error(f"parseJSON: {exc}")

    def parse_yaml(text: Any) -> Any:
        try:
            return to_cel(yaml.safe_load(str(text)))
        except yaml.YAMLError as exc:
            return f.error(f"parseYAML: {exc}")

    def marshal_json(value: Any) -> Any:
        try:
            return t.StringType(marshal(to_native(value)))
        except ValueError as exc:
            return f.error(f"marshalJSON: {exc}")

    return {
        **f.STRINGS,
        **f.DISPATCH,
        "match": header_match,
        "canonical": header_canonical,
        "compareSecret": compare_secret,
        "parseJSON": parse_json,
        "parseYAML": parse_yaml,
        "parseURL": parse_url,
        "marshalJSON": marshal_json,
    }


def parse_url(text: Any) -> Any:
    try:
        u = urlsplit(str(text))
    except ValueError as exc:
        return f.error(f"parseURL: {exc}")
    queries = parse_qs(u.query, keep_blank_values=True)
    host = u.netloc.rpartition("@")[2]
    return to_cel(
        {
            "scheme": u.scheme,
            "host": host,
            "path": u.path,
            "rawQuery": u.query,
            "fragment": u.fragment,
            "query": {k: ",".join(v) for k, v in queries.items()},
            "queryStrings": queries,
            "auth": {"username": u.username or "", "password": u.password or ""},
        }
    )


def evaluate(expression: str, context: dict[str, Any], funcs: dict[str, Any]) -> Any:
    """Evaluate one expression; raises :class:`CELError` with a message safe to record."""
    from celpy.evaluation import CELEvalError

    ast = _compile(expression)
    with _LOCK:
        try:
            program = _environment().program(ast, functions=funcs)
            result = program.evaluate(context)
        except CELEvalError as exc:
            raise CELError(f"failed to evaluate {expression!r}: {_clean(exc)}") from None
        except (RecursionError, TypeError, ValueError, KeyError, AttributeError, ZeroDivisionError) as exc:
            raise CELError(
                f"failed to evaluate {expression!r}: {type(exc).__name__}: {_clean(exc)}"
            ) from None
    if isinstance(result, CELEvalError):
        raise CELError(f"failed to evaluate {expression!r}: {_clean(result)}")
    return result
