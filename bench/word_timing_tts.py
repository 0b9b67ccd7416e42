#!/usr/bin/env python3
"""Word start/end-time error against synthesised speech whose word times are known exactly.

    word_timing_tts.py REF_DIR HYP_DIR
    word_timing_tts.py --self-test REF_DIR

REF_DIR holds NAME.words.json files made by bench/timing/build.sh (one band of it:
OUT_DIR/broadband or OUT_DIR/narrowband): {"audio", "voice", "words": [{"word", "start",
"end"}]}. HYP_DIR holds the service's results, <audio>.json (results[].alternatives[0].timestamps
= [[word, start, end, ...], ...]). A missing result counts as a file with no words.

Hypothesis words are aligned to reference words by edit distance over normalised words
(lowercase, punctuation removed, apostrophes kept); only pairs of identical words are scored.
Errors are hypothesis minus reference: positive means late. For each file, each voice and
overall it prints the number of matched words, the mean absolute start and end errors, their
means (bias), and the median and 90th percentile of the absolute start error; then the same for
words inside continuous speech (both neighbours within 0.15 s: not the first or last word of a
stretch of speech) and for words at its edges.

--self-test checks the scorer against fake hypotheses made from REF_DIR itself (perfect, shifted
by +100 ms, some words deleted or replaced, punctuation and case) and exits non-zero if it is wrong.
Standard library only.
"""
import json
import os
import re
import shutil
import statistics
import sys
import tempfile

INSIDE_GAP = 0.15   # a neighbour closer than this means the word is inside continuous speech


def normalise(token):
    """Words of one transcript token: lowercase, apostrophes kept, other punctuation is a space."""
    token = token.lower().replace("\u2019", "'").replace("\u2018", "'")
    token = re.sub(r"[^\w']+|_", " ", token)
    return [w.strip("'") for w in token.split() if w.strip("'")]


def hyp_words(path):
    """[(word, start, end)] of a result file; a token that splits into several words (e.g.
    'twenty-five') gives its start to the first and its end to the last, None elsewhere."""
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    out = []
    for result in doc.get("results", []):
        alternatives = result.get("alternatives") or [{}]
        for ts in alternatives[0].get("timestamps", []):
            if not isinstance(ts, list) or len(ts) < 3:
                continue
            parts = normalise(str(ts[0]))
            for i, w in enumerate(parts):
                out.append((w, float(ts[1]) if i == 0 else None,
                            float(ts[2]) if i == len(parts) - 1 else None))
    return out


