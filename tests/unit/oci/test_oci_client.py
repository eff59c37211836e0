"""RegistryClient behaviour against an in-memory registry: auth flows, pagination, integrity, schemes."""

from __future__ import annotations

import base64
import json

import pytest
from oci_fake_registry import REALM, FakeRegistry

from tektite.errors import NotFound, Unauthorized
from tektite.oci.auth import DockerConfig
from tektite.oci.challenge import parse_challenge
from tektite.oci.client import RegistryClient, RegistryError
from tektite.oci.manifest import OCI_MANIFEST

REPO = "reg.test/team/app"


def config(username: str = "user", password: str = "s3cret", host: str = "reg.test") -> DockerConfig:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return DockerConfig.from_bytes(json.dumps({"auths": {host: {"auth": auth}}}))


def client(fake: FakeRegistry, auth: DockerConfig | None = None, insecure: bool = False) -> RegistryClient:
    return RegistryClient(auth, insecure=insecure, transport=fake.transport())


def push_manifest(c: RegistryClient, tag: str, body: bytes = b'{"schemaVersion":2}') -> str:
    return c.put_manifest(f"{REPO}:{tag}", body, OCI_MANIFEST)


def test_parse_challenge() -> None:
    c = parse_challenge('Bearer realm="https://auth.io/token",service="reg",scope="repository:a/b:pull,push"')
    assert c is not None and c.scheme == "bearer"
    assert c.params == {
        "realm": "https://auth.io/token",
        "service": "reg",
        "scope": "repository:a/b:pull,push",
    }
    basic = parse_challenge('Basic realm="Registry Realm"')
    assert basic is not None and basic.scheme == "basic"
    assert parse_challenge("") is None


def test_bearer_flow_fetches_a_scoped_token_once_per_scope() -> None:
    fake = FakeRegistry(auth="bearer")
    with client(fake, config()) as c:
        digest = c.put_blob(REPO, b"layer")
        assert c.get_blob(REPO, digest) == b"layer"
        assert c.get_blob(REPO, digest) == b"layer"
    token_requests = [r for r in fake.requests if str(r.url).startswith(REALM)]
    assert [r.url.params["scope"] for r in token_requests] == [
        "repository:team/app:pull",  # HEAD before the upload
        "repository:team/app:pull,push",
    ]
    assert all(r.url.params["service"] == "fake.test" for r in token_requests)
    # the last GET went out with the cached token at once: it was not challenged
    method, _, auth = fake.seen[-1]
    assert method == "GET" and auth is not None and auth.startswith("Bearer ")
    assert fake.seen[-2][0] == "GET" and fake.seen[-2][2] == auth


def test_identity_token_uses_the_refresh_token_grant() -> None:
    fake = FakeRegistry(auth="bearer")
    auth = DockerConfig.from_bytes(json.dumps({"auths": {"reg.test": {"identitytoken": "refresh-me"}}}))
    with client(fake, auth) as c:
        digest = push_manifest(c, "v1")
    assert digest.startswith("sha256:")
    posts = [r for r in fake.requests if str(r.url).startswith(REALM)]
    assert posts and all(r.method == "POST" for r in posts)


def test_bearer_token_service_refusing_credentials() -> None:
    fake = FakeRegistry(auth="bearer")
    with client(fake, config(password="wrong")) as c, pytest.raises(Unauthorized) as err:
        c.get_manifest(f"{REPO}:v1")
    assert "token service https://auth.test/token refused the given credentials" in str(err.value)
    assert "wrong" not in str(err.value)


def test_anonymous_on_bearer_registry() -> None:
    with (
        client(FakeRegistry(auth="bearer")) as c,
        pytest.raises(Unauthorized, match="refused anonymous access"),
    ):
        c.get_manifest(f"{REPO}:v1")


def test_basic_auth_is_sent_after_the_challenge_and_then_preemptively() -> None:
    fake = FakeRegistry(auth="basic")
    with client(fake, config()) as c:
        push_manifest(c, "v1")
        assert c.list_tags(REPO) == ["v1"]
    sent = [(method, url, auth) for method, url, auth in fake.seen if not url.endswith("/v2/")]
    assert sent[-1][2] is not None and sent[-1][2].startswith("Basic ")
    assert [auth is None for _, _, auth in sent].count(True) == 1  # only the first request was challenged


