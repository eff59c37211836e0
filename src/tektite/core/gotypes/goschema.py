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
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from tektite.core.gotypes.gojson import format_duration, format_timestamp, parse_duration, parse_timestamp

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


Reader = Callable[[Any], Any]  # a field's raw JSON -> its marshaled value, or _OMITTED


class Codec:
    """One Go type: ``norm`` gives its marshaled JSON; ``empty`` says whether omitempty drops it.

    ``scalar`` is the Python type whose values (non-zero ones, under omitempty) marshal as
    themselves, if there is one: :meth:`Struct.norm` takes those as they are, without a call.
    """

    scalar: type | None = None

    def norm(self, value: Any) -> Any:
        raise NotImplementedError

    def empty(self, out: Any) -> bool:
        return False

    def field_writer(self, omitempty: bool) -> Reader:
        """A struct field of this type: its raw JSON (``None`` when absent) -> what marshals, or
        :data:`_OMITTED`. Built once per field, so a read is one call (or two), not a dispatch."""
        norm, empty = self.norm, self.empty
        if not omitempty:
            return norm

        def read(raw: Any) -> Any:
            got = norm(raw)
            return _OMITTED if empty(got) else got

        return read

    def field_reader(self, omitempty: bool) -> Reader:
        """Like :meth:`field_writer`, for :class:`Lazy`: a struct (also behind a pointer or in a slice)
        comes back :class:`Lazy` unless it is small and flat."""
        return self.field_writer(omitempty)


class _Str(Codec):
    scalar = str

    def norm(self, value: Any) -> Any:
        return value if isinstance(value, str) else ""

    def empty(self, out: Any) -> bool:
        return bool(out == "")

    def field_writer(self, omitempty: bool) -> Reader:
        return _nonempty_str if omitempty else self.norm


def _nonempty_str(raw: Any) -> Any:
    """An omitempty string field: the most common field there is."""
    return raw if raw and isinstance(raw, str) else _OMITTED


class _Bool(Codec):
    scalar = bool

    def norm(self, value: Any) -> Any:
        return value if isinstance(value, bool) else False

    def empty(self, out: Any) -> bool:
        return out is False


class _Int(Codec):
    scalar = int

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

    scalar = str

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
        return _duration_text(value)


@lru_cache(maxsize=256)
def _duration_text(text: str) -> str:
    """``Duration.String()`` of a duration's text (kept when it does not parse). Memoized: pure,
    and timeouts are a handful of values (``1h0m0s``) written run after run."""
    try:
        return format_duration(parse_duration(text))
    except ValueError:
        return text


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

    def field_writer(self, omitempty: bool) -> Reader:
        if not omitempty:
            return self.norm
        inner = self.inner.norm

        def read(raw: Any) -> Any:
            got = None if raw is None else inner(raw)
            return _OMITTED if got is None else got

        return read

    def field_reader(self, omitempty: bool) -> Reader:
        inner = _lazy_struct(self.inner)
        if inner is None:
            return self.field_writer(omitempty)
        nil = _OMITTED if omitempty else None

        def read(raw: Any) -> Any:
            return nil if raw is None else Lazy(inner, raw)

        return read


def _lazy_struct(inner: Codec) -> Struct | None:
    """The struct a pointer or slice field holds, when reading it lazily pays (see
    :attr:`Struct.worth_lazy`); None when the field is normalized whole."""
    return inner if isinstance(inner, Struct) and inner.worth_lazy else None


class _Container(Codec):
    """A slice or a map: omitempty drops it when it is nil or has no elements."""

    inner: Codec

    def empty(self, out: Any) -> bool:
        return not out

    def field_writer(self, omitempty: bool) -> Reader:
        norm = self.norm
        if not omitempty:
            return norm

        def read(raw: Any) -> Any:
            if not raw:
                return _OMITTED  # null, missing, [] or {} (or any zero): nil or empty either way
            got = norm(raw)
            return got if got else _OMITTED

        return read


