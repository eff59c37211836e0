"""``pkcs11:`` key URIs (RFC 7512), as cosign reads them for ``--key pkcs11:...``.

Supported path attributes (``;``-separated): ``token``, ``object``, ``id``, ``serial``, ``slot-id``,
``manufacturer``, ``model``, ``type`` (only ``private``). Supported query attributes
(``&``-separated): ``module-path``, ``module-name``, ``pin-value``, ``pin-source``. Values are
percent-decoded; ``id`` may hold any bytes (``id=%01%02``). Vendor attributes (``x-...``) are
ignored, anything else is refused.

Like cosign, the module defaults to ``$COSIGN_PKCS11_MODULE_PATH`` and the PIN to
``$COSIGN_PKCS11_PIN`` when the URI has neither.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes

from tektite.errors import FieldError, ValidationError

__all__ = ["CONFIG_KEY", "Pkcs11Uri", "parse_pkcs11_uri", "redact_kmsref"]

CONFIG_KEY = "signers.kms.kmsref"
_PATH_ATTRS = ("token", "object", "id", "serial", "slot-id", "manufacturer", "model", "type")
_QUERY_ATTRS = ("module-path", "module-name", "pin-value", "pin-source")
_MODULE_DIRS = (
    "/usr/lib/x86_64-linux-gnu/pkcs11",
    "/usr/lib/aarch64-linux-gnu/pkcs11",
    "/usr/lib/pkcs11",
    "/usr/lib/softhsm",
    "/usr/local/lib/softhsm",
    "/usr/lib64/pkcs11",
)


def _invalid(message: str, expected: str | None = None, found: str | None = None) -> ValidationError:
    return ValidationError([FieldError((CONFIG_KEY,), message, expected, found)])


def redact_kmsref(kmsref: str) -> str:
    """``kmsref`` with any ``pin-value`` replaced by ``***``, safe for logs and errors."""
    head, sep, query = kmsref.partition("?")
    if not sep:
        return kmsref
    parts = ["pin-value=***" if p.startswith("pin-value=") else p for p in query.split("&")]
    return f"{head}?{'&'.join(parts)}"


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` URI. ``repr`` never shows the PIN."""

    token: str | None = None
    object: str | None = None
    id: bytes | None = None
    serial: str | None = None
    slot_id: int | None = None
    manufacturer: str | None = None
    model: str | None = None
    module_path: str | None = None
    module_name: str | None = None
    pin_value: str | None = field(default=None, repr=False)
    pin_source: str | None = None

    def module(self) -> Path:
        """The PKCS#11 module (shared library) to load."""
        if self.module_path:
            path = Path(self.module_path)
        elif self.module_name:
            name = self.module_name if self.module_name.endswith(".so") else f"{self.module_name}.so"
            found = [Path(d) / name for d in _MODULE_DIRS if (Path(d) / name).is_file()]
            if not found:
                raise _invalid(
                    f"module-name {self.module_name!r} not found",
                    expected=f"{name} in one of {', '.join(_MODULE_DIRS)}",
                    found="no such file",
                )
            path = found[0]
        elif os.environ.get("COSIGN_PKCS11_MODULE_PATH"):
            path = Path(os.environ["COSIGN_PKCS11_MODULE_PATH"])
        else:
            raise _invalid(
                "no PKCS#11 module given",
                expected="module-path=/path/to/module.so (or module-name=, or $COSIGN_PKCS11_MODULE_PATH)",
                found="none",
            )
        if not path.is_file():
            raise _invalid("PKCS#11 module not found", expected="an existing shared library", found=str(path))
        return path

    def pin(self) -> str | None:
        """The user PIN: ``pin-value``, else the file named by ``pin-source``, else ``$COSIGN_PKCS11_PIN``."""
        if self.pin_value is not None:
            return self.pin_value
        if self.pin_source:
            source = self.pin_source.removeprefix("file://").removeprefix("file:")
            try:
                return Path(source).read_text().rstrip("\r\n")
            except OSError as err:
                raise _invalid(
                    "cannot read pin-source", expected="a readable file", found=f"{source}: {err.strerror}"
                ) from None
        return os.environ.get("COSIGN_PKCS11_PIN")


def _pairs(text: str, sep: str, allowed: tuple[str, ...], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, text.split(sep)):
        name, eq, value = part.partition("=")
        if not eq:
            raise _invalid(f"{where} attribute without a value", expected="name=value", found=name)
        if name.startswith("x-"):
            continue
        if name not in allowed:
            raise _invalid(f"unsupported pkcs11 {where} attribute", expected=", ".join(allowed), found=name)
        if name in out:
            raise _invalid(f"pkcs11 {where} attribute given twice", expected="once", found=name)
        out[name] = value
    return out


def parse_pkcs11_uri(uri: str) -> Pkcs11Uri:
    """Parse ``pkcs11:token=...;object=...?module-path=...&pin-value=...`` (RFC 7512)."""
    if not uri.startswith("pkcs11:"):
        raise _invalid("not a pkcs11 URI", expected="pkcs11:...", found=redact_kmsref(uri))
    path, _, query = uri.removeprefix("pkcs11:").partition("?")
    p = _pairs(path, ";", _PATH_ATTRS, "path")
    q = _pairs(query, "&", _QUERY_ATTRS, "query")
    if p.get("type", "private") != "private":
        raise _invalid("the signing key must be a private key", expected="type=private", found=p["type"])
    if "object" not in p and "id" not in p:
        raise _invalid("the key is not named", expected="object=<label> and/or id=<bytes>", found="neither")
    slot_id = None
    if "slot-id" in p:
        if not p["slot-id"].isdigit():
            raise _invalid("slot-id must be a number", expected="decimal integer", found=p["slot-id"])
        slot_id = int(p["slot-id"])
    text = {k: unquote(v) for k, v in {**p, **q}.items() if k not in ("id", "slot-id")}
    return Pkcs11Uri(
        token=text.get("token"),
        object=text.get("object"),
        id=unquote_to_bytes(p["id"]) if "id" in p else None,
        serial=text.get("serial"),
        slot_id=slot_id,
        manufacturer=text.get("manufacturer"),
        model=text.get("model"),
        module_path=text.get("module-path"),
        module_name=text.get("module-name"),
        pin_value=text.get("pin-value"),
        pin_source=text.get("pin-source"),
    )
