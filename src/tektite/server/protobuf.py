"""Request bodies in Kubernetes' protobuf encoding, for the core kinds kubectl sends that way.

``kubectl create configmap|secret|namespace|serviceaccount`` (typed clients) encode the object as
``application/vnd.kubernetes.protobuf``, whatever the server prefers; files (``create -f``,
``apply``) and patches go as JSON. So the API decodes these few kinds: ConfigMap, Secret,
Namespace, ServiceAccount, with the ObjectMeta fields a client sets. Responses stay JSON, which
kubectl accepts.

The encoding (``k8s.io/apimachinery/pkg/runtime/serializer/protobuf``): the 4 bytes ``k8s\\0``,
then a ``runtime.Unknown`` message - ``typeMeta`` (1: apiVersion 1, kind 2) and ``raw`` (2: the
object's own message). Field numbers are those of Kubernetes' ``generated.proto`` files. The wire
format is decoded here (varints and length-delimited fields are all these messages use): the
``protobuf`` package decodes only messages it has descriptors for, and Kubernetes' are Go
packages.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

from tektite.server.status import ApiError

__all__ = ["MEDIA_TYPE", "decode"]

JSON = dict[str, Any]
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5


class _Malformed(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise _Malformed("a varint runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value): an int for varints, bytes for length-delimited."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == VARINT:
            value, pos = _varint(data, pos)
        elif wire == BYTES:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise _Malformed(f"field {number} runs past the end")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            value, pos = data[pos : pos + size], pos + size
        else:
            raise _Malformed(f"field {number} has wire type {wire}, which these messages do not use")
        yield number, wire, value


def _text(value: Any) -> str:
    if not isinstance(value, bytes):
        raise _Malformed("a string field is not length-delimited")
    return value.decode()


def _entry(value: bytes) -> tuple[str, bytes]:
    """A map entry: key 1, value 2."""
    key, raw = "", b""
    for number, _, v in _fields(value):
        if number == 1:
            key = _text(v)
        elif number == 2:
            raw = v
    return key, raw


def _message(
    data: bytes,
    scalars: dict[int, tuple[str, Callable[[Any], Any]]],
    maps: dict[int, tuple[str, Callable[[bytes], Any]]] | None = None,
    lists: dict[int, tuple[str, Callable[[Any], Any]]] | None = None,
) -> JSON:
    out: JSON = {}
    for number, _, value in _fields(data):
        if number in scalars:
            name, convert = scalars[number]
            converted = convert(value)
            if converted != "":  # Go writes its empty strings; its JSON leaves them out
                out[name] = converted
        elif maps and number in maps:
            name, convert = maps[number]
            key, raw = _entry(value)
            out.setdefault(name, {})[key] = convert(raw)
        elif lists and number in lists:
            name, convert = lists[number]
            out.setdefault(name, []).append(convert(value))
    return out


def _string(raw: bytes) -> str:
    return raw.decode()


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _metadata(data: Any) -> JSON:
    """ObjectMeta: what a client sets (name, generateName, namespace, labels, annotations, finalizers)."""
    return _message(
        data,
        {1: ("name", _text), 2: ("generateName", _text), 3: ("namespace", _text)},
        {11: ("labels", _string), 12: ("annotations", _string)},
        {14: ("finalizers", _text)},
    )


def _local_ref(data: Any) -> JSON:
    return _message(data, {1: ("name", _text)})


def _object_ref(data: Any) -> JSON:
    return _message(data, {1: ("kind", _text), 2: ("namespace", _text), 3: ("name", _text)})


_KINDS: dict[str, Callable[[bytes], JSON]] = {
    "ConfigMap": lambda raw: _message(
        raw,
        {1: ("metadata", _metadata), 4: ("immutable", bool)},
        {2: ("data", _string), 3: ("binaryData", _base64)},
    ),
    "Secret": lambda raw: _message(
        raw,
        {1: ("metadata", _metadata), 3: ("type", _text), 5: ("immutable", bool)},
        {2: ("data", _base64), 4: ("stringData", _string)},
    ),
    "Namespace": lambda raw: _message(
        raw,
        {
            1: ("metadata", _metadata),
            2: ("spec", lambda v: _message(v, {}, None, {1: ("finalizers", _text)})),
        },
    ),
    "ServiceAccount": lambda raw: _message(
        raw,
        {1: ("metadata", _metadata), 4: ("automountServiceAccountToken", bool)},
        None,
        {2: ("secrets", _object_ref), 3: ("imagePullSecrets", _local_ref)},
    ),
}


def decode(body: bytes) -> JSON:
    """The object a protobuf request body holds, as its JSON form; a 415 for kinds not decoded
    here, a 400 for a body that is not Kubernetes protobuf."""
    if not body.startswith(MAGIC):
        raise ApiError(400, "BadRequest", f"the request body is not {MEDIA_TYPE} (no k8s\\0 prefix)")
    try:
        envelope = _message(
            body[len(MAGIC) :],
            {
                1: ("typeMeta", lambda v: _message(v, {1: ("apiVersion", _text), 2: ("kind", _text)})),
                2: ("raw", bytes),
            },
        )
        type_meta = envelope.get("typeMeta") or {}
        kind, api_version = type_meta.get("kind", ""), type_meta.get("apiVersion", "")
        decoder = _KINDS.get(kind)
        if decoder is None:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"{MEDIA_TYPE} bodies are read for {', '.join(sorted(_KINDS))}; "
                f"send {kind or 'this object'} as application/json",
            )
        obj = decoder(envelope.get("raw") or b"")
    except (_Malformed, UnicodeDecodeError) as exc:
        raise ApiError(400, "BadRequest", f"the request body is not valid {MEDIA_TYPE}: {exc}") from None
    return {"apiVersion": api_version or "v1", "kind": kind, **obj}
