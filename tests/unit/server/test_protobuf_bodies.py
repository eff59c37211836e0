"""Protobuf request bodies: what the decoder refuses, and ObjectMeta's maps (which kubectl's
typed creates never send; the kubectl test covers the rest with kubectl's own encoding)."""

from __future__ import annotations

import pytest

from tektite.server.protobuf import MAGIC, decode
from tektite.server.status import ApiError


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def entry(key: str, value: str) -> bytes:
    return field(1, key.encode()) + field(2, value.encode())


def envelope(kind: str, raw: bytes) -> bytes:
    type_meta = field(1, b"v1") + field(2, kind.encode())
    return MAGIC + field(1, type_meta) + field(2, raw)


def test_labels_annotations_and_empty_strings() -> None:
    meta = field(1, b"cm") + field(2, b"") + field(11, entry("team", "red")) + field(12, entry("note", "x"))
    obj = decode(
        envelope("ConfigMap", field(1, meta) + field(2, entry("k", "v")) + field(3, entry("b", "\x00")))
    )
    assert obj == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "labels": {"team": "red"}, "annotations": {"note": "x"}},
        "data": {"k": "v"},
        "binaryData": {"b": "AA=="},
    }


def test_kinds_not_decoded_and_broken_bodies_are_refused_with_why() -> None:
    with pytest.raises(ApiError) as err:
        decode(envelope("Pod", field(1, field(1, b"p"))))
    assert err.value.http_status == 415 and "send Pod as application/json" in err.value.message
    with pytest.raises(ApiError) as err:
        decode(MAGIC + field(1, b"\x0a\x05ab"))  # a length that runs past the end
    assert err.value.http_status == 400 and "runs past the end" in err.value.message
    with pytest.raises(ApiError) as err:
        decode(b'{"kind": "ConfigMap"}')
    assert err.value.http_status == 400 and "no k8s\\0 prefix" in err.value.message
