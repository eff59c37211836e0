"""Formatter registry, format_run and the `python -m tektite.chains.formats` entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chains_format_runs import D1, child, pipelinerun, results, taskrun

from tektite.chains.config import ChainsConfig
from tektite.chains.formats import FORMAT_NAMES, format_run, get_formatter
from tektite.chains.formats.__main__ import main
from tektite.errors import NotSupported, ValidationError


def test_registered_names() -> None:
    assert set(FORMAT_NAMES) == {"in-toto", "slsa/v1", "slsa/v2alpha3", "slsa/v2alpha4"}
    run = taskrun()
    config = ChainsConfig.default()
    assert get_formatter("in-toto").format(run, config) == get_formatter("slsa/v1").format(run, config)


def test_unknown_format_lists_valid_ones() -> None:
    with pytest.raises(ValidationError) as err:
        get_formatter("slsa/v2alpha5")
    text = str(err.value)
    assert "'slsa/v2alpha5'" in text
    assert "did you mean" in text
    for name in FORMAT_NAMES:
        assert name in text


def test_v2alpha2_is_not_supported_yet() -> None:
    with pytest.raises(NotSupported, match="not supported yet"):
        get_formatter("slsa/v2alpha2")


def test_format_run_validates_overrides() -> None:
    with pytest.raises(ValidationError, match=r"builder\.idd"):
        format_run("slsa/v1", taskrun(), {"builder.idd": "x"})


def test_format_run_does_not_change_its_inputs() -> None:
    pr = pipelinerun(results_=results(IMAGE_URL="gcr.io/app", IMAGE_DIGEST=D1))
    children = [child("release-build", "build")]
    before = json.dumps([pr, children], sort_keys=True)
    format_run("slsa/v2alpha4", pr, {"artifacts.pipelinerun.enable-deep-inspection": "true"}, children)
    assert json.dumps([pr, children], sort_keys=True) == before


def test_module_entry_prints_the_statement(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pr_file = tmp_path / "pr.json"
    pr_file.write_text(json.dumps(pipelinerun(results_=results(IMAGE_URL="gcr.io/app", IMAGE_DIGEST=D1))))
    child_file = tmp_path / "child.yaml"
    child_file.write_text(
        "kind: TaskRun\nmetadata:\n  name: c\n  labels: {tekton.dev/pipelineTask: build}\n"
        "status:\n  completionTime: '2024-05-01T10:05:00Z'\n  startTime: '2024-05-01T10:00:00Z'\n"
    )
    code = main(
        [
            str(pr_file),
            "--format",
            "slsa/v2alpha3",
            "-c",
            "builder.id=https://b.example",
            "--taskrun",
            str(child_file),
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["predicate"]["runDetails"]["builder"] == {"id": "https://b.example"}
    assert [s["name"] for s in out["subject"]] == ["gcr.io/app"]


def test_module_entry_reports_errors_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_file = tmp_path / "tr.json"
    run_file.write_text(json.dumps(taskrun()))
    assert main([str(run_file), "-c", "transparency.enabled=true"]) == 1
    err = capsys.readouterr().err
    assert "not supported yet" in err
    assert "Traceback" not in err
    assert main([str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
