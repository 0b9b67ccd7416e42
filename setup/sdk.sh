#!/usr/bin/env bash
# The public IBM Watson SDK (PyPI ibm-watson) for the customization tests: a real client of the
# /v1/customizations API, written by someone else (api-shim/tests/sdk.rs runs
# api-shim/tests/sdk/custom_models.py with it, and bench/custom.sh may too).
# Idempotent: the venv is rebuilt only when setup/requirements-sdk.txt changes, which a stamp
# file records.
#
# Produces, under $SPEECHBATCH_CACHE (default ~/.cache/speechbatch, outside git):
#   sdk-venv/bin/python     a Python with ibm_watson and ibm_cloud_sdk_core importable
# and prints that path on stdout. setup/env.sh exports it as SPEECHBATCH_SDK_PYTHON.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=setup/env.sh
source "$here/env.sh"
venv="$SPEECHBATCH_CACHE/sdk-venv"
req="$here/requirements-sdk.txt"

log() { echo "setup: $*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
want="$(sha "$req")"

if ! { [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ]; }; then
  log "installing the ibm-watson SDK (setup/requirements-sdk.txt) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  pip=("$venv/bin/pip" --disable-pip-version-check -q)
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  # Every file is checked against its sha256 (--require-hashes). ibm-watson is an sdist only:
  # it is built with the pinned setuptools, installed first, instead of in pip's isolated build
  # environment (which would fetch an unpinned, unchecked setuptools).
  grep -E '^setuptools==' "$req" > "$tmp/build.txt"
  "${pip[@]}" install --require-hashes --only-binary=:all: -r "$tmp/build.txt"
  "${pip[@]}" install --require-hashes --no-build-isolation -r "$req"
  echo "$want" > "$venv/.stamp"
fi
"$venv/bin/python" -c 'import ibm_watson, ibm_cloud_sdk_core' \
  || { log "$venv/bin/python cannot import ibm_watson; delete $venv and rerun"; exit 1; }
echo "$venv/bin/python"
