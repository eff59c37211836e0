#!/usr/bin/env bash
# Set up tektite on a Debian/Ubuntu machine: system packages (as root or with sudo), then a
# virtualenv in .venv with tektite installed (editable) and, with --dev, the test tools.
#   bash scripts/setup.sh          # what the demo needs
#   bash scripts/setup.sh --dev    # plus everything the test suite needs
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0
[ "${1:-}" = "--dev" ] && DEV=1

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root or sudo to run: $*" >&2; return 1; fi
}

# Debian packages: what runs steps (bubblewrap, git, busybox for alpine/busybox-image scripts)
# and, for the tests, the real components they start on loopback.
PKGS=(bubblewrap git busybox ca-certificates python3-venv)
if [ "$DEV" = 1 ]; then
  PKGS+=(openssl openssh-client softhsm2 opensc docker-registry apache2-utils postgresql chromium)
  # the real kubectl for the API tests: Debian's kubernetes-client, unless a kubectl is installed
  command -v kubectl >/dev/null || PKGS+=(kubernetes-client)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null; then
  echo "setup: installing ${missing[*]}" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || true
  # install one by one so a package this distribution lacks does not block the others
  for p in "${missing[@]}"; do
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" \
      >/dev/null 2>&1 || echo "setup: could not install $p (tests that need it will skip)" >&2
  done
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: tektite needs Python >= 3.11 (found: $("$PY" --version 2>&1)); set PYTHON=..." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
if [ "$DEV" = 1 ]; then
  .venv/bin/python -m pip install -q -e '.[dev]'
else
  .venv/bin/python -m pip install -q -e .
fi
echo "setup: ready ($(.venv/bin/tektite version))" >&2
