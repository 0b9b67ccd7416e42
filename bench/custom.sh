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
"$root/scripts/setup"
# shellcheck source=setup/env.sh
source "$root/setup/env.sh"
cargo build --release -q --manifest-path "$root/Cargo.toml" -p api-shim
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

read -r api_port s3_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
mkdir -p "$work/data/buckets"
"$root/target/release/speechbatch" --data-dir "$work/data" --listen "127.0.0.1:$api_port" \
  --s3-listen "127.0.0.1:$s3_port" --workers 1 --threads "$threads" --api-key bench-key \
  2> "$work/server.log" &
server=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null || { echo "bench/custom.sh: service not ready" >&2; exit 1; }

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
python3 "$root/bench/custom.py" --url "http://127.0.0.1:$api_port" --apikey bench-key \
  --data "$work/data" --devset "$devset" \
  --label "$(nproc) vCPU ${cpu:-?}, --threads $threads, commit $commit, $(date -u +%Y-%m-%d)" \
  --reproduce "bench/custom.sh $threads${*:+ $*}" "$@" \
  || { echo "--- service log (last 30 lines) ---" >&2; tail -30 "$work/server.log" >&2; exit 1; }
