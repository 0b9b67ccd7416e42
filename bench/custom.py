#!/usr/bin/env python3
"""Custom language models, measured through the REST API of a running `speechbatch`
(bench/custom.sh starts one and calls this; standard library only).

  (a) domain-term recall on devset/custom without a model, and with one built from the devset's
      corpus.txt and words.json at the default weight and at 0.9 (score_custom.py);
  (b) WER on devset/asr with that model attached vs without (score.py), and how many of the
      model's words (their display_as forms) appear in those transcripts though the clip does
      not say them, at the default weight and at 0.9;
  (c) training time for a generated 10,000-sentence corpus (200 made-up product names among
      ordinary words): corpus upload -> analyzed -> train -> available;
  (d) recognition slowdown with a 1,000-word model (made-up words with sounds_like) attached vs
      none: wall time (job created -> finished) of the same devset/asr batch, best of --rounds.

Prints progress to stderr and, at the end, a markdown block for BENCHMARKS.md on stdout.

  custom.py --url http://127.0.0.1:PORT --apikey KEY --data DATA_DIR [--devset DIR] ...
  custom.py --gen-corpus FILE [--sentences N] [--names N]   only writes the generated corpus
  custom.py --gen-words FILE [--words N]                     only writes the generated words body
"""

import argparse
import base64
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime

BASE = "en-US_BroadbandModel"
POLL_S = 0.5  # light polling: on two cores a busy poller would slow the service down
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# ---------------------------------------------------------------------------------------------
# Generated data (deterministic: same arguments, same bytes)

ORDINARY = """
the a an and or but if then so because when while after before until since with without for
to from in on at by of about over under between through during into onto near behind
i you we they he she it my your our their his her this that these those there here
is are was were be been being have has had do does did will would can could should may might
must please thank thanks hello yes no not never always often sometimes today tomorrow yesterday
morning afternoon evening night week month year minute hour second day weekend holiday
phone call line plan bill account payment charge credit refund fee price cost dollar dollars
router modem signal network coverage outage service support agent customer ticket order store
device screen battery charger cable update firmware app message voicemail data hotspot speed
fiber node street avenue address city home office car trip travel family friend
check restart reset install download upload open close send receive pay move switch add remove
help need want know think see look find try keep start stop work fix change cancel confirm
new old fast slow good bad great small large full empty free extra last next first other same
one two three four five six seven eight nine ten twenty thirty forty fifty hundred thousand
""".split()

ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
          "br", "dr", "kr", "pl", "tr", "st", "fl", "gr", "sk", "zh", "qu"]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ee", "oo", "ia", "eo"]
CODAS = ["", "", "", "n", "r", "x", "l", "s", "m", "k", "th"]


def base_lexicon():
    """The base vocabulary the service embeds (custom/lexicon), lowercase; empty if absent."""
    p = os.path.join(ROOT, "custom", "lexicon", "cmudict-words.txt.gz")
    if not os.path.exists(p):
        return set()
    with gzip.open(p, "rt", encoding="utf-8") as f:
        return {w.strip() for w in f if w.strip()}


def made_up_words(n, seed, lexicon, avoid=()):
    """n distinct made-up names, not in the base vocabulary, each with its syllables (which
    make its sounds_like). Deterministic for (n, seed, lexicon)."""
    rng = random.Random(seed)
    seen = {a.lower() for a in avoid}
    out = []
    while len(out) < n:
        syl = [rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS)
               for _ in range(rng.choice([2, 2, 3, 3, 4]))]
        word = "".join(syl)
        if len(word) < 5 or len(word) > 16 or word in seen or word in lexicon:
            continue
        seen.add(word)
        out.append((word.capitalize(), syl))
    return out


def gen_corpus(sentences, names, seed=20261126):
    """`sentences` lines of 6-14 ordinary words, about one word in seven replaced by one of
    `names` made-up product names. Returns (text, names)."""
    lexicon = base_lexicon()
    products = [w for w, _ in made_up_words(names, seed, lexicon)]
    rng = random.Random(seed + 1)
    lines = []
    for _ in range(sentences):
        words = [rng.choice(ORDINARY) for _ in range(rng.randint(6, 14))]
        for i in range(len(words)):
            if rng.random() < 1 / 7:
                words[i] = rng.choice(products)
        s = " ".join(words)
        lines.append(s[0].upper() + s[1:] + ".")
    return "\n".join(lines) + "\n", products


