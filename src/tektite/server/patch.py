"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902, via ``jsonpatch``) and the
strategic merge patch kubectl sends for core kinds.

Kubernetes treats a strategic merge patch to a custom resource as a merge patch; for core kinds
it merges lists of named items (``containers``, ``env``, ``volumes``, ServiceAccount ``secrets``
...) by their key. tektite does the same for the lists kubectl's core types mark with a merge key,
honours ``$patch: delete|replace`` and drops the ordering directives (``$setElementOrder/...``).

Server-side apply (``application/apply-patch+yaml``) is approximated: the applied object is merged
into the stored one (and created when missing); there is no field ownership, so fields an earlier
apply set and this one omits are kept.
"""

from __future__ import annotations

import copy
from typing import Any

from tektite.server.status import ApiError

JSON = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Lists of core/v1 structs that Kubernetes merges by a key (patchMergeKey) instead of replacing.
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "sidecars": "name",
    "steps": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "secrets": "name",
    "imagePullSecrets": "name",
    "ownerReferences": "uid",
    "conditions": "type",
}


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(target: JSON, ops: Any) -> JSON:
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "a JSON patch must be a list of operations")
    import jsonpatch  # imported here: only JSON patch requests need it

    try:
        result = jsonpatch.apply_patch(target, ops)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise ApiError(422, "Invalid", f"the JSON patch cannot be applied: {exc}") from None
    except (TypeError, KeyError, ValueError) as exc:
        raise ApiError(400, "BadRequest", f"invalid JSON patch: {exc}") from None
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "the JSON patch did not leave an object")
    return result


def strategic_merge_patch(target: Any, patch: Any, field: str = "") -> Any:
    if isinstance(patch, list):
        return _merge_list(target, patch, field)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    base = {} if directive == "replace" or not isinstance(target, dict) else dict(target)
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            if isinstance(base.get(name), list) and isinstance(value, list):
                base[name] = [v for v in base[name] if v not in value]
            continue
        if value is None:
            base.pop(key, None)
            continue
        merged = strategic_merge_patch(base.get(key), value, key)
        if merged is None and isinstance(value, dict) and value.get("$patch") == "delete":
            base.pop(key, None)
        else:
            base[key] = merged
    if isinstance(patch.get("$retainKeys"), list):
        keep = set(patch["$retainKeys"])
        base = {k: v for k, v in base.items() if k in keep}
    return base


def _merge_list(target: Any, patch: list[Any], field: str) -> list[Any]:
    key = MERGE_KEYS.get(field)
    if key is None or not isinstance(target, list) or not all(isinstance(p, dict) for p in patch):
        return [
            strategic_merge_patch(None, p, field) if isinstance(p, dict) else copy.deepcopy(p)
            for p in patch
            if not (isinstance(p, dict) and p.get("$patch") == "replace")
        ]
    if any(p.get("$patch") == "replace" for p in patch):
        return [strategic_merge_patch(None, p, field) for p in patch if p.get("$patch") != "replace"]
    out = [copy.deepcopy(t) for t in target]
    index = {t.get(key): i for i, t in enumerate(out) if isinstance(t, dict)}
    deleted: set[Any] = set()
    for item in patch:
        ident = item.get(key)
        if item.get("$patch") == "delete":
            deleted.add(ident)
            continue
        if ident in index:
            out[index[ident]] = strategic_merge_patch(out[index[ident]], item, field)
        else:
            index[ident] = len(out)
            out.append(strategic_merge_patch(None, item, field))
    return [t for t in out if not (isinstance(t, dict) and t.get(key) in deleted)]


def apply_patch(content_type: str, target: JSON, body: Any) -> JSON:
    """The patched object; ``content_type`` is the request's (parameters ignored)."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == JSON_PATCH:
        return json_patch(target, body)
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", f"a {media} body must be a JSON object")
    if media in (MERGE_PATCH, APPLY_PATCH):  # server-side apply: the applied fields win (no field managers)
        result = merge_patch(target, body)
    elif media == STRATEGIC:
        result = strategic_merge_patch(target, body)
    else:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f'the patch content type "{media}" is not supported; use {MERGE_PATCH}, {JSON_PATCH} or '
            f"{STRATEGIC}",
        )
    assert isinstance(result, dict)
    return result
