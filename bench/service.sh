# Sourced by the benchmarks that measure through the REST API: builds the release service, starts
# it (embedded backend) on free loopback ports with a data directory of its own, and waits for
# /healthz. Sets: work (a temporary folder, removed at exit), api_port, s3_port, server (pid).
#
#   source bench/service.sh THREADS NAME      (NAME: the calling script, for messages)
bench_threads="$1"
bench_name="$2"
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
SPEECHBATCH_API_KEY=bench-key "$root/target/release/speechbatch" --data-dir "$work/data" --listen "127.0.0.1:$api_port" \
  --s3-listen "127.0.0.1:$s3_port" --workers 1 --threads "$bench_threads" \
  2> "$work/server.log" &
server=$!
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null || { echo "$bench_name: service not ready" >&2; exit 1; }
