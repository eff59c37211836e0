"""The kms signer with a pkcs11: URI against a real SoftHSM2 token; verified by OpenSSL and securesystemslib."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import clirun
import pytest
from conftest_softhsm import SoftHsm, softhsm  # noqa: F401  (fixture)
from cryptography.hazmat.primitives import serialization
from securesystemslib import dsse as ssl_dsse
from securesystemslib import exceptions as ssl_exceptions
from securesystemslib.signer import Signature, SSlibKey

from tektite.chains.dsse import sign_envelope
from tektite.chains.signing import load_signer
from tektite.chains.simplesigning import simple_signing_payload
from tektite.errors import SigningError

pytestmark = pytest.mark.softhsm

DIGEST = "sha256:" + "ab" * 32


def _openssl_verify(pub_pem: bytes, signature: bytes, data: bytes, tmp_path: Path) -> bool:
    (tmp_path / "pub.pem").write_bytes(pub_pem)
    (tmp_path / "sig.bin").write_bytes(signature)
    (tmp_path / "data").write_bytes(data)
    result = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(tmp_path / "pub.pem"), "-signature",
         str(tmp_path / "sig.bin"), str(tmp_path / "data")],
        capture_output=True,
    )  # fmt: skip
    return result.returncode == 0


@pytest.mark.parametrize("label", ["chains-ec", "chains-rsa"])
def test_token_key_signs_an_image_signature_openssl_verifies(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    tmp_path: Path,
) -> None:
    signer = load_signer("kms", kmsref=softhsm.kmsref(label))
    assert signer.name == "kms"
    assert signer.public_key_pem() == softhsm.public_keys[label]
    payload = simple_signing_payload("registry.local/app", DIGEST)
    signature = signer.sign(payload)
    assert _openssl_verify(softhsm.public_keys[label], signature, payload, tmp_path)
    assert not _openssl_verify(
        softhsm.public_keys[label], signature, payload.replace(b"app", b"ap2"), tmp_path
    )
    other = "chains-rsa" if label == "chains-ec" else "chains-ec"
    assert not _openssl_verify(softhsm.public_keys[other], signature, payload, tmp_path)


def test_token_signed_dsse_envelope_verifies_with_securesystemslib(softhsm: SoftHsm) -> None:  # noqa: F811
    signer = load_signer("kms", kmsref=softhsm.kmsref("chains-ec"))
    statement = b'{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}'
    envelope = json.loads(sign_envelope(statement, signer).to_json())
    token_key = serialization.load_pem_public_key(softhsm.public_keys["chains-ec"])
    key = SSlibKey.from_crypto(token_key, keyid=signer.key_id, scheme="ecdsa-sha2-nistp256")
    ssl_dsse.Envelope.from_dict(copy.deepcopy(envelope)).verify([key], 1)  # from_dict mutates its input
    envelope["payload"] = base64.b64encode(statement.replace(b'"x"', b'"y"')).decode()
    with pytest.raises(ssl_exceptions.VerificationError):
        ssl_dsse.Envelope.from_dict(envelope).verify([key], 1)


def test_private_key_was_generated_in_the_token_and_cannot_leave_it(softhsm: SoftHsm) -> None:  # noqa: F811
    listing = softhsm.tool(
        "--token-label", softhsm.token, "--login", "--pin", softhsm.pin, "--list-objects", "--type", "privkey"
    ).stdout.decode()
    assert "chains-ec" in listing
    assert "never extractable" in listing and "local" in listing


def test_concurrent_signing_through_one_session_is_safe(softhsm: SoftHsm) -> None:  # noqa: F811
    signer = load_signer("kms", kmsref=softhsm.kmsref("chains-ec"))
    messages = [f"message {i}".encode() for i in range(16)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        signatures = list(pool.map(signer.sign, messages))
    token_key = serialization.load_pem_public_key(softhsm.public_keys["chains-ec"])
    key = SSlibKey.from_crypto(token_key, keyid="k", scheme="ecdsa-sha2-nistp256")
    for message, signature in zip(messages, signatures, strict=True):
        key.verify_signature(Signature("k", signature.hex()), message)


def test_wrong_pin_is_a_clear_error_that_does_not_echo_the_pin(softhsm: SoftHsm) -> None:  # noqa: F811
    with pytest.raises(SigningError) as err:
        load_signer("kms", kmsref=softhsm.kmsref("spare", token=softhsm.spare_token, pin="00000000"))
    assert "wrong PIN" in str(err.value)
    assert "00000000" not in str(err.value) and softhsm.pin not in str(err.value)


def test_missing_key_and_token_are_named(softhsm: SoftHsm) -> None:  # noqa: F811
    with pytest.raises(SigningError, match="no private key with this label/id"):
        load_signer("kms", kmsref=softhsm.kmsref("no-such-key"))
    with pytest.raises(SigningError, match=r"no matching PKCS#11 token; found tokens: .*'tektite-chains'"):
        load_signer("kms", kmsref=softhsm.kmsref("chains-ec", token="no-such-token"))


def test_key_can_be_selected_by_id(softhsm: SoftHsm) -> None:  # noqa: F811
    by_id = load_signer(
        "kms",
        kmsref=f"pkcs11:token={softhsm.token};id=%01?module-path={softhsm.module}&pin-value={softhsm.pin}",
    )
    assert by_id.public_key_pem() == softhsm.public_keys["chains-ec"]


def test_engine_runs_are_signed_by_the_token_through_chains_config(
    softhsm: SoftHsm,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The user's path: chains-config selects the kms signer with a pkcs11: kmsref; `tektite run`
    executes a TaskRun and the in-engine watcher signs it in the token. The envelope verifies
    with the token's public key (securesystemslib), `tektite chains verify --key` accepts that key
    and refuses another, and the PIN in the kmsref is nowhere in the stored run."""
    home = tmp_path / "home"

    def tektite(*args: str) -> subprocess.CompletedProcess[str]:
        return clirun.tektite(home, *args)

    (tmp_path / "run.yaml").write_text(
        f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: chains-config, namespace: tekton-chains}}
