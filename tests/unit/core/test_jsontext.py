"""compact_json writes what json.dumps(separators=(",", ":"), ensure_ascii=False) writes: the
store's bodies and the payloads Chains signs depend on those exact bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tektite.core.jsontext import compact_json


@pytest.mark.parametrize(
    "obj",
    [
        {
            "kind": "TaskRun",
            "metadata": {"name": "ü-✓", "labels": {}},
            "spec": {"params": [1, 2.5, None, True]},
        },
        {1: "an int key, as YAML makes from `1: x`", "b": {2: [3]}, "c": '"quoted" \\ \n'},
        [{"x": ""}, [], {}],
    ],
)
def test_compact_json_writes_the_bytes_json_dumps_writes(obj: Any) -> None:
    assert compact_json(obj) == json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def test_what_is_not_json_is_refused() -> None:
    with pytest.raises(TypeError):
        compact_json({"a": object()})
