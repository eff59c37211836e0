"""Read the request a ``curl`` command line sends (Triggers' examples ship their events as ``curl.sh``).

Understands ``-X/--request``, ``-H/--header``, ``-d/--data/--data-ascii`` (``@file`` with CR/LF
removed, as curl does), ``--data-binary`` (``@file`` byte for byte), ``--data-raw`` and
``--data-urlencode``; several data options are joined with ``&``; data without ``-X`` means POST and,
without a ``Content-Type`` header, curl's ``application/x-www-form-urlencoded``. Flags such as
``-v``/``-k``/``-s`` are ignored. Shell variables (``$1``) are left as written.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

from tektite.errors import TektiteError

FORM = "application/x-www-form-urlencoded"
_IGNORED_WITH_VALUE = {
    "-u",
    "--user",
    "-o",
    "--output",
    "-m",
    "--max-time",
    "--connect-timeout",
    "-A",
    "--user-agent",
}


class CurlError(TektiteError):
    """The command is not a curl invocation tektite can replay."""


@dataclass
class CurlRequest:
    url: str
    method: str = "GET"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def with_header(self, name: str, value: str) -> CurlRequest:
        """A copy with ``name`` replaced (or added)."""
        headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()] + [(name, value)]
        return CurlRequest(self.url, self.method, headers, self.body)


def _read(ref: str, search: Sequence[Path], source: str) -> bytes:
    rel = Path(ref)
    candidates: list[Path] = []
    if rel.is_absolute():
        candidates.append(rel)
    else:
        for base in search:
            candidates.append(base / rel)
            for parent in base.parents:
                candidates.append(parent / rel)
            candidates.append(base / rel.name)
    for c in candidates:
        if c.is_file():
            return c.read_bytes()
    raise CurlError(f'{source}: data file "@{ref}" not found (looked next to the script and in its parents)')


def parse_curl(text: str, *, base_dir: Path | None = None, source: str = "curl command") -> CurlRequest:
    """The first ``curl`` command in ``text`` (a shell script) as a request."""
    joined = text.replace("\\\r\n", " ").replace("\\\n", " ")
    try:
        words = shlex.split(joined, comments=True)
    except ValueError as exc:
        raise CurlError(f"{source}: cannot split the command line: {exc}") from None
    if "curl" not in words:
        raise CurlError(f"{source}: no curl command found")
    args = words[words.index("curl") + 1 :]
    search = [base_dir] if base_dir else [Path.cwd()]
    method: str | None = None
    url: str | None = None
    headers: list[tuple[str, str]] = []
    data: list[bytes] = []
    i = 0

    def value() -> str:
        nonlocal i
        i += 1
        if i >= len(args):
            raise CurlError(f"{source}: option {args[i - 1]} needs a value")
        return args[i]

    while i < len(args):
        arg = args[i]
        if arg in (";", "&&", "||", "|"):
            break
        if arg in ("-X", "--request"):
            method = value().upper()
        elif arg in ("-H", "--header"):
            name, sep, val = value().partition(":")
            if not sep:
                raise CurlError(f'{source}: header "{name}" has no ":"')
            headers.append((name.strip(), val.strip()))
        elif arg in ("-d", "--data", "--data-ascii"):
            v = value()
            data.append(
                _read(v[1:], search, source).replace(b"\r", b"").replace(b"\n", b"")
                if v.startswith("@")
                else v.encode()
            )
        elif arg == "--data-binary":
            v = value()
            data.append(_read(v[1:], search, source) if v.startswith("@") else v.encode())
        elif arg == "--data-raw":
            data.append(value().encode())
        elif arg == "--data-urlencode":
            v = value()
            name, sep, content = v.partition("=")
            data.append((f"{name}=" if sep else "").encode() + quote_plus(content if sep else v).encode())
        elif arg in ("--url",):
            url = value()
        elif arg in _IGNORED_WITH_VALUE:
            value()
        elif arg.startswith("-"):
            pass  # -v, -k, -s, -i, -L, --fail ...
        elif url is None:
            url = arg
        i += 1
    if url is None:
        raise CurlError(f"{source}: the curl command names no URL")
    body = b"&".join(data)
    if data and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", FORM))
    return CurlRequest(url, method or ("POST" if data else "GET"), headers, body)
