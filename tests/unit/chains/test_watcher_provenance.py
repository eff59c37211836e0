"""Provenance of runs tektite ran itself: images that ran without a registry digest.

tektite's executor records what really ran as ``status.steps[].imageID``, e.g.
``host://<hostname>?os=debian-12``; there is no digest and none may be invented. Chains' formatters
refuse an imageID without ``@sha256:``; tektite records these as uri-only materials instead.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_watcher import HOST_IMAGE, taskrun_body

from tektite.chains.formats import FORMAT_NAMES, format_run
from tektite.errors import ValidationError

ROOTFS_IMAGE = "rootfs:///srv/images/alpine?os=alpine-3.19"


def with_images(*image_ids: str) -> dict[str, Any]:
    run = taskrun_body("build")
    steps = [{"name": f"s{i}", "image": "busybox", "script": "true"} for i in range(len(image_ids))]
    run["status"]["taskSpec"]["steps"] = steps
    run["status"]["steps"] = [
        {
            "name": f"s{i}",
            "container": f"step-s{i}",
            "terminated": {"exitCode": 0},
            **({"imageID": img} if img else {}),
        }
        for i, img in enumerate(image_ids)
    ]
    return run


def dependencies(statement: dict[str, Any]) -> list[dict[str, Any]]:
    predicate = statement["predicate"]
    if "materials" in predicate:
        return list(predicate["materials"])
    return list(predicate["buildDefinition"].get("resolvedDependencies") or [])


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_unpinned_images_are_recorded_as_uri_only_dependencies(fmt: str) -> None:
    statement = format_run(fmt, with_images(HOST_IMAGE, ROOTFS_IMAGE, HOST_IMAGE), {})
    assert dependencies(statement) == [{"uri": HOST_IMAGE}, {"uri": ROOTFS_IMAGE}]


def test_slsa_v02_steps_name_the_image_uri_as_recorded() -> None:
    statement = format_run("slsa/v1", with_images(HOST_IMAGE), {})
    assert statement["predicate"]["buildConfig"]["steps"][0]["environment"]["image"] == HOST_IMAGE


def test_pinned_images_keep_chains_form() -> None:
    pinned = "docker-pullable://gcr.io/x/y@sha256:" + "1" * 64
    statement = format_run("slsa/v1", with_images(pinned), {})
    assert dependencies(statement) == [{"uri": "oci://gcr.io/x/y", "digest": {"sha256": "1" * 64}}]
    assert statement["predicate"]["buildConfig"]["steps"][0]["environment"]["image"] == (
        "oci://gcr.io/x/y@sha256:" + "1" * 64
    )


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_a_step_that_never_started_contributes_no_image(fmt: str) -> None:
    assert dependencies(format_run(fmt, with_images(HOST_IMAGE, ""), {})) == [{"uri": HOST_IMAGE}]


def test_an_image_name_without_digest_or_scheme_is_still_refused() -> None:
    with pytest.raises(ValidationError, match=r"status.steps\[0\].imageID.*pinned by digest"):
        format_run("slsa/v2alpha4", with_images("busybox:latest"), {})
