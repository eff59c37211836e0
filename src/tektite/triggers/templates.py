"""TriggerTemplate resource templates -> the objects an event creates.

As in Triggers' ``pkg/template/resource.go``, substitution works on each template's JSON text:
``$(tt.params.NAME)`` is replaced by the param's value escaped for a JSON string (so any value,
quotes and newlines included, lands verbatim in the string), then ``$(uid)`` by a random suffix
shared by every template of the event. With the annotation
``triggers.tekton.dev/old-escape-quotes: "true"`` quotes in values are additionally escaped with a
backslash, Triggers' legacy behaviour.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

from tektite.errors import TektiteError

JSON = dict[str, Any]

OLD_ESCAPE_ANNOTATION = "triggers.tekton.dev/old-escape-quotes"
EVENTLISTENER_LABEL = "triggers.tekton.dev/eventlistener"
TRIGGER_LABEL = "triggers.tekton.dev/trigger"
EVENTID_LABEL = "triggers.tekton.dev/triggers-eventid"
PORT_ANNOTATION = "triggers.tektite.dev/port"  # an EventListener's own port (triggers.app)

_UID_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # Kubernetes' generateName alphabet


class TemplateError(TektiteError):
    """A resource template did not render to an object tektite can create."""

    http_status = 422
    reason = "Invalid"


def new_uid() -> str:
    """The value of ``$(uid)``: five random characters, like a ``generateName`` suffix."""
    return "".join(random.choices(_UID_CHARS, k=5))


def _escaped(value: str, old_escape: bool) -> str:
    if old_escape:
        value = value.replace('"', '\\"')
    return json.dumps(value, ensure_ascii=False)[1:-1]


def render(
    resourcetemplates: Sequence[JSON],
    params: Mapping[str, str],
    *,
    uid: str | None = None,
    old_escape: bool = False,
) -> list[JSON]:
    """Each template with params and ``$(uid)`` substituted, parsed back into an object."""
    uid = uid or new_uid()
    out: list[JSON] = []
    for i, template in enumerate(resourcetemplates):
        text = json.dumps(template, ensure_ascii=False)
        # Longest names first, so $(tt.params.a) never eats into $(tt.params.ab).
        for name in sorted(params, key=len, reverse=True):
            text = text.replace(f"$(tt.params.{name})", _escaped(params[name], old_escape))
        text = text.replace("$(uid)", uid)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(
                f"resourcetemplates[{i}] is not valid JSON after substitution: {exc.msg}"
            ) from None
        if not isinstance(obj, dict):
            raise TemplateError(f"resourcetemplates[{i}] must be an object, found {type(obj).__name__}")
        out.append(obj)
    return out


def label(obj: JSON, *, eventlistener: str, trigger: str, event_id: str, namespace: str) -> JSON:
    """The labels Triggers puts on what it creates, and the trigger's namespace when none is set."""
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise TemplateError(f"{obj.get('kind', 'object')}: metadata must be a mapping")
    if not meta.get("namespace"):
        meta["namespace"] = namespace
    labels = meta.get("labels") or {}
    labels.update({EVENTLISTENER_LABEL: eventlistener, TRIGGER_LABEL: trigger, EVENTID_LABEL: event_id})
    meta["labels"] = labels
    return obj
