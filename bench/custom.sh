#!/usr/bin/env bash
# Custom language models, measured through the REST API of the real service (bench/custom.py
# says what, in detail):
#   (a) domain-term recall on devset/custom: no model; a model from its corpus.txt and words.json
#       at the default weight and at 0.9;
#   (b) WER on devset/asr with that model attached vs without, and its words inserted into
#       transcripts of clips that do not say them;
#   (c) training time for a generated 10,000-sentence corpus, upload to `available`;
#   (d) batch wall time over devset/asr with a 1,000-word model attached vs none.
# Prints a markdown block for BENCHMARKS.md at the end.
#
#   bench/custom.sh [THREADS] [custom.py options, e.g. --only ab --rounds 3]     (THREADS default 2)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads="${1:-2}"
shift || true
case "$threads" in ''|*[!0-9]*) echo "bench/custom.sh: THREADS must be a number, got '$threads'" >&2; exit 2 ;; esac
devset="$root/../shared/devset"
[ -f "$devset/score_custom.py" ] && [ -d "$devset/custom" ] && [ -d "$devset/asr" ] \
  || { echo "bench/custom.sh: needs the devset (custom/, asr/, score.py, score_custom.py) at $devset" >&2; exit 2; }
# shellcheck source=bench/service.sh
source "$root/bench/service.sh" "$threads" bench/custom.sh

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
python3 "$root/bench/custom.py" --url "http://127.0.0.1:$api_port" --apikey bench-key \
  --data "$work/data" --devset "$devset" \
  --label "$(nproc) vCPU ${cpu:-?}, --threads $threads, commit $commit, $(date -u +%Y-%m-%d)" \
  --reproduce "bench/custom.sh $threads${*:+ $*}" "$@" \
  || { echo "--- service log (last 30 lines) ---" >&2; tail -30 "$work/server.log" >&2; exit 1; }
