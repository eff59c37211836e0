"""Structural validation: a plain object -> a typed, normalized tekton.dev/v1 object.

Kubernetes' API server does this part of admission (types, required fields, unknown fields);
Tekton's webhook adds semantic rules, which live in ``tektite.core.validation``.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass
from typing import Any

import pydantic

from tektite.api.base import TModel
from tektite.api.convert import v1beta1_to_v1
from tektite.api.loader import SourceMap
from tektite.api.scheme import KINDS, Kind
from tektite.errors import FieldError, ValidationError

JSON = dict[str, Any]


@dataclass
class Parsed:
    kind: Kind
    obj: JSON  # normalized JSON, tekton.dev/v1
    model: TModel | None
    source: SourceMap | None = None


def describe(obj: JSON) -> str:
    kind = obj.get("kind", "object")
    raw = obj.get("metadata")
    meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
    name = meta.get("name") or (f"{meta['generateName']}*" if meta.get("generateName") else None)
    return f'{kind} "{name}"' if name else str(kind)


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


def _field_models(annotation: Any) -> list[Any]:
    """Unwrap Optional/Union/Annotated to the concrete candidates."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _field_models(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_field_models(arg))
        return out
    return [annotation]


def _model_at(model: type[pydantic.BaseModel], loc: tuple[Any, ...]) -> type[pydantic.BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            by_alias = {(f.alias or n): f for n, f in current.model_fields.items()}
            fld = by_alias.get(part) if isinstance(part, str) else None
            if fld is None:
                return None
            candidates = _field_models(fld.annotation)
        else:
            origin = typing.get_origin(current)
            if origin in (list, dict):
                args = typing.get_args(current)
                candidates = _field_models(args[-1]) if args else []
            else:
                return None
        nxt = [
            c
            for c in candidates
            if (isinstance(c, type) and issubclass(c, pydantic.BaseModel))
            or typing.get_origin(c) in (list, dict)
        ]
        if not nxt:
            return None
        current = nxt[0]
    return current if isinstance(current, type) and issubclass(current, pydantic.BaseModel) else None


_SCALAR_TAGS = frozenset({"str", "int", "bool", "float", "bytes", "none", "model"})


def _is_type_tag(part: object) -> bool:
    """pydantic puts the union member it tried into ``loc`` (``str``, ``list[str]``,
    ``function-before[...]``); Kubernetes field names never contain brackets."""
    return isinstance(part, str) and (part in _SCALAR_TAGS or "[" in part)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "float_type": "a number",
}


def _found(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f'"{value}"' if len(value) < 60 else f'"{value[:57]}..."'
    if value is None:
        return "null"
    return repr(value)


def translate(
    exc: pydantic.ValidationError,
    model: type[pydantic.BaseModel],
    source: SourceMap | None,
    prefix: tuple[str | int, ...] = (),
) -> list[FieldError]:
    """pydantic errors -> Tekton-style field errors (one per field, union noise collapsed)."""
    seen: dict[tuple[str | int, ...], FieldError] = {}
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not _is_type_tag(p))
        path = (*prefix, *loc)
        etype = err["type"]
        if etype == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            known = [(f.alias or n) for n, f in parent.model_fields.items()] if parent else []
            fe = FieldError(path, f'unknown field "{loc[-1]}"{did_you_mean(str(loc[-1]), known)}')
        elif etype == "missing":
            fe = FieldError(path, "required field is missing")
        elif etype == "literal_error":
            expected = err.get("ctx", {}).get("expected", "")
            fe = FieldError(
                path, "invalid value", expected=f"one of {expected}", found=_found(err.get("input"))
            )
        elif etype in _EXPECTED:
            fe = FieldError(path, "wrong type", expected=_EXPECTED[etype], found=_found(err.get("input")))
        else:
            fe = FieldError(path, err["msg"], found=_found(err.get("input")))
        if source is not None:
            fe.line = source.line_of(path)
        if path in seen:
            # A union reported every member; merge into one "expected any of" message.
            prev = seen[path]
            if prev.expected and fe.expected and fe.expected not in prev.expected:
                prev.expected = f"{prev.expected} or {fe.expected}"
            continue
        seen[path] = fe
    return sorted(seen.values(), key=lambda e: e.line or 0)


def parse(obj: Any, source: SourceMap | None = None) -> Parsed:
    """Validate the structure of one object and normalize it to its stored version."""
    file = source.file if source else None
    if not isinstance(obj, dict):
        raise ValidationError(
            [FieldError((), "expected a mapping with apiVersion and kind", found=_found(obj))], file=file
        )
    errors: list[FieldError] = []
    api_version, kind_name = obj.get("apiVersion"), obj.get("kind")
    for key, value in (("apiVersion", api_version), ("kind", kind_name)):
        if not isinstance(value, str) or not value:
            errors.append(
                FieldError(
                    (key,),
                    "required field is missing" if value is None else "wrong type",
                    expected="a string",
                    line=source.line_of((key,)) if source else None,
                )
            )
    if errors:
        raise ValidationError(errors, file=file, obj=describe(obj))
    assert isinstance(kind_name, str) and isinstance(api_version, str)
    kind = KINDS.get(kind_name)
    if kind is None:
        raise ValidationError(
            [
                FieldError(
                    ("kind",),
                    f'unknown kind "{kind_name}"{did_you_mean(kind_name, KINDS)}',
                    line=source.line_of(("kind",)) if source else None,
                )
            ],
            file=file,
            obj=describe(obj),
        )
    if not kind.accepts(api_version):
        versions = ", ".join(
            f"{kind.group + '/' if kind.group else ''}{v}" for v in (kind.version, *kind.accepted_versions)
        )
        raise ValidationError(
            [
                FieldError(
                    ("apiVersion",),
                    f"{kind_name} is not served at this apiVersion",
                    expected=versions,
                    found=f'"{api_version}"',
                    line=source.line_of(("apiVersion",)) if source else None,
                )
            ],
            file=file,
            obj=describe(obj),
        )
    if kind.group == "tekton.dev" and api_version.endswith("/v1beta1") and kind.version == "v1":
        obj = v1beta1_to_v1(obj)
        if isinstance(obj.get("spec"), dict) and obj["spec"].get("resources"):
            raise ValidationError(
                [
                    FieldError(
                        ("spec", "resources"),
                        "PipelineResources were removed from Tekton (v0.50) and are not supported",
                        expected="workspaces and results instead",
                        line=source.line_of(("spec", "resources")) if source else None,
                    )
                ],
                file=file,
                obj=describe(obj),
            )
    elif kind.kind == "StepAction" and api_version != "tekton.dev/v1":
        obj = {**obj, "apiVersion": "tekton.dev/v1"}
    if kind.model is None:
        meta = obj.get("metadata")
        if not isinstance(meta, dict):
            raise ValidationError(
                [FieldError(("metadata",), "required field is missing", expected="a mapping")],
                file=file,
                obj=describe(obj),
            )
        return Parsed(kind, obj, None, source)
    try:
        model = kind.model.model_validate(obj)
    except pydantic.ValidationError as exc:
        raise ValidationError(translate(exc, kind.model, source), file=file, obj=describe(obj)) from None
    return Parsed(kind, model.dump(), model, source)
