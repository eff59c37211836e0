"""Kubernetes ``Status`` bodies: how the API reports errors and successful deletes.

Every :class:`~tektite.errors.TektiteError` maps onto one through its ``http_status`` and
``reason``; a :class:`~tektite.errors.ValidationError` lists its fields in ``details.causes``
the way the apiserver does for ``422 Invalid``.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from tektite.api.scheme import Kind
from tektite.errors import TektiteError, ValidationError, format_path

JSON = dict[str, Any]


class ApiError(TektiteError):
    """An error with an explicit HTTP code and Kubernetes reason (for cases errors.py has no class for)."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.http_status = code
        self.reason = reason
        self.details = details


def status_body(code: int, reason: str, message: str, details: JSON | None = None) -> JSON:
    body: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def error_details(exc: TektiteError, kind: Kind | None, name: str | None) -> JSON | None:
    details: JSON = {}
    if name:
        details["name"] = name
    if kind is not None:
        details["group"] = kind.group
        details["kind"] = kind.plural
    if isinstance(exc, ValidationError):
        details["causes"] = [
            {"reason": "FieldValueInvalid", "message": e.render(), "field": format_path(e.path)}
            for e in exc.errors
        ]
    extra = getattr(exc, "details", None)
    if isinstance(extra, dict):
        details.update(extra)
    return details or None


def error_response(exc: TektiteError, kind: Kind | None = None, name: str | None = None) -> JSONResponse:
    code = int(exc.http_status)
    if isinstance(exc, ValidationError) and kind is not None:
        qual = f"{kind.kind}.{kind.group}" if kind.group else kind.kind
        message = f'{qual} "{name or ""}" is invalid: {exc.message}'
    else:
        message = exc.message
    body = status_body(code, str(exc.reason), message, error_details(exc, kind, name))
    return JSONResponse(body, status_code=code)


def not_found(message: str = "the server could not find the requested resource") -> JSONResponse:
    return JSONResponse(status_body(404, "NotFound", message), status_code=404)


def resource_ref(kind: Kind, name: str | None = None) -> str:
    """``pipelineruns.tekton.dev "x"`` as Kubernetes names things in messages."""
    qual = f"{kind.plural}.{kind.group}" if kind.group else kind.plural
    return f'{qual} "{name}"' if name else qual