class Slice(_Container):
    """``[]T``: nil stays ``null``; ``[]`` stays ``[]``; omitempty drops both."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        if inner is STR:  # command, args, runAfter, ...: no call per element
            self.norm = self._strings  # type: ignore[method-assign]

    def norm(self, value: Any) -> Any:
        if not isinstance(value, list):
            return None
        norm = self.inner.norm
        return [norm(v) for v in value]

    def _strings(self, value: Any) -> Any:
        if not isinstance(value, list):
            return None
        return [v if isinstance(v, str) else "" for v in value]

    def field_reader(self, omitempty: bool) -> Reader:
        inner = _lazy_struct(self.inner)
        if inner is None:
            return self.field_writer(omitempty)
        nil = _OMITTED if omitempty else None

        def read(raw: Any) -> Any:
            if not isinstance(raw, list) or (not raw and omitempty):
                return nil
            return [Lazy(inner, v) for v in raw]

        return read


class MapOf(_Container):
    """``map[string]T``: Go writes map keys sorted."""

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        if inner is STR:  # labels and annotations: no call per entry
            self.norm = self._strings  # type: ignore[method-assign]

    def norm(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        norm = self.inner.norm
        return {k: norm(value[k]) for k in sorted(value)}

    def _strings(self, value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        return {k: v if isinstance(v, str) else "" for k, v in sorted(value.items())}


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
    """A Go struct. Fields marshal in declaration order; JSON keys match exactly, else ignoring case.

    How each field is written (:meth:`Codec.field_writer`) and read lazily (:meth:`Codec.field_reader`)
    is worked out once, on first use: most structs of the tables are never read at all.
    """

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
        self._names = frozenset(self._exact)
        self._field_names = tuple(f.name for f in self.fields)

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

    @cached_property
    def _writers(self) -> tuple[tuple[str, Reader, bool, type | None, bool], ...]:
        """For each field, in order: its name, its :meth:`Codec.field_writer` reader, whether it
        marshals to nothing when the input lacks it (decided once here, not per value), its
        codec's ``scalar`` type, and whether a zero scalar is written (no omitempty)."""
        out = []
        for f in self.fields:
            write = f.codec.field_writer(f.omitempty)
            out.append((f.name, write, write(None) is _OMITTED, f.codec.scalar, not f.omitempty))
        return tuple(out)

    @cached_property
    def _readers(self) -> dict[str, Reader]:
        """Each field's :meth:`Codec.field_reader` reader, by name: what :class:`Lazy` calls."""
        readers: dict[str, Reader] = {}
        for f in self.fields:
            readers.setdefault(f.name, f.codec.field_reader(f.omitempty))
        return readers

    @cached_property
    def worth_lazy(self) -> bool:
        """Whether reading this struct lazily beats normalizing it: a small one without struct
        fields :class:`Lazy` would read lazily (a param, a param spec, a result) is cheaper to
        normalize whole."""
        return len(self.fields) > _SMALL_STRUCT or any(
            isinstance(f.codec, Struct)
            or (isinstance(f.codec, Ptr | Slice) and isinstance(f.codec.inner, Struct))
            for f in self.fields
        )

    def norm(self, value: Any) -> Any:
        # _norm with nothing read, kept separate: small structs (params, results) come through here
        if not (isinstance(value, dict) and self._names.issuperset(value)):
            value = self._assign(value)
        out: dict[str, Any] = {}
        for name, write, absent_omitted, scalar, keep_zero in self._writers:
            if name in value:
                raw = value[name]
                got = raw if raw.__class__ is scalar and (keep_zero or raw) else write(raw)
            elif absent_omitted:
                continue  # absent and omitempty: the common case
            else:
                got = write(None)
            if got is not _OMITTED:
                out[name] = got
        return out

    def _norm(self, assigned: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
        """``norm`` of the assigned fields; those in ``read`` (by :class:`Lazy`) are not redone."""
        out: dict[str, Any] = {}
        for name, write, absent_omitted, scalar, keep_zero in self._writers:
            if name in read:
                got = plain(read[name])
            elif name in assigned:
                raw = assigned[name]
                got = raw if raw.__class__ is scalar and (keep_zero or raw) else write(raw)
            elif absent_omitted:
                continue
            else:
                got = write(None)
            if got is not _OMITTED:
                out[name] = got
        return out

    def field_reader(self, omitempty: bool) -> Reader:
        if not self.worth_lazy:
            return self.field_writer(omitempty)
        return lambda raw: Lazy(self, raw)  # a struct is never empty: always written

    def lazy(self, value: Any) -> Lazy:
        """``norm(value)`` computed field by field, as the fields are read."""
        return Lazy(self, value)


class Lazy(Mapping[str, Any]):
    """A struct value normalized one field at a time, when the field is first read.

    ``lazy.get(k)`` is ``struct.norm(value).get(k)``, except that struct-typed fields (also behind
    a pointer or in a slice; not small flat ones) read as :class:`Lazy` too; :meth:`plain` is the whole ``norm(value)``
    and :func:`plain` makes one field's value plain JSON (before it goes into a statement). A
    formatter reading a few fields of a run does not pay for the rest of it.
    """

    __slots__ = ("_assigned", "_done", "_readers", "_struct")

    def __init__(self, struct: Struct, value: Any) -> None:
        self._struct = struct
        self._readers = struct._readers
        # Struct._assign, its common case inlined: one call less per struct read
        self._assigned = (
            value if isinstance(value, dict) and struct._names.issuperset(value) else struct._assign(value)
        )
        self._done: dict[str, Any] = {}

    def get(self, name: str, default: Any = None) -> Any:
        got = self._done.get(name, _UNREAD)  # the formatters' most frequent call: kept flat
        if got is _UNREAD:
            read = self._readers.get(name)
            got = self._done[name] = _OMITTED if read is None else read(self._assigned.get(name))
        return default if got is _OMITTED else got

    def __getitem__(self, name: str) -> Any:
        got = self.get(name, _OMITTED)
        if got is _OMITTED:
            raise KeyError(name)
        return got

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name, _OMITTED) is not _OMITTED

    def __iter__(self) -> Iterator[str]:
        return (name for name in self._struct._field_names if self.get(name, _OMITTED) is not _OMITTED)

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
