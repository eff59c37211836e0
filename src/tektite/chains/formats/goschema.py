"""A tiny model of Go's ``json.Unmarshal`` followed by ``json.Marshal``, driven by field tables.

Chains reads a run into Tekton's Go structs and writes parts of it back out (``runSpec``,
invocation parameters, child TaskRuns). That round trip decides what a statement contains:
unknown fields vanish, ``omitempty`` fields with zero values vanish, fields without it appear
with their zero value (``"serviceAccountName": ""``, ``"computeResources": {}``), nil slices
without ``omitempty`` become ``null``. Each codec here turns a decoded JSON value (``None`` for
missing or ``null``) into exactly what the Go struct would marshal to.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from tektite.chains.formats.gojson import format_duration, format_timestamp, parse_duration, parse_timestamp

__all__ = [
    "BOOL",
    "DURATION",
    "INT",
    "PARAM_VALUE",
    "RAW",
    "RAW_EXTENSION",
    "STR",
    "TIME",
    "Codec",
    "F",
    "Inline",
    "Lazy",
    "MapOf",
    "Ptr",
    "Slice",
    "Struct",
    "plain",
]


_OMITTED: Any = object()  # a field the marshaled JSON leaves out
_UNREAD: Any = object()
_SMALL_STRUCT = 6  # fields
_NONE_READ: dict[str, Any] = {}


class Codec:
    """One Go type: ``norm`` gives its marshaled JSON; ``empty`` says whether omitempty drops it."""

    def norm(self, value: Any) -> Any:
        raise NotImplementedError

    def empty(self, out: Any) -> bool:
        return False


class _Str(Codec):
    def norm(self, value: Any) -> Any:
        return value if isinstance(value, str) else ""

    def empty(self, out: Any) -> bool:
        return bool(out == "")


class _Bool(Codec):
    def norm(self, value: Any) -> Any:
        return value if isinstance(value, bool) else False

    def empty(self, out: Any) -> bool:
        return out is False


class _Int(Codec):
    def norm(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return 0
        return int(value)

    def empty(self, out: Any) -> bool:
        return bool(out == 0)


class _Raw(Codec):
    """A type tektite does not model field by field (most of core/v1): kept as written."""

    def norm(self, value: Any) -> Any:
        return copy.deepcopy(value)

    def empty(self, out: Any) -> bool:
        return out is None or out == "" or out == [] or out == {} or out is False or out == 0


class _ParamValue(Codec):
    """``v1.ParamValue``/``ResultValue``: string, array of strings or object of strings.

    Its ``UnmarshalJSON`` falls back to the raw JSON text as a string for anything else, and
    ``null`` decodes to the empty string.
    """

    def norm(self, value: Any) -> Any:
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(v is None or isinstance(v, str) for v in value):
            return [v or "" for v in value]
        if isinstance(value, dict) and all(v is None or isinstance(v, str) for v in value.values()):
            return {k: (value[k] or "") for k in sorted(value)}
        return json.dumps(value, separators=(",", ":"))


_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


class _Time(Codec):
    """``metav1.Time``: RFC 3339 to the second in UTC; the zero time marshals as ``null``."""

    def norm(self, value: Any) -> Any:
        if not isinstance(value, str):
            return None
        if _CANONICAL_TIME.fullmatch(value):  # already what Go writes: the common case
            return value
        try:
            stamp, _ = parse_timestamp(value)
        except ValueError:
            return value
        return format_timestamp(stamp)


class _Duration(Codec):
    """``metav1.Duration``: any ``time.ParseDuration`` text, written back as ``Duration.String()``."""

    def norm(self, value: Any) -> Any:
        if not isinstance(value, str):
            return "0s"
        try:
            return format_duration(parse_duration(value))
        except ValueError:
            return value


class _RawExtension(Codec):
    """``runtime.RawExtension``: the raw JSON, or ``null`` when absent."""

    def norm(self, value: Any) -> Any:
        return copy.deepcopy(value)


STR: Codec = _Str()
BOOL: Codec = _Bool()
INT: Codec = _Int()
RAW: Codec = _Raw()
PARAM_VALUE: Codec = _ParamValue()
TIME: Codec = _Time()
DURATION: Codec = _Duration()
RAW_EXTENSION: Codec = _RawExtension()


class Ptr(Codec):
    """``*T``: ``null``/missing is nil (omitted by omitempty, ``null`` otherwise)."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner

    def norm(self, value: Any) -> Any:
        return None if value is None else self.inner.norm(value)

    def empty(self, out: Any) -> bool:
        return out is None


