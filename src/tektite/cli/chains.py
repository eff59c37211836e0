"""``tektite chains ...``, ``tektite keys ...``, ``tektite verify`` and ``tektite verify-attestation``.

- ``chains format``: the in-toto statement Chains would make for a run given as JSON;
- ``chains public-key`` / ``payload`` / ``signature`` / ``verify``: the signing key in effect and
  what the ``tekton`` storage wrote on a run;
- ``chains run``: the watcher as its own process (``--once``: sign what is pending, then exit);
- ``keys generate`` / ``keys public-key``: cosign-compatible key files;
- ``verify`` / ``verify-attestation``: cosign's verbs against the ``oci`` storage.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import yaml

from tektite.chains.annotations import SIGNED, short_key
from tektite.chains.formats import FORMAT_NAMES, format_run
from tektite.chains.storage.tekton import TektonEntry, read_entries
from tektite.cli.common import STATE, err, out, settle_heap
from tektite.errors import FieldError, NotFound, TektiteError, ValidationError, VerificationError

if TYPE_CHECKING:
    from tektite.chains.keys import SignerSource
    from tektite.chains.signing import Signer
    from tektite.controller.cluster import Cluster

# Signing, verification, the registry client and the watcher are imported by the commands that use
# them: every tektite command registers these, and importing them all cost ~250 ms at each start.

JSON = dict[str, Any]

chains_app = typer.Typer(
    help="Tekton Chains: provenance, signatures and the signing watcher.", no_args_is_help=True
)
keys_app = typer.Typer(help="cosign-compatible signing keys.", no_args_is_help=True)

KindOpt = Annotated[
    str | None, typer.Option("--kind", "-k", help="taskrun or pipelinerun (default: whichever exists)")
]
KeyOpt = Annotated[
    Path | None, typer.Option("--key", help="public key PEM (default: the key tektite signs with)")
]
RUN_KINDS = {"taskrun": "TaskRun", "tr": "TaskRun", "pipelinerun": "PipelineRun", "pr": "PipelineRun"}


# -- helpers --------------------------------------------------------------------------------------


def _read_json(path: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TektiteError(
            f"cannot read the run: {getattr(exc, 'strerror', None) or exc}", file=path
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise TektiteError(f"not JSON or YAML: {exc}", file=path) from None


def _pairs(values: list[str] | None) -> dict[str, str]:
    outd: dict[str, str] = {}
    for pair in values or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError([FieldError(("-c",), "a chains-config override", "KEY=VALUE", repr(pair))])
        outd[key] = value
    return outd


def _find_run(cluster: Cluster, name: str, kind: str | None) -> JSON:
    ns = STATE.namespace
    if kind is not None:
        wanted = RUN_KINDS.get(kind.lower())
        if wanted is None:
            raise ValidationError(
                [FieldError(("--kind",), "unknown run kind", "taskrun or pipelinerun", repr(kind))]
            )
        return cluster.store.get(wanted, name, ns)
    found = [o for k in ("TaskRun", "PipelineRun") if (o := cluster.store.try_get(k, name, ns)) is not None]
    if not found:
        raise NotFound(f'no TaskRun or PipelineRun "{name}" in namespace "{ns}"')
    if len(found) > 1:
        raise TektiteError(
            f'both a TaskRun and a PipelineRun are called "{name}"',
            hint="say which with --kind taskrun|pipelinerun",
        )
    return found[0]


def _signers(cluster: Cluster) -> tuple[SignerSource, Any]:
    from tektite.chains.keys import SignerSource
    from tektite.chains.settings import ChainsSettings

    settings = ChainsSettings(cluster.getter())
    return SignerSource(cluster.home, settings, notify=err), settings.config()


def _signer_for(cluster: Cluster, artifact: str) -> Signer:
    source, config = _signers(cluster)
    kind = {
        "taskrun": config.artifacts.taskruns.signer,
        "pipelinerun": config.artifacts.pipelineruns.signer,
        "oci": config.artifacts.oci.signer,
    }[artifact]
    if kind == "none":
        raise TektiteError(f"artifacts.{artifact}.signer is none: nothing is signed, there is no public key")
    return source.get(kind, config)


def _public_key_of(cluster: Cluster, artifact: str) -> Any:
    key = _signer_for(cluster, artifact).public_key()
    if key is None:  # pragma: no cover - only the none signer has no key, refused above
        raise TektiteError(f"the artifacts.{artifact}.signer has no public key")
    return key


def _entries(run: JSON) -> tuple[str, dict[str, TektonEntry]]:
    meta = run["metadata"]
    own = short_key(run["kind"], meta.get("uid", ""))
    entries = read_entries(run)
    if own not in entries:
        signed = (meta.get("annotations") or {}).get(SIGNED)
        state = f'chains.tekton.dev/signed is "{signed}"' if signed else "it is not signed (yet)"
        raise NotFound(
            f"{run['kind']} {meta.get('namespace', 'default')}/{meta['name']} has no "
            f"chains.tekton.dev/payload-{own} annotation; {state}",
            hint="the tekton storage backend writes it (artifacts.taskrun.storage / artifacts.pipelinerun.storage)",
        )
    return own, entries


# -- tektite chains ... ----------------------------------------------------------------------------


@chains_app.command("format")
def format_(
    run: Annotated[str, typer.Argument(help="the TaskRun or PipelineRun as JSON or YAML (- for stdin)")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="one of " + ", ".join(FORMAT_NAMES))] = "in-toto",
    config: Annotated[
        list[str] | None, typer.Option("--config", "-c", help="chains-config KEY=VALUE (repeat)")
    ] = None,
    taskrun: Annotated[
        list[str] | None,
        typer.Option("--taskrun", help="a PipelineRun's child TaskRun JSON (repeat, in order)"),
    ] = None,
) -> None:
    """Print the in-toto statement Chains makes for a finished run, as JSON."""
    statement = format_run(fmt, _read_json(run), _pairs(config), [_read_json(p) for p in taskrun or []])
    out(json.dumps(statement, indent=2))


@chains_app.command("public-key")
def public_key(
    artifact: Annotated[str, typer.Option("--artifact", help="taskrun, pipelinerun or oci")] = "taskrun",
) -> None:
    """Print the public key (PEM) tektite signs with; creates tektite's own key on first use."""
    if artifact not in ("taskrun", "pipelinerun", "oci"):
        raise ValidationError(
            [FieldError(("--artifact",), "unknown", "taskrun, pipelinerun or oci", repr(artifact))]
        )
    sys.stdout.write(_signer_for(STATE.cluster(), artifact).public_key_pem().decode())


