"""Format -> sign -> store for one finished run: Chains' ``ObjectSigner.Sign``.

A TaskRun has two signable types, a PipelineRun one:

- the run's provenance (``artifacts.taskrun`` / ``artifacts.pipelinerun``): the in-toto statement of
  the configured format, as compact JSON, signed into a DSSE envelope, stored by every backend in
  ``storage`` under the short key ``taskrun-<uid>`` / ``pipelinerun-<uid>``;
- a TaskRun's images (``artifacts.oci``): for every ``*IMAGE_URL``/``*IMAGE_DIGEST`` pair and
  ``IMAGES`` entry in its results, a cosign simple-signing payload with a raw signature, stored by
  every backend in ``artifacts.oci.storage`` under the short key ``<first 12 hex digits>``.

A type whose ``storage`` is empty is skipped. A failure of one backend does not stop the others;
the errors are returned together (the watcher retries the whole run, as Chains does). Nothing here
writes the run: the ``tekton`` backend's annotations come back in ``ctx.annotations``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tektite.chains.annotations import short_key
from tektite.chains.config import ChainsConfig
from tektite.chains.dsse import Envelope, sign_envelope
from tektite.chains.formats import get_formatter
from tektite.chains.formats.artifacts import oci_images
from tektite.chains.formats.objects import Result
from tektite.chains.signing import Signer
from tektite.chains.simplesigning import SIMPLE_SIGNING_MEDIA_TYPE, simple_signing_payload
from tektite.chains.storage import SIMPLESIGNING, Backend, StorageContext, StorageItem
from tektite.core.jsontext import compact_json
from tektite.errors import TektiteError

__all__ = ["SignOutcome", "sign_run", "statement_bytes"]

JSON = dict[str, Any]
SignerFor = Callable[[str], Signer]  # artifacts.*.signer name -> signer
BackendFor = Callable[[str], Backend]  # storage name -> backend


@dataclass
class SignOutcome:
    signed: int = 0  # payloads signed
    stored: int = 0  # (payload, backend) pairs stored
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def statement_bytes(statement: JSON) -> bytes:
    """The payload Chains signs: the statement as compact JSON (``json.Marshal``)."""
    return compact_json(statement)


def _store(
    item: StorageItem, backends: tuple[str, ...], backend_for: BackendFor, ctx: StorageContext
) -> tuple[int, list[str]]:
    stored, errors = 0, []
    for name in backends:
        try:
            backend_for(name).store(item, ctx)
            stored += 1
        except TektiteError as err:
            errors.append(f"{name} storage ({item.short_key}): {err.message}")
    return stored, errors


def _provenance(
    run: JSON,
    children: list[JSON],
    config: ChainsConfig,
    signer_for: SignerFor,
    backend_for: BackendFor,
    ctx: StorageContext,
    out: SignOutcome,
) -> None:
    artifact = config.artifacts.taskruns if run["kind"] == "TaskRun" else config.artifacts.pipelineruns
    if not artifact.storage:
        return
    statement = get_formatter(artifact.format).format(run, config, children)
    payload = statement_bytes(statement)
    signer = signer_for(artifact.signer)
    envelope = sign_envelope(payload, signer) if artifact.signer != "none" else Envelope(payload)
    out.signed += 1 if envelope.signatures else 0
    item = StorageItem(
        short_key=short_key(run["kind"], run["metadata"].get("uid", "")),
        payload=payload,
        signature=envelope.to_json(),
        payload_format=artifact.format,
        predicate_type=str(statement.get("predicateType", "")),
        public_key=signer.public_key() if envelope.signatures else None,
    )
    stored, errors = _store(item, artifact.storage, backend_for, ctx)
    out.stored += stored
    out.errors += errors


def _images(
    run: JSON, config: ChainsConfig, signer_for: SignerFor, backend_for: BackendFor, ctx: StorageContext,
    out: SignOutcome,
) -> None:  # fmt: skip
    artifact = config.artifacts.oci
    if not artifact.storage or artifact.signer == "none":
        return  # signer "none" skips image signatures only (Chains' note on artifacts.oci.signer)
    results = [
        Result(r.get("name", ""), r.get("value")) for r in (run.get("status") or {}).get("results") or []
    ]
    images = oci_images(results)
    if not images:
        return
    signer = signer_for(artifact.signer)
    # a Sigstore bundle holds a DSSE envelope: the simple-signing payload signed over its PAE too
    bundles = config.storage.oci_encoding_format == "sigstore-bundle" and "oci" in artifact.storage
    for image in images:
        payload = simple_signing_payload(image.repository_name, image.digest)
        signature = signer.sign(payload)
        out.signed += 1
        item = StorageItem(
            short_key=image.digest.removeprefix("sha256:")[:12],
            payload=payload,
            signature=signature,
            payload_format=SIMPLESIGNING,
            image=f"{image.repository_name}@{image.digest}",
            public_key=signer.public_key(),
            envelope=sign_envelope(payload, signer, SIMPLE_SIGNING_MEDIA_TYPE).to_json() if bundles else b"",
        )
        stored, errors = _store(item, artifact.storage, backend_for, ctx)
        out.stored += stored
        out.errors += [e + OCI_HINT if e.startswith("oci storage") else e for e in errors]


OCI_HINT = (
    ' (a type-hinted image is signed in its registry: chains-config artifacts.oci.storage says where, "" for '
    "nowhere)"
)


def sign_run(
    run: JSON,
    children: list[JSON],
    config: ChainsConfig,
    signer_for: SignerFor,
    backend_for: BackendFor,
    ctx: StorageContext,
) -> SignOutcome:
    """Format, sign and store ``run`` (a PipelineRun's ``children`` in order).

    Errors a user can cause (bad config, unreadable key, unreachable registry) are collected in
    the outcome, each naming the step; nothing raises for them.
    """
    out = SignOutcome()
    steps: list[Callable[[], None]] = [
        lambda: _provenance(run, children, config, signer_for, backend_for, ctx, out)
    ]
    if run["kind"] == "TaskRun":
        steps.append(lambda: _images(run, config, signer_for, backend_for, ctx, out))
    for what, step in zip(("provenance", "image signatures"), steps, strict=False):
        try:
            step()
        except TektiteError as err:
            out.errors.append(f"{what}: {err.diagnostics()}")
    return out
