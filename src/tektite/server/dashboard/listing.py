"""The runs list: filters turned into one indexed label selector, and keyset pagination across kinds.

Every filter is a label requirement, so the store answers from its label index whatever the
number of runs: ``status`` -> ``tektite.dev/status``, ``pipeline`` -> ``tekton.dev/pipeline``,
``label`` -> a Kubernetes label selector as typed. Pages are newest first; the continue token
holds one store token per kind, so listing both kinds merges two keyset scans and never counts
an offset.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from tektite.core.selectors import parse_selector
from tektite.errors import FieldError, TektiteError, ValidationError
from tektite.server.dashboard.runs import PIPELINE_LABEL, RUN_KINDS, STATUS_LABEL, STATUSES, summary
from tektite.store.base import ALL_NAMESPACES, Store

JSON = dict[str, Any]
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_KIND_WORDS = {"": RUN_KINDS, "all": RUN_KINDS, "pipelinerun": ("PipelineRun",), "taskrun": ("TaskRun",)}
_EXHAUSTED = False  # a kind whose runs were all listed


@dataclass(frozen=True)
class RunQuery:
    kinds: tuple[str, ...] = RUN_KINDS
    namespace: str = ALL_NAMESPACES
    status: str | None = None
    pipeline: str | None = None
    label: str | None = None
    limit: int = DEFAULT_LIMIT
    continue_token: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> RunQuery:
        """From URL query parameters; a bad value raises ValidationError naming the parameter."""
        errors: list[FieldError] = []
        kind_word = (params.get("kind") or "").strip().lower().removesuffix("s")
        kinds = _KIND_WORDS.get(kind_word)
        if kinds is None:
            errors.append(
                FieldError(("kind",), "unknown kind", "PipelineRun, TaskRun or all", repr(params["kind"]))
            )
        status = (params.get("status") or "").strip() or None
        if status is not None and status not in STATUSES:
            errors.append(FieldError(("status",), "unknown status", ", ".join(STATUSES), repr(status)))
        limit = DEFAULT_LIMIT
        raw_limit = (params.get("limit") or "").strip()
        if raw_limit:
            try:
                limit = int(raw_limit)
            except ValueError:
                limit = 0
            if not 1 <= limit <= MAX_LIMIT:
                errors.append(FieldError(("limit",), "invalid limit", f"1 to {MAX_LIMIT}", repr(raw_limit)))
        label = (params.get("label") or "").strip() or None
        if label is not None:
            try:
                parse_selector(label)
            except TektiteError as exc:
                errors.append(FieldError(("label",), exc.message))
        if errors:
            raise ValidationError(errors, obj="runs list query")
        return cls(
            kinds=kinds or RUN_KINDS,
            namespace=(params.get("namespace") or "").strip() or ALL_NAMESPACES,
            status=status,
            pipeline=(params.get("pipeline") or "").strip() or None,
            label=label,
            limit=limit,
            continue_token=(params.get("continue") or "").strip() or None,
        )

    def selector(self) -> str | None:
        terms = []
        if self.status:
            terms.append(f"{STATUS_LABEL}={self.status}")
        if self.pipeline:
            terms.append(f"{PIPELINE_LABEL}={self.pipeline}")
        if self.label:
            terms.append(self.label)
        return ",".join(terms) or None


def _decode(token: str | None, kinds: tuple[str, ...]) -> dict[str, str | bool | None]:
    if not token:
        return dict.fromkeys(kinds)
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error):
        state = None
    if not isinstance(state, dict) or set(state) != set(kinds):
        raise ValidationError(
            [
                FieldError(
                    ("continue",), "invalid continue token", "the token of the previous page", repr(token)
                )
            ],
            obj="runs list query",
        )
    return state


def _encode(state: dict[str, str | bool | None]) -> str | None:
    if all(v is _EXHAUSTED for v in state.values()):
        return None
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def list_runs(store: Store, query: RunQuery) -> JSON:
    """One page of run summaries, newest first: ``{items, continue, remaining}``."""
    state = _decode(query.continue_token, query.kinds)
    selector = query.selector()
    pages: dict[str, list[JSON]] = {}
    remaining: dict[str, int] = {}
    tokens: dict[str, str | None] = {}
    for kind in query.kinds:
        if state[kind] is _EXHAUSTED:
            continue
        res = store.list(
            kind,
            query.namespace,
            label_selector=selector,
            limit=query.limit,
            continue_token=state[kind] or None,  # type: ignore[arg-type]
            order="-created",
        )
        pages[kind] = res.items
        remaining[kind] = res.remaining or 0
        tokens[kind] = res.continue_token
    # newest first; within a kind the store's order is kept, so each kind contributes a prefix
    ordered = sorted(
        (
            (obj["metadata"].get("creationTimestamp", ""), -index, kind, obj)
            for kind, items in pages.items()
            for index, obj in enumerate(items)
        ),
        key=lambda t: (t[0], t[1]),
        reverse=True,
    )
    page = ordered[: query.limit]
    used = {kind: 0 for kind in pages}
    for _created, _index, kind, _obj in page:
        used[kind] += 1
    new_state = dict(state)
    left = 0
    for kind, items in pages.items():
        n = used[kind]
        if n == len(items):
            new_state[kind] = tokens[kind] or _EXHAUSTED
            left += remaining[kind]
        elif n > 0:  # the next page of this kind starts after its n-th item: ask the store where that is
            res = store.list(
                kind,
                query.namespace,
                label_selector=selector,
                limit=n,
                continue_token=state[kind] or None,  # type: ignore[arg-type]
                order="-created",
            )
            new_state[kind] = res.continue_token or _EXHAUSTED
            left += remaining[kind] + len(items) - n
        else:
            left += remaining[kind] + len(items)
    return {
        "items": [summary(obj) for _c, _i, _k, obj in page],
        "continue": _encode(new_state),
        "remaining": left,
    }
