from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tektite.errors import NotFound, ValidationError
from tektite.oci.auth import Credentials, DockerConfig, normalize_registry


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_auth_field_and_username_password_entries() -> None:
    config = DockerConfig.from_bytes(
        json.dumps(
            {
                "auths": {
                    "https://index.docker.io/v1/": {"auth": b64("hubuser:hubpass")},
                    "http://localhost:5000/v2/": {"username": "local", "password": "pw:with:colons"},
                    "ghcr.io": {"auth": b64("gh:tok")},
                    "empty.io": {},
                }
            }
        ).encode()
    )
    assert config.credentials_for("index.docker.io") == Credentials("hubuser", "hubpass")
    assert config.credentials_for("docker.io") == Credentials("hubuser", "hubpass")
    assert config.credentials_for("localhost:5000") == Credentials("local", "pw:with:colons")
    assert config.credentials_for("GHCR.io") == Credentials("gh", "tok")
    assert config.credentials_for("empty.io") is None
    assert config.credentials_for("quay.io") is None


def test_password_with_colon_inside_auth() -> None:
    config = DockerConfig.from_bytes(json.dumps({"auths": {"r.io": {"auth": b64("u:p:q")}}}))
    assert config.credentials_for("r.io") == Credentials("u", "p:q")


def test_legacy_dockercfg_map() -> None:
    config = DockerConfig.from_bytes(json.dumps({"r.io": {"auth": b64("u:p"), "email": "x@y"}}))
    assert config.credentials_for("r.io") == Credentials("u", "p")


def test_identity_token_is_kept() -> None:
    config = DockerConfig.from_bytes(json.dumps({"auths": {"r.io": {"identitytoken": "refresh"}}}))
    creds = config.credentials_for("r.io")
    assert creds is not None and creds.identity_token == "refresh"


def test_secret_with_data_and_string_data() -> None:
    doc = json.dumps({"auths": {"r.io": {"auth": b64("u:p")}}})
    with_data = {
        "metadata": {"name": "regcred", "namespace": "ci"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(doc)},
    }
    with_string = {"type": "kubernetes.io/dockerconfigjson", "stringData": {".dockerconfigjson": doc}}
    legacy = {
        "type": "kubernetes.io/dockercfg",
        "data": {".dockercfg": b64(json.dumps({"r.io": {"auth": b64("u:p")}}))},
    }
    for secret in (with_data, with_string, legacy):
        assert DockerConfig.from_secret(secret).credentials_for("r.io") == Credentials("u", "p")


def test_secret_of_wrong_type_names_the_secret() -> None:
    with pytest.raises(ValidationError) as err:
        DockerConfig.from_secret(
            {"metadata": {"name": "tls", "namespace": "ci"}, "type": "Opaque", "data": {}}
        )
    text = str(err.value)
    assert 'Secret "ci/tls"' in text and "kubernetes.io/dockerconfigjson" in text and "'Opaque'" in text


def test_secret_without_the_key() -> None:
    with pytest.raises(ValidationError, match=r"data\.\.dockerconfigjson: missing"):
        DockerConfig.from_secret({"type": "kubernetes.io/dockerconfigjson", "data": {}})


def test_invalid_json_names_the_source_and_hides_content(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"auths": {"r.io": {"auth": "c2VjcmV0"}')
    with pytest.raises(ValidationError) as err:
        DockerConfig.from_file(path)
    assert str(path) in str(err.value) and "not valid JSON" in str(err.value)
    assert "c2VjcmV0" not in str(err.value)


def test_bad_base64_auth() -> None:
    with pytest.raises(ValidationError, match=r"auths\['r.io'\]\.auth: not valid base64"):
        DockerConfig.from_bytes(json.dumps({"auths": {"r.io": {"auth": "%%%"}}}))
    with pytest.raises(ValidationError, match="has no ':'"):
        DockerConfig.from_bytes(json.dumps({"auths": {"r.io": {"auth": b64("nocolon")}}}))


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        DockerConfig.from_file(tmp_path / "nope.json")


def test_default_reads_docker_config_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"auths": {"r.io": {"auth": b64("u:p")}}}))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert DockerConfig.default().credentials_for("r.io") == Credentials("u", "p")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "absent"))
    assert DockerConfig.default().auths == {}


def test_merged_first_source_wins() -> None:
    first = DockerConfig.from_bytes(json.dumps({"auths": {"r.io": {"auth": b64("a:1")}}}), source="pod")
    second = DockerConfig.from_bytes(
        json.dumps({"auths": {"r.io": {"auth": b64("b:2")}, "q.io": {"auth": b64("c:3")}}}), source="sa"
    )
    merged = DockerConfig.merged([first, second])
    assert merged.credentials_for("r.io") == Credentials("a", "1")
    assert merged.credentials_for("q.io") == Credentials("c", "3")
    assert merged.sources == ["pod", "sa"]


def test_secrets_never_in_repr() -> None:
    config = DockerConfig.from_bytes(json.dumps({"auths": {"r.io": {"auth": b64("u:topsecret")}}}))
    assert "topsecret" not in repr(config)
    assert "topsecret" not in repr(config.credentials_for("r.io"))


@pytest.mark.parametrize(
    ("key", "host"),
    [
        ("https://index.docker.io/v1/", "index.docker.io"),
        ("docker.io", "index.docker.io"),
        ("http://localhost:5000/v2/", "localhost:5000"),
        ("Quay.IO", "quay.io"),
    ],
)
def test_normalize_registry(key: str, host: str) -> None:
    assert normalize_registry(key) == host