def gen_words(n, seed=20261127, avoid=()):
    """The body of POST /v1/customizations/{id}/words: n made-up words with sounds_like (their
    syllables) and display_as."""
    words = made_up_words(n, seed, base_lexicon(), avoid)
    return {"words": [{"word": w, "sounds_like": [" ".join(syl)], "display_as": w} for w, syl in words]}


# ---------------------------------------------------------------------------------------------
# The REST API

class Api:
    def __init__(self, url, key):
        self.url = url.rstrip("/")
        self.auth = "Basic " + base64.b64encode(f"apikey:{key}".encode()).decode()

    def call(self, method, path, body=None, ctype=None, ok=(200, 201, 204)):
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Authorization", self.auth)
        req.add_header("Accept", "application/json")
        if ctype:
            req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                code, text = r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            code, text = e.code, e.read().decode(errors="replace")
        if code not in ok:
            sys.exit(f"bench/custom.py: {method} {path}: HTTP {code}: {text[:500]}")
        return json.loads(text) if text.strip() else None

    def get(self, path):
        return self.call("GET", path)

    def post_json(self, path, obj):
        return self.call("POST", path, json.dumps(obj).encode(), "application/json")

    def multipart(self, path, fields):
        """fields: [(name, filename or None, content type or None, bytes)]"""
        b = uuid.uuid4().hex
        out = bytearray()
        for name, filename, ctype, data in fields:
            out += f"--{b}\r\nContent-Disposition: form-data; name=\"{name}\"".encode()
            if filename:
                out += f"; filename=\"{filename}\"".encode()
            out += b"\r\n"
            if ctype:
                out += f"Content-Type: {ctype}\r\n".encode()
            out += b"\r\n" + data + b"\r\n"
        out += f"--{b}--\r\n".encode()
        return self.call("POST", path, bytes(out), f"multipart/form-data; boundary={b}")

    def wait(self, what, path, done, timeout):
        """Polls GET path until done(body) is True (False: keep waiting; a string: failed)."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(path)
            d = done(body)
            if d is True:
                return body
            if isinstance(d, str):
                sys.exit(f"bench/custom.py: {what}: {d}: {body}")
            if time.monotonic() > deadline:
                sys.exit(f"bench/custom.py: {what}: not done in {timeout} s: {body}")
            time.sleep(POLL_S)


def model_status(want):
    def done(m):
        if m.get("status") == "failed":
            return f"status failed ({m.get('error')})"
        return m.get("status") == want
    return done


class Bench:
    def __init__(self, args):
        self.a = args
        self.api = Api(args.url, args.apikey)
        self.buckets = os.path.join(args.data, "buckets")
        self.creds = open(os.path.join(args.data, "s3-credentials.json"), "rb").read()
        self.n = 0
        self.models = []

    def log(self, msg):
        print(f"bench/custom: {msg}", file=sys.stderr, flush=True)

    # --- models ---

    def create_model(self, name):
        cid = self.api.post_json("/v1/customizations", {
            "name": name, "base_model_name": BASE, "description": "bench/custom.py"})["customization_id"]
        self.models.append(cid)
        return cid

    def add_corpus(self, cid, name, text):
        """Uploads a corpus as the SDK does (multipart, part corpus_file) and waits for its
        analysis; returns the seconds it took."""
        t = time.monotonic()
        self.api.multipart(f"/v1/customizations/{cid}/corpora/{name}",
                           [("corpus_file", f"{name}.txt", "text/plain", text.encode())])

        def analysed(c):
            if c.get("status") == "undetermined" or "error" in c:
                return f"analysis failed ({c.get('error')})"
            return c.get("status") == "analyzed"

        self.api.wait(f"corpus {name} analysed", f"/v1/customizations/{cid}/corpora/{name}",
                      analysed, self.a.timeout)
        return time.monotonic() - t

    def add_words(self, cid, body):
        t = time.monotonic()
        self.api.post_json(f"/v1/customizations/{cid}/words", body)
        want = {w["word"].lower() for w in body["words"]}

        def added(listing):
            got = {w["word"].lower() for w in listing.get("words", [])}
            errors = [w for w in listing.get("words", []) if "error" in w]
            if errors:
                return f"words with errors: {errors[:3]}"
            return want <= got

        self.api.wait("words added", f"/v1/customizations/{cid}/words?word_type=user", added, self.a.timeout)
        return time.monotonic() - t

    def train(self, cid):
        t = time.monotonic()
        self.api.call("POST", f"/v1/customizations/{cid}/train", b"")
        self.api.wait("training", f"/v1/customizations/{cid}", model_status("available"), self.a.timeout)
        return time.monotonic() - t

    def display_forms(self, cid):
        ws = self.api.get(f"/v1/customizations/{cid}/words?word_type=all")["words"]
        return sorted({(w.get("display_as") or w["word"]) for w in ws})

    def delete_models(self):
        for cid in self.models:
            self.api.call("DELETE", f"/v1/customizations/{cid}", ok=(200, 204, 404, 409))
        self.models = []

    # --- batches ---

    def batch(self, files, model=None, weight=None):
        """Copies `files` into a fresh bucket, runs one batch over it and returns (bucket folder,
        wall seconds from the job's created to finished)."""
        self.n += 1
        bucket = f"bench-custom-{self.n:02d}"
        folder = os.path.join(self.buckets, bucket)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for f in files:
            shutil.copy(f, folder)
        q = {"function": "recognize"}
        if model:
            q["language_customization_id"] = model
        if weight is not None:
            q["customization_weight"] = str(weight)
        job = self.api.multipart("/v1/batches?" + urllib.parse.urlencode(q), [
            ("input_credentials_file", "s3-credentials.json", "application/json", self.creds),
            ("input_bucket_location", None, None, b"local"),
            ("input_bucket_name", None, None, bucket.encode()),
        ])

        def finished(j):
            if j["status"] in ("failed", "canceled"):
                return f"job {j['status']}"
            return j["status"] == "completed"

        job = self.api.wait(f"batch {bucket}", f"/v1/batches/{job['batch_id']}", finished, self.a.timeout)
        if job["failed_count"]:
            self.log(f"{bucket}: {job['failed_count']} of {job['total_count']} files failed")
        fmt = "%Y-%m-%dT%H:%M:%S.%f%z"
        wall = (datetime.strptime(job["finished"], fmt) - datetime.strptime(job["created"], fmt)).total_seconds()
        self.log(f"{bucket}: {len(files)} files, model {model or '-'} weight {weight if weight is not None else '-'}: {wall:.2f} s")
        return folder, wall


# ---------------------------------------------------------------------------------------------
# Scoring

def score_custom(devset, hyp):
    out = run([sys.executable, os.path.join(devset, "score_custom.py"),
               os.path.join(devset, "custom", "manifest.tsv"), hyp])
    m = re.search(r"custom terms (\d+)/(\d+) = [\d.]+; WER ([\d.]+) over (\d+) words", out)
    for line in out.splitlines():
        if "missed" in line:
            print(f"bench/custom: {line}", file=sys.stderr)
    if not m:
        sys.exit(f"bench/custom.py: score_custom.py said: {out}")
    return int(m[1]), int(m[2]), float(m[3])


def score_asr(devset, hyp):
    out = run([sys.executable, os.path.join(devset, "score.py"), "asr",
               os.path.join(devset, "asr", "manifest.tsv"), hyp])
    m = re.search(r"WER ([\d.]+) over (\d+) words", out.strip().splitlines()[-1] if out.strip() else "")
    if not m:
        sys.exit(f"bench/custom.py: score.py said: {out}")
    return float(m[1]), int(m[2])


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"bench/custom.py: {' '.join(cmd)} failed ({r.returncode}): {r.stderr or r.stdout}")
    return r.stdout


