"""signers.kms.kmsref: pkcs11 URIs (RFC 7512) and the cloud schemes that are not supported yet.

Signing with a real token is in tests/integration/test_softhsm.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tektite.chains.signing import load_signer
from tektite.chains.signing.pkcs11_uri import parse_pkcs11_uri, redact_kmsref
from tektite.errors import NotSupported, ValidationError


def test_parses_token_object_id_and_query_attributes() -> None:
    uri = parse_pkcs11_uri(
        "pkcs11:token=Chains%20Token;object=signing%2Dkey;id=%01%ff;slot-id=7"
        "?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=12%2034"
    )
    assert uri.token == "Chains Token"
    assert uri.object == "signing-key"
    assert uri.id == b"\x01\xff"
    assert uri.slot_id == 7
    assert uri.module_path == "/usr/lib/softhsm/libsofthsm2.so"
    assert uri.pin() == "12 34"


def test_repr_and_redaction_never_show_the_pin() -> None:
    ref = "pkcs11:token=t;object=k?module-path=/m.so&pin-value=super-secret"
    assert "super-secret" not in repr(parse_pkcs11_uri(ref))
    assert redact_kmsref(ref) == "pkcs11:token=t;object=k?module-path=/m.so&pin-value=***"


def test_errors_about_a_uri_do_not_echo_the_pin() -> None:
    with pytest.raises(ValidationError) as err:
        load_signer("kms", kmsref="pkcs12:token=t;object=k?pin-value=super-secret")
    assert "super-secret" not in str(err.value)
    assert "unknown KMS scheme" in str(err.value)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("pkcs11:token=t", "the key is not named"),
        ("pkcs11:token=t;object=k;colour=blue", "unsupported pkcs11 path attribute.*found colour"),
        ("pkcs11:object=k?pin=1", "unsupported pkcs11 query attribute.*found pin"),
        ("pkcs11:object=k;type=public", "expected type=private, found public"),
        ("pkcs11:object=k;slot-id=one", "slot-id must be a number"),
        ("pkcs11:object=k;object=j", "given twice"),
        ("pkcs11:object", "attribute without a value"),
    ],
)
def test_bad_uris_say_what_is_wrong(ref: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as err:
        parse_pkcs11_uri(ref)
    assert "signers.kms.kmsref" in str(err.value)


def test_vendor_attributes_are_ignored() -> None:
    assert parse_pkcs11_uri("pkcs11:object=k;x-vendor=1?x-other=2").object == "k"


def test_module_comes_from_path_name_or_cosign_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "libfake.so"
    module.write_bytes(b"")
    monkeypatch.delenv("COSIGN_PKCS11_MODULE_PATH", raising=False)
    assert parse_pkcs11_uri(f"pkcs11:object=k?module-path={module}").module() == module
    with pytest.raises(ValidationError, match="no PKCS#11 module given"):
        parse_pkcs11_uri("pkcs11:object=k").module()
    monkeypatch.setenv("COSIGN_PKCS11_MODULE_PATH", str(module))
    assert parse_pkcs11_uri("pkcs11:object=k").module() == module
    with pytest.raises(ValidationError, match="PKCS#11 module not found"):
        parse_pkcs11_uri(f"pkcs11:object=k?module-path={tmp_path}/missing.so").module()
    with pytest.raises(ValidationError, match="module-name 'no-such-module' not found"):
        parse_pkcs11_uri("pkcs11:object=k?module-name=no-such-module").module()


def test_pin_comes_from_value_source_file_or_cosign_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pin_file = tmp_path / "pin"
    pin_file.write_text("4321\n")
    monkeypatch.delenv("COSIGN_PKCS11_PIN", raising=False)
    assert parse_pkcs11_uri(f"pkcs11:object=k?pin-source=file:{pin_file}").pin() == "4321"
    assert parse_pkcs11_uri("pkcs11:object=k").pin() is None
    monkeypatch.setenv("COSIGN_PKCS11_PIN", "9999")
    assert parse_pkcs11_uri("pkcs11:object=k").pin() == "9999"
    assert parse_pkcs11_uri("pkcs11:object=k?pin-value=1").pin() == "1"
    with pytest.raises(ValidationError, match="cannot read pin-source"):
        parse_pkcs11_uri(f"pkcs11:object=k?pin-source={tmp_path}/nope").pin()


@pytest.mark.parametrize(
    "ref",
    [
        "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "awskms:///alias/chains",
        "azurekms://vault.vault.azure.net/chains",
        "hashivault://chains",
    ],
)
def test_cloud_kms_schemes_are_not_supported_yet(ref: str) -> None:
    with pytest.raises(NotSupported) as err:
        load_signer("kms", kmsref=ref)
    assert "not supported yet" in str(err.value)
    assert err.value.http_status == 501


def test_kms_without_a_reference_names_the_config_key() -> None:
    with pytest.raises(ValidationError, match=r"signers\.kms\.kmsref"):
        load_signer("kms", kmsref="")