@chains_app.command("payload")
def payload(name: Annotated[str, typer.Argument(help="run name")], kind: KindOpt = None) -> None:
    """Print the signed payload (the in-toto statement) the tekton storage wrote on a run."""
    own, entries = _entries(_find_run(STATE.cluster(), name, kind))
    sys.stdout.write(entries[own].payload.decode(errors="replace") + "\n")


@chains_app.command("signature")
def signature(name: Annotated[str, typer.Argument(help="run name")], kind: KindOpt = None) -> None:
    """Print the signature the tekton storage wrote on a run (its DSSE envelope JSON)."""
    own, entries = _entries(_find_run(STATE.cluster(), name, kind))
    sys.stdout.write(entries[own].signature.decode(errors="replace") + "\n")


def verify_entry(entry: TektonEntry, own: bool, key: Any) -> str:
    """Check one stored entry; return what was verified, raise VerificationError saying what failed."""
    from tektite.chains.dsse import Envelope
    from tektite.verify import verify_envelope, verify_signature

    if own:
        envelope = Envelope.from_json(entry.signature)
        signed = verify_envelope(envelope, key)
        if signed != entry.payload:
            raise VerificationError(
                f"chains.tekton.dev/payload-{entry.short_key} is not the payload that was signed "
                "(the annotation was changed after signing)"
            )
        keyids = ", ".join(s.keyid for s in envelope.signatures)
        return f"DSSE envelope verified (keyid {keyids}); the payload annotation is what was signed"
    verify_signature(key, entry.signature, entry.payload)
    return "image signature (simple signing) verified"


@chains_app.command("verify")
def verify_run(
    name: Annotated[str, typer.Argument(help="run name")], kind: KindOpt = None, key: KeyOpt = None
) -> None:
    """Verify the signatures the tekton storage wrote on a run; exit 1 naming what failed."""
    cluster = STATE.cluster()
    run = _find_run(cluster, name, kind)
    own, entries = _entries(run)
    artifact = run["kind"].lower()
    if key is not None:
        from tektite.verify import load_public_key

        try:
            keys = dict.fromkeys(("own", "oci"), load_public_key(key.read_bytes(), source=str(key)))
        except OSError as exc:
            raise TektiteError(f"cannot read the public key: {exc.strerror}", file=str(key)) from None
    else:
        keys = {"own": _public_key_of(cluster, artifact)}
        if len(entries) > 1:
            keys["oci"] = _public_key_of(cluster, "oci")
    failures = []
    for short, entry in entries.items():
        label = f"{short}" if short == own else f"image {short}..."
        try:
            out(f"{label}: {verify_entry(entry, short == own, keys['own' if short == own else 'oci'])}")
        except VerificationError as exc:
            failures.append(f"{label}: {exc.message}")
    if failures:
        raise VerificationError(
            f"{run['kind']} {run['metadata'].get('namespace', 'default')}/{name}: " + "; ".join(failures)
        )


