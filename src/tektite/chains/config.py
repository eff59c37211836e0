"""The ``chains-config`` ConfigMap: every key Tekton Chains documents, its default, and its checks.

    cfg = ChainsConfig.from_configmap_data({"artifacts.taskrun.format": "slsa/v2alpha4"})
    cfg.artifacts.taskruns.format            # "slsa/v2alpha4"
    cfg.artifacts.pipelineruns.storage       # ("tekton",)

A value that is not one Chains accepts raises :class:`~tektite.errors.ValidationError` naming the
key; a documented key or value tektite does not implement yet raises
:class:`~tektite.errors.NotSupported`; an unknown key is an error with a did-you-mean. Values of
secret keys (KMS tokens, Mongo URLs with passwords, PKCS#11 PINs) never appear in messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tektite.errors import FieldError, NotSupported, ValidationError

__all__ = [
    "DEFAULTS",
    "FORMATS",
    "IMPLEMENTED_STORAGE",
    "ArtifactConfig",
    "ArtifactsConfig",
    "BuildDefinitionConfig",
    "BuilderConfig",
    "ChainsConfig",
    "KMSSignerConfig",
    "SignersConfig",
    "StorageConfig",
    "TransparencyConfig",
    "X509SignerConfig",
]

CONFIGMAP = "chains-config"
FORMATS = ("in-toto", "slsa/v1", "slsa/v2alpha3", "slsa/v2alpha4")
FORMATS_NOT_YET = ("slsa/v2alpha2",)
OCI_FORMATS = ("simplesigning",)
CHAINS_STORAGE = ("tekton", "oci", "gcs", "docdb", "grafeas", "archivista", "pubsub")
IMPLEMENTED_STORAGE = ("tekton", "oci", "docdb", "file")
SIGNERS = ("x509", "kms", "none")
BUILD_TYPES = ("https://tekton.dev/chains/v2/slsa", "https://tekton.dev/chains/v2/slsa-tekton")
KMS_SCHEMES_NOT_YET = ("gcpkms", "awskms", "azurekms", "hashivault")
DOCDB_SCHEMES_NOT_YET = ("firestore", "mongo", "dynamodb", "awsdynamodb", "gcpfirestore", "mem")

DEFAULTS: dict[str, str] = {
    "artifacts.taskrun.format": "in-toto",
    "artifacts.taskrun.storage": "tekton",
    "artifacts.taskrun.signer": "x509",
    "artifacts.pipelinerun.format": "in-toto",
    "artifacts.pipelinerun.storage": "tekton",
    "artifacts.pipelinerun.signer": "x509",
    "artifacts.pipelinerun.enable-deep-inspection": "false",
    "artifacts.oci.format": "simplesigning",
    "artifacts.oci.storage": "oci",
    "artifacts.oci.signer": "x509",
    "filter.managed-by": "",
    "storage.gcs.bucket": "",
    "storage.oci.repository": "",
    "storage.oci.repository.insecure": "false",
    "storage.oci.encoding-format": "dsse",
    "storage.docdb.url": "",
    "storage.docdb.mongo-server-url": "",
    "storage.docdb.mongo-server-url-dir": "",
    "storage.docdb.mongo-server-url-path": "",
    "storage.grafeas.projectid": "",
    "storage.grafeas.noteid": "",
    "storage.grafeas.notehint": "",
    "storage.archivista.url": "",
    "storage.pubsub.provider": "",
    "storage.pubsub.topic": "",
    "storage.pubsub.kafka.bootstrap.servers": "",
    "storage.file.path": "",
    "signers.kms.kmsref": "",
    "signers.kms.auth.address": "",
    "signers.kms.auth.token": "",
    "signers.kms.auth.token-path": "",
    "signers.kms.auth.oidc.path": "",
    "signers.kms.auth.oidc.role": "",
    "signers.kms.auth.oidc.token-path": "/var/run/secrets/kubernetes.io/serviceaccount/token",
    "signers.kms.auth.spire.sock": "",
    "signers.kms.auth.spire.audience": "",
    "signers.x509.fulcio.enabled": "false",
    "signers.x509.fulcio.address": "https://fulcio.sigstore.dev",
    "signers.x509.fulcio.issuer": "https://oauth2.sigstore.dev/auth",
    "signers.x509.fulcio.provider": "",
    "signers.x509.identity.token.file": "",
    "signers.x509.tuf.mirror.url": "https://sigstore-tuf-root.storage.googleapis.com",
    "builder.id": "https://tekton.dev/chains/v2",
    "builddefinition.buildtype": "https://tekton.dev/chains/v2/slsa",
    "transparency.enabled": "false",
    "transparency.url": "https://rekor.sigstore.dev",
}

SECRET_KEYS = frozenset(
    {
        "signers.kms.kmsref",
        "signers.kms.auth.token",
        "storage.docdb.url",
        "storage.docdb.mongo-server-url",
    }
)

# Keys Chains documents whose features tektite has not built: any value other than the default
# is refused with "not supported yet" rather than silently ignored.
_NOT_YET_KEYS = {
    "storage.gcs.bucket": "the gcs storage backend",
    "storage.docdb.mongo-server-url": "MongoDB docstore collections",
    "storage.docdb.mongo-server-url-dir": "MongoDB docstore collections",
    "storage.docdb.mongo-server-url-path": "MongoDB docstore collections",
    "storage.grafeas.projectid": "the grafeas storage backend",
    "storage.grafeas.noteid": "the grafeas storage backend",
    "storage.grafeas.notehint": "the grafeas storage backend",
    "storage.archivista.url": "the archivista storage backend",
    "storage.pubsub.provider": "the pubsub (kafka) storage backend",
    "storage.pubsub.topic": "the pubsub (kafka) storage backend",
    "storage.pubsub.kafka.bootstrap.servers": "the pubsub (kafka) storage backend",
    "signers.kms.auth.address": "KMS server authentication (HashiCorp Vault)",
    "signers.kms.auth.token": "KMS server authentication (HashiCorp Vault)",
    "signers.kms.auth.token-path": "KMS server authentication (HashiCorp Vault)",
    "signers.kms.auth.oidc.path": "KMS OIDC authentication",
    "signers.kms.auth.oidc.role": "KMS OIDC authentication",
    "signers.kms.auth.oidc.token-path": "KMS OIDC authentication",
    "signers.kms.auth.spire.sock": "KMS tokens from SPIRE",
    "signers.kms.auth.spire.audience": "KMS tokens from SPIRE",
    "signers.x509.fulcio.address": "keyless signing with Fulcio",
    "signers.x509.fulcio.issuer": "keyless signing with Fulcio",
    "signers.x509.fulcio.provider": "keyless signing with Fulcio",
    "signers.x509.identity.token.file": "keyless signing with Fulcio",
    "signers.x509.tuf.mirror.url": "keyless signing with Fulcio",
}


@dataclass(frozen=True)
class ArtifactConfig:
    """``artifacts.<kind>.{format,storage,signer}``. An empty storage tuple disables storing."""

    format: str
    storage: tuple[str, ...]
    signer: str


@dataclass(frozen=True)
class PipelineRunArtifactConfig(ArtifactConfig):
    enable_deep_inspection: bool = False


@dataclass(frozen=True)
class ArtifactsConfig:
    taskruns: ArtifactConfig
    pipelineruns: PipelineRunArtifactConfig
    oci: ArtifactConfig

    def signers(self) -> tuple[str, ...]:
        """The ``signer`` of each artifact type (taskruns, pipelineruns, oci)."""
        return (self.taskruns.signer, self.pipelineruns.signer, self.oci.signer)


@dataclass(frozen=True)
class StorageConfig:
    oci_repository: str = ""
    oci_repository_insecure: bool = False
    oci_encoding_format: str = "dsse"
    docdb_url: str = field(default="", repr=False)
    file_path: str = ""


@dataclass(frozen=True)
class X509SignerConfig:
    fulcio_enabled: bool = False
    fulcio_address: str = DEFAULTS["signers.x509.fulcio.address"]
    fulcio_issuer: str = DEFAULTS["signers.x509.fulcio.issuer"]
    fulcio_provider: str = ""
    identity_token_file: str = ""
    tuf_mirror_url: str = DEFAULTS["signers.x509.tuf.mirror.url"]


@dataclass(frozen=True)
class KMSSignerConfig:
    kmsref: str = field(default="", repr=False)


@dataclass(frozen=True)
class SignersConfig:
    x509: X509SignerConfig = field(default_factory=X509SignerConfig)
    kms: KMSSignerConfig = field(default_factory=KMSSignerConfig)


@dataclass(frozen=True)
class BuilderConfig:
    id: str = DEFAULTS["builder.id"]


@dataclass(frozen=True)
class BuildDefinitionConfig:
    build_type: str = DEFAULTS["builddefinition.buildtype"]


@dataclass(frozen=True)
class TransparencyConfig:
    enabled: bool = False
    verify_annotation: bool = False
    url: str = DEFAULTS["transparency.url"]


@dataclass(frozen=True)
class ChainsConfig:
    """A parsed ``chains-config``; build it with :meth:`from_configmap_data`."""

    artifacts: ArtifactsConfig
    storage: StorageConfig
    signers: SignersConfig
    builder: BuilderConfig
    build_definition: BuildDefinitionConfig
    transparency: TransparencyConfig
    managed_by: tuple[str, ...] = ()

    @classmethod
    def default(cls) -> ChainsConfig:
        return cls.from_configmap_data({})

    @classmethod
    def from_configmap_data(cls, data: Mapping[str, str]) -> ChainsConfig:
        """Parse ConfigMap ``data``; keys left out take Chains' documented defaults."""
        return _Parser(data).parse()


