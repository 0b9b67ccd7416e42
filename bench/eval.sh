#!/usr/bin/env bash
# The evaluation behind the choice of weights for each model name (README.md, "Models"): every
# set of weights of ours and faster-whisper's on the same audio, one at a time, same threads.
#
#   bench/eval.sh [THREADS]      (default 2)
#
# Builds the evaluation set (bench/evalset/) and the word-timing set (bench/timing/) into
# set-up's cache the first time, adds the devset when ../shared/devset is there, and prints
# WER and speed per subset and word-timing errors per system (BENCHMARKS.md has a run).
# Needs a quiet machine for the speed columns.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads="${1:-2}"
shift || true
"$root/scripts/setup"
# shellcheck source=setup/env.sh
source "$root/setup/env.sh"
cargo build --release -q --manifest-path "$root/Cargo.toml" -p transcriber
venv="$("$root/bench/peer-venv.sh")"
evalset="$SPEECHBATCH_CACHE/evalset"
timing="$SPEECHBATCH_CACHE/timing"
[ -f "$evalset/.done" ] || { "$root/bench/evalset/build.sh" "$evalset" && touch "$evalset/.done"; }
[ -f "$timing/.done" ] || { "$root/bench/timing/build.sh" "$timing" && touch "$timing/.done"; }
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
python3 "$root/bench/unpack_ct2.py" "$SPEECHBATCH_CACHE/downloads" "$work"
devset="$root/../shared/devset"
extra=()
[ -d "$devset" ] && extra+=(--devset "$devset")
python3 "$root/bench/eval.py" --engine "$root/target/release/transcriber" --threads "$threads" \
  --evalset "$evalset" --timing "$timing" --score "$devset/score.py" \
  --peer-python "$venv/bin/python" --ct2 "$work" --work "$work" "${extra[@]}" "$@"
