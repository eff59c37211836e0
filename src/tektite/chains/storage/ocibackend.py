"""Chains' ``oci`` storage as a backend: cosign's ``.sig`` / ``.att`` tags (see :mod:`.oci`), or with
``storage.oci.encoding-format: sigstore-bundle`` Sigstore bundles as OCI referrers (see :mod:`.bundle`).

- an image's simple-signing payload and signature go to ``<repo>:sha256-<hex>.sig``;
- a run's in-toto statement (its DSSE envelope) goes to ``<repo>:sha256-<hex>.att`` of every
  subject that is an image (a name that parses as a repository, with a ``sha256`` digest); other
  subjects (``pkg:`` URIs, files) are skipped, as Chains skips them.

``<repo>`` is the image's repository, or ``storage.oci.repository`` (``dsse`` only: a referrer lives
beside its image, so with ``sigstore-bundle`` the setting is ignored, with a warning). Registry credentials are the
run's (``ctx.registry_auth``: its service account's docker config Secrets, then the host's).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from tektite.chains.dsse import Envelope
from tektite.chains.storage import StorageContext, StorageItem
from tektite.chains.storage.bundle import COSIGN_SIGN_PREDICATE, ReferrerStorage
from tektite.chains.storage.oci import OCIStorage
from tektite.errors import FieldError, TektiteError, ValidationError
from tektite.oci.client import RegistryClient
from tektite.oci.reference import ImageReference, parse_reference

__all__ = ["OCIBackend", "image_subjects"]

log = logging.getLogger("tektite.chains")


def image_subjects(statement: dict[str, Any]) -> list[ImageReference]:
    """The subjects of an in-toto statement that name an image by sha256 digest."""
    out = []
    for subject in statement.get("subject") or []:
        if not isinstance(subject, dict):
            continue
        hex_digest = (subject.get("digest") or {}).get("sha256")
        name = subject.get("name")
        if not isinstance(hex_digest, str) or not isinstance(name, str) or not name:
            continue
        try:
            out.append(parse_reference(f"{name}@sha256:{hex_digest}"))
        except ValidationError:
            continue
    return out


class OCIBackend:
    name = "oci"

    def __init__(
        self,
        repository: str | None,
        insecure: bool,
        client_factory: Callable[[Any, bool], RegistryClient] | None = None,
        *,
        encoding: str = "dsse",
    ) -> None:
        """``client_factory(docker_config, insecure)`` makes registry clients (tests pass a fake);
        ``encoding`` is ``storage.oci.encoding-format``."""
        self.repository = repository
        self.insecure = insecure
        self.bundles = encoding == "sigstore-bundle"
        if self.bundles and repository:
            log.warning(
                "chains: storage.oci.repository (%s) is ignored with storage.oci.encoding-format "
                "sigstore-bundle: a referrer is stored beside the image it refers to",
                repository,
            )
        self.client_factory = client_factory or (
            lambda auth, insecure: RegistryClient(auth, insecure=insecure)
        )

    def _clients(self, ctx: StorageContext) -> Callable[[bool], RegistryClient]:
        """Registry clients carrying the run's credentials (read once per store)."""
        auth = ctx.registry_auth() if ctx.registry_auth is not None else None
        return lambda insecure: self.client_factory(auth, insecure)

    def _storage(self, ctx: StorageContext) -> OCIStorage:
        return OCIStorage(self._clients(ctx), repository=self.repository, insecure=self.insecure)

    def _referrers(self, ctx: StorageContext) -> ReferrerStorage:
        return ReferrerStorage(self._clients(ctx), insecure=self.insecure)

    def store(self, item: StorageItem, ctx: StorageContext) -> None:
        if self.bundles:
            self._store_bundle(item, ctx)
            return
        storage = self._storage(ctx)
        if item.is_simplesigning:
            storage.store_signature(
                item.image,
                item.payload,
                item.signature,
                item.cert.encode() or None,
                item.chain.encode() or None,
                public_key=item.public_key,
            )
            return
        self._each_subject(
            _statement(item),
            lambda image: storage.store_attestation(
                image, item.signature, item.predicate_type, item.public_key
            ),
        )

    def _store_bundle(self, item: StorageItem, ctx: StorageContext) -> None:
        storage = self._referrers(ctx)
        if item.is_simplesigning:
            if not item.envelope:
                raise TektiteError(
                    f"oci storage ({item.short_key}): no DSSE envelope to put in a Sigstore bundle"
                )
            storage.store(
                item.image, Envelope.from_json(item.envelope), COSIGN_SIGN_PREDICATE, item.public_key
            )
            return
        envelope = Envelope.from_json(item.signature)
        self._each_subject(
            _statement(item),
            lambda image: storage.store(image, envelope, item.predicate_type, item.public_key),
        )

    @staticmethod
    def _each_subject(statement: dict[str, Any], store: Callable[[ImageReference], object]) -> None:
        failures = []
        for image in image_subjects(statement):
            try:
                store(image)
            except TektiteError as err:
                failures.append(f"{image}: {err.message}")
        if failures:
            raise TektiteError("oci storage: cannot store the attestation for " + "; ".join(failures))


def _statement(item: StorageItem) -> dict[str, Any]:
    try:
        statement = json.loads(item.payload)
    except (ValueError, UnicodeDecodeError):
        statement = None
    if not isinstance(statement, dict):
        raise ValidationError(
            [FieldError((), "the payload is not an in-toto statement", "a JSON object", "something else")],
            obj=f"oci storage of {item.short_key}",
        )
    return statement
