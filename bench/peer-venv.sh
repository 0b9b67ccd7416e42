#!/usr/bin/env bash
# Installs the peer (faster-whisper, pinned in bench/requirements.txt) into a venv of its own
# under set-up's cache, once per change of the pins, and prints the venv's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SPEECHBATCH_CACHE:-$HOME/.cache/speechbatch}/bench-venv"
if ! cmp -s "$root/bench/requirements.txt" "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"; python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$root/bench/requirements.txt" >&2
  cp "$root/bench/requirements.txt" "$venv/requirements.txt"
fi
echo "$venv"
