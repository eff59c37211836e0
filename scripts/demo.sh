#!/usr/bin/env bash
# The demo: set up, make a small git repository, and run examples/demo/pipeline.yaml on it with
# the embedded default (SQLite store, sandboxed steps). Everything lands in $TEKTITE_HOME
# (default: ./.tektite-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export TEKTITE_HOME=${TEKTITE_HOME:-$PWD/.tektite-demo}
repo=$(mktemp -d /tmp/tektite-demo-repo.XXXXXX)
trap 'rm -rf "$repo"' EXIT
cp -r examples/demo/app/. "$repo/"
git -C "$repo" init -q
git -C "$repo" -c user.name=demo -c user.email=demo@example.com add -A
git -C "$repo" -c user.name=demo -c user.email=demo@example.com commit -q -m "demo app"

echo "== tektite run -f examples/demo/pipeline.yaml -p repo-path=$repo" >&2
.venv/bin/tektite run -f examples/demo/pipeline.yaml -p "repo-path=$repo"
echo "== tektite pipelinerun describe --last" >&2
.venv/bin/tektite pipelinerun describe --last
if .venv/bin/tektite chains --help >/dev/null 2>&1; then
  echo "== tektite chains verify (signed SLSA provenance of the run)" >&2
  .venv/bin/tektite chains verify "$(.venv/bin/tektite get pipelineruns -o name | head -1 | cut -d/ -f2)" \
    --kind pipelinerun || true
fi
