"""Matrix fan-out: combinations from ``matrix.params`` and ``matrix.include`` (matrix.md)."""

from __future__ import annotations

import itertools
from typing import Any

Combo = dict[str, Any]


def combinations(
    params: list[tuple[str, list[str]]], include: list[tuple[str | None, list[tuple[str, Any]]]]
) -> tuple[list[Combo], list[str | None]]:
    """Combinations in Tekton's order and each one's include name.

    Tekton fans out param by param, each new param's values outermost, so the *first* param varies
    fastest: platform [linux, mac] x browser [chrome, safari] gives linux-chrome, mac-chrome,
    linux-safari, mac-safari (what Tekton's e2e suite expects)."""
    names = [n for n, _ in reversed(params)]
    combos: list[Combo] = (
        [
            dict(reversed(list(zip(names, values, strict=True))))
            for values in itertools.product(*(v for _, v in reversed(params)))
        ]
        if params
        else []
    )
    labels: list[str | None] = [None] * len(combos)
    matrix_names = set(names)
    base = len(combos)  # include entries match generated combinations only
    for inc_name, inc_params in include:
        inc = dict(inc_params)
        if not params:
            combos.append(inc)
            labels.append(inc_name)
            continue
        keys = {k: v for k, v in inc.items() if k in matrix_names}
        extra = {k: v for k, v in inc.items() if k not in matrix_names}
        matched = False
        for i in range(base):
            combo = combos[i]
            if all(combo.get(k) == v for k, v in keys.items()):
                combo.update(extra)
                matched = True
                if inc_name:
                    labels[i] = inc_name
        if not matched:
            combos.append(inc)
            labels.append(inc_name)
    return combos, labels


def has_empty_array(params: list[tuple[str, list[str]]]) -> bool:
    return any(len(v) == 0 for _, v in params)
