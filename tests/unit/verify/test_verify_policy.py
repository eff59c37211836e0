"""--policy FILE: conditions on the attestation, and failure messages that say what and why."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tektite.errors import NotFound, TektiteError, ValidationError, VerificationError
from tektite.verify import load_policy

IMAGE_DIGEST = "4fc2b2ae92a2bf753c0ab478b01c5f71ca8d2a2cf9fb5435040e8c3b7df99daf"
GIT_COMMIT = "9f0b2a7d3c1e4b5a6d7e8f9a0b1c2d3e4f5a6b7c"

# A SLSA v0.2 statement shaped like Chains' slsa/v1 TaskRun output.
V02: dict[str, Any] = {
    "_type": "https://in-toto.io/Statement/v0.1",
    "predicateType": "https://slsa.dev/provenance/v0.2",
    "subject": [{"name": "registry.example.com/team/app", "digest": {"sha256": IMAGE_DIGEST}}],
    "predicate": {
        "builder": {"id": "https://tekton.dev/chains/v2"},
        "buildType": "tekton.dev/v1/TaskRun",
        "invocation": {
            "configSource": {},
            "parameters": {"IMAGE": "registry.example.com/team/app", "ARGS": ["--push", "--cache"]},
        },
        "materials": [
            {"uri": "git+https://github.com/my-org/app.git", "digest": {"sha1": GIT_COMMIT}},
            {"uri": "oci://mirror.gcr.io/alpine", "digest": {"sha256": IMAGE_DIGEST}},
        ],
    },
}

# The same build as SLSA v1 (Chains slsa/v2alpha4).
V1: dict[str, Any] = {
    "_type": "https://in-toto.io/Statement/v1",
    "predicateType": "https://slsa.dev/provenance/v1",
    "subject": V02["subject"],
    "predicate": {
        "buildDefinition": {
            "buildType": "https://tekton.dev/chains/v2/slsa",
            "externalParameters": {
                "runSpec": {
                    "params": [
                        {"name": "IMAGE", "value": "registry.example.com/team/app"},
                        {"name": "ARGS", "value": ["--push", "--cache"]},
                    ]
                }
            },
            "resolvedDependencies": [
                {"uri": "git+https://github.com/my-org/app.git", "digest": {"sha1": GIT_COMMIT}},
                {"uri": "oci://mirror.gcr.io/alpine", "digest": {"sha256": IMAGE_DIGEST}},
            ],
        },
        "runDetails": {"builder": {"id": "https://tekton.dev/chains/v2"}, "metadata": {}},
    },
}

FULL_POLICY = f"""
predicateType: https://slsa.dev/provenance/*
builder:
  id: https://tekton.dev/chains/v2