def tokens(text):
    return [t for t in re.split(r"[^\w'-]+", text.lower()) if t]


def transcript(path):
    if not os.path.exists(path):
        return ""
    j = json.load(open(path))
    return " ".join(r["alternatives"][0]["transcript"] for r in j.get("results", []) if r.get("alternatives"))


def insertions(devset, hyp, forms):
    """Custom words (display_as forms, whole words, case ignored) in the transcripts of
    devset/asr clips whose reference does not have them: (inserted words, clips with one,
    clips, hypothesis words)."""
    import csv
    rows = list(csv.DictReader(open(os.path.join(devset, "asr", "manifest.tsv")), delimiter="\t"))
    forms = [tokens(f) for f in forms if tokens(f)]
    inserted = clips = hyp_words = 0
    for r in rows:
        hyp_toks = tokens(transcript(os.path.join(hyp, r["file"] + ".json")))
        ref = " " + " ".join(tokens(r["reference"])) + " "
        hyp_words += len(hyp_toks)
        k = 0
        for f in forms:
            if " " + " ".join(f) + " " in ref:
                continue
            n = len(f)
            k += sum(1 for i in range(len(hyp_toks) - n + 1) if hyp_toks[i:i + n] == f)
        inserted += k
        clips += k > 0
    return inserted, clips, len(rows), hyp_words