@chains_app.command("run")
def run_watcher(
    once: Annotated[bool, typer.Option("--once", help="sign what is pending, then exit")] = False,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", help="seconds between store polls")
    ] = 0.25,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            help="with --once: processes a backlog is shared among "
            "(default: $TEKTITE_CHAINS_WORKERS, else one per CPU)",
        ),
    ] = None,
) -> None:
    """The Chains watcher as its own process: signs every finished run of this home."""
    from tektite.chains.watcher import ChainsWatcher

    # the watcher's log lines go to stderr while this command runs, and only then: called
    # in-process (tests, embedding), the logger is left as it was found
    handler = _CurrentStderr()
    handler.setFormatter(logging.Formatter("%(message)s"))
    chains_log = logging.getLogger("tektite.chains")
    level, propagate = chains_log.level, chains_log.propagate
    chains_log.addHandler(handler)
    chains_log.setLevel(logging.INFO)
    chains_log.propagate = False
    try:
        watcher = ChainsWatcher(STATE.cluster(), poll_interval=poll_interval, notify=err)
        settle_heap()
        if once:
            summary = watcher.sync(workers)
            err(f"chains: {summary.signed} signed, {summary.failed} failed")
            raise typer.Exit(1 if summary.failed else 0)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        err(f"chains: watching {STATE.cluster().home} (identity {watcher.lease.identity})")
        watcher.run_forever(stop)
    finally:
        chains_log.removeHandler(handler)
        chains_log.setLevel(level)
        chains_log.propagate = propagate


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A handler writing to ``sys.stderr`` as it is when a line is logged, not as it was when the
    handler was made (a caller may have replaced it since, and closed the old one)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


# -- tektite keys ... -------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate(
    prefix: Annotated[
        str, typer.Option("--output-key-prefix", help="write PREFIX.key and PREFIX.pub")
    ] = "cosign",
    force: Annotated[bool, typer.Option("--force", help="replace existing files")] = False,
) -> None:
    """Write a cosign-compatible key pair (password from $COSIGN_PASSWORD or a prompt)."""
    from tektite.chains.signing.keyfiles import read_password, write_keypair

    key_path, pub_path = write_keypair(Path(prefix), read_password(confirm=True), force=force)
    err(f"Private key written to {key_path}")
    err(f"Public key written to {pub_path}")


@keys_app.command("public-key")
def keys_public_key(keyfile: Annotated[Path, typer.Argument(help="a cosign.key or PEM private key")]) -> None:
    """Print the PEM public key of a private key file."""
    from tektite.chains.signing.keyfiles import password_for_keyfile, public_key_of_keyfile

    sys.stdout.write(public_key_of_keyfile(keyfile, password_for_keyfile(keyfile)).decode())


# -- tektite verify / verify-attestation ---------------------------------------------------------------


def _public_key(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TektiteError(f"cannot read the public key: {exc.strerror}", file=str(path)) from None


InsecureOpt = Annotated[bool, typer.Option("--insecure", help="plain http / no TLS checks for the registry")]
RepoOpt = Annotated[
    str | None,
    typer.Option(
        "--repository", envvar="COSIGN_REPOSITORY", help="where signatures live, if not beside the image"
    ),
]


def verify(
    image: Annotated[str, typer.Argument(help="image reference")],
    key: Annotated[Path, typer.Option("--key", help="public key PEM (cosign.pub)")],
    insecure: InsecureOpt = False,
    repository: RepoOpt = None,
) -> None:
    """cosign verify: check the image's signatures (sha256-<hex>.sig, and Sigstore bundle referrers) with a public key."""
    from tektite.oci.auth import DockerConfig
    from tektite.verify.oci import verify_image

    payloads = verify_image(
        image,
        _public_key(key),
        registry_auth=DockerConfig.default(),
        insecure=insecure,
        repository=repository,
    )
    err(f"\nVerification for {image} --\nThe following checks were performed on each of these signatures:")
    err(
        "  - The cosign claims were validated\n  - The signatures were verified against the specified public key"
    )
    for doc in payloads:
        out(json.dumps(doc, separators=(",", ":")))


def verify_attestation_cmd(
    image: Annotated[str, typer.Argument(help="image reference")],
    key: Annotated[Path, typer.Option("--key", help="public key PEM (cosign.pub)")],
    type_: Annotated[
        str,
        typer.Option(
            "--type",
            help="predicate type: a cosign shorthand (slsaprovenance, slsaprovenance1, spdx, ...) or a URI",
        ),
    ] = "custom",
    policy: Annotated[Path | None, typer.Option("--policy", help="policy YAML (docs/policy.md)")] = None,
    insecure: InsecureOpt = False,
    repository: RepoOpt = None,
) -> None:
    """cosign verify-attestation: check the image's attestations (sha256-<hex>.att, and Sigstore bundle
    referrers), then a policy."""
    from tektite.oci.auth import DockerConfig
    from tektite.verify import load_policy
    from tektite.verify.oci import verify_attestation

    statements = verify_attestation(
        image,
        _public_key(key),
        predicate_type=type_,
        policy=load_policy(policy) if policy is not None else None,
        registry_auth=DockerConfig.default(),
        insecure=insecure,
        repository=repository,
    )
    err(f"\nVerification for {image} --\nThe following checks were performed on each of these signatures:")
    err("  - The signatures were verified against the specified public key")
    if policy is not None:
        err(f"  - The attestations passed the policy {policy}")
    for statement in statements:
        out(json.dumps(statement, separators=(",", ":")))


def register(app: typer.Typer) -> None:
    app.add_typer(chains_app, name="chains")
    app.add_typer(keys_app, name="keys")
    app.command("verify")(verify)
    app.command("verify-attestation")(verify_attestation_cmd)
