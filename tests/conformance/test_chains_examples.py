"""Chains' end-to-end examples run through tektite's engine and its in-engine Chains watcher.

For every expectation in ``chains/test/testdata/slsa/<format>/<name>.json`` the example
``chains/examples/**/<name>.yaml`` is applied to a fresh home with the chains-config Chains' e2e
test uses for that format, run to completion by the engine (real executor), signed by the watcher,
and the payload stored in the ``chains.tekton.dev/payload-...`` annotation is compared with the
expectation. Its ``{{...}}`` placeholders (Go templates) are filled from the run, as Chains' test
does: ``{{.UID}}``, ``{{index .BuildStartTimes 0}}``, ``{{range .URIDigest}}...{{end}}``, ...

The comparison is exact except where tektite records something different because it ran
differently (``docs/chains.md``, "Where tektite records something different"):

- a step's image: Chains records the digest the kubelet pulled (``oci://<repo>`` + ``sha256``);
  tektite records the ``imageID`` its executor reports (``host://<host>?os=...``), uri only;
- ``invocation.environment`` (labels and annotations) is ignored, as Chains' e2e test ignores it;
- ``internalParameters`` is compared where the expectation has it.

- ``MaxResultSize`` in the recorded feature flags: tektite's default is 1 MiB, not 4096 bytes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tektite.api.loader import load_text
from tektite.chains.watcher import ChainsWatcher
from tektite.controller.cluster import Cluster
from tektite.controller.manager import Engine
from tektite.core.conditions import succeeded
from tektite.executor import select_executor

pytestmark = [pytest.mark.conformance, pytest.mark.slow]

JSON = dict[str, Any]
FORMATS = {"v1": "slsa/v1", "v2alpha3": "slsa/v2alpha3", "v2alpha4": "slsa/v2alpha4"}
NOT_SUPPORTED = {"v2": "slsa/v2alpha2 (SLSA 1.0 over tekton.dev/v1beta1 objects) is not supported yet"}
NO_DIGEST = "tektite-records-no-digest"


def cases() -> list[Any]:
    root = (
        Path(__file__).resolve().parents[2].parent
        / "shared"
        / "conformance"
        / "chains"
        / "test"
        / "testdata"
        / "slsa"
    )
    found = sorted(root.glob("*/*.json")) if root.is_dir() else []
    return [pytest.param(p.parent.name, p.stem, id=f"{p.parent.name}/{p.stem}") for p in found] or [
        pytest.param("v1", "task-output-image", id="no-conformance-data")
    ]


# The one expectation that lists child TaskRun results (taskRunResults/<child>/...) among its
# byproducts, which only deep inspection produces; the others list only the pipeline's results.
DEEP_INSPECTION = {("v2alpha4", "pipeline-with-repeated-results")}


def chains_config(fmt: str, name: str, kind: str) -> dict[str, str]:
    """The chains-config for one expectation: its format, tekton storage, and deep inspection
    where the expectation shows it was on."""
    data = {f"artifacts.{kind}.format": FORMATS[fmt], f"artifacts.{kind}.storage": "tekton"}
    data["artifacts.oci.storage"] = "tekton" if kind == "taskrun" else ""
    if (fmt, name) in DEEP_INSPECTION:
        data["artifacts.pipelinerun.enable-deep-inspection"] = "true"
    return data


async def _run(cluster: Cluster, example: Path) -> JSON:
    engine = Engine(cluster, select_executor(None)[0])
    await engine.start()
    watcher = ChainsWatcher(cluster, notify=lambda message: None, host_registry_config=False)
    watcher.attach(engine)
    try:
        created = []
        for doc in load_text(example.read_text(), str(example)):
            obj = cluster.store.create(cluster.admit(doc.obj, doc).obj)
            if obj["kind"] in ("TaskRun", "PipelineRun"):
                created.append(obj)
        [run] = created
        meta = run["metadata"]
        await asyncio.wait_for(engine.wait(run["kind"], meta["name"], meta["namespace"]), 120)
    finally:
        await engine.stop()
        await asyncio.to_thread(watcher.close)
    return cluster.store.get(run["kind"], meta["name"], meta["namespace"])


# -- Go template placeholders -------------------------------------------------------------------


def render(template: str, values: JSON) -> Any:
    """The subset of Go's text/template Chains' expectations use."""

    def expand_range(match: re.Match[str]) -> str:
        return "".join(render_simple(match.group(2), {**values, **item}) for item in values[match.group(1)])

    text = re.sub(r"\{\{range \.(\w+)\}\}(.*?)\{\{end\}\}", expand_range, template, flags=re.DOTALL)
    return json.loads(render_simple(text, values))


def render_simple(text: str, values: JSON) -> str:
    text = re.sub(r"\{\{index \.(\w+) (\d+)\}\}", lambda m: str(values[m.group(1)][int(m.group(2))]), text)
    return re.sub(r"\{\{\.(\w+)\}\}", lambda m: str(values[m.group(1)]), text)


def template_values(cluster: Cluster, run: JSON) -> JSON:
    """What Chains' e2e test reads from the finished run to fill the placeholders."""
    status = run["status"]
    namespace = run["metadata"]["namespace"]
    taskruns = (
        [run]
        if run["kind"] == "TaskRun"
        else [cluster.store.get("TaskRun", c["name"], namespace) for c in status.get("childReferences") or []]
    )
    steps = [s for tr in taskruns for s in tr["status"].get("steps") or []]
    images = list(dict.fromkeys(s["imageID"] for s in steps if s.get("imageID")))
    return {
        "UID": run["metadata"]["uid"],
        "TektonObjectName": run["metadata"]["name"],
        "PipelineStartedOn": status.get("startTime"),
        "PipelineFinishedOn": status.get("completionTime"),
        "BuildStartTimes": [tr["status"].get("startTime") for tr in taskruns],
        "BuildFinishedTimes": [tr["status"].get("completionTime") for tr in taskruns],
        "ChildTaskRunNames": [tr["metadata"]["name"] for tr in taskruns],
        "ContainerNames": [s["name"] for s in steps],
        "StepImages": [s.get("imageID", "") for s in steps],
        # a step image: Chains has oci://<repo> + sha256; tektite the executor's imageID, no digest
        "URIDigest": [{"URI": image, "Digest": NO_DIGEST} for image in images],
        "_spec_images": [
            st.get("image", "")
            for tr in taskruns
            for st in (tr["status"].get("taskSpec") or {}).get("steps") or []
        ],
    }


