#!/usr/bin/env bash
# The evaluation behind the choice of weights for each model name (README.md, "Models"): every
# set of weights of ours and faster-whisper's on the same audio, one at a time, same threads.
#
#   bench/eval.sh [THREADS]      (default 2)
#
# Builds the evaluation set (bench/evalset/) and the word-timing set (bench/timing/) into
# set-up's cache (again whenever their generator changes), adds ../shared/devset (whose score.py
# scores every system), and prints WER and speed per subset and word-timing errors per system
# (BENCHMARKS.md has a run). Needs a quiet machine for the speed columns.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads="${1:-2}"
shift || true
"$root/scripts/setup"
# shellcheck source=setup/env.sh
source "$root/setup/env.sh"
cargo build --release -q --manifest-path "$root/Cargo.toml" -p transcriber
venv="$("$root/bench/peer-venv.sh")"
devset="$root/../shared/devset"
[ -f "$devset/score.py" ] || { echo "bench/eval.sh: needs the devset (and its score.py) at $devset" >&2; exit 2; }

# build GENERATOR_DIR OUT_DIR: runs GENERATOR_DIR/build.sh unless OUT_DIR was built by the same files.
build() {
  local stamp; stamp="$(cat "$1"/* "$1"/*/* 2>/dev/null | sha256sum | cut -d' ' -f1)"
  if [ "$(cat "$2/.built-from" 2>/dev/null)" != "$stamp" ]; then
    "$1/build.sh" "$2" && echo "$stamp" > "$2/.built-from"
  fi
}
evalset="$SPEECHBATCH_CACHE/evalset"
timing="$SPEECHBATCH_CACHE/timing"
build "$root/bench/evalset" "$evalset"
build "$root/bench/timing" "$timing"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
python3 "$root/bench/unpack_ct2.py" "$SPEECHBATCH_CACHE/downloads" "$work"
python3 "$root/bench/eval.py" --engine "$root/target/release/transcriber" --threads "$threads" \
  --evalset "$evalset" --timing "$timing" --devset "$devset" \
  --peer-python "$venv/bin/python" --ct2 "$work" --work "$work" "$@"
