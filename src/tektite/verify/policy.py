"""Attestation policies: ``tektite verify ... --policy FILE``.

A policy is a small YAML file; every section present must hold (see ``docs/policy.md``)::

    predicateType: https://slsa.dev/provenance/v1
    builder:
      id: https://tekton.dev/chains/v2
    subject:                       # each entry must match at least one subject
      - name: registry.example.com/team/*
        digest: sha256:*
    materials:                     # SLSA v1 resolvedDependencies too
      allow:                       # every material must match one of these
        - uri: git+https://github.com/my-org/*
      require:                     # each must match at least one material
        - uri: git+https://github.com/my-org/app*
          digest: sha1:*
    params:                        # each listed param must exist and match
      IMAGE: registry.example.com/team/*
    conditions:                    # Kyverno-style; keys are paths in the predicate
      - key: "{{ buildType }}"
        operator: Equals
        value: https://tekton.dev/chains/v2/slsa

Strings are patterns: ``*`` matches any run of characters, ``?`` one character, anything else
itself. The same policy works on SLSA v0.2 and v1 provenance.
"""

from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from tektite.errors import FieldError, NotFound, ValidationError, VerificationError

__all__ = ["Policy", "load_policy", "match_pattern"]


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL
    )


def match_pattern(pattern: str, value: Any) -> bool:
    """``*``/``?`` wildcard match; non-string values are compared as compact JSON."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    return _compile(pattern).fullmatch(text) is not None


def _show(value: Any) -> str:
    return json.dumps(value, sort_keys=True) if value is not None else "nothing"


def _check_digest(value: str | None) -> str | None:
    if value is not None and (":" not in value or value.startswith(":")):
        raise ValueError(
            f"a digest is written 'algorithm:value' (e.g. sha256:abc..., sha1:*), found {value!r}"
        )
    return value


def _digest_matches(pattern: str | None, digest: Any) -> bool:
    if pattern is None:
        return True
    alg, _, want = pattern.partition(":")
    if not isinstance(digest, dict):
        return False
    return any(
        match_pattern(alg, a) and isinstance(v, str) and match_pattern(want, v) for a, v in digest.items()
    )


def _show_digest(digest: Any) -> str:
    if isinstance(digest, dict) and digest:
        return ",".join(f"{k}:{v}" for k, v in sorted(digest.items()))
    return "(no digest)"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class BuilderRule(_Model):
    id: str


class SubjectRule(_Model):
    name: str | None = None
    digest: str | None = None

    @field_validator("digest")
    @classmethod
    def check_digest(cls, value: str | None) -> str | None:
        return _check_digest(value)

    @model_validator(mode="after")
    def check_not_empty(self) -> SubjectRule:
        if self.name is None and self.digest is None:
            raise ValueError("a subject rule needs name and/or digest")
        return self

    def describe(self) -> str:
        parts = [f"name {self.name!r}" if self.name else "", f"digest {self.digest}" if self.digest else ""]
        return " and ".join(p for p in parts if p)

    def matches(self, subject: Any) -> bool:
        if not isinstance(subject, dict):
            return False
        name = subject.get("name")
        if self.name is not None and not (isinstance(name, str) and match_pattern(self.name, name)):
            return False
        return _digest_matches(self.digest, subject.get("digest"))


class MaterialRule(_Model):
    uri: str | None = None
    digest: str | None = None
    name: str | None = None

    @field_validator("digest")
    @classmethod
    def check_digest(cls, value: str | None) -> str | None:
        return _check_digest(value)

    @model_validator(mode="after")
    def check_not_empty(self) -> MaterialRule:
        if self.uri is None and self.digest is None and self.name is None:
            raise ValueError("a material rule needs uri, digest and/or name")
        return self

    def describe(self) -> str:
        parts = [f"{k} {v!r}" for k, v in (("uri", self.uri), ("name", self.name)) if v is not None]
        if self.digest:
            parts.append(f"digest {self.digest}")
        return " and ".join(parts)

    def matches(self, material: Any) -> bool:
        if not isinstance(material, dict):
            return False
        for attr in ("uri", "name"):
            want, have = getattr(self, attr), material.get(attr)
            if want is not None and not (isinstance(have, str) and match_pattern(want, have)):
                return False
        return _digest_matches(self.digest, material.get("digest"))


class MaterialsRule(_Model):
    allow: list[MaterialRule] | None = None
    require: list[MaterialRule] = []


class Condition(_Model):
    key: str
    operator: Literal["Equals", "NotEquals", "In", "NotIn"]
    value: Any

    def path(self) -> list[str | int]:
        key = self.key.strip()
        if key.startswith("{{") and key.endswith("}}"):
            key = key[2:-2].strip()
        out: list[str | int] = []
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
            out.append(int(part[1:-1]) if part.startswith("[") else part)
        return out

    def holds(self, found: Any) -> bool:
        def eq(want: Any, have: Any) -> bool:
            return match_pattern(want, have) if isinstance(want, str) and have is not None else want == have

        if self.operator in ("Equals", "NotEquals"):
            return eq(self.value, found) == (self.operator == "Equals")
        options = self.value if isinstance(self.value, list) else [self.value]
        items = found if isinstance(found, list) else [found]
        inside = found is not None and all(any(eq(o, item) for o in options) for item in items)
        return inside == (self.operator == "In")


class ConditionBlock(_Model):
    all: list[Condition] = []
    any: list[Condition] = []


class _Statement:
    """Where each policy section looks in SLSA v0.2 and v1 provenance."""

    def __init__(self, statement: dict[str, Any]) -> None:
        self.raw = statement
        pred = statement.get("predicate")
        self.predicate: dict[str, Any] = pred if isinstance(pred, dict) else {}
        build_def = self.predicate.get("buildDefinition")
        self.build_def: dict[str, Any] = build_def if isinstance(build_def, dict) else {}

    def builder_id(self) -> Any:
        for holder in (self.predicate, self.predicate.get("runDetails")):
            if isinstance(holder, dict) and isinstance(holder.get("builder"), dict):
                return holder["builder"].get("id")
        return None

    def materials(self) -> tuple[str, list[Any]]:
        if "resolvedDependencies" in self.build_def:
            deps = self.build_def.get("resolvedDependencies")
            return "predicate.buildDefinition.resolvedDependencies", deps if isinstance(deps, list) else []
        mats = self.predicate.get("materials")
        return "predicate.materials", mats if isinstance(mats, list) else []

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        invocation = self.predicate.get("invocation")
        if isinstance(invocation, dict) and isinstance(invocation.get("parameters"), dict):
            out.update(invocation["parameters"])
        external = self.build_def.get("externalParameters")
        if isinstance(external, dict):
            run_spec = external.get("runSpec")
            for source in (
                external.get("params"),
                run_spec.get("params") if isinstance(run_spec, dict) else None,
            ):
                if isinstance(source, dict):
                    out.update(source)
                elif isinstance(source, list):
                    out.update(
                        {p["name"]: p.get("value") for p in source if isinstance(p, dict) and "name" in p}
                    )
        return out


class Policy(_Model):
    """A parsed policy. :meth:`evaluate` lists what fails; :meth:`enforce` raises on failure."""

    predicate_type: str | None = Field(default=None, alias="predicateType")
    builder: BuilderRule | None = None
    subject: list[SubjectRule] = []
    materials: MaterialsRule | None = Field(
        default=None, validation_alias=AliasChoices("materials", "resolvedDependencies")
    )
    params: dict[str, str | list[str] | dict[str, str]] = {}
    conditions: list[Condition] | ConditionBlock = []

    def evaluate(self, statement: dict[str, Any]) -> list[str]:
        """Every failed condition as ``"<condition>: expected ..., found ..."``; empty means pass."""
        if not isinstance(statement, dict):
            return [
                f"statement: expected an in-toto statement (JSON object), found {type(statement).__name__}"
            ]
        st = _Statement(statement)
        failures: list[str] = []
        if self.predicate_type is not None:
            found = statement.get("predicateType")
            if not (isinstance(found, str) and match_pattern(self.predicate_type, found)):
                failures.append(f"predicateType: expected {self.predicate_type!r}, found {_show(found)}")
        if self.builder is not None:
            found = st.builder_id()
            if not (isinstance(found, str) and match_pattern(self.builder.id, found)):
                failures.append(f"builder.id: expected {self.builder.id!r}, found {_show(found)}")
        failures += self._subjects(statement.get("subject"))
        if self.materials is not None:
            failures += self._materials(*st.materials())
        failures += self._params(st.params())
        failures += self._conditions(st.predicate)
        return failures

    def enforce(self, statement: dict[str, Any], *, where: str | None = None) -> None:
        """Raise :class:`VerificationError` listing every failure, if any."""
        failures = self.evaluate(statement)
        if failures:
            raise VerificationError(
                f"policy failed ({len(failures)} condition(s)):\n  - " + "\n  - ".join(failures), obj=where
            )

    def _subjects(self, subjects: Any) -> list[str]:
        subjects = subjects if isinstance(subjects, list) else []
        shown = (
            ", ".join(
                f"{s.get('name')}@{_show_digest(s.get('digest'))}" for s in subjects if isinstance(s, dict)
            )
            or "no subjects"
        )
        return [
            f"subject[{i}]: expected a subject with {rule.describe()}, found {shown}"
            for i, rule in enumerate(self.subject)
            if not any(rule.matches(s) for s in subjects)
        ]

    def _materials(self, where: str, materials: list[Any]) -> list[str]:
        assert self.materials is not None
        failures = []

        def show(m: Any) -> str:
            if not isinstance(m, dict):
                return _show(m)
            return f"{m.get('uri') or m.get('name')} ({_show_digest(m.get('digest'))})"

        if self.materials.allow is not None:
            allowed = "; ".join(r.describe() for r in self.materials.allow) or "nothing"
            for i, material in enumerate(materials):
                if not any(r.matches(material) for r in self.materials.allow):
                    failures.append(
                        f"materials.allow: expected every material to match one of [{allowed}], "
                        f"found {where}[{i}] {show(material)}"
                    )
        for i, rule in enumerate(self.materials.require):
            if not any(rule.matches(m) for m in materials):
                found = ", ".join(show(m) for m in materials) or "no materials"
                failures.append(
                    f"materials.require[{i}]: expected a material with {rule.describe()}, found {found}"
                )
        return failures

    def _params(self, params: dict[str, Any]) -> list[str]:
        failures = []
        for name, want in self.params.items():
            if name not in params:
                failures.append(
                    f"params.{name}: expected {_show(want)}, found no such param "
                    f"(params are: {', '.join(sorted(params)) or 'none'})"
                )
                continue
            have = params[name]
            if isinstance(want, str):
                ok = match_pattern(want, have)
            elif isinstance(want, list):
                ok = (
                    isinstance(have, list)
                    and len(have) == len(want)
                    and all(match_pattern(w, h) for w, h in zip(want, have, strict=True))
                )
            else:
                ok = isinstance(have, dict) and all(
                    k in have and match_pattern(w, have[k]) for k, w in want.items()
                )
            if not ok:
                failures.append(f"params.{name}: expected {_show(want)}, found {_show(have)}")
        return failures

    def _conditions(self, predicate: dict[str, Any]) -> list[str]:
        def lookup(cond: Condition) -> Any:
            value: Any = predicate
            for part in cond.path():
                if isinstance(part, int):
                    value = (
                        value[part] if isinstance(value, list) and -len(value) <= part < len(value) else None
                    )
                else:
                    value = value.get(part) if isinstance(value, dict) else None
            return value

        def fail(label: str, cond: Condition, found: Any) -> str:
            return f"{label} ({cond.key.strip()} {cond.operator}): expected {_show(cond.value)}, found {_show(found)}"

        if isinstance(self.conditions, list):
            return [
                fail(f"conditions[{i}]", c, lookup(c))
                for i, c in enumerate(self.conditions)
                if not c.holds(lookup(c))
            ]
        failures = [
            fail(f"conditions.all[{i}]", c, lookup(c))
            for i, c in enumerate(self.conditions.all)
            if not c.holds(lookup(c))
        ]
        if self.conditions.any and not any(c.holds(lookup(c)) for c in self.conditions.any):
            failures.append(
                "conditions.any: expected at least one to hold, found none: "
                + "; ".join(fail(f"any[{i}]", c, lookup(c)) for i, c in enumerate(self.conditions.any))
            )
        return failures


_KNOWN_FIELDS = {
    (): ["predicateType", "builder", "subject", "materials", "resolvedDependencies", "params", "conditions"],
    ("builder",): ["id"],
    ("subject",): ["name", "digest"],
    ("materials",): ["allow", "require"],
    ("material",): ["uri", "digest", "name"],
    ("conditions",): ["key", "operator", "value", "all", "any"],
}


def _did_you_mean(loc: tuple[str | int, ...]) -> str | None:
    name = str(loc[-1])
    parents = [p for p in loc[:-1] if isinstance(p, str) and not p[0].isupper() and p not in ("list", "dict")]
    if not parents:
        scope: tuple[str, ...] = ()
    elif parents[-1] in ("allow", "require"):
        scope = ("material",)
    elif parents[-1] in ("all", "any"):
        scope = ("conditions",)
    else:
        scope = (parents[-1] if parents[-1] != "resolvedDependencies" else "materials",)
    known = _KNOWN_FIELDS.get(scope, [])
    close = difflib.get_close_matches(name, known, n=1)
    return (
        f"one of {', '.join(known)}" + (f" (did you mean {close[0]!r}?)" if close else "") if known else None
    )


def _to_field_errors(err: pydantic.ValidationError) -> list[FieldError]:
    out = []
    seen = set()
    for e in err.errors():
        # drop pydantic's union-branch names ("list[Condition]", "ConditionBlock", ...) from the path
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and (p[:1].isupper() or "[" in p)))
        if e["type"] == "extra_forbidden":
            fe = FieldError(loc, "unknown field", _did_you_mean(loc), repr(loc[-1]))
        else:
            fe = FieldError(loc, e["msg"].removeprefix("Value error, "))
        if fe.render() not in seen:
            seen.add(fe.render())
            out.append(fe)
    return out


def load_policy(path_or_text: str | Path) -> Policy:
    """Read a policy from a file (a :class:`Path`, or a string naming an existing file) or YAML text."""
    source = "policy"
    if isinstance(path_or_text, Path) or ("\n" not in path_or_text and Path(path_or_text).is_file()):
        source = str(path_or_text)
        try:
            text = Path(path_or_text).read_text()
        except OSError as err:
            raise NotFound(f"cannot read the policy file: {err.strerror}", file=source) from None
    else:
        text = path_or_text
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ValidationError(
            [FieldError((), f"not valid YAML: {getattr(err, 'problem', err)}", line=line)], file=source
        ) from None
    if isinstance(data, str) and "\n" not in text.strip() and source == "policy":
        raise NotFound(f"policy file {text.strip()!r} not found")
    if not data:
        raise ValidationError(
            [
                FieldError(
                    (), "the policy is empty; it would accept anything", "at least one condition", "none"
                )
            ],
            file=source,
        )
    if not isinstance(data, dict):
        raise ValidationError(
            [
                FieldError(
                    (), "a policy is a YAML mapping", "predicateType/builder/subject/...", type(data).__name__
                )
            ],
            file=source,
        )
    try:
        return Policy.model_validate(data)
    except pydantic.ValidationError as err:
        raise ValidationError(_to_field_errors(err), file=source) from None
