"""chains-config: documented defaults, value checks, "not supported yet", unknown keys."""

from __future__ import annotations

import pytest

from tektite.chains.config import ChainsConfig
from tektite.errors import NotSupported, ValidationError


def test_empty_configmap_gives_chains_documented_defaults() -> None:
    cfg = ChainsConfig.from_configmap_data({})
    assert cfg.artifacts.taskruns.format == "in-toto"
    assert cfg.artifacts.taskruns.storage == ("tekton",)
    assert cfg.artifacts.taskruns.signer == "x509"
    assert cfg.artifacts.pipelineruns.format == "in-toto"
    assert cfg.artifacts.pipelineruns.storage == ("tekton",)
    assert cfg.artifacts.pipelineruns.enable_deep_inspection is False
    assert cfg.artifacts.oci.format == "simplesigning"
    assert cfg.artifacts.oci.storage == ("oci",)
    assert cfg.builder.id == "https://tekton.dev/chains/v2"
    assert cfg.build_definition.build_type == "https://tekton.dev/chains/v2/slsa"
    assert cfg.transparency.enabled is False
    assert cfg.transparency.url == "https://rekor.sigstore.dev"
    assert cfg.storage.oci_repository_insecure is False
    assert cfg.storage.oci_encoding_format == "dsse"
    assert cfg == ChainsConfig.default()


def test_values_are_parsed() -> None:
    cfg = ChainsConfig.from_configmap_data(
        {
            "artifacts.taskrun.format": "slsa/v2alpha4",
            "artifacts.taskrun.storage": "tekton, oci,file",
            "artifacts.pipelinerun.format": "slsa/v1",
            "artifacts.pipelinerun.storage": "",
            "artifacts.pipelinerun.enable-deep-inspection": "True",
            "artifacts.oci.signer": "none",
            "builder.id": "https://ci.example/builder",
            "builddefinition.buildtype": "https://tekton.dev/chains/v2/slsa-tekton",
            "storage.oci.repository": "registry.local/attestations",
            "storage.oci.repository.insecure": "true",
            "filter.managed-by": "a, b",
            "transparency.enabled": "false",
        }
    )
    assert cfg.artifacts.taskruns.format == "slsa/v2alpha4"
    assert cfg.artifacts.taskruns.storage == ("tekton", "oci", "file")
    assert cfg.artifacts.pipelineruns.storage == ()
    assert cfg.artifacts.pipelineruns.enable_deep_inspection is True
    assert cfg.artifacts.oci.signer == "none"
    assert cfg.builder.id == "https://ci.example/builder"
    assert cfg.build_definition.build_type.endswith("slsa-tekton")
    assert cfg.storage.oci_repository == "registry.local/attestations"
    assert cfg.storage.oci_repository_insecure is True
    assert cfg.managed_by == ("a", "b")


def test_knative_example_key_is_ignored() -> None:
    assert ChainsConfig.from_configmap_data({"_example": "################"}) == ChainsConfig.default()


def test_unknown_key_is_an_error_with_did_you_mean() -> None:
    with pytest.raises(ValidationError) as err:
        ChainsConfig.from_configmap_data({"artifacts.taskrun.fromat": "in-toto"})
    text = str(err.value)
    assert "artifacts.taskrun.fromat" in text
    assert "did you mean 'artifacts.taskrun.format'" in text


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("artifacts.taskrun.format", "slsa/v9", "in-toto"),
        ("artifacts.pipelinerun.signer", "pgp", "x509"),
        ("artifacts.pipelinerun.enable-deep-inspection", "yes", "true"),
        ("artifacts.oci.format", "in-toto", "simplesigning"),
        ("builddefinition.buildtype", "https://example/bt", "slsa-tekton"),
        ("artifacts.taskrun.storage", "tekton,s3", "docdb"),
        ("transparency.enabled", "sometimes", "manual"),
        ("storage.oci.repository.insecure", "2", "false"),
    ],
)
def test_bad_value_names_key_expected_and_found(key: str, value: str, expected: str) -> None:
    with pytest.raises(ValidationError) as err:
        ChainsConfig.from_configmap_data({key: value})
    text = str(err.value)
    assert key in text
    assert expected in text
    assert repr(value) in text