class Slice(Codec):
    """``[]T``: nil stays ``null``; ``[]`` stays ``[]``; omitempty drops both."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner

    def norm(self, value: Any) -> Any:
        if not isinstance(value, list):
            return None
        return [self.inner.norm(v) for v in value]

    def empty(self, out: Any) -> bool:
        return not out


class MapOf(Codec):
    """``map[string]T``: Go writes map keys sorted."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner

    def norm(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        return {k: self.inner.norm(value[k]) for k in sorted(value)}

    def empty(self, out: Any) -> bool:
        return not out


@dataclass(frozen=True)
class F:
    """One struct field: its JSON name, its type, and whether the tag says ``omitempty``."""

    name: str
    codec: Codec
    omitempty: bool = True


@dataclass(frozen=True)
class Inline:
    """An embedded struct whose fields are promoted (``json:",inline"``)."""

    struct: Struct


class Struct(Codec):
    """A Go struct. Fields marshal in declaration order; JSON keys match exactly, else ignoring case."""

    def __init__(self, name: str, fields: list[F | Inline]) -> None:
        self.name = name
        self.fields: list[F] = []
        for item in fields:
            self.fields.extend(item.struct.fields if isinstance(item, Inline) else [item])
        self._exact: dict[str, F] = {}
        for f in self.fields:
            self._exact.setdefault(f.name, f)
        self._folded: dict[str, F] = {}
        for f in self.fields:
            self._folded.setdefault(f.name.lower(), f)
        self._plan = [(f.name, f.codec, f.omitempty) for f in self.fields]
        self._names = frozenset(self._exact)
        self._lazy: dict[str, tuple[type, Any, bool, bool]] | None = None  # see _lazy_plan

    def field(self, name: str) -> F:
        return self._exact[name]

    def _assign(self, value: Any) -> dict[str, Any]:
        """The JSON object's values by the field they decode into (unknown keys dropped)."""
        if isinstance(value, dict) and self._names.issuperset(value):
            return value  # every key names a field exactly: the common case
        assigned: dict[str, Any] = {}
        if isinstance(value, dict):
            exact, folded = self._exact, self._folded
            for key, val in value.items():
                f = exact.get(key)
                if f is None:
                    f = folded.get(key.lower())
                if f is not None:
                    assigned[f.name] = val
        return assigned

    def norm(self, value: Any) -> Any:
        return self._norm(self._assign(value), _NONE_READ)

    def _norm(self, assigned: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
        """``norm`` of the assigned fields; those in ``read`` (by :class:`Lazy`) are not redone."""
        out: dict[str, Any] = {}
        omitted = self._omitted_when_absent()
        for name, codec, omitempty in self._plan:
            if name in read:
                got = plain(read[name])
            elif name in assigned:
                got = codec.norm(assigned[name])
            elif name in omitted:
                continue  # absent and omitempty: the common case, decided once per struct
            else:
                got = codec.norm(None)
            if got is _OMITTED or (omitempty and codec.empty(got)):
                continue
            out[name] = got
        return out

    def lazy(self, value: Any) -> Lazy:
        """``norm(value)`` computed field by field, as the fields are read."""
        return Lazy(self, self._assign(value))

    def _lazy_field(self, assigned: dict[str, Any], name: str) -> Any:
        """Field ``name`` of ``norm(assigned)``, or :data:`_OMITTED`; structs (also behind a pointer
        or in a slice) come back :class:`Lazy`, unless they are small and flat."""
        how = (self._lazy or self._lazy_plan()).get(name)
        if how is None:
            return _OMITTED  # not a field: never marshaled
        mode, codec, omitempty, omitted_when_nil = how
        raw = assigned.get(name)
        if raw is None and omitted_when_nil:
            return _OMITTED
        if mode is Struct:  # a struct is never empty: always written
            return Lazy(codec, codec._assign(raw))
        if mode is Ptr:
            return None if raw is None else Lazy(codec, codec._assign(raw))
        if mode is Slice:
            if not isinstance(raw, list) or (not raw and omitempty):
                return _OMITTED if omitempty else None
            return [Lazy(codec, codec._assign(v)) for v in raw]
        got = codec.norm(raw)
        return _OMITTED if omitempty and codec.empty(got) else got

    def _lazy_plan(self) -> dict[str, tuple[type, Any, bool, bool]]:
        """For each field: how :class:`Lazy` reads it (a struct, a pointer to or a slice of one, or
        a plain value), its codec (the struct's), omitempty, and whether nil is left out."""
        plan = self._lazy
        if plan is None:
            plan = {}
            omitted = self._omitted_when_absent()
            for name, codec, omitempty in self._plan:
                inner = getattr(codec, "inner", None)
                if isinstance(codec, Struct) and codec._worth_lazy():
                    plan[name] = (Struct, codec, omitempty, False)
                elif isinstance(codec, Ptr | Slice) and isinstance(inner, Struct) and inner._worth_lazy():
                    plan[name] = (type(codec), inner, omitempty, name in omitted)
                else:
                    plan[name] = (Codec, codec, omitempty, name in omitted)
            self._lazy = plan
        return plan

    def _worth_lazy(self) -> bool:
        """Whether reading this struct lazily beats normalizing it: a small flat one (a param, a
        result) is cheaper to normalize whole."""
        return len(self.fields) > _SMALL_STRUCT or any(
            isinstance(f.codec, Struct) or isinstance(getattr(f.codec, "inner", None), Struct)
            for f in self.fields
        )

    def _omitted_when_absent(self) -> frozenset[str]:
        """Fields that marshal to nothing when the input lacks them (computed on first use: codecs
        may refer to structs defined later)."""
        cached: frozenset[str] | None = self.__dict__.get("_absent")
        if cached is None:
            cached = frozenset(
                f.name for f in self.fields if f.omitempty and f.codec.empty(f.codec.norm(None))
            )
            self.__dict__["_absent"] = cached
        return cached


class Lazy(Mapping[str, Any]):
    """A struct value normalized one field at a time, when the field is first read.

    ``lazy.get(k)`` is ``struct.norm(value).get(k)``, except that struct-typed fields (also behind
    a pointer or in a slice; not small flat ones) read as :class:`Lazy` too; :meth:`plain` is the whole ``norm(value)``
    and :func:`plain` makes one field's value plain JSON (before it goes into a statement). A
    formatter reading a few fields of a run does not pay for the rest of it.
    """

    __slots__ = ("_assigned", "_done", "_struct")

    def __init__(self, struct: Struct, assigned: dict[str, Any]) -> None:
        self._struct = struct
        self._assigned = assigned
        self._done: dict[str, Any] = {}

    def _read(self, name: str) -> Any:
        got = self._done.get(name, _UNREAD)
        if got is _UNREAD:
            got = self._done[name] = self._struct._lazy_field(self._assigned, name)
        return got

    def get(self, name: str, default: Any = None) -> Any:
        got = self._done.get(name, _UNREAD)  # _read, inlined: the formatters' most frequent call
        if got is _UNREAD:
            got = self._done[name] = self._struct._lazy_field(self._assigned, name)
        return default if got is _OMITTED else got

    def __getitem__(self, name: str) -> Any:
        got = self._read(name)
        if got is _OMITTED:
            raise KeyError(name)
        return got

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name, _OMITTED) is not _OMITTED

    def __iter__(self) -> Iterator[str]:
        return (name for name, _, _ in self._struct._plan if self.get(name, _OMITTED) is not _OMITTED)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __bool__(self) -> bool:  # without normalizing every field (``spec or {}``)
        return next(iter(self), None) is not None

    def plain(self) -> dict[str, Any]:
        """The normalized value as plain JSON (what ``struct.norm`` returns)."""
        return self._struct._norm(self._assigned, self._done)


def plain(value: Any) -> Any:
    """A field read from a :class:`Lazy` (a struct, a slice of structs or anything else) as plain JSON."""
    if isinstance(value, Lazy):
        return value.plain()
    if isinstance(value, list) and value and isinstance(value[0], Lazy):
        return [v.plain() for v in value]
    return value