def test_basic_auth_with_wrong_password_is_unauthorized() -> None:
    with client(FakeRegistry(auth="basic"), config(password="nope")) as c, pytest.raises(Unauthorized) as err:
        c.list_tags(REPO)
    assert "refused the configured credentials" in str(err.value)


def test_credentials_for_another_registry_are_not_sent() -> None:
    fake = FakeRegistry(auth="basic")
    with client(fake, config(host="other.test")) as c, pytest.raises(Unauthorized):
        c.list_tags(REPO)
    assert all(auth is None for _, _, auth in fake.seen)


def test_manifest_digest_and_media_type() -> None:
    fake = FakeRegistry()
    with client(fake) as c:
        digest = push_manifest(c, "v1")
        head = c.head_manifest(f"{REPO}:v1")
        got = c.get_manifest(f"{REPO}@{digest}")
    assert head.digest == digest == got.digest
    assert head.media_type == got.media_type == OCI_MANIFEST
    assert got.content == b'{"schemaVersion":2}'


def test_content_not_matching_its_digest_is_rejected() -> None:
    fake = FakeRegistry()
    with client(fake) as c:
        digest = push_manifest(c, "v1")
        blob = c.put_blob(REPO, b"data")
        fake.corrupt = True
        with pytest.raises(RegistryError, match="content does not match its digest"):
            c.get_manifest(f"{REPO}@{digest}")
        with pytest.raises(RegistryError, match="content does not match its digest"):
            c.get_blob(REPO, blob)


def test_not_found_names_the_reference() -> None:
    with client(FakeRegistry()) as c:
        with pytest.raises(NotFound) as err:
            c.get_manifest(f"{REPO}:missing")
        assert f"manifest {REPO}:missing: not found (MANIFEST_UNKNOWN: manifest unknown)" in str(err.value)
        with pytest.raises(NotFound, match="manifest unknown"):
            c.head_manifest(f"{REPO}:missing")
        assert not c.blob_exists(REPO, "sha256:" + "0" * 64)


def test_list_tags_follows_pagination() -> None:
    fake = FakeRegistry(page_size=2)
    with client(fake) as c:
        for tag in ("a", "b", "c", "d", "e"):
            push_manifest(c, tag, f'{{"t":"{tag}"}}'.encode())
        assert c.list_tags(REPO) == ["a", "b", "c", "d", "e"]
    assert sum(r.url.path.endswith("/tags/list") for r in fake.requests) == 3


def test_public_registry_uses_https_only() -> None:
    fake = FakeRegistry(refuse_schemes=("https",))
    with client(fake) as c, pytest.raises(RegistryError) as err:
        c.list_tags(REPO)
    assert "cannot reach registry reg.test" in str(err.value)
    assert "insecure" in str(err.value)
    assert all(r.url.scheme == "https" for r in fake.requests)


@pytest.mark.parametrize("registry", ["localhost:5000", "127.0.0.1:5000", "10.1.2.3", "[::1]:5000"])
def test_local_registries_fall_back_to_http(registry: str) -> None:
    fake = FakeRegistry(refuse_schemes=("https",))
    with client(fake) as c:
        c.put_blob(f"{registry}/app", b"x")
    assert fake.requests[-1].url.scheme == "http"


def test_insecure_falls_back_to_http_for_any_registry() -> None:
    fake = FakeRegistry(refuse_schemes=("https",))
    with client(fake, insecure=True) as c:
        c.put_blob(REPO, b"x")
    assert fake.requests[-1].url.scheme == "http"
    assert fake.requests[-1].url.host == "reg.test"


def test_docker_hub_is_served_by_registry_1() -> None:
    fake = FakeRegistry()
    with client(fake) as c, pytest.raises(NotFound):
        c.get_manifest("busybox:1.36")
    assert fake.requests[-1].url.host == "registry-1.docker.io"
    assert fake.requests[-1].url.path == "/v2/library/busybox/manifests/1.36"
