"""Tekton Chains' own data against tektite's formatters.

Two kinds of checks:

- every run in Chains' formatter testdata formats in every format, and what can be derived from
  the input alone (subjects, images, spec, uid, results) shows up where Chains puts it;
- Chains' end-to-end expectations (``test/testdata/slsa/<format>/*.json``, Go templates) for its
  ``examples/``: the example is turned into the finished run a cluster would record (webhook
  defaults applied, the step scripts run with bash to produce the results), the template is
  filled from that run, and the statement must match it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tektite.chains.formats import format_run

pytestmark = pytest.mark.conformance

TESTDATA = Path("chains/pkg/chains/formats/slsa/testdata")
E2E = Path("chains/test/testdata/slsa")
EXAMPLES = Path("chains/examples")
FORMATS_FOR = {
    "pipeline-v1": ["in-toto", "slsa/v1", "slsa/v2alpha3", "slsa/v2alpha4"],
    "slsa-v2alpha3": ["slsa/v2alpha3", "slsa/v2alpha4", "slsa/v1"],
    "slsa-v2alpha4": ["slsa/v2alpha4", "slsa/v2alpha3", "slsa/v1"],
}
TESTDATA_FILES = [
    (d, name)
    for d, names in {
        "pipeline-v1": [
            "pipelinerun-childrefs",
            "pipelinerun1",
            "pipelinerun_structured_results",
            "taskrun-multiple-subjects",
            "taskrun1",
            "taskrun2",
            "taskrun3",
            "taskrun4",
            "taskrun5",
        ],
        "slsa-v2alpha3": [
            "pipelinerun-remote-resolver",
            "pipelinerun1",
            "pipelinerun_structured_results",
            "taskrun-multiple-subjects",
            "taskrun-remote-resolver",
            "taskrun1",
            "taskrun2",
        ],
        "slsa-v2alpha4": [
            "pipelinerun-remote-resolver",
            "pipelinerun1",
            "pipelinerun2",
            "pipelinerun_structured_results",
            "taskrun-multiple-subjects",
            "taskrun1",
            "taskrun2",
            "taskrun3",
            "taskrun4",
        ],
    }.items()
    for name in names
]


def load(conformance_dir: Path, rel: Path) -> Any:
    path = conformance_dir / rel
    if not path.is_file():
        pytest.skip(f"{path} is not in this copy of the conformance data")
    return json.loads(path.read_text())


def children_for(conformance_dir: Path, d: str) -> list[dict[str, Any]]:
    """The child TaskRuns Chains' tests attach to every PipelineRun of a testdata folder."""
    return [
        load(conformance_dir, TESTDATA / d / "taskrun1.json"),
        load(conformance_dir, TESTDATA / d / "taskrun2.json"),
    ]


def is_pipelinerun(run: dict[str, Any]) -> bool:
    return "pipelineRef" in run.get("spec", {}) or "pipelineSpec" in run.get("status", {})


# --- Chains' formatter testdata ------------------------------------------------------------------


@pytest.mark.parametrize("deep", ["false", "true"])
@pytest.mark.parametrize(("d", "name"), TESTDATA_FILES)
def test_testdata_formats_in_every_format(conformance_dir: Path, d: str, name: str, deep: str) -> None:
    run = load(conformance_dir, TESTDATA / d / f"{name}.json")
    children = children_for(conformance_dir, d) if is_pipelinerun(run) else []
    for fmt in FORMATS_FOR[d]:
        config = {"artifacts.pipelinerun.enable-deep-inspection": deep}
        statement = format_run(fmt, run, config, children)
        json.dumps(statement, allow_nan=False)
        assert statement["predicateType"].startswith("https://slsa.dev/provenance/")