def _where(key: str) -> tuple[str, ...]:
    return ("data", key)


class _Parser:
    def __init__(self, data: Mapping[str, str]) -> None:
        self.raw = dict(data)
        self._check_keys()
        self.values = {**DEFAULTS, **{k: v for k, v in self.raw.items() if k in DEFAULTS}}

    def _check_keys(self) -> None:
        errors = []
        for key, value in self.raw.items():
            if isinstance(key, str) and key.startswith("_"):
                continue  # knative convention: "_example" documents the keys, it is not config
            if not isinstance(key, str) or key not in DEFAULTS:
                close = difflib.get_close_matches(str(key), DEFAULTS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                errors.append(
                    FieldError(
                        _where(str(key)),
                        "unknown chains-config key" + hint,
                        "a key documented by Tekton Chains",
                        repr(key),
                    )
                )
            elif not isinstance(value, str):
                errors.append(
                    FieldError(_where(key), "ConfigMap values are strings", "a string", type(value).__name__)
                )
        if errors:
            raise ValidationError(errors, obj=f"ConfigMap {CONFIGMAP}")

    def _invalid(self, key: str, expected: str) -> ValidationError:
        found = "<redacted>" if key in SECRET_KEYS else repr(self.values[key])
        return ValidationError(
            [FieldError(_where(key), "invalid value", expected, found)], obj=f"ConfigMap {CONFIGMAP}"
        )

    def _not_yet(self, key: str, what: str, hint: str | None = None) -> NotSupported:
        return NotSupported(f"{key}: {what} is not supported yet", obj=f"ConfigMap {CONFIGMAP}", hint=hint)

    def one_of(self, key: str, allowed: tuple[str, ...], not_yet: tuple[str, ...] = ()) -> str:
        value = self.values[key]
        if value in not_yet:
            raise self._not_yet(key, repr(value), hint="tektite supports: " + ", ".join(allowed))
        if value not in allowed:
            raise self._invalid(key, "one of " + ", ".join(allowed))
        return value

    def boolean(self, key: str) -> bool:
        value = self.values[key]
        if value in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if value in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise self._invalid(key, '"true" or "false"')

    def storage(self, key: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
        backends = tuple(s.strip() for s in self.values[key].split(",") if s.strip())
        for backend in backends:
            if backend not in (*allowed, "file"):
                raise self._invalid(key, "a comma-separated list of " + ", ".join((*allowed, "file")))
            if backend not in IMPLEMENTED_STORAGE:
                raise self._not_yet(
                    key,
                    f"the {backend} storage backend",
                    hint="tektite stores in: " + ", ".join(IMPLEMENTED_STORAGE),
                )
        return tuple(dict.fromkeys(backends))

    def artifact(self, kind: str, formats: tuple[str, ...], storage: tuple[str, ...]) -> ArtifactConfig:
        return ArtifactConfig(
            format=self.one_of(f"artifacts.{kind}.format", formats, FORMATS_NOT_YET if kind != "oci" else ()),
            storage=self.storage(f"artifacts.{kind}.storage", storage),
            signer=self.one_of(f"artifacts.{kind}.signer", SIGNERS),
        )

    def parse(self) -> ChainsConfig:
        for key, what in _NOT_YET_KEYS.items():
            if self.values[key] != DEFAULTS[key]:
                raise self._not_yet(key, what)
        taskruns = self.artifact("taskrun", FORMATS, CHAINS_STORAGE)
        pr = self.artifact("pipelinerun", FORMATS, CHAINS_STORAGE)
        pipelineruns = PipelineRunArtifactConfig(
            pr.format, pr.storage, pr.signer, self.boolean("artifacts.pipelinerun.enable-deep-inspection")
        )
        oci = self.artifact("oci", OCI_FORMATS, tuple(s for s in CHAINS_STORAGE if s != "archivista"))
        artifacts = ArtifactsConfig(taskruns, pipelineruns, oci)
        config = ChainsConfig(
            artifacts=artifacts,
            storage=self._storage(artifacts),
            signers=self._signers(artifacts),
            builder=BuilderConfig(self.values["builder.id"]),
            build_definition=BuildDefinitionConfig(self.one_of("builddefinition.buildtype", BUILD_TYPES)),
            transparency=self._transparency(),
            managed_by=tuple(v.strip() for v in self.values["filter.managed-by"].split(",") if v.strip()),
        )
        return config

    def _storage(self, artifacts: ArtifactsConfig) -> StorageConfig:
        used = (
            set(artifacts.taskruns.storage) | set(artifacts.pipelineruns.storage) | set(artifacts.oci.storage)
        )
        encoding = self.one_of("storage.oci.encoding-format", ("dsse", "sigstore-bundle"))
        docdb_url = self.values["storage.docdb.url"]
        if docdb_url:
            scheme = urlsplit(docdb_url).scheme
            if not scheme:
                raise self._invalid("storage.docdb.url", "a URL such as <scheme>://<collection>")
            if scheme in DOCDB_SCHEMES_NOT_YET:
                raise self._not_yet("storage.docdb.url", f"docstore URLs with the {scheme}:// scheme")
        elif "docdb" in used:
            raise ValidationError(
                [
                    FieldError(
                        _where("storage.docdb.url"),
                        "required by the docdb storage backend",
                        "a docstore URL",
                        "nothing",
                    )
                ],
                obj=f"ConfigMap {CONFIGMAP}",
            )
        return StorageConfig(
            oci_repository=self.values["storage.oci.repository"],
            oci_repository_insecure=self.boolean("storage.oci.repository.insecure"),
            oci_encoding_format=encoding,
            docdb_url=docdb_url,
            file_path=self.values["storage.file.path"],
        )

    def _signers(self, artifacts: ArtifactsConfig) -> SignersConfig:
        if self.boolean("signers.x509.fulcio.enabled"):
            raise self._not_yet(
                "signers.x509.fulcio.enabled",
                "keyless signing with Fulcio",
                hint="sign with a cosign key (x509) or a PKCS#11 key (kms)",
            )
        kmsref = self.values["signers.kms.kmsref"]
        if kmsref:
            scheme = kmsref.split(":", 1)[0] if ":" in kmsref else ""
            if scheme in KMS_SCHEMES_NOT_YET:
                raise self._not_yet(
                    "signers.kms.kmsref", f"{scheme}:// keys", hint="tektite signs with pkcs11: keys"
                )
            if scheme != "pkcs11":
                raise ValidationError(
                    [
                        FieldError(
                            _where("signers.kms.kmsref"),
                            "unknown KMS reference",
                            "a pkcs11: URI (RFC 7512)",
                            f"scheme {scheme!r}" if scheme else "no scheme",
                        )
                    ],
                    obj=f"ConfigMap {CONFIGMAP}",
                )
        elif "kms" in (artifacts.taskruns.signer, artifacts.pipelineruns.signer, artifacts.oci.signer):
            raise ValidationError(
                [
                    FieldError(
                        _where("signers.kms.kmsref"), "required by the kms signer", "a pkcs11: URI", "nothing"
                    )
                ],
                obj=f"ConfigMap {CONFIGMAP}",
            )
        return SignersConfig(x509=X509SignerConfig(), kms=KMSSignerConfig(kmsref))

    def _transparency(self) -> TransparencyConfig:
        value = self.values["transparency.enabled"]
        enabled, verify = (
            (True, True)
            if value == "manual"
            else (self._bool_or("transparency.enabled", '"true", "false" or "manual"'), False)
        )
        if enabled:
            raise self._not_yet("transparency.enabled", "uploading to a transparency log (Rekor)")
        return TransparencyConfig(
            enabled=False, verify_annotation=verify, url=self.values["transparency.url"]
        )

    def _bool_or(self, key: str, expected: str) -> bool:
        try:
            return self.boolean(key)
        except ValidationError:
            raise self._invalid(key, expected) from None
