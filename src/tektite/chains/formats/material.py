"""Inputs of a build (SLSA v0.2 ``materials``, v1.0 ``resolvedDependencies``): Chains' ``material``.

Step and sidecar images come from ``status.steps[].imageID`` / ``status.sidecars[].imageID``
(``oci://<repo>`` + digest); sources come from ``CHAINS-GIT_URL``/``CHAINS-GIT_COMMIT`` params or
results (``git+<url>.git``, ``sha1``) and from ``*ARTIFACT_INPUTS`` object results.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from tektite.chains.formats.artifacts import Artifact, append_artifacts, materials_from_structured_results
from tektite.chains.formats.objects import PipelineRunObject, Result, TaskRunObject, string_val
from tektite.errors import FieldError, ValidationError

__all__ = [
    "COMMIT_PARAM",
    "URL_PARAM",
    "from_image_id",
    "is_unpinned_uri",
    "pipeline_params_and_results",
    "remove_duplicates",
    "sidecar_image_materials",
    "spdx_git",
    "step_actions_results",
    "step_image_materials",
    "task_params_and_results",
]

COMMIT_PARAM = "CHAINS-GIT_COMMIT"
URL_PARAM = "CHAINS-GIT_URL"
OCI_SCHEME = "oci://"
GIT_SCHEME_PREFIX = "git+"


def spdx_git(url: str, revision: str = "") -> str:
    """``attest.SPDXGit``: ``https://x`` -> ``git+https://x.git`` (``@revision`` when given).

    Not memoized: the revision is new with every build, so only a benchmark of identical runs
    would hit a cache.
    """
    prefix = "" if url.startswith(GIT_SCHEME_PREFIX) else GIT_SCHEME_PREFIX
    if not url.endswith(".git"):
        url += ".git"
    return prefix + url + (f"@{revision}" if revision else "")


@lru_cache(maxsize=1024)
def is_unpinned_uri(image_id: str) -> bool:
    """An ``imageID`` tektite's executor recorded for what really ran without a registry digest.

    ``host://<hostname>?os=debian-12`` or ``rootfs:///srv/images/builder?os=alpine-3.19``: a URI
    with a scheme and no ``@<algorithm>:<hex>``. A kubelet never writes these, so Chains' own
    inputs never have them. Memoized: asked twice per step, of the same few images run after run.
    """
    scheme, sep, _ = image_id.partition("://")
    return bool(sep) and bool(scheme) and scheme != "docker-pullable" and "@" not in image_id


def from_image_id(image_id: str, where: str, path: tuple[str | int, ...]) -> Artifact:
    """``fromImageID``: ``[docker-pullable://]<uri>@<alg>:<hex>`` -> ``oci://<uri>`` + digest.

    tektite's own unpinned image IDs (:func:`is_unpinned_uri`) are recorded as they are, uri only
    (an in-toto ResourceDescriptor may have a uri and no digest); no digest is ever made up.
    """
    if is_unpinned_uri(image_id):
        return Artifact(image_id, {})
    uri_digest = image_id.split("@")
    digest = uri_digest[1].split(":") if len(uri_digest) == 2 else []
    if len(digest) != 2:
        raise ValidationError(
            [
                FieldError(
                    path,
                    "the image a step ran must be pinned by digest for provenance",
                    "<repository>@<algorithm>:<hex> (or a tektite host:// / rootfs:// image ID)",
                    repr(image_id),
                )
            ],
            obj=where,
        )
    uri = uri_digest[0].removeprefix("docker-pullable://")
    return Artifact(OCI_SCHEME + uri, {digest[0]: digest[1]})


def step_image_materials(tr: TaskRunObject) -> list[Artifact]:
    return _image_materials(tr, "steps")


def sidecar_image_materials(tr: TaskRunObject) -> list[Artifact]:
    return _image_materials(tr, "sidecars")


def _image_materials(tr: TaskRunObject, states: str) -> list[Artifact]:
    """The images ``status.<states>[].imageID`` records (``steps`` or ``sidecars``)."""
    mats = []
    for i, state in enumerate(tr.status.get(states) or ()):
        if image_id := state.get("imageID", ""):  # a step that never started has no image: nothing ran
            mats.append(from_image_id(image_id, tr.where, ("status", states, i, "imageID")))
    return mats


def _git_material(commit: str, url: str) -> list[Artifact]:
    # Chains converts the url before testing it, so a commit without a url still yields "git+.git".
    url = spdx_git(url)
    return [Artifact(url, {"sha1": commit})] if commit and url else []


def _scan_git(commit: str, url: str, params: list[dict[str, Any]], results: list[Result]) -> tuple[str, str]:
    for p in params:
        if p.get("name") == COMMIT_PARAM:
            commit = string_val(p.get("value"))
        elif p.get("name") == URL_PARAM:
            url = string_val(p.get("value"))
    for r in results:
        if r.name == COMMIT_PARAM:
            commit = r.string_val
        if r.name == URL_PARAM:
            url = r.string_val
    return commit, url


def _spec_defaults(param_specs: list[dict[str, Any]]) -> tuple[str, str]:
    commit = url = ""
    for p in param_specs:
        if "default" not in p:
            continue
        if p.get("name") == COMMIT_PARAM:
            commit = string_val(p["default"])
        elif p.get("name") == URL_PARAM:
            url = string_val(p["default"])
    return commit, url


def task_params_and_results(tr: TaskRunObject) -> list[Artifact]:
    """``FromTaskParamsAndResults``: git from taskSpec defaults < spec.params < results, then inputs."""
    commit, url = _spec_defaults(tr.task_spec_field("params") or [])
    results = tr.results()
    commit, url = _scan_git(commit, url, tr.spec.get("params") or [], results)
    return _git_material(commit, url) + materials_from_structured_results(results)


def step_actions_results(tr: TaskRunObject) -> list[Artifact]:
    """``FromStepActionsResults``: the same type hints, in the results each step (StepAction) wrote."""
    mats: list[Artifact] = []
    for step in tr.status.get("steps") or []:
        results = [Result(r["name"], r["value"]) for r in step.get("results") or []]
        commit, url = _scan_git("", "", [], results)
        mats += _git_material(commit, url)
        mats += materials_from_structured_results(results)
    return mats


def pipeline_params_and_results(
    pr: PipelineRunObject, deep_inspection: bool, with_step_actions: bool = False
) -> list[Artifact]:
    """``FromPipelineParamsAndResults``: pipeline-level inputs, plus the children's with deep inspection."""
    mats = append_artifacts([], *materials_from_structured_results(pr.results()))
    if pr.pipeline_spec is not None and deep_inspection:
        for tr in pr.executed_tasks():
            mats = append_artifacts(mats, *task_params_and_results(tr))
    commit, url = _spec_defaults((pr.pipeline_spec or {}).get("params") or [])
    commit, url = _scan_git(commit, url, pr.spec.get("params") or [], pr.results())
    if commit and url:
        mats.append(Artifact(spdx_git(url), {"sha1": commit}))
    if with_step_actions and deep_inspection:
        for tr in pr.executed_tasks():
            mats += step_actions_results(tr)
    return mats


def remove_duplicates(mats: list[Artifact]) -> list[Artifact]:
    """``RemoveDuplicateMaterials``: drop exact repeats (same uri and digest set), keep order."""
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    out = []
    for m in mats:
        key = (m.name, tuple(sorted(m.digest.items())))
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out
