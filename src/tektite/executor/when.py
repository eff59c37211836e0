"""What only the running pod knows: step results of earlier steps, and step ``when`` guards.

``$(steps.<step>.results.<r>)`` (``<step>`` is the step's name, or its container name
``step-<name>``) is replaced in a step's ``command``, ``args`` and ``env`` just before it runs, from
the files earlier steps wrote to ``$(step.results.<r>.path)``. Array results (a JSON list in the
file) expand in place with ``[*]`` in ``args``/``command`` and index with ``[i]``; object results
(a JSON object) give ``.key``. A reference that does not resolve is left as written, as Tekton does.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tektite.core.substitution import Substituter
from tektite.executor.plan import Container, WhenExpression

Tree = dict[str, Any]


class WhenError(Exception):
    """A step ``when`` expression could not be evaluated (the step then fails with this message)."""


def result_value(raw: str) -> str | list[str] | dict[str, str]:
    """A result file's content: a JSON list/object for array/object results, else the text."""
    text = raw.strip()
    if text[:1] in ("[", "{"):
        try:
            value = json.loads(text)
        except ValueError:
            return raw
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return value
    return raw


def add_step(
    tree: Tree,
    container: Container,
    results: dict[str, str],
    exit_code_path: str,
    artifacts: dict[str, Any] | None = None,
) -> None:
    """Record a finished step's results (and artifacts, as JSON text of their ``values``:
    ``$(steps.<s>.outputs.<name>)``) under both of its names."""
    steps = tree.setdefault("steps", {})
    entry: dict[str, Any] = {
        "results": {name: result_value(raw) for name, raw in results.items()},
        "exitCode": {"path": exit_code_path},
    }
    for direction in ("inputs", "outputs"):
        for artifact in (artifacts or {}).get(direction) or []:
            if isinstance(artifact, dict) and artifact.get("name"):
                entry.setdefault(direction, {})[artifact["name"]] = json.dumps(
                    artifact.get("values") or [], separators=(",", ":")
                )
    steps[container.step_name] = entry
    steps[container.name] = entry


def substitute(container: Container, tree: Tree) -> Container:
    """The container with step-result references in command/args/env replaced."""
    if not tree:
        return container
    sub = Substituter(tree, roots={"steps"})
    return dataclasses.replace(
        container,
        command=sub.list(container.command) if container.command is not None else None,
        args=sub.list(container.args),
        env={k: sub.string(v) for k, v in container.env.items()},
        script=sub.string(container.script) if container.script is not None else None,
        when=[substitute_when(w, sub) for w in container.when],
    )


def substitute_when(expr: WhenExpression, sub: Substituter) -> WhenExpression:
    values: list[str] = []
    for v in expr.values:
        resolved = sub.value(v)
        if isinstance(resolved, list):
            values.extend(resolved)
        else:
            values.append(resolved if isinstance(resolved, str) else v)
    return WhenExpression(
        input=sub.string(expr.input) if expr.input is not None else None,
        operator=expr.operator,
        values=values,
        cel=sub.string(expr.cel) if expr.cel is not None else None,
    )


def should_run(whens: list[WhenExpression]) -> bool:
    """True when every expression holds (an empty list always holds)."""
    return all(_holds(i, w) for i, w in enumerate(whens))


def _holds(index: int, expr: WhenExpression) -> bool:
    where = f"when[{index}]"
    if expr.cel is not None:
        return _cel(where, expr.cel)
    operator = (expr.operator or "").lower()
    value = expr.input or ""
    if operator == "in":
        return value in expr.values
    if operator == "notin":
        return value not in expr.values
    raise WhenError(f"{where}.operator: expected 'in' or 'notin', found {expr.operator!r}")


def _cel(where: str, source: str) -> bool:
    """Evaluate a (fully substituted) CEL guard; it may not reference variables."""
    import celpy  # cel-python: imported only when a step uses a CEL guard

    env = celpy.Environment()
    try:
        result = env.program(env.compile(source)).evaluate({})
    except Exception as exc:  # celpy raises parse and evaluation errors of several types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WhenError(
            f"{where}.cel: cannot evaluate {source!r}: {first[:200]}"
            " (only expressions over substituted values are supported in step when)"
        ) from None
    if isinstance(result, celpy.celtypes.BoolType | bool):
        return bool(result)
    raise WhenError(f"{where}.cel: expected a boolean result, found {type(result).__name__} from {source!r}")
