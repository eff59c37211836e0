"""``tekton.dev/v1alpha1`` ``VerificationPolicy``: which keys must have signed the Tasks and
Pipelines a resolver fetches (Tekton's trusted resources, ``trusted-resources.md``)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator, model_validator
from pydantic_core import PydanticCustomError

from tektite.api.base import TModel
from tektite.api.meta import ObjectMeta

HASH_ALGORITHMS = ("sha224", "sha256", "sha384", "sha512")


def _rule(message: str) -> PydanticCustomError:
    return PydanticCustomError("trust_rule", message)


class SecretKeyRef(TModel):
    name: str
    namespace: str | None = None


class KeyRef(TModel):
    """One public key: inline PEM (``data``), every value of a Secret (``secretRef``), or ``kms``."""

    secret_ref: SecretKeyRef | None = None
    data: str | None = None
    kms: str | None = None
    hash_algorithm: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> KeyRef:
        given = [n for n, v in (("secretRef", self.secret_ref), ("data", self.data), ("kms", self.kms)) if v]
        if len(given) != 1:
            has = " and ".join(given) if given else "none of them"
            raise _rule(f"a key needs exactly one of secretRef, data or kms (this one has {has})")
        return self

    @field_validator("hash_algorithm")
    @classmethod
    def _hash(cls, value: str | None) -> str | None:
        if value is not None and value.lower() not in HASH_ALGORITHMS:
            raise _rule(f"hashAlgorithm must be one of {', '.join(HASH_ALGORITHMS)}; found {value!r}")
        return value


class Authority(TModel):
    name: str
    key: KeyRef


class ResourcePattern(TModel):
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as err:
            raise _rule(f"pattern {value!r} is not a regular expression: {err}") from None
        return value


class VerificationPolicySpec(TModel):
    resources: list[ResourcePattern]
    authorities: list[Authority]
    mode: Literal["enforce", "warn"] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> VerificationPolicySpec:
        if not self.resources or not self.authorities:
            raise _rule("a VerificationPolicy needs at least one resources pattern and one authority")
        return self


class VerificationPolicy(TModel):
    api_version: Literal["tekton.dev/v1alpha1"]
    kind: Literal["VerificationPolicy"]
    metadata: ObjectMeta
    spec: VerificationPolicySpec