@pytest.mark.parametrize(
    "data",
    [
        {"artifacts.taskrun.format": "slsa/v2alpha2"},
        {"artifacts.taskrun.storage": "gcs"},
        {"artifacts.pipelinerun.storage": "tekton,grafeas"},
        {"artifacts.oci.storage": "oci,gcs"},
        {"storage.gcs.bucket": "my-bucket"},
        {"storage.grafeas.projectid": "p"},
        {"storage.archivista.url": "https://archivista.example"},
        {"storage.docdb.mongo-server-url-path": "/mnt/url"},
        {"storage.pubsub.provider": "kafka"},
        {"artifacts.taskrun.signer": "kms", "signers.kms.kmsref": "gcpkms://projects/p/keys/k"},
        {"signers.kms.kmsref": "hashivault://key"},
        {"signers.kms.auth.address": "https://vault.example"},
        {"signers.x509.fulcio.enabled": "true"},
        {"transparency.enabled": "true"},
        {"transparency.enabled": "manual"},
        {"artifacts.taskrun.storage": "docdb", "storage.docdb.url": "firestore://projects/p/databases/d/c"},
        {"artifacts.taskrun.storage": "docdb", "storage.docdb.url": "mongo://db/coll"},
    ],
)
def test_documented_but_unimplemented_says_not_supported_yet(data: dict[str, str]) -> None:
    with pytest.raises(NotSupported) as err:
        ChainsConfig.from_configmap_data(data)
    assert "not supported yet" in str(err.value)


def test_oci_encoding_format_is_dsse_or_sigstore_bundle() -> None:
    assert ChainsConfig.from_configmap_data({}).storage.oci_encoding_format == "dsse"
    cfg = ChainsConfig.from_configmap_data({"storage.oci.encoding-format": "sigstore-bundle"})
    assert cfg.storage.oci_encoding_format == "sigstore-bundle"
    with pytest.raises(ValidationError) as err:
        ChainsConfig.from_configmap_data({"storage.oci.encoding-format": "protobuf"})
    assert "storage.oci.encoding-format" in str(err.value) and "'protobuf'" in str(err.value)


def test_kms_signer_accepts_pkcs11_and_requires_a_reference() -> None:
    ref = "pkcs11:token=chains;object=signing?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234"
    cfg = ChainsConfig.from_configmap_data({"artifacts.taskrun.signer": "kms", "signers.kms.kmsref": ref})
    assert cfg.signers.kms.kmsref == ref
    assert "1234" not in repr(cfg)
    with pytest.raises(ValidationError, match=r"signers\.kms\.kmsref"):
        ChainsConfig.from_configmap_data({"artifacts.taskrun.signer": "kms"})


def test_secret_values_never_appear_in_errors() -> None:
    with pytest.raises(ValidationError) as err:
        ChainsConfig.from_configmap_data({"signers.kms.kmsref": "vault:token-s3cr3t"})
    assert "s3cr3t" not in str(err.value)
    with pytest.raises(NotSupported) as not_yet:
        ChainsConfig.from_configmap_data({"signers.kms.auth.token": "s3cr3t"})
    assert "s3cr3t" not in str(not_yet.value)


def test_docdb_storage_takes_tektite_url_and_requires_one() -> None:
    cfg = ChainsConfig.from_configmap_data(
        {"artifacts.pipelinerun.storage": "docdb", "storage.docdb.url": "tektite://attestations"}
    )
    assert cfg.storage.docdb_url == "tektite://attestations"
    with pytest.raises(ValidationError, match=r"storage\.docdb\.url"):
        ChainsConfig.from_configmap_data({"artifacts.pipelinerun.storage": "docdb"})


def test_values_must_be_strings() -> None:
    with pytest.raises(ValidationError, match="strings"):
        ChainsConfig.from_configmap_data({"artifacts.pipelinerun.enable-deep-inspection": True})  # type: ignore[dict-item]
