#!/usr/bin/env bash
# The soak benchmark of RELIABILITY.md: a 300-file batch on SeaweedFS with the service SIGKILLed
# at random every few seconds and SeaweedFS restarted twice, then 50 jobs at once with the API's
# latency measured under that load (bench/soak.py says what is checked).
#
#   bench/soak.sh [soak.py options]     (e.g. --files 300 --jobs 50; --help lists them)
#
# Takes about 15 minutes on two cores. Results: bench/soak-results.json and stdout.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup"
# shellcheck source=setup/env.sh
source "$root/setup/env.sh"
weed="$("$root/setup/seaweedfs.sh")"
cargo build --release -q --manifest-path "$root/Cargo.toml" -p api-shim
work="$(mktemp -d)"
trap 'pkill -KILL -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
python3 "$root/bench/soak.py" --service "${CARGO_TARGET_DIR:-$root/target}/release/speechbatch" \
  --weed "$weed" --clips "$root/testdata/asr" --bad "$root/testdata/bad" --work "$work" \
  --json "$root/bench/soak-results.json" "$@"