subject:
  - name: registry.example.com/team/*
    digest: sha256:{IMAGE_DIGEST}
materials:
  allow:
    - uri: git+https://github.com/my-org/*
    - uri: oci://mirror.gcr.io/*
  require:
    - uri: git+https://github.com/my-org/app*
      digest: sha1:*
params:
  IMAGE: registry.example.com/team/*
  ARGS: ["--push", "*"]
"""


@pytest.mark.parametrize("statement", [V02, V1], ids=["slsa-v0.2", "slsa-v1"])
def test_a_matching_statement_passes(statement: dict[str, Any]) -> None:
    policy = load_policy(FULL_POLICY)
    assert policy.evaluate(statement) == []
    policy.enforce(statement)


@pytest.mark.parametrize("statement", [V02, V1], ids=["slsa-v0.2", "slsa-v1"])
def test_wrong_builder_fails_naming_expected_and_found(statement: dict[str, Any]) -> None:
    other = copy.deepcopy(statement)
    holder = other["predicate"].get("runDetails", other["predicate"])
    holder["builder"]["id"] = "https://evil.example/builder"
    failures = load_policy(FULL_POLICY).evaluate(other)
    assert failures == [
        "builder.id: expected 'https://tekton.dev/chains/v2', found \"https://evil.example/builder\""
    ]


def test_predicate_type_mismatch() -> None:
    policy = load_policy("predicateType: https://slsa.dev/provenance/v1")
    (failure,) = policy.evaluate(V02)
    assert failure.startswith("predicateType:")
    assert "expected 'https://slsa.dev/provenance/v1'" in failure
    assert 'found "https://slsa.dev/provenance/v0.2"' in failure


def test_subject_digest_mismatch_lists_the_subjects_found() -> None:
    policy = load_policy("subject:\n  - digest: sha256:0000\n")
    (failure,) = policy.evaluate(V1)
    assert failure.startswith("subject[0]: expected a subject with digest sha256:0000")
    assert f"found registry.example.com/team/app@sha256:{IMAGE_DIGEST}" in failure


def test_material_outside_the_allow_list_is_named() -> None:
    policy = load_policy("materials:\n  allow:\n    - uri: git+https://github.com/my-org/*\n")
    (failure,) = policy.evaluate(V02)
    assert failure.startswith("materials.allow:")
    assert "git+https://github.com/my-org/*" in failure
    assert "found predicate.materials[1] oci://mirror.gcr.io/alpine" in failure


def test_required_material_missing_in_resolved_dependencies() -> None:
    policy = load_policy(
        "resolvedDependencies:\n  require:\n    - uri: git+https://github.com/other-org/*\n      digest: sha1:*\n"
    )
    (failure,) = policy.evaluate(V1)
    assert failure.startswith(
        "materials.require[0]: expected a material with uri 'git+https://github.com/other-org/*'"
    )
    assert "git+https://github.com/my-org/app.git (sha1:" in failure


def test_material_digest_algorithm_must_match() -> None:
    policy = load_policy(
        "materials:\n  require:\n    - uri: git+https://github.com/my-org/*\n      digest: sha256:*\n"
    )
    assert len(policy.evaluate(V02)) == 1


def test_params_missing_or_different() -> None:
    policy = load_policy("params:\n  IMAGE: docker.io/*\n  REVISION: '*'\n  ARGS: ['--push']\n")
    failures = policy.evaluate(V1)
    assert 'params.IMAGE: expected "docker.io/*", found "registry.example.com/team/app"' in failures
    assert any(
        f.startswith("params.REVISION: expected") and "found no such param (params are: ARGS, IMAGE)" in f
        for f in failures
    )
    assert 'params.ARGS: expected ["--push"], found ["--push", "--cache"]' in failures
    assert len(failures) == 3


def test_kyverno_style_conditions_on_the_predicate() -> None:
    policy = load_policy(
        """
conditions:
  - key: "{{ builder.id }}"
    operator: Equals
    value: https://tekton.dev/chains/v2
  - key: buildType
    operator: In
    value: [tekton.dev/v1/TaskRun, tekton.dev/v1/PipelineRun]
  - key: materials[0].uri
    operator: NotEquals
    value: "*evil*"
"""
    )
    assert policy.evaluate(V02) == []
    failures = policy.evaluate(V1)  # builder.id and buildType live elsewhere in SLSA v1
    assert failures[0] == (
        'conditions[0] ({{ builder.id }} Equals): expected "https://tekton.dev/chains/v2", found nothing'
    )
    assert failures[1].startswith("conditions[1] (buildType In)")
    assert len(failures) == 2  # a missing key is "not equal" to anything, as in Kyverno
    evil = copy.deepcopy(V02)
    evil["predicate"]["materials"][0]["uri"] = "git+https://evil.example/app"
    (failure,) = policy.evaluate(evil)
    assert (
        failure
        == 'conditions[2] (materials[0].uri NotEquals): expected "*evil*", found "git+https://evil.example/app"'
    )


def test_kyverno_all_and_any_blocks() -> None:
    policy = load_policy(
        """
conditions:
  all:
    - {key: builder.id, operator: Equals, value: "https://tekton.dev/*"}
  any:
    - {key: buildType, operator: Equals, value: nothing}
    - {key: buildType, operator: Equals, value: "tekton.dev/v1/*"}
"""
    )
    assert policy.evaluate(V02) == []
    failing = copy.deepcopy(V02)
    failing["predicate"]["buildType"] = "other"
    (failure,) = policy.evaluate(failing)
    assert failure.startswith("conditions.any: expected at least one to hold, found none")


def test_enforce_raises_with_every_failure(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("predicateType: nope\nbuilder:\n  id: nope\n")
    policy = load_policy(path)
    with pytest.raises(VerificationError) as err:
        policy.enforce(V02, where="registry.example.com/team/app")
    text = str(err.value)
    assert "policy failed (2 condition(s))" in text
    assert "predicateType: expected 'nope'" in text and "builder.id: expected 'nope'" in text


def test_policy_loads_from_path_string(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("builder:\n  id: https://tekton.dev/chains/v2\n")
    assert load_policy(str(path)).evaluate(V02) == []


def test_missing_policy_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_policy(tmp_path / "missing.yaml")
    with pytest.raises(NotFound, match="not found"):
        load_policy("missing-policy.yaml")


def test_unknown_field_suggests_the_right_one(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("builder:\n  idd: x\npredicatetype: y\n")
    with pytest.raises(ValidationError) as err:
        load_policy(path)
    text = str(err.value)
    assert f"{path}: builder.idd: unknown field; expected one of id (did you mean 'id'?), found 'idd'" in text
    assert "predicatetype: unknown field" in text and "did you mean 'predicateType'?" in text


def test_invalid_policies_say_where(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="algorithm:value"):
        load_policy("subject:\n  - digest: abc\n")
    with pytest.raises(ValidationError, match="needs name and/or digest"):
        load_policy("subject:\n  - {}\n")
    with pytest.raises(ValidationError, match="empty; it would accept anything"):
        load_policy("# nothing\n")
    with pytest.raises(ValidationError, match="a policy is a YAML mapping"):
        load_policy("- a\n- b\n")
    with pytest.raises(ValidationError, match="operator"):
        load_policy("conditions:\n  - {key: a, operator: Matches, value: b}\n")
    path = tmp_path / "bad.yaml"
    path.write_text("builder:\n  id: [unclosed\n")
    with pytest.raises(ValidationError) as err:
        load_policy(path)
    assert err.value.file == str(path) and err.value.line is not None


def test_policy_errors_are_tektite_errors() -> None:
    with pytest.raises(TektiteError):
        load_policy("builder: 5\n")


def test_a_non_object_statement_fails_instead_of_crashing() -> None:
    assert (
        load_policy("builder: {id: x}").evaluate([])[0].startswith("statement: expected an in-toto statement")
    )  # type: ignore[arg-type]
