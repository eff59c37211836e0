"""Image references and digests, checked as go-containerregistry and go-digest do."""

from __future__ import annotations

import pytest

from tektite.chains.formats.imageref import InvalidReference, check_digest, parse_digest_ref

SHA = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("ref", "name"),
    [
        (f"gcr.io/foo/bar@{SHA}", "gcr.io/foo/bar"),
        (f"gcr.io/foo/bar:v1@{SHA}", "gcr.io/foo/bar"),
        (f"busybox@{SHA}", "index.docker.io/library/busybox"),
        (f"docker.io/tekton/img@{SHA}", "index.docker.io/tekton/img"),
        (f"localhost:5000/app@{SHA}", "localhost:5000/app"),
    ],
)
def test_repository_names(ref: str, name: str) -> None:
    parsed = parse_digest_ref(ref)
    assert parsed.repository_name == name
    assert parsed.digest == SHA


@pytest.mark.parametrize(
    "ref",
    [
        "gcr.io/foo/bar",
        f"gcr.io/foo/bar@{SHA}@{SHA}",
        "gcr.io/foo/bar@sha512:" + "a" * 128,
        "gcr.io/foo/bar@sha256:abc",
        f"gcr.io/Foo/bar@{SHA}",
        f"a@{SHA}",
    ],
)
def test_invalid_references(ref: str) -> None:
    with pytest.raises(InvalidReference):
        parse_digest_ref(ref)


@pytest.mark.parametrize(
    "digest",
    # Chains trims spaces around the algorithm and the hex before checking them.
    [SHA, "sha1:" + "0" * 40, "sha384:" + "b" * 96, "sha512:" + "c" * 128, "SHA256:" + "a" * 64, SHA + "\n"],
)
def test_valid_digests(digest: str) -> None:
    check_digest(digest)


@pytest.mark.parametrize(
    "digest", ["sha256:", "sha256:" + "A" * 64, "md5:" + "a" * 32, "sha1:abc", SHA + ":x", "sha256"]
)
def test_invalid_digests(digest: str) -> None:
    with pytest.raises(InvalidReference):
        check_digest(digest)
