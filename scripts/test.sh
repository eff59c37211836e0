#!/usr/bin/env bash
# The whole test suite: set up (with the test dependencies), lint, type-check, layer contracts,
# then pytest (unit, integration with real components, conformance with ../shared).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff" >&2
ruff check src tests bench
ruff format --check src tests bench
echo "== mypy" >&2
mypy
echo "== import-linter" >&2
lint-imports
echo "== pytest" >&2
pytest -q -p no:cacheprovider "$@"
