"""The DSSE keyid is the OpenSSH SHA-256 fingerprint Chains records; checked against ssh-keygen."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from tektite.chains.signing import key_id_for, load_signer
from tektite.chains.signing.fake import FakeSigner


def _ssh_keygen_fingerprint(key: PrivateKeyTypes, tmp_path: Path) -> str:
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        pytest.skip("ssh-keygen is not installed (Debian package 'openssh-client')")
    pem = tmp_path / "pub.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    # ssh-keygen converts the PKIX PEM itself, so tektite's own SSH encoding is not trusted here.
    imported = subprocess.run(
        [ssh_keygen, "-i", "-m", "PKCS8", "-f", str(pem)], capture_output=True, check=True
    ).stdout
    (tmp_path / "pub.ssh").write_bytes(imported)
    listed = subprocess.run(
        [ssh_keygen, "-l", "-E", "sha256", "-f", str(tmp_path / "pub.ssh")], capture_output=True, check=True
    ).stdout.decode()
    match = re.search(r"SHA256:[A-Za-z0-9+/]+", listed)
    assert match, listed
    return match.group(0)


@pytest.mark.parametrize("kind", ["ecdsa-p256", "ecdsa-p384", "rsa-2048"])  # Ed25519: see below
def test_key_id_is_the_openssh_sha256_fingerprint(
    kind: str, new_key: Callable[[str], PrivateKeyTypes], tmp_path: Path
) -> None:
    key = new_key(kind)
    assert key_id_for(key.public_key()) == _ssh_keygen_fingerprint(key, tmp_path)


def test_ed25519_key_id_matches_ssh_keygen_reading_the_openssh_private_key(  # no PKIX import for Ed25519
    new_key: Callable[[str], PrivateKeyTypes], tmp_path: Path
) -> None:
    ssh_keygen = shutil.which("ssh-keygen")
    if ssh_keygen is None:
        pytest.skip("ssh-keygen is not installed (Debian package 'openssh-client')")
    key = new_key("ed25519")
    path = tmp_path / "id_ed25519"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    listed = subprocess.run(
        [ssh_keygen, "-l", "-E", "sha256", "-f", str(path)], capture_output=True, check=True
    ).stdout.decode()
    assert key_id_for(key.public_key()) in listed


def test_signers_record_the_key_id_of_their_public_key(any_key: PrivateKeyTypes) -> None:
    pem = any_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signer = load_signer("x509", secret_data={"x509.pem": pem})
    assert signer.key_id == key_id_for(any_key.public_key())
    assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", signer.key_id)


def test_fake_signer_signs_with_a_plain_function() -> None:
    fake = FakeSigner(lambda data: data[::-1], key_id="k1")
    assert fake.sign(b"abc") == b"cba"
    assert fake.signed == [b"abc"]
    assert fake.key_id == "k1" and fake.public_key() is None and fake.public_key_pem() == b""
