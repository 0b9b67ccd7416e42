#!/usr/bin/env bash
# Batch-service figures of BENCHMARKS.md:
#   1. batch overhead: wall time of a batch job over devset/asr (created -> finished) divided by
#      the engine's own time for the same clips (`transcriber recognize`, model loading excluded
#      in both), same threads, one file at a time;
#   2. GET /v1/batches/{id} latency under load from wrk on loopback;
#   3. scanning a bucket of 100,000 objects (SeaweedFS) into a shard plan: time and peak RSS.
#
#   bench/batch.sh [THREADS] [OBJECTS]      (defaults 2 and 100000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads="${1:-2}"
objects="${2:-100000}"
"$root/scripts/setup"
# shellcheck source=setup/env.sh
source "$root/setup/env.sh"
if ! command -v wrk >/dev/null; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get install -y -qq wrk >/dev/null
fi
cargo build --release -q --manifest-path "$root/Cargo.toml" -p api-shim -p transcriber
cargo build --release -q --manifest-path "$root/Cargo.toml" -p speechbatch-storage --example scan_bench
devset="$root/../shared/devset/asr"
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "== 1. batch overhead (devset/asr, $threads threads, 3 rounds, engine and batch alternating)"
mkdir -p "$work/data/buckets/audio"
cp "$devset"/*.flac "$work/data/buckets/audio/"
api_port=18080; s3_port=19000
SPEECHBATCH_API_KEY=bench-key "$root/target/release/speechbatch" --data-dir "$work/data" --listen "127.0.0.1:$api_port" \
  --s3-listen "127.0.0.1:$s3_port" --workers 1 --threads "$threads" \
  2> "$work/server.log" &
server=$!
until curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null; do sleep 0.2; done
rounds=""
for round in 1 2 3; do
  "$root/target/release/transcriber" recognize --threads "$threads" --out "$work/engine" "$devset"/*.flac \
    2> "$work/engine.log" || true
  engine_s=$(grep -o 'wall_s [0-9.]*' "$work/engine.log" | awk '{print $2}')
  id=$(curl -sf -u apikey:bench-key -F input_credentials_file=@"$work/data/s3-credentials.json" \
    -F input_bucket_location=local -F input_bucket_name=audio \
    "http://127.0.0.1:$api_port/v1/batches?function=recognize" | python3 -c 'import json,sys; print(json.load(sys.stdin)["batch_id"])')
  # Light polling (curl and grep, every 0.5 s): on two cores a heavier poller would itself slow
  # the job down. The job's own created/finished timestamps give the time.
  while :; do
    job=$(curl -sf -u apikey:bench-key "http://127.0.0.1:$api_port/v1/batches/$id")
    case "$job" in
      *'"status":"completed"'*) break ;;
      *'"status":"failed"'*) echo "$job"; exit 1 ;;
    esac
    sleep 0.5
  done
  batch_s=$(echo "$job" | python3 -c '
import json, sys
from datetime import datetime
j = json.load(sys.stdin)
f = "%Y-%m-%dT%H:%M:%S.%f%z"
print((datetime.strptime(j["finished"], f) - datetime.strptime(j["created"], f)).total_seconds())')
  echo "round $round: files $(echo "$job" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["successful_count"], "of", j["total_count"])') batch_s $batch_s engine_s $engine_s"
  rounds="$rounds $batch_s/$engine_s"
done
python3 - $rounds <<'PY'
import sys
pairs = [tuple(map(float, a.split("/"))) for a in sys.argv[1:]]
b = min(p[0] for p in pairs); e = min(p[1] for p in pairs)
print(f"best of {len(pairs)}: batch_s {b:.2f} engine_s {e:.2f} overhead {b/e:.3f}")
PY

echo "== 2. GET /v1/batches/{id} under wrk (2 threads, 32 connections, 15 s)"
auth="Authorization: Basic $(printf 'apikey:bench-key' | base64)"
wrk -t2 -c32 -d15s --latency -H "$auth" "http://127.0.0.1:$api_port/v1/batches/$id" | tee "$work/wrk.txt" \
  | grep -E 'Requests/sec|50%|90%|99%|Non-2xx' || true
kill "$server"; wait "$server" 2>/dev/null || true; server=""

echo "== 3. scanning $objects objects (SeaweedFS on loopback)"
"$root/target/release/examples/scan_bench" "$objects"
