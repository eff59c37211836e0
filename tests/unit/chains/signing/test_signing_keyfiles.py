"""`tektite keys generate` / `tektite keys public-key` building blocks."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tektite.chains.signing import load_signer
from tektite.chains.signing.cosign import load_cosign_private_key
from tektite.chains.signing.keyfiles import public_key_of_keyfile, read_password, write_keypair
from tektite.errors import AlreadyExists, SigningError, TektiteError


def test_write_keypair_writes_a_private_key_only_the_owner_can_read(tmp_path: Path) -> None:
    key_path, pub_path = write_keypair(tmp_path / "cosign", b"pw")
    assert (key_path.name, pub_path.name) == ("cosign.key", "cosign.pub")
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert key_path.read_bytes().startswith(b"-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----")
    assert pub_path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")


def test_generate_write_reload_round_trip(tmp_path: Path) -> None:
    key_path, pub_path = write_keypair(tmp_path / "release", b"hunter2")
    assert public_key_of_keyfile(key_path, b"hunter2") == pub_path.read_bytes()
    signer = load_signer("x509", key_file=key_path, password=b"hunter2")
    assert signer.public_key_pem() == pub_path.read_bytes()
    key = load_cosign_private_key(key_path.read_bytes(), b"hunter2")
    assert (
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == pub_path.read_bytes()
    )


def test_existing_keys_are_not_overwritten_without_force(tmp_path: Path) -> None:
    key_path, pub_path = write_keypair(tmp_path / "cosign", b"pw")
    before = key_path.read_bytes()
    with pytest.raises(AlreadyExists, match="already exists"):
        write_keypair(tmp_path / "cosign", b"pw")
    assert key_path.read_bytes() == before
    write_keypair(tmp_path / "cosign", b"pw2", force=True)
    assert key_path.read_bytes() != before
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert public_key_of_keyfile(key_path, b"pw2") == pub_path.read_bytes()


def test_public_key_with_wrong_password_names_the_file(tmp_path: Path) -> None:
    key_path, _ = write_keypair(tmp_path / "cosign", b"right")
    with pytest.raises(SigningError, match=rf"wrong password for {key_path}"):
        public_key_of_keyfile(key_path, b"wrong")
    with pytest.raises(SigningError, match="expected a password"):
        public_key_of_keyfile(key_path, None)


def test_public_key_of_an_unencrypted_pem_needs_no_password(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    path = tmp_path / "x509.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    assert public_key_of_keyfile(path, None) == key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_public_key_of_a_missing_or_garbage_file_is_a_tektite_error(tmp_path: Path) -> None:
    with pytest.raises(TektiteError, match="cannot read the key file"):
        public_key_of_keyfile(tmp_path / "nope.key", b"pw")
    (tmp_path / "junk.key").write_bytes(b"junk")
    with pytest.raises(SigningError, match="not a private key"):
        public_key_of_keyfile(tmp_path / "junk.key", None)


def test_password_comes_from_cosign_password_even_when_empty() -> None:
    def no_prompt(_: str) -> str:
        raise AssertionError("must not prompt")

    assert read_password(env={"COSIGN_PASSWORD": "from-env"}, prompt=no_prompt) == b"from-env"
    assert read_password(env={"COSIGN_PASSWORD": ""}, prompt=no_prompt) == b""


def test_password_prompt_asks_twice_when_confirming() -> None:
    answers = iter(["one", "one"])
    prompts: list[str] = []

    def prompt(text: str) -> str:
        prompts.append(text)
        return next(answers)

    assert read_password(env={}, prompt=prompt, stdin_is_tty=True, confirm=True) == b"one"
    assert len(prompts) == 2
    answers = iter(["one", "two"])
    with pytest.raises(SigningError, match="passwords do not match"):
        read_password(env={}, prompt=prompt, stdin_is_tty=True, confirm=True)


def test_password_is_read_from_stdin_when_it_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_stdin = io.TextIOWrapper(io.BytesIO(b"piped"))
    monkeypatch.setattr("sys.stdin", fake_stdin)
    assert read_password(env={}, stdin_is_tty=False) == b"piped"
