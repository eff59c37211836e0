"""Provenance formatters, found by their chains-config name.

    from tektite.chains.formats import format_run, get_formatter

    statement = format_run("slsa/v2alpha4", run, {"builder.id": "https://ci.example"}, children)
    statement = get_formatter("in-toto").format(run, config, child_taskruns)

A formatter turns a finished ``tekton.dev/v1`` TaskRun or PipelineRun (a JSON object as the API
serves it; a PipelineRun's child TaskRuns are passed separately) into the in-toto statement
Tekton Chains would produce for it, as a JSON-ready dict. Formatters are pure: no I/O, no store.
"""

from __future__ import annotations

import difflib
from typing import Any, Protocol

from tektite.chains.config import ChainsConfig
from tektite.chains.formats.slsa_v1 import SlsaV1Formatter
from tektite.chains.formats.slsa_v2 import SlsaV2Alpha3Formatter, SlsaV2Alpha4Formatter
from tektite.errors import FieldError, NotSupported, ValidationError

__all__ = ["FORMAT_NAMES", "Formatter", "format_run", "get_formatter"]


class Formatter(Protocol):
    """Makes the in-toto statement for one run (its ``kind`` says TaskRun or PipelineRun)."""

    name: str

    def format(
        self, run: dict[str, Any], config: ChainsConfig, child_taskruns: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]: ...


_FORMATTERS: dict[str, Formatter] = {
    "in-toto": SlsaV1Formatter(),
    "slsa/v1": SlsaV1Formatter(),
    "slsa/v2alpha3": SlsaV2Alpha3Formatter(),
    "slsa/v2alpha4": SlsaV2Alpha4Formatter(),
}
FORMAT_NAMES = tuple(_FORMATTERS)
_NOT_YET = {
    "slsa/v2alpha2": "slsa/v2alpha2 (SLSA v1.0 over tekton.dev/v1beta1 objects) is not supported yet; "
    "slsa/v2alpha3 and slsa/v2alpha4 write the same predicate from tekton.dev/v1 objects",
}


def get_formatter(name: str) -> Formatter:
    """The formatter for a chains-config format name (``in-toto``, ``slsa/v1``, ``slsa/v2alpha3``, ...)."""
    if name in _FORMATTERS:
        return _FORMATTERS[name]
    if name in _NOT_YET:
        raise NotSupported(_NOT_YET[name], hint="use one of: " + ", ".join(FORMAT_NAMES))
    close = difflib.get_close_matches(name, FORMAT_NAMES, n=1)
    message = "unknown provenance format" + (f" (did you mean {close[0]!r}?)" if close else "")
    raise ValidationError([FieldError(("format",), message, "one of " + ", ".join(FORMAT_NAMES), repr(name))])


def format_run(
    format_name: str,
    run: dict[str, Any],
    config_overrides: dict[str, str],
    child_taskruns: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What ``tektite chains format`` prints: the statement for ``run`` under chains-config overrides."""
    config = ChainsConfig.from_configmap_data(dict(config_overrides))
    return get_formatter(format_name).format(run, config, list(child_taskruns or []))
