"""One error family for everything a user can cause.

Every error says *where* (file, line, object, field path), *what was expected* and *what was
found*. The CLI catches :class:`TektiteError` in one place and prints :meth:`diagnostics`; the
HTTP server maps :attr:`http_status` / :attr:`reason` onto a Kubernetes ``Status`` body.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AlreadyExists",
    "Conflict",
    "ExecutionError",
    "FieldError",
    "Forbidden",
    "NotFound",
    "NotSupported",
    "SigningError",
    "TektiteError",
    "Unauthorized",
    "ValidationError",
    "VerificationError",
    "format_path",
]


def format_path(path: Sequence[str | int]) -> str:
    """``("spec", "tasks", 2, "runAfter", 0)`` -> ``spec.tasks[2].runAfter[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


@dataclass
class FieldError:
    """One problem at one field of one object."""

    path: tuple[str | int, ...]
    message: str
    expected: str | None = None
    found: str | None = None
    line: int | None = None

    def render(self) -> str:
        text = self.message
        if self.expected is not None:
            text += f"; expected {self.expected}"
        if self.found is not None:
            text += f", found {self.found}"
        where = format_path(self.path)
        return f"{where}: {text}" if where else text


class TektiteError(Exception):
    """Base of every error a user can cause. ``str(err)`` is the human message."""

    http_status = 400
    reason = "BadRequest"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        obj: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.obj = obj
        self.hint = hint

    def location(self) -> str:
        parts = []
        if self.file:
            parts.append(f"{self.file}:{self.line}" if self.line else self.file)
        if self.obj:
            parts.append(self.obj)
        return ": ".join(parts)

    def diagnostics(self) -> str:
        loc = self.location()
        text = f"{loc}: {self.message}" if loc else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def __str__(self) -> str:
        return self.diagnostics()


class ValidationError(TektiteError):
    """An object failed validation. Holds one or more :class:`FieldError`."""

    http_status = 422
    reason = "Invalid"

    def __init__(
        self,
        errors: Iterable[FieldError],
        *,
        file: str | None = None,
        obj: str | None = None,
        line: int | None = None,
    ) -> None:
        self.errors = list(errors)
        first_line = line if line is not None else next((e.line for e in self.errors if e.line), None)
        super().__init__(
            "; ".join(e.render() for e in self.errors) or "invalid", file=file, line=first_line, obj=obj
        )

    def diagnostics(self) -> str:
        if len(self.errors) <= 1:
            return self._one(self.errors[0]) if self.errors else super().diagnostics()
        return "\n".join(self._one(e) for e in self.errors)

    def _one(self, err: FieldError) -> str:
        parts = []
        if self.file:
            line = err.line or self.line
            parts.append(f"{self.file}:{line}" if line else self.file)
        if self.obj:
            parts.append(self.obj)
        parts.append(err.render())
        return ": ".join(parts)


class NotFound(TektiteError):
    http_status = 404
    reason = "NotFound"


class AlreadyExists(TektiteError):
    http_status = 409
    reason = "AlreadyExists"


class Conflict(TektiteError):
    http_status = 409
    reason = "Conflict"


class Unauthorized(TektiteError):
    http_status = 401
    reason = "Unauthorized"


class Forbidden(TektiteError):
    http_status = 403
    reason = "Forbidden"


class NotSupported(TektiteError):
    """A documented Tekton/Chains option that tektite does not implement yet."""

    http_status = 501
    reason = "NotSupported"


class ExecutionError(TektiteError):
    """The machine could not run what was asked (missing tool, bad image mapping, ...)."""

    http_status = 500
    reason = "InternalError"


class SigningError(TektiteError):
    http_status = 500
    reason = "InternalError"


class VerificationError(TektiteError):
    """A signature, attestation or policy check failed."""

    reason = "VerificationFailed"


@dataclass
class ErrorList:
    """Collects :class:`FieldError` while walking an object, then raises once."""

    errors: list[FieldError] = field(default_factory=list)

    def add(
        self, path: Sequence[str | int], message: str, expected: str | None = None, found: str | None = None
    ) -> None:
        self.errors.append(FieldError(tuple(path), message, expected, found))

    def __bool__(self) -> bool:
        return bool(self.errors)