data:
  artifacts.taskrun.signer: kms
  artifacts.oci.storage: tekton
  artifacts.oci.signer: kms
  signers.kms.kmsref: "{softhsm.kmsref("chains-ec")}"
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: build}}
spec:
  taskSpec:
    results: [{{name: IMAGE_URL}}, {{name: IMAGE_DIGEST}}]
    steps:
    - name: build
      image: busybox
      script: |
        printf registry.test/app > $(results.IMAGE_URL.path)
        printf {DIGEST} > $(results.IMAGE_DIGEST.path)
"""
    )
    done = tektite("run", "-f", str(tmp_path / "run.yaml"), "--executor", "process", "-q")
    assert done.returncode == 0, done.stderr
    got = tektite("get", "taskrun", "build", "-o", "json")
    tr = json.loads(got.stdout)
    notes = tr["metadata"]["annotations"]
    assert notes["chains.tekton.dev/signed"] == "true", notes
    uid = tr["metadata"]["uid"]
    envelope = json.loads(base64.b64decode(notes[f"chains.tekton.dev/signature-taskrun-{uid}"]))
    token_key = serialization.load_pem_public_key(softhsm.public_keys["chains-ec"])
    key = SSlibKey.from_crypto(
        token_key, keyid=envelope["signatures"][0]["keyid"], scheme="ecdsa-sha2-nistp256"
    )
    ssl_dsse.Envelope.from_dict(copy.deepcopy(envelope)).verify([key], 1)
    assert softhsm.pin not in got.stdout

    (tmp_path / "token.pub").write_bytes(softhsm.public_keys["chains-ec"])
    (tmp_path / "other.pub").write_bytes(softhsm.public_keys["chains-rsa"])
    assert tektite("chains", "verify", "build", "--key", str(tmp_path / "token.pub")).returncode == 0
    refused = tektite("chains", "verify", "build", "--key", str(tmp_path / "other.pub"))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