def step_images(run: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    out = []
    for step in run["status"].get("steps", []):
        repo, _, digest = step["imageID"].removeprefix("docker-pullable://").partition("@")
        alg, _, hexdigest = digest.partition(":")
        entry = ("oci://" + repo, {alg: hexdigest})
        if entry not in out:
            out.append(entry)
    return out


@pytest.mark.parametrize(("d", "name"), [t for t in TESTDATA_FILES if t[1].startswith("taskrun")])
def test_testdata_taskrun_images_and_identity(conformance_dir: Path, d: str, name: str) -> None:
    run = load(conformance_dir, TESTDATA / d / f"{name}.json")
    images = step_images(run)
    v1 = format_run("slsa/v1", run, {})
    materials = [(m["uri"], m["digest"]) for m in v1["predicate"].get("materials", [])]
    assert materials[: len(images)] == images
    v2 = format_run("slsa/v2alpha3", run, {})
    deps = [
        (r["uri"], r["digest"])
        for r in v2["predicate"]["buildDefinition"]["resolvedDependencies"]
        if "name" not in r
    ]
    assert deps[: len(images)] == images
    assert v2["predicate"]["runDetails"]["metadata"].get("invocationId") == run.get("metadata", {}).get("uid")
    spec = v2["predicate"]["buildDefinition"]["externalParameters"]["runSpec"]
    for key, value in run["spec"].items():
        if value not in ([], {}, ""):
            assert spec[key] == value


@pytest.mark.parametrize("d", ["pipeline-v1", "slsa-v2alpha3", "slsa-v2alpha4"])
def test_testdata_images_results_subjects(conformance_dir: Path, d: str) -> None:
    run = load(conformance_dir, TESTDATA / d / "taskrun-multiple-subjects.json")
    images = next(r["value"] for r in run["status"]["results"] if r["name"] == "IMAGES")
    expected = []
    for item in images.split(","):
        repo, _, digest = item.strip().partition("@")
        expected.append({"name": repo, "digest": {"sha256": digest.removeprefix("sha256:")}})
    v1 = format_run("slsa/v1", run, {})
    assert v1["subject"][: len(expected)] == expected
    v4 = format_run("slsa/v2alpha4", run, {})
    assert v4["subject"][-len(expected) :] == expected


@pytest.mark.parametrize("d", ["slsa-v2alpha3", "slsa-v2alpha4"])
def test_testdata_v2alpha3_byproducts_are_the_results(conformance_dir: Path, d: str) -> None:
    for name in ("taskrun1", "pipelinerun1"):
        run = load(conformance_dir, TESTDATA / d / f"{name}.json")
        statement = format_run("slsa/v2alpha3", run, {}, children_for(conformance_dir, d))
        byproducts = statement["predicate"]["runDetails"]["byproducts"]
        assert [json.loads(base64.b64decode(b["content"])) for b in byproducts] == [
            r["value"] for r in run["status"]["results"]
        ]


# --- Chains' end-to-end expectations -------------------------------------------------------------

UID = "5f7fd30e-4c5f-4c9b-9d84-1c2a5e0b7a11"
START, END = "2024-06-01T12:00:00Z", "2024-06-01T12:00:09Z"


def image_id(image: str) -> str:
    """What the kubelet reports for an image: the reference pinned by digest."""
    if "@" in image:
        return image
    repo = image.split(":")[0] if "/" not in image.split(":")[-1] else image
    if "." not in repo.split("/")[0]:
        repo = "docker.io/" + (repo if "/" in repo else "library/" + repo)
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def default_task_spec(task_spec: dict[str, Any]) -> dict[str, Any]:
    """The webhook's defaults on results: object properties get ``type: string``."""
    spec = json.loads(json.dumps(task_spec))
    for result in spec.get("results", []):
        for prop in (result.get("properties") or {}).values():
            prop.setdefault("type", "string")
    return spec


def run_steps(task_spec: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    """Run each step's script with bash, as the step would, and read the results it wrote."""
    declared = {r["name"]: r.get("type", "string") for r in task_spec.get("results", [])}
    tmp.mkdir(parents=True, exist_ok=True)
    for step in task_spec["steps"]:
        script = step["script"]
        for name in declared:
            script = script.replace(f"$(results.{name}.path)", str(tmp / name))
        subprocess.run(["bash", "-c", script], check=True, capture_output=True, cwd=tmp, timeout=60)
    results = []
    for name in sorted(declared):
        if (tmp / name).is_file():
            text = (tmp / name).read_text()
            value = json.loads(text) if declared[name] == "object" else text
            results.append({"name": name, "type": declared[name], "value": value})
    return results


def finished_taskrun(
    name: str,
    task_spec: dict[str, Any],
    tmp: Path,
    labels: dict[str, str] | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    task_spec = default_task_spec(task_spec)
    status_spec = json.loads(
        re.sub(r"\$\(results\.([\w-]+)\.path\)", r"/tekton/results/\1", json.dumps(task_spec))
    )
    run_spec = dict(spec or {})
    run_spec["serviceAccountName"] = run_spec.get("serviceAccountName") or "default"
    run_spec.setdefault("timeout", "1h0m0s")
    run_spec["taskSpec"] = task_spec
    metadata: dict[str, Any] = {"name": name, "namespace": "default", "uid": UID}
    if labels:
        metadata["labels"] = labels
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": metadata,
        "spec": run_spec,
        "status": {
            "podName": f"{name}-pod",
            "startTime": START,
            "completionTime": END,
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "steps": [
                {"name": s["name"], "container": "step-" + s["name"], "imageID": image_id(s["image"])}
                for s in task_spec["steps"]
            ],
            "results": run_steps(task_spec, tmp),
            "taskSpec": status_spec,
        },
    }


def finished_pipelinerun(example: dict[str, Any], tmp: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    name = example["metadata"].get("name") or example["metadata"]["generateName"] + "abcde"
    spec = json.loads(json.dumps(example["spec"]))
    for task in spec["pipelineSpec"]["tasks"]:
        task["taskSpec"] = default_task_spec(task["taskSpec"])
    spec.setdefault("taskRunTemplate", {}).setdefault("serviceAccountName", "default")
    spec.setdefault("timeouts", {"pipeline": "1h0m0s"})
    children = []
    by_task = {}
    for task in spec["pipelineSpec"]["tasks"]:
        child = finished_taskrun(
            f"{name}-{task['name']}",
            task["taskSpec"],
            tmp / task["name"],
            labels={"tekton.dev/pipelineTask": task["name"]},
        )
        children.append(child)
        by_task[task["name"]] = {r["name"]: r["value"] for r in child["status"]["results"]}
    results = []
    for result in spec["pipelineSpec"].get("results", []):
        ref = re.fullmatch(r"\$\(tasks\.([\w-]+)\.results\.([\w-]+)\)", result["value"])
        if ref and ref.group(2) in by_task.get(ref.group(1), {}):
            results.append({"name": result["name"], "value": by_task[ref.group(1)][ref.group(2)]})
    run = {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": "default", "uid": UID},
        "spec": spec,
        "status": {
            "startTime": START,
            "completionTime": END,
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "pipelineSpec": spec["pipelineSpec"],
            "results": results,
            "childReferences": [
                {
                    "apiVersion": "tekton.dev/v1",
                    "kind": "TaskRun",
                    "name": c["metadata"]["name"],
                    "pipelineTaskName": c["metadata"]["labels"]["tekton.dev/pipelineTask"],
                }
                for c in children
            ],
        },
    }
    return run, children


def render(template: str, values: dict[str, Any]) -> Any:
    """The subset of Go templates Chains' expectations use."""

    def fill(item: dict[str, Any], body: str) -> str:
        return re.sub(r"\{\{\.(\w+)\}\}", lambda f: str(item[f.group(1)]), body)

    def each(m: re.Match[str]) -> str:
        return "".join(fill(item, m.group(2)) for item in values[m.group(1)])

    text = re.sub(r"\{\{range \.(\w+)\}\}(.*?)\{\{end\}\}", each, template, flags=re.S)
    text = re.sub(r"\{\{index \.(\w+) (\d+)\}\}", lambda m: str(values[m.group(1)][int(m.group(2))]), text)
    text = re.sub(r"\{\{\.(\w+)\}\}", lambda m: str(values[m.group(1)]), text)
    return json.loads(text)


def differences(want: Any, got: Any, path: str = "") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}.{k}: missing" for k in want if k not in got]
        out += [f"{path}.{k}: unexpected" for k in got if k not in want]
        for k in want:
            if k in got:
                out += differences(want[k], got[k], f"{path}.{k}")
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in differences(w, g, f"{path}[{i}]")
        ]
    return [] if want == got else [f"{path}: want {json.dumps(want)[:200]} got {json.dumps(got)[:200]}"]


E2E_CASES = [
    # (expected file, format, example, deep inspection)
    ("v1/task-output-image.json", "slsa/v1", "taskruns/task-output-image.yaml", False),
    ("v1/pipeline-output-image.json", "slsa/v1", "pipelineruns/pipeline-output-image.yaml", False),
    ("v2alpha3/task-output-image.json", "slsa/v2alpha3", "taskruns/task-output-image.yaml", False),
    (
        "v2alpha3/pipeline-output-image.json",
        "slsa/v2alpha3",
        "pipelineruns/pipeline-output-image.yaml",
        False,
    ),
    ("v2alpha4/task-output-image.json", "slsa/v2alpha4", "taskruns/task-output-image.yaml", False),
    (
        "v2alpha4/pipeline-output-image.json",
        "slsa/v2alpha4",
        "pipelineruns/pipeline-output-image.yaml",
        False,
    ),
    (
        "v2alpha4/task-with-object-type-hinting.json",
        "slsa/v2alpha4",
        "v2alpha4/task-with-object-type-hinting.yaml",
        False,
    ),
    (
        "v2alpha4/pipeline-with-object-type-hinting.json",
        "slsa/v2alpha4",
        "v2alpha4/pipeline-with-object-type-hinting.yaml",
        False,
    ),
    (
        "v2alpha4/pipeline-with-repeated-results.json",
        "slsa/v2alpha4",
        "v2alpha4/pipeline-with-repeated-results.yaml",
        True,
    ),
]


def allowed(difference: str) -> bool:
    """Where Chains' end-to-end comparison is looser than a byte diff (see docs/chains-formats.md).

    - The child TaskRuns carry the ``tekton.dev/pipelineTask`` label, which SLSA v0.2 records in
      ``invocation.environment``; the expectation leaves cluster labels out.
    - ``internalParameters`` is absent from expectations whose runs recorded no feature flags;
      tektite (as protojson) writes the empty object.
    """
    return (
        bool(
            re.fullmatch(
                r"\.predicate\.buildConfig\.tasks\[\d+\]\.invocation\.environment: unexpected", difference
            )
        )
        or difference == ".predicate.buildDefinition.internalParameters: unexpected"
    )


@pytest.mark.skipif(
    shutil.which("bash") is None, reason="the example steps are bash scripts and bash is missing"
)
@pytest.mark.parametrize(("expected_file", "fmt", "example_file", "deep"), E2E_CASES)
def test_end_to_end_expectations(
    conformance_dir: Path, tmp_path: Path, expected_file: str, fmt: str, example_file: str, deep: bool
) -> None:
    template_path = conformance_dir / E2E / expected_file
    example_path = conformance_dir / EXAMPLES / example_file
    if not template_path.is_file() or not example_path.is_file():
        pytest.skip(f"{expected_file} or {example_file} is not in this copy of the conformance data")
    example = next(d for d in yaml.safe_load_all(example_path.read_text()) if d)
    template = template_path.read_text()
    flags = re.search(r'"tekton-pipelines-feature-flags":\s*(\{[^}]*\})', template)
    if example["kind"] == "TaskRun":
        run = finished_taskrun(
            example["metadata"]["name"],
            example["spec"]["taskSpec"],
            tmp_path,
            spec={k: v for k, v in example["spec"].items() if k != "taskSpec"},
        )
        children: list[dict[str, Any]] = []
        taskruns = [run]
    else:
        run, children = finished_pipelinerun(example, tmp_path)
        taskruns = children
    if flags:
        run["status"]["provenance"] = {"featureFlags": json.loads(flags.group(1))}
    image_ids = [s["imageID"] for tr in taskruns for s in tr["status"]["steps"]]
    uri_digest = []
    for iid in image_ids:
        pair = {"URI": "oci://" + iid.split("@")[0], "Digest": iid.split(":")[-1]}
        if pair not in uri_digest:
            uri_digest.append(pair)
    values = {
        "UID": UID,
        "TektonObjectName": run["metadata"]["name"],
        "PipelineStartedOn": START,
        "PipelineFinishedOn": END,
        "BuildStartTimes": [START] * len(taskruns),
        "BuildFinishedTimes": [END] * len(taskruns),
        "URIDigest": uri_digest,
        "ContainerNames": [s["name"] for tr in taskruns for s in tr["status"]["steps"]],
        "StepImages": image_ids,
        "ChildTaskRunNames": [c["metadata"]["name"] for c in children],
    }
    want = render(template, values)
    got = format_run(fmt, run, {"artifacts.pipelinerun.enable-deep-inspection": str(deep).lower()}, children)
    problems = [d for d in differences(want, got) if not allowed(d)]
    assert problems == []


def test_type_hinting_example_subject(conformance_dir: Path, tmp_path: Path) -> None:
    """Chains' type-hinting e2e run: the prefixed IMAGE_URL/IMAGE_DIGEST pair is the subject."""
    if shutil.which("bash") is None:
        pytest.skip("the example step is a bash script and bash is missing")
    example = load(conformance_dir, Path("chains/test/testdata/type-hinting/taskrun.json"))
    run = finished_taskrun(example["metadata"]["name"], example["spec"]["taskSpec"], tmp_path)
    values = {r["name"]: r["value"] for r in run["status"]["results"]}
    expected = [
        {
            "name": values["first-image-IMAGE_URL"],
            "digest": {"sha256": values["first-image-IMAGE_DIGEST"].removeprefix("sha256:")},
        }
    ]
    for fmt in ("in-toto", "slsa/v2alpha3", "slsa/v2alpha4"):
        assert format_run(fmt, run, {})["subject"] == expected
