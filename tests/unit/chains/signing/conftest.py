"""Keys of every supported type, and an OpenSSL-backed verifier (code tektite did not write)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

KEY_KINDS = ["ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048"]


def make_key(kind: str) -> PrivateKeyTypes:
    if kind == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise AssertionError(kind)


def pkcs8_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


OpensslVerify = Callable[[bytes, bytes, bytes], bool]


@pytest.fixture()
def new_key() -> Callable[[str], PrivateKeyTypes]:
    """``new_key("ecdsa-p256" | "ecdsa-p384" | "ed25519" | "rsa-2048")``."""
    return make_key


@pytest.fixture(params=KEY_KINDS)
def any_key(request: pytest.FixtureRequest) -> PrivateKeyTypes:
    """One private key of each supported kind (the test runs once per kind)."""
    return make_key(request.param)


@pytest.fixture()
def openssl_verify(tmp_path: Path) -> OpensslVerify:
    """``openssl_verify(pub_pem, signature, data)``: True when OpenSSL accepts the signature.

    ``openssl dgst -sha256 -verify`` for ECDSA/RSA; Ed25519 has no separate digest, so it goes
    through ``openssl pkeyutl -verify -rawin``.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed (Debian package 'openssl')")
    counter = iter(range(1_000_000))

    def verify(pub_pem: bytes, signature: bytes, data: bytes) -> bool:
        n = next(counter)
        pub, sig, msg = tmp_path / f"pub{n}.pem", tmp_path / f"sig{n}.bin", tmp_path / f"data{n}"
        pub.write_bytes(pub_pem)
        sig.write_bytes(signature)
        msg.write_bytes(data)
        kind = subprocess.run(
            [openssl, "pkey", "-pubin", "-in", str(pub), "-noout", "-text"], capture_output=True, check=True
        ).stdout
        if kind.startswith(b"ED25519"):
            cmd = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin"]
            cmd += ["-in", str(msg), "-sigfile", str(sig)]
        else:
            cmd = [openssl, "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig), str(msg)]
        result = subprocess.run(cmd, capture_output=True)
        return result.returncode == 0 and b"Verified" in result.stdout + result.stderr

    return verify
