"""``python -m tektite.chains.formats RUN.json --format F [-c KEY=VALUE ...] [--taskrun CHILD.json ...]``

Prints the in-toto statement Chains would make for a finished run, as JSON. The same thing the
``tektite chains format`` command does; kept here to check formatters without the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from tektite.chains.formats import FORMAT_NAMES, format_run
from tektite.errors import FieldError, TektiteError, ValidationError


def _load(path: str) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise TektiteError(f"cannot read the run: {err.strerror}", file=path) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise TektiteError(f"not JSON or YAML: {err}", file=path) from None


def _overrides(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError([FieldError(("-c",), "a chains-config override", "KEY=VALUE", repr(pair))])
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tektite.chains.formats", description=__doc__)
    parser.add_argument("run", help="the TaskRun or PipelineRun, as JSON (or YAML)")
    parser.add_argument("--format", "-f", default="in-toto", help="one of " + ", ".join(FORMAT_NAMES))
    parser.add_argument(
        "-c",
        dest="config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a chains-config key, e.g. artifacts.pipelinerun.enable-deep-inspection=true",
    )
    parser.add_argument(
        "--taskrun",
        action="append",
        default=[],
        metavar="CHILD.json",
        help="a child TaskRun of the PipelineRun (repeat, in order)",
    )
    args = parser.parse_args(argv)
    try:
        statement = format_run(
            args.format, _load(args.run), _overrides(args.config), [_load(p) for p in args.taskrun]
        )
    except TektiteError as err:
        print(f"error: {err.diagnostics()}", file=sys.stderr)
        return 1
    json.dump(statement, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
