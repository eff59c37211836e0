"""``when`` expressions: ``input`` / ``operator`` / ``values``, and CEL (``enable-cel-in-whenexpression``)."""

from __future__ import annotations

from typing import Any

from tektite.api.params import WhenExpression


class CELError(ValueError):
    pass


def evaluate_cel(expression: str) -> bool:
    """Evaluate an already-substituted CEL expression (variables are inlined by Tekton's rules)."""
    import celpy  # cel-python; imported lazily, it is slow to import

    try:
        env = celpy.Environment()
        ast = env.compile(expression)
        result = env.program(ast).evaluate({})
    except Exception as exc:  # cel-python raises a zoo of types
        raise CELError(f"failed to evaluate CEL expression {expression!r}: {exc}") from None
    if isinstance(result, Exception):
        raise CELError(f"failed to evaluate CEL expression {expression!r}: {result}")
    if not isinstance(result, bool) and type(result).__name__ != "BoolType":
        raise CELError(f"CEL expression {expression!r} must evaluate to a bool, got {result!r}")
    return bool(result)


def evaluate(expr: WhenExpression) -> bool:
    if expr.cel is not None:
        return evaluate_cel(expr.cel)
    value = expr.input or ""
    values = expr.values or []
    inside = value in values
    return inside if expr.operator == "in" else not inside


def all_true(exprs: list[WhenExpression] | None) -> bool:
    return all(evaluate(e) for e in exprs or [])


def as_status(exprs: list[WhenExpression] | None) -> list[dict[str, Any]]:
    """The resolved expressions as Tekton records them in ``skippedTasks[].whenExpressions``."""
    return [e.dump() for e in exprs or []]
