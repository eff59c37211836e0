"""Building a Tekton Bundle (``tektite bundle push``) refuses what the bundle contract forbids, and a
fixed creation time gives the same image."""

from __future__ import annotations

import copy
import gzip
import io
import json
import tarfile
from typing import Any

import pytest

from tektite.resolution.bundles import BundleError, build_bundle

TASK: dict[str, Any] = {
    "apiVersion": "tekton.dev/v1",
    "kind": "Task",
    "metadata": {"name": "t"},
    "spec": {"steps": []},
}


def named(name: str, kind: str = "Task") -> dict[str, Any]:
    obj = copy.deepcopy(TASK)
    obj["metadata"]["name"], obj["kind"] = name, kind
    return obj


@pytest.mark.parametrize(
    ("objects", "says"),
    [
        ([], "at least one object"),
        ([named(f"t{i}") for i in range(21)], "at most 20 objects; found 21"),
        (
            [{"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {}}],
            "needs apiVersion, kind and metadata.name",
        ),
        ([named("cm", "ConfigMap")], "Tasks, Pipelines and StepActions only"),
        ([named("t"), named("t")], "Task t (tekton.dev/v1) is in the bundle twice"),
    ],
)
def test_what_the_contract_forbids_is_refused(objects: list[dict[str, Any]], says: str) -> None:
    with pytest.raises(BundleError, match=says.replace("(", r"\(").replace(")", r"\)")):
        build_bundle(objects)


def test_one_layer_per_object_and_a_fixed_time_gives_the_same_image() -> None:
    objects = [named("a"), named("p", "Pipeline"), named("s", "StepAction")]
    manifest, blobs, config = build_bundle(objects, created=1_700_000_000)
    again, _, config_again = build_bundle(copy.deepcopy(objects), created=1_700_000_000)
    assert manifest.to_bytes() == again.to_bytes() and config == config_again
    kinds = [(layer.annotations or {})["dev.tekton.image.kind"] for layer in manifest.layers]
    assert kinds == ["task", "pipeline", "stepaction"]
    for obj, layer in zip(objects, manifest.layers, strict=True):
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blobs[layer.digest]))) as tar:
            [member] = tar.getmembers()
            assert json.loads(tar.extractfile(member).read()) == obj  # type: ignore[union-attr]
    assert json.loads(config)["created"] == "2023-11-14T22:13:20Z"
