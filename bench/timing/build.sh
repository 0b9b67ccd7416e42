#!/usr/bin/env bash
# Build the word-timing ground truth (see README.md beside this file):
#     bench/timing/build.sh OUT_DIR
# Installs Festival, three of its US English voices and sox from Debian (only what is missing;
# `apt-get update` once, first), then runs build.py. Idempotent: a rerun gives the same files.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
out=$1
here=$(cd "$(dirname "$0")" && pwd)

packages=(festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k sox libsox-fmt-base python3)
missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    if [ "$status" != "install ok installed" ]; then
        missing+=("$p")
    fi
done
if [ -n "${TIMING_FORCE_APT:-}" ]; then
    missing=("${packages[@]}")     # to try the install path on a machine that has everything
fi
if [ ${#missing[@]} -gt 0 ]; then
    sudo=
    if [ "$(id -u)" -ne 0 ]; then
        sudo=sudo
    fi
    echo "installing: ${missing[*]}" >&2
    $sudo apt-get update -o DPkg::Lock::Timeout=900 >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=900 \
        --no-install-recommends "${missing[@]}" >&2
fi

python=python3
if [ -x /usr/bin/python3 ]; then
    python=/usr/bin/python3
fi
exec "$python" "$here/build.py" "$out"
