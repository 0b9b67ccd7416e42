#!/usr/bin/env python3
"""The soak benchmark of RELIABILITY.md (run by bench/soak.sh, which builds and sets up).

Phase 1, faults: one batch over FILES inputs in a SeaweedFS bucket (real clips and some bad files)
while the service is SIGKILLed at random every few seconds and restarted, and SeaweedFS itself is
killed and restarted twice. It must end `completed` with exact counts, exactly one output
(`.json` or `.notice`) per input in the output bucket and nothing else, every bad file failed,
and every input byte for byte as uploaded.

Phase 2, load: JOBS jobs at once (each over a bucket of its own), all running together, while
client threads read the API as fast as they can; reports the latency of every answer
(p50/p99/max) and checks every job's counts and outputs as above.

Prints a summary and writes it as JSON to the path given with --json.
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

API_KEY = "soak-key"
S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_for(what, check, within):
    """Polls `check` until it returns a true value; fails after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    sys.exit(f"soak: {what} did not happen within {within} s")


class Weed:
    """`weed mini` on loopback ports with its data in `folder`; no identities, so it takes any
    signature (the service signs with the credentials file's keys)."""

    def __init__(self, binary, folder):
        self.binary, self.folder = binary, folder
        os.makedirs(os.path.join(folder, "data"), exist_ok=True)
        p = free_ports(10)
        self.port = p[0]
        self.args = [
            "mini", f"-dir={folder}/data", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.port={p[0]}", f"-s3.port.grpc={p[1]}", f"-master.port={p[2]}",
            f"-master.port.grpc={p[3]}", f"-volume.port={p[4]}", f"-volume.port.grpc={p[5]}",
            f"-filer.port={p[6]}", f"-filer.port.grpc={p[7]}", f"-admin.port={p[8]}",
            f"-admin.port.grpc={p[9]}", "-admin.ui=false", "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            # Every bucket is a collection with volumes of its own, and the load phase makes 100
            # buckets: small volumes, as many as the disk has room for (none is preallocated).
            "-master.volumeSizeLimitMB=16", "-volume.max=0",
        ]
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        log = open(os.path.join(self.folder, "weed.log"), "ab")
        self.proc = subprocess.Popen([self.binary, *self.args], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL, cwd=self.folder)
        wait_for("SeaweedFS taking writes", self._takes_writes, 90)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def _takes_writes(self):
        try:
            s3(self.url, "PUT", "/soak-ready")
        except Exception:
            pass
        try:
            s3(self.url, "PUT", "/soak-ready/probe", b"x")
            return True
        except Exception:
            return False


def s3(base, method, path, body=None):
    req = urllib.request.Request(base + path, data=body, method=method)
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.read()


def list_keys(base, bucket):
    keys, token = [], None
    while True:
        q = {"list-type": "2", "max-keys": "1000"}
        if token:
            q["continuation-token"] = token
        root = ET.fromstring(s3(base, "GET", f"/{bucket}?{urllib.parse.urlencode(q)}"))
        keys += [c.find(f"{S3_NS}Key").text for c in root.findall(f"{S3_NS}Contents")]
        if root.findtext(f"{S3_NS}IsTruncated") != "true":
            return keys
        token = root.findtext(f"{S3_NS}NextContinuationToken")


def fill_bucket(weed, bucket, clips, bad, n):
    """`n` inputs: copies of the clips, one bad file in ten. Returns {key: (sha256, is_bad)}."""
    s3(weed.url, "PUT", f"/{bucket}")
    inputs = {}
    for i in range(n):
        is_bad = bad and i % 10 == 9
        path = bad[i % len(bad)] if is_bad else clips[i % len(clips)]
        key = f"calls/{i:04d}-{os.path.basename(path)}"
        data = open(path, "rb").read()
        s3(weed.url, "PUT", f"/{bucket}/{urllib.parse.quote(key)}", data)
        inputs[key] = (hashlib.sha256(data).hexdigest(), is_bad)
    return inputs