def align(ref, hyp):
    """Levenshtein alignment of two word lists; returns [(i, j)] of identical pairs."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        row, prev = cost[i], cost[i - 1]
        for j in range(1, m + 1):
            same = ref[i - 1] == hyp[j - 1]
            row[j] = min(prev[j - 1] + (0 if same else 1), prev[j] + 1, row[j - 1] + 1)
    pairs, i, j = [], n, m
    while i > 0 and j > 0:
        same = ref[i - 1] == hyp[j - 1]
        if cost[i][j] == cost[i - 1][j - 1] + (0 if same else 1):
            if same:
                pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def inside_flags(words):
    """True for a word whose neighbours on both sides are within INSIDE_GAP."""
    flags = []
    for k, w in enumerate(words):
        before = k > 0 and w["start"] - words[k - 1]["end"] <= INSIDE_GAP
        after = k + 1 < len(words) and words[k + 1]["start"] - w["end"] <= INSIDE_GAP
        flags.append(before and after)
    return flags


def percentile(xs, q):
    xs = sorted(xs)
    k = (len(xs) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


class Stats:
    def __init__(self):
        self.start, self.end, self.ref = [], [], 0

    def add(self, other):
        self.start += other.start
        self.end += other.end
        self.ref += other.ref

    def numbers(self):
        """ms: start MAE, start bias, start median |e|, start p90 |e|, end MAE, end bias."""
        def ms(x):
            return 1000 * x
        out = {}
        if self.start:
            a = [abs(x) for x in self.start]
            out.update(start_mae=ms(statistics.mean(a)), start_bias=ms(statistics.mean(self.start)),
                       start_median=ms(statistics.median(a)), start_p90=ms(percentile(a, 0.9)))
        if self.end:
            out.update(end_mae=ms(statistics.mean(abs(x) for x in self.end)),
                       end_bias=ms(statistics.mean(self.end)))
        return out

    def text(self, short=False):
        n = self.numbers()
        if "start_mae" not in n:
            return "start MAE - end MAE -"
        s = (f"start MAE {n['start_mae']:.0f} ms (bias {n['start_bias']:+.0f}"
             + ("" if short else f", median {n['start_median']:.0f}")
             + f", p90 {n['start_p90']:.0f})")
        if "end_mae" in n:
            s += f" end MAE {n['end_mae']:.0f} ms (bias {n['end_bias']:+.0f})"
        return s


def score_file(ref_doc, hyp):
    """Stats for all words, inside speech and at edges, and the number matched."""
    words = ref_doc["words"]
    ref = [" ".join(normalise(w["word"])) for w in words]
    flags = inside_flags(words)
    total, inside, edge = Stats(), Stats(), Stats()
    total.ref = len(words)
    inside.ref = sum(flags)
    edge.ref = len(words) - inside.ref
    matched = 0
    for i, j in align(ref, [h[0] for h in (hyp or [])]):
        matched += 1
        w, (_, hs, he) = words[i], hyp[j]
        for s in (total, inside if flags[i] else edge):
            if hs is not None:
                s.start.append(hs - w["start"])
            if he is not None:
                s.end.append(he - w["end"])
    return matched, total, inside, edge


def score(ref_dir, hyp_dir, out=sys.stdout):
    names = sorted(n for n in os.listdir(ref_dir) if n.endswith(".words.json"))
    if not names:
        sys.exit(f"{ref_dir}: no NAME.words.json files (give OUT_DIR/broadband or OUT_DIR/narrowband)")
    all_total, all_inside, all_edge = Stats(), Stats(), Stats()
    per_voice = {}
    n_matched = n_ref = 0
    missing = []
    for name in names:
        with open(os.path.join(ref_dir, name), encoding="utf-8") as f:
            doc = json.load(f)
        hyp = hyp_words(os.path.join(hyp_dir, doc["audio"] + ".json"))
        if hyp is None:
            missing.append(doc["audio"])
        matched, total, inside, edge = score_file(doc, hyp)
        n_matched += matched
        n_ref += total.ref
        all_total.add(total)
        all_inside.add(inside)
        all_edge.add(edge)
        v = per_voice.setdefault(doc.get("voice", "?"), [0, Stats()])
        v[0] += matched
        v[1].add(total)
        note = "  (no result)" if hyp is None else ""
        print(f"{doc['audio']:16} {matched:4}/{total.ref:<4} matched  {total.text(short=True)}{note}",
              file=out)
    for voice, (matched, s) in sorted(per_voice.items()):
        print(f"voice {voice:10} {matched:4}/{s.ref:<4} matched  {s.text()}", file=out)
    print(f"inside speech {len(all_inside.start):5} matched of {all_inside.ref:5}  {all_inside.text()}",
          file=out)
    print(f"at edges      {len(all_edge.start):5} matched of {all_edge.ref:5}  {all_edge.text()}",
          file=out)
    if missing:
        print(f"{len(missing)} result(s) missing, counted as no words: {' '.join(missing[:5])}"
              + (" ..." if len(missing) > 5 else ""), file=out)

    def brief(s):
        n = s.numbers()
        if "start_mae" not in n:
            return "start MAE - end MAE -"
        t = f"start MAE {n['start_mae']:.0f} ms"
        return t + (f" end MAE {n['end_mae']:.0f} ms" if "end_mae" in n else "")
    print(f"word timing: {n_matched} matched of {n_ref} ref words; {all_total.text(short=True)}; "
          f"inside speech: {brief(all_inside)}; at edges: {brief(all_edge)}", file=out)
    return {"matched": n_matched, "ref": n_ref, "total": all_total.numbers(),
            "inside": all_inside.numbers(), "edge": all_edge.numbers()}


def self_test(ref_dir):
    """Fake hypotheses from the reference itself; the scores must come out as constructed."""
    import io
    names = sorted(n for n in os.listdir(ref_dir) if n.endswith(".words.json"))
    docs = [json.load(open(os.path.join(ref_dir, n), encoding="utf-8")) for n in names]

    def write(dirname, make):
        for doc in docs:
            ts = make(doc)
            body = {"results": [{"final": True, "alternatives": [
                {"transcript": " ".join(t[0] for t in ts) + " ", "timestamps": ts}]}]}
            with open(os.path.join(dirname, doc["audio"] + ".json"), "w") as f:
                json.dump(body, f)

    def run(make):
        d = tempfile.mkdtemp(prefix="wtt-selftest-")
        try:
            write(d, make)
            buf = io.StringIO()
            return score(ref_dir, d, out=buf), buf.getvalue()
        finally:
            shutil.rmtree(d)

    failures = []

    def expect(label, cond):
        print(f"  {'ok  ' if cond else 'FAIL'} {label}")
        if not cond:
            failures.append(label)

    n_ref = sum(len(d["words"]) for d in docs)
    print(f"self-test on {len(docs)} files, {n_ref} reference words")

    # 1. perfect: the reference itself, written as the service would (case, punctuation)
    r, text = run(lambda doc: [[w["word"].capitalize() + ("," if k % 7 == 3 else ""),
                                w["start"], w["end"], {"speaker": 0}]
                               for k, w in enumerate(doc["words"])])
    expect("perfect: every word matched", r["matched"] == n_ref)
    expect("perfect: 0 ms start and end error",
           r["total"]["start_mae"] < 1e-6 and r["total"]["end_mae"] < 1e-6)
    expect("the last line is the summary", text.splitlines()[-1].startswith("word timing: "))

    # 2. shifted by +100 ms, every fifth word deleted, every eleventh replaced
    def shifted(doc):
        out = []
        for k, w in enumerate(doc["words"]):
            if k % 5 == 2:
                continue
            word = "xyzzy" if k % 11 == 6 else w["word"]
            out.append([word, round(w["start"] + 0.1, 3), round(w["end"] + 0.1, 3)])
        return out
    expected = sum(1 for d in docs for k in range(len(d["words"])) if k % 5 != 2 and k % 11 != 6)
    r, _ = run(shifted)
    t = r["total"]
    expect(f"shifted: {expected} matched (deleted and replaced words are not)",
           r["matched"] == expected)
    expect("shifted: start and end MAE 100 ms, bias +100, p90 100",
           all(abs(t[k] - 100) < 0.6 for k in ("start_mae", "start_bias", "start_p90", "end_mae", "end_bias")))
    expect("shifted: inside speech and edges are 100 ms too",
           abs(r["inside"]["start_mae"] - 100) < 0.6 and abs(r["edge"]["end_mae"] - 100) < 0.6)

    # 3. two words written as one hyphenated token (its start belongs to the first word, its end
    #    to the last, both 50 ms off) and inserted words: every reference word still matches
    joins = []

    def joined(doc):
        ws, out, k = doc["words"], [], 0
        while k < len(ws):
            if k + 1 < len(ws) and k % 9 == 4:
                out.append([ws[k]["word"] + "-" + ws[k + 1]["word"], ws[k]["start"] - 0.05,
                            ws[k + 1]["end"] + 0.05])
                joins.append(k)
                k += 2
            else:
                if k % 13 == 0:
                    out.append(["um", ws[k]["start"] - 0.2, ws[k]["start"] - 0.1])
                out.append([ws[k]["word"], ws[k]["start"], ws[k]["end"]])
                k += 1
        return out
    r, _ = run(joined)
    starts = n_ref - len(joins)     # the second word of a pair has no start of its own
    expect("hyphenated pairs and insertions: every reference word matched", r["matched"] == n_ref)
    expect("hyphenated pairs: only their outer start/end are scored, 50 ms off",
           abs(r["total"]["start_mae"] - 50 * len(joins) / starts) < 0.01
           and abs(r["total"]["end_mae"] - 50 * len(joins) / starts) < 0.01)

    # 4. no result at all
    d = tempfile.mkdtemp(prefix="wtt-selftest-")
    try:
        r = score(ref_dir, d, out=io.StringIO())
    finally:
        shutil.rmtree(d)
    expect("missing results: nothing matched", r["matched"] == 0 and r["ref"] == n_ref)
    print("self-test " + ("FAILED: " + "; ".join(failures) if failures else "passed"))
    return 1 if failures else 0


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        sys.exit(self_test(sys.argv[2]))
    if len(sys.argv) != 3 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    score(sys.argv[1], sys.argv[2])


if __name__ == "__main__":
    main()