# ---------------------------------------------------------------------------------------------

def main():
    p = argparse.ArgumentParser(description="custom language model benchmarks (see the module doc)")
    p.add_argument("--url", help="the service, e.g. http://127.0.0.1:18090")
    p.add_argument("--apikey", default=os.environ.get("SPEECHBATCH_API_KEY"))
    p.add_argument("--data", help="the service's --data-dir (buckets/ and s3-credentials.json)")
    p.add_argument("--devset", default=os.path.join(ROOT, "..", "shared", "devset"))
    p.add_argument("--only", default="abcd", help="which measurements, e.g. 'ab' (default abcd)")
    p.add_argument("--rounds", type=int, default=2, help="(d): batches per configuration, best taken")
    p.add_argument("--sentences", type=int, default=10000, help="(c): corpus sentences")
    p.add_argument("--names", type=int, default=200, help="(c): made-up product names in the corpus")
    p.add_argument("--words", type=int, default=1000, help="(d): made-up words in the model")
    p.add_argument("--weight", type=float, default=0.9, help="the high customization_weight of (a) and (b)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for any one step")
    p.add_argument("--label", default="", help="machine and threads, for the table's heading")
    p.add_argument("--reproduce", default="", help="the command line to print under the table")
    p.add_argument("--gen-corpus", metavar="FILE", help="write the generated corpus of (c) and exit")
    p.add_argument("--gen-words", metavar="FILE", help="write the generated words body of (d) and exit")
    a = p.parse_args()

    if a.gen_corpus or a.gen_words:
        if a.gen_corpus:
            text, names = gen_corpus(a.sentences, a.names)
            open(a.gen_corpus, "w").write(text)
            print(f"{a.gen_corpus}: {a.sentences} sentences, {len(text.split())} words, {len(names)} names",
                  file=sys.stderr)
        if a.gen_words:
            json.dump(gen_words(a.words), open(a.gen_words, "w"), indent=1)
            print(f"{a.gen_words}: {a.words} words", file=sys.stderr)
        return 0
    for need in ("url", "apikey", "data"):
        if not getattr(a, need):
            p.error(f"--{need} is required")
    if set(a.only) - set("abcd") or not a.only:
        p.error("--only takes letters of abcd")
    devset = os.path.abspath(a.devset)
    for f in ["score.py", "score_custom.py", "custom/manifest.tsv", "custom/corpus.txt",
              "custom/words.json", "asr/manifest.tsv"]:
        if not os.path.exists(os.path.join(devset, f)):
            sys.exit(f"bench/custom.py: needs the devset at {devset} ({f} is missing)")
    custom_clips = sorted(os.path.join(devset, "custom", f) for f in os.listdir(os.path.join(devset, "custom"))
                          if f.endswith(".flac"))
    asr_clips = sorted(os.path.join(devset, "asr", f) for f in os.listdir(os.path.join(devset, "asr"))
                       if f.endswith(".flac"))
    b = Bench(a)
    rows = []  # (measurement, value)
    w_hi = a.weight
    try:
        if "a" in a.only or "b" in a.only:
            b.log("(a, b) the devset model: corpus.txt and words.json")
            m = b.create_model("bench devset")
            t_corpus = b.add_corpus(m, "corpus1", open(os.path.join(devset, "custom", "corpus.txt")).read())
            b.add_words(m, json.load(open(os.path.join(devset, "custom", "words.json"))))
            t_train = b.train(m)
            forms = b.display_forms(m)
            b.log(f"model {m}: {len(forms)} words, corpus {t_corpus:.1f} s, training {t_train:.1f} s")
        if "a" in a.only:
            for label, model, weight in [("no model", None, None), ("model, default weight", m, None),
                                         (f"model, weight {w_hi}", m, w_hi)]:
                hyp, _ = b.batch(custom_clips, model, weight)
                hit, tot, wer = score_custom(devset, hyp)
                rows.append((f"(a) domain terms recognised, devset/custom ({len(custom_clips)} clips), {label}",
                             f"{hit}/{tot} = {hit / max(tot, 1):.2f} (WER {wer:.4f})"))
        if "b" in a.only:
            for label, model, weight in [("no model", None, None), ("model, default weight", m, None),
                                         (f"model, weight {w_hi}", m, w_hi)]:
                hyp, _ = b.batch(asr_clips, model, weight)
                wer, nwords = score_asr(devset, hyp)
                ins, clips, nclips, hyp_words = insertions(devset, hyp, forms)
                rows.append((f"(b) WER devset/asr ({nwords} words), {label}", f"{wer:.4f}"))
                rows.append((f"(b) the model's {len(forms)} words inserted into devset/asr transcripts, {label}",
                             f"{ins} words in {clips}/{nclips} clips ({100 * ins / max(hyp_words, 1):.2f}% of "
                             f"{hyp_words} words)"))
        if "c" in a.only:
            b.log(f"(c) training on a generated corpus of {a.sentences} sentences")
            text, names = gen_corpus(a.sentences, a.names)
            m = b.create_model("bench corpus")
            t0 = time.monotonic()
            t_corpus = b.add_corpus(m, "generated", text)
            t_train = b.train(m)
            total = time.monotonic() - t0
            c = b.api.get(f"/v1/customizations/{m}/corpora/generated")
            rows.append((f"(c) {a.sentences:,}-sentence corpus ({len(text.split()):,} words, {len(names)} made-up "
                         f"names; {c.get('out_of_vocabulary_words')} out of vocabulary): upload to available",
                         f"{total:.1f} s (analysis {t_corpus:.1f} s, training {t_train:.1f} s)"))
        if "d" in a.only:
            b.log(f"(d) a {a.words}-word model against none, {a.rounds} rounds")
            m = b.create_model("bench words")
            t_words = b.add_words(m, gen_words(a.words))
            t_train = b.train(m)
            b.log(f"{a.words} words added in {t_words:.1f} s, trained in {t_train:.1f} s")
            walls = {None: [], m: []}
            wer_w = None
            for _ in range(a.rounds):
                for model in (None, m):
                    hyp, wall = b.batch(asr_clips, model)
                    walls[model].append(wall)
                    if model:
                        wer_w, _ = score_asr(devset, hyp)
            base, with_m = min(walls[None]), min(walls[m])
            rows.append((f"(d) batch wall time, devset/asr ({len(asr_clips)} clips), best of {a.rounds}: "
                         f"no model / {a.words:,}-word model",
                         f"{base:.2f} s / {with_m:.2f} s = {with_m / base:.3f}x (WER with it {wer_w:.4f})"))
    finally:
        b.delete_models()

    print()
    print(f"#### Custom language models{(' (' + a.label + ')') if a.label else ''}")
    print()
    print("| measurement | result |")
    print("|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")
    print()
    if a.reproduce:
        print(f"Reproduce: `{a.reproduce}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