class Service:
    """The release `speechbatch` (embedded backend) on fixed ports and one data directory, so that
    a restart after SIGKILL is the same service."""

    def __init__(self, binary, folder, extra):
        self.binary, self.folder, self.extra = binary, folder, extra
        self.api_port, self.s3_port = free_ports(2)
        self.proc = None
        self.starts = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.api_port}"

    def start(self):
        log = open(os.path.join(self.folder, "service.log"), "ab")
        env = dict(os.environ, SPEECHBATCH_API_KEY=API_KEY)
        self.proc = subprocess.Popen(
            [self.binary, "--data-dir", os.path.join(self.folder, "data"),
             "--listen", f"127.0.0.1:{self.api_port}", "--s3-listen", f"127.0.0.1:{self.s3_port}",
             *self.extra],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env)
        self.starts += 1
        wait_for("the service answering /healthz", self.healthy, 180)

    def healthy(self):
        if self.proc.poll() is not None:
            sys.exit(f"soak: the service exited with {self.proc.returncode}; see {self.folder}/service.log")
        try:
            return urllib.request.urlopen(self.url + "/healthz", timeout=2).status == 200
        except Exception:
            return False

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def call(self, method, path, body=None, headers=None):
        req = urllib.request.Request(self.url + path, data=body, method=method,
                                     headers=dict(headers or {}))
        req.add_header("Authorization", "Basic " + __import__("base64").b64encode(
            f"apikey:{API_KEY}".encode()).decode())
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"{}")

    def create(self, weed, in_bucket, out_bucket):
        creds = json.dumps({"end_point": weed.url, "access_key": "soak", "secret_key": "soak-secret"})
        fields = {
            "input_credentials_file": creds, "input_bucket_location": "local",
            "input_bucket_name": in_bucket, "output_credentials_file": creds,
            "output_bucket_location": "local", "output_bucket_name": out_bucket,
        }
        boundary = "soakboundary"
        body = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()) + f"--{boundary}--\r\n".encode()
        job = self.call("POST", "/v1/batches?function=recognize", body,
                        {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return job["batch_id"]

    def job(self, batch_id):
        return self.call("GET", f"/v1/batches/{batch_id}")


def check_outputs(weed, inputs, in_bucket, out_bucket, job):
    """Exact counts, one output per input and nothing else, inputs unchanged. Returns problems."""
    problems = []
    total, ok, failed = job["total_count"], job["successful_count"], job["failed_count"]
    bad = sum(1 for _, is_bad in inputs.values() if is_bad)
    if job["status"] != "completed":
        problems.append(f"status {job['status']}: {job.get('error_message')}")
    if (total, ok, failed) != (len(inputs), len(inputs) - bad, bad):
        problems.append(f"counts total {total} successful {ok} failed {failed}, "
                        f"expected {len(inputs)}/{len(inputs) - bad}/{bad}")
    outputs = set(list_keys(weed.url, out_bucket))
    expected = {k + (".notice" if is_bad else ".json") for k, (_, is_bad) in inputs.items()}
    if outputs != expected:
        problems.append(f"outputs: {len(expected - outputs)} missing, {len(outputs - expected)} "
                        f"unexpected ({sorted(outputs ^ expected)[:5]})")
    for key, (sha, _) in inputs.items():
        data = s3(weed.url, "GET", f"/{in_bucket}/{urllib.parse.quote(key)}")
        if hashlib.sha256(data).hexdigest() != sha:
            problems.append(f"input {key} changed")
    if sorted(list_keys(weed.url, in_bucket)) != sorted(inputs):
        problems.append("the input bucket's keys changed")
    return problems


def final(job):
    return job["status"] in ("completed", "failed")


def phase_faults(args, weed, svc, clips, bad):
    inputs = fill_bucket(weed, "soak-in", clips, bad, args.files)
    s3(weed.url, "PUT", "/soak-out")
    svc.start()
    batch_id = svc.create(weed, "soak-in", "soak-out")
    started = time.monotonic()
    kills, weed_restarts = 0, 0
    weed_at = [len(inputs) // 3, 2 * len(inputs) // 3]
    job = svc.job(batch_id)
    while not final(job):
        time.sleep(random.uniform(args.kill_min_s, args.kill_max_s))
        job = svc.job(batch_id)
        if final(job):
            break
        done = job["successful_count"] + job["failed_count"]
        svc.kill()
        kills += 1
        if weed_restarts < len(weed_at) and done >= weed_at[weed_restarts]:
            # The bucket server goes away while the service comes back, and stays away for a
            # while: the service must wait for it within its retry window.
            weed.kill()
            svc.start()
            time.sleep(args.weed_down_s)
            weed.start()
            weed_restarts += 1
        else:
            svc.start()
        job = svc.job(batch_id)
        print(f"soak: {done}/{len(inputs)} done, {kills} kills, {weed_restarts} bucket restarts",
              file=sys.stderr)
    # A job may finish before the second bucket restart: keep the promise of two anyway.
    while weed_restarts < 2:
        weed.kill()
        time.sleep(args.weed_down_s)
        weed.start()
        weed_restarts += 1
    wall = time.monotonic() - started
    job = svc.job(batch_id)
    problems = check_outputs(weed, inputs, "soak-in", "soak-out", job)
    svc.kill()
    return {
        "files": len(inputs), "bad_files": sum(b for _, b in inputs.values()),
        "service_kills": kills, "service_starts": svc.starts, "bucket_restarts": weed_restarts,
        "status": job["status"], "total_count": job["total_count"],
        "successful_count": job["successful_count"], "failed_count": job["failed_count"],
        "wall_s": round(wall, 1), "problems": problems,
    }


def phase_load(args, weed, svc, clips, bad):
    buckets = [f"load-{j:02d}" for j in range(args.jobs)]
    inputs = {b: fill_bucket(weed, f"{b}-in", clips, bad, args.files_per_job) for b in buckets}
    for b in buckets:
        s3(weed.url, "PUT", f"/{b}-out")
    svc.start()
    ids = {b: svc.create(weed, f"{b}-in", f"{b}-out") for b in buckets}
    latencies, errors = [], []
    stop = threading.Event()

    def reader(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            path = "/v1/batches" if rng.random() < 0.2 else f"/v1/batches/{rng.choice(list(ids.values()))}"
            t = time.perf_counter()
            try:
                svc.call("GET", path)
                latencies.append(time.perf_counter() - t)
            except Exception as e:
                errors.append(str(e))

    readers = [threading.Thread(target=reader, args=(i,)) for i in range(args.readers)]
    started = time.monotonic()
    for t in readers:
        t.start()
    running_max = 0
    while True:
        jobs = [svc.job(i) for i in ids.values()]
        running_max = max(running_max, sum(j["status"] == "running" for j in jobs))
        if all(final(j) for j in jobs):
            break
        time.sleep(1)
    stop.set()
    for t in readers:
        t.join()
    wall = time.monotonic() - started
    problems = []
    for b, batch_id in ids.items():
        problems += [f"{b}: {p}" for p in check_outputs(weed, inputs[b], f"{b}-in", f"{b}-out", svc.job(batch_id))]
    svc.kill()
    latencies.sort()
    pct = lambda q: round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)
    return {
        "jobs": args.jobs, "files_per_job": args.files_per_job, "most_running_at_once": running_max,
        "readers": args.readers, "requests": len(latencies), "request_errors": len(errors),
        "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(1000 * latencies[-1], 1),
        "wall_s": round(wall, 1), "problems": problems + errors[:5],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--service", required=True, help="the release speechbatch binary")
    ap.add_argument("--weed", required=True, help="the SeaweedFS binary")
    ap.add_argument("--clips", required=True, help="folder of good audio files")
    ap.add_argument("--bad", required=True, help="folder of files that must fail")
    ap.add_argument("--work", required=True, help="a scratch folder")
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--kill-min-s", type=float, default=4)
    ap.add_argument("--kill-max-s", type=float, default=12)
    ap.add_argument("--weed-down-s", type=float, default=15)
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--files-per-job", type=int, default=2)
    ap.add_argument("--readers", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--phases", default="faults,load", help="which phases to run")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    random.seed(args.seed)
    clips = sorted(os.path.join(args.clips, f) for f in os.listdir(args.clips) if f.endswith(".flac"))
    bad = sorted(os.path.join(args.bad, f) for f in os.listdir(args.bad)
                 if not f.endswith((".tsv", ".md")))
    weed = Weed(args.weed, os.path.join(args.work, "weed"))
    common = ["--threads", str(args.threads), "--workers", "1", "--storage-retry-window-s", "300"]
    results = {}
    try:
        phases = args.phases.split(",")
        if "faults" in phases:
            os.makedirs(os.path.join(args.work, "faults"))
            svc = Service(args.service, os.path.join(args.work, "faults"), common)
            results["faults"] = phase_faults(args, weed, svc, clips, bad)
            print(json.dumps(results["faults"], indent=1), file=sys.stderr)
        if "load" in phases:
            os.makedirs(os.path.join(args.work, "load"))
            svc = Service(args.service, os.path.join(args.work, "load"),
                          common + ["--max-running-jobs", str(args.jobs)])
            results["load"] = phase_load(args, weed, svc, clips, bad)
    finally:
        weed.kill()
    print(json.dumps(results, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if any(r["problems"] for r in results.values()):
        sys.exit("soak: FAILED (see problems)")


if __name__ == "__main__":
    main()
