#!/usr/bin/env bash
# Speech analytics, measured end to end from audio through the real service (embedded backend):
#   (a) accuracy on devset/analytics: every call in one batch with speech_analytics=true, scored
#       by ../shared/devset/score_analytics.py (turn sentiment, tone precision and recall, topic
#       agreement, keyword recall, both zips);
#   (b) cost: the same batch with and without speech_analytics, ROUNDS times each, alternating;
#       wall time from POST /v1/batches to `completed`.
# Prints a markdown block for BENCHMARKS.md at the end.
#
#   bench/analytics.sh [THREADS] [ROUNDS]     (defaults 2 and 3)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads="${1:-2}"
rounds="${2:-3}"
for v in "$threads" "$rounds"; do
  case "$v" in ''|*[!0-9]*) echo "bench/analytics.sh: THREADS and ROUNDS are numbers, got '$v'" >&2; exit 2 ;; esac
done
devset="$root/../shared/devset"
[ -f "$devset/score_analytics.py" ] && [ -d "$devset/analytics" ] \
  || { echo "bench/analytics.sh: needs the devset (analytics/, score_analytics.py) at $devset" >&2; exit 2; }
# shellcheck source=bench/service.sh
source "$root/bench/service.sh" "$threads" bench/analytics.sh

cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
python3 - "$api_port" "$work/data" "$devset" "$rounds" \
  "$(nproc) vCPU ${cpu:-?}, --threads $threads, commit $commit, $(date -u +%Y-%m-%d)" \
  "bench/analytics.sh $threads $rounds" <<'PY' || { echo "--- service log (last 30 lines) ---" >&2; tail -30 "$work/server.log" >&2; exit 1; }
import glob, json, os, shutil, statistics, subprocess, sys, time, urllib.request, base64
port, data, devset, rounds, label, reproduce = sys.argv[1:7]
rounds = int(rounds)
url = f"http://127.0.0.1:{port}"
auth = "Basic " + base64.b64encode(b"apikey:bench-key").decode()
creds = open(os.path.join(data, "s3-credentials.json"), "rb").read()
calls = sorted(glob.glob(os.path.join(devset, "analytics", "*.flac")))

def request(method, path, body=None, ctype=None):
    req = urllib.request.Request(url + path, data=body, method=method)
    req.add_header("Authorization", auth)
    if ctype:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req) as r:
        return json.load(r)

def run(bucket, analytics):
    os.makedirs(os.path.join(data, "buckets", bucket))
    for c in calls:
        shutil.copy(c, os.path.join(data, "buckets", bucket))
    b = "----speechbatchbench"
    parts = [("input_credentials_file", creds, "application/json"),
             ("input_bucket_location", b"us-geo", None), ("input_bucket_name", bucket.encode(), None)]
    body = b""
    for name, value, ct in parts:
        body += f"--{b}\r\nContent-Disposition: form-data; name=\"{name}\"".encode()
        body += (f"; filename=\"{name}\"\r\nContent-Type: {ct}" if ct else "").encode() + b"\r\n\r\n" + value + b"\r\n"
    body += f"--{b}--\r\n".encode()
    q = "function=recognize" + ("&speech_analytics=true" if analytics else "")
    t0 = time.monotonic()
    job = request("POST", f"/v1/batches?{q}", body, f"multipart/form-data; boundary={b}")
    while job["status"] not in ("completed", "failed", "canceled"):
        time.sleep(0.1)
        job = request("GET", f"/v1/batches/{job['batch_id']}")
    wall = time.monotonic() - t0
    assert job["status"] == "completed", job
    return wall, os.path.join(data, "buckets", bucket)

walls = {False: [], True: []}
first = None
for r in range(rounds):
    for analytics in (False, True):
        wall, folder = run(f"r{r}-{'an' if analytics else 'plain'}", analytics)
        walls[analytics].append(wall)
        if analytics and first is None:
            first = folder
score = subprocess.run([sys.executable, os.path.join(devset, "score_analytics.py"),
                        os.path.join(devset, "analytics"), first, first],
                       capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
plain, an = statistics.median(walls[False]), statistics.median(walls[True])
audio = sum(json.load(open(f[:-5] + ".ref.json"))["duration"] for f in calls)
print(f"""
### Speech analytics ({label})

Reproduce: `{reproduce}`. {len(calls)} calls of devset/analytics ({audio:.0f} s of audio) in one
batch, end to end from audio through the embedded service.

| measure | value |
|---|---|
| accuracy (score_analytics.py) | {score} |
| batch wall time without analytics, median of {rounds} | {plain:.2f} s ({', '.join(f'{w:.2f}' for w in walls[False])}) |
| batch wall time with analytics, median of {rounds} | {an:.2f} s ({', '.join(f'{w:.2f}' for w in walls[True])}) |
| cost (with / without) | {an / plain:.3f}× |
""")
PY