# -- documented differences ---------------------------------------------------------------------


def walk(node: Any, fn: Any) -> Any:
    node = fn(node)
    if isinstance(node, dict):
        return {k: walk(v, fn) for k, v in node.items()}
    if isinstance(node, list):
        return [walk(v, fn) for v in node]
    return node


def tektite_images(expected: Any, values: JSON) -> Any:
    """Where Chains names the pulled image, expect the imageID tektite's executor recorded."""
    recorded = {f"oci://{img}": img for img in values["StepImages"] if img}
    for spec_image, image_id in zip(values["_spec_images"], values["StepImages"], strict=False):
        if "@sha256:" in spec_image:  # a pinned image: the kubelet reports that very digest
            recorded[f"oci://{spec_image}"] = image_id

    def fix(node: Any) -> Any:
        if isinstance(node, str) and node in recorded:
            return recorded[node]
        if isinstance(node, dict) and (node.get("digest") or {}).get("sha256") == NO_DIGEST:
            return {k: v for k, v in node.items() if k != "digest"}
        return node

    return walk(expected, fix)


def drop_invocation_environment(node: Any) -> Any:
    def fix(n: Any) -> Any:
        if isinstance(n, dict) and "configSource" in n and "parameters" in n:
            return {k: v for k, v in n.items() if k != "environment"}
        return n

    return walk(node, fix)


def tektite_result_size(statement: JSON) -> JSON:
    """Where tektite differs on purpose: results live in its store, not in a 4 KB termination
    message, so its ``max-result-size`` default (recorded as ``MaxResultSize``) is 1 MiB."""
    statement = json.loads(json.dumps(statement))
    flags = (internal_parameters(statement) or {}).get("tekton-pipelines-feature-flags") or {}
    flags.pop("MaxResultSize", None)
    return statement


DESIGNED_DIFFERENCES = [tektite_result_size]


def internal_parameters(statement: JSON) -> JSON | None:
    found = (statement["predicate"].get("buildDefinition") or {}).get("internalParameters")
    return found if isinstance(found, dict) else None


def differences(actual: Any, expected: Any, path: str = "") -> list[str]:
    """Every path where the two differ, with both values: the test's failure message."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        out = []
        for key in sorted(set(actual) | set(expected)):
            where = f"{path}.{key}" if path else key
            if key not in actual:
                out.append(f"{where}: missing, expected {json.dumps(expected[key])[:300]}")
            elif key not in expected:
                out.append(f"{where}: unexpected {json.dumps(actual[key])[:300]}")
            else:
                out += differences(actual[key], expected[key], where)
        return out
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        return [
            d
            for i, (a, e) in enumerate(zip(actual, expected, strict=True))
            for d in differences(a, e, f"{path}[{i}]")
        ]
    if actual != expected:
        return [f"{path}: {json.dumps(actual)[:300]} != expected {json.dumps(expected)[:300]}"]
    return []


# -- the test -------------------------------------------------------------------------------------


def provenance(conformance_dir: Path, tmp_path: Path, fmt: str, name: str) -> tuple[JSON, JSON, JSON]:
    if fmt in NOT_SUPPORTED:
        pytest.skip(NOT_SUPPORTED[fmt])
    chains = conformance_dir / "chains"
    [example] = sorted((chains / "examples").glob(f"**/{name}.yaml"))
    kind = "pipelinerun" if "PipelineRun" in example.read_text() else "taskrun"
    cluster = Cluster(tmp_path / "home")
    try:
        cluster.store.create(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "chains-config", "namespace": "tekton-chains"},
                "data": chains_config(fmt, name, kind),
            }
        )
        run = asyncio.run(_run(cluster, example))
        assert succeeded(run), f"{name}: the example did not succeed: {run['status'].get('conditions')}"
        notes = run["metadata"].get("annotations") or {}
        assert notes.get("chains.tekton.dev/signed") == "true", notes.get("chains.tekton.dev/error")
        actual = json.loads(
            base64.b64decode(notes[f"chains.tekton.dev/payload-{kind}-{run['metadata']['uid']}"])
        )
        values = template_values(cluster, run)
    finally:
        cluster.close()
    expected = render((chains / "test" / "testdata" / "slsa" / fmt / f"{name}.json").read_text(), values)
    return actual, tektite_images(expected, values), values


@pytest.mark.parametrize(("fmt", "name"), cases())
def test_example_provenance_matches_chains(
    conformance_dir: Path, tmp_path: Path, fmt: str, name: str
) -> None:
    actual, expected, _ = provenance(conformance_dir, tmp_path, fmt, name)
    if internal_parameters(expected) is None:
        flags = internal_parameters(actual)
        assert flags is None or set(flags) == {"tekton-pipelines-feature-flags"}
        actual["predicate"].get("buildDefinition", {}).pop("internalParameters", None)
    for step in [drop_invocation_environment, *DESIGNED_DIFFERENCES]:
        actual, expected = step(actual), step(expected)
    assert not differences(actual, expected), "\n".join(differences(actual, expected))
