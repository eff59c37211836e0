"""Tekton's own end-to-end examples, judged as Tekton's e2e suite judges them: every run the file
creates must reach ``Succeeded=True``.

Only examples that need the internet are skipped, each named below with its reason.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tekton_runner import describe_failure, ok, run_example

pytestmark = pytest.mark.conformance

EXAMPLES_REL = "tekton-examples/v1"

# file (relative to tekton-examples/v1) -> why it cannot run on a machine without internet access
NEEDS_INTERNET = {
    "pipelineruns/beta/http-resolver.yaml": "the http resolver fetches a Task from raw.githubusercontent.com",
    "pipelineruns/beta/http-resolver-credentials.yaml": "the http resolver fetches a Task from "
    "raw.githubusercontent.com",
    "taskruns/beta/git-resolver.yaml": "the git resolver clones github.com/tektoncd/catalog",
    "taskruns/beta/hub-resolver.yaml": "the hub resolver queries artifacthub.io",
    "pipelineruns/pipelinerun.yaml": "clones github.com/GoogleContainerTools/skaffold with Tekton's git-init "
    "image and builds with kaniko from gcr.io",
    "taskruns/dind-sidecar.yaml": "docker-in-docker: needs the docker:dind image from a registry",
}


def _examples() -> list[str]:
    root = Path(__file__).resolve().parents[2].parent / "shared" / "conformance" / EXAMPLES_REL
    if not root.is_dir():
        return []
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.yaml"))


@pytest.mark.parametrize("example", _examples() or ["<no conformance data>"])
def test_example_succeeds(example: str, conformance_dir: Path, tmp_path: Path) -> None:
    if example in NEEDS_INTERNET:
        pytest.skip(f"needs the internet: {NEEDS_INTERNET[example]}")
    path = conformance_dir / EXAMPLES_REL / example
    home = tmp_path / "home"
    final = asyncio.run(run_example(path, home, timeout=120))
    assert final, f"{example} created no TaskRun or PipelineRun"
    failures = [describe_failure(home, r) for r in final if not ok(r)]
    assert not failures, "\n".join(failures)


def test_skip_list_names_real_files(conformance_dir: Path) -> None:
    """The skip list must not hide a renamed or removed example."""
    present = set(_examples())
    assert set(NEEDS_INTERNET) <= present, sorted(set(NEEDS_INTERNET) - present)
