#!/usr/bin/env python3
"""Runs every set of weights, ours and faster-whisper's, over the evaluation set, one run at a
time on the same threads, and prints WER, speed and word timing per subset as Markdown tables.

    eval.py --engine TRANSCRIBER --evalset DIR --timing DIR [--devset DIR]
            [--peer-python PY --ct2 DIR] [--threads N] [--work DIR]

Subsets are the folders of the evaluation set (`bench/evalset/build.sh`) that hold a
`manifest.tsv` in score.py's `asr` layout; 8 kHz subsets run under `en-US_NarrowbandModel`,
the others under `en-US_BroadbandModel`. With `--devset`, its `asr/` clips and its conversations
(whole turn texts, in time order) are added as subsets too. `--timing` is the word-timing set
(`bench/timing/build.sh`), scored by `bench/word_timing_tts.py`. WER comes from the devset's
`score.py` (its normalisation, the same for every system), found beside `--devset` or given with
`--score`.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OURS = ["moonshine-base", "base", "tiny.en"]
PEERS = ["base", "tiny.en"]
NARROW = "en-US_NarrowbandModel"
BROAD = "en-US_BroadbandModel"


def read_manifest(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in f if line.strip()]


def sample_rate(path):
    """The sample rate in a WAV or FLAC header (the formats the evaluation set is written in)."""
    with open(path, "rb") as f:
        head = f.read(64)
    if head[:4] == b"RIFF":
        return int.from_bytes(head[24:28], "little")
    if head[:4] == b"fLaC":
        return int.from_bytes(head[18:21], "big") >> 4
    sys.exit(f"{path}: neither WAV nor FLAC")


class Subset:
    def __init__(self, name, manifest, files, narrowband):
        self.name, self.manifest, self.files, self.narrowband = name, manifest, files, narrowband

    @property
    def model(self):
        return NARROW if self.narrowband else BROAD


def evalset_subsets(root, work):
    subsets = []
    for name in sorted(os.listdir(root)):
        manifest = os.path.join(root, name, "manifest.tsv")
        if not os.path.exists(manifest):
            continue
        rows = read_manifest(manifest)
        folder = os.path.join(root, name)
        by_band = {}
        for r in rows:
            by_band.setdefault(sample_rate(os.path.join(folder, r["file"])) <= 8000, []).append(r)
        for narrow, band_rows in sorted(by_band.items()):
            label = name
            if len(by_band) > 1:
                # A folder of both bands (the long calls) runs each file under its band's name.
                label = f"{name}-{'8k' if narrow else '16k'}"
                manifest = os.path.join(work, f"{label}.tsv")
                with open(manifest, "w") as f:
                    f.write("\t".join(band_rows[0]) + "\n")
                    for r in band_rows:
                        f.write("\t".join(r.values()) + "\n")
            files = [os.path.join(folder, r["file"]) for r in band_rows]
            subsets.append(Subset(label, manifest, files, narrow))
    return subsets


def devset_subsets(devset, work):
    """devset/asr as it is, and the conversations as one manifest per band."""
    asr = os.path.join(devset, "asr")
    rows = read_manifest(os.path.join(asr, "manifest.tsv"))
    out = [Subset("devset-asr", os.path.join(asr, "manifest.tsv"),
                  [os.path.join(asr, r["file"]) for r in rows], False)]
    conv = os.path.join(devset, "conversations")
    for narrow in (False, True):
        refs = [json.load(open(os.path.join(conv, n))) for n in sorted(os.listdir(conv)) if n.endswith(".ref.json")]
        refs = [r for r in refs if r["narrowband"] == narrow]
        manifest = os.path.join(work, f"devset-conv-{'8k' if narrow else '16k'}.tsv")
        with open(manifest, "w") as f:
            f.write("file\tvoice\treference\tformatted\tduration_s\n")
            for r in refs:
                text = " ".join(t["text"] for t in sorted(r["turns"], key=lambda t: t["start"]))
                f.write(f"{r['audio']}\tmixed\t{text}\t{text}\t{r['duration']}\n")
        out.append(Subset(f"devset-conversations-{'8k' if narrow else '16k'}", manifest,
                          [os.path.join(conv, r["audio"]) for r in refs], narrow))
    return out


SUMMARY = re.compile(r"audio_s ([\d.]+) wall_s ([\d.]+) speed ([\d.]+)")


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    lines = [line for line in (p.stdout + p.stderr).splitlines() if SUMMARY.search(line)]
    if not lines:
        sys.exit(f"no summary line from {' '.join(cmd[:3])}...:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    m = SUMMARY.search(lines[-1])
    return float(m.group(1)), float(m.group(2))


def run_system(args, kind, weights, model, files, hyp):
    """Runs one system over `files` into `hyp` (or, with --reuse, takes the outputs already
    there); returns (audio seconds, wall seconds)."""
    os.makedirs(hyp, exist_ok=True)
    done = os.path.join(hyp, "summary.txt")
    if args.reuse and os.path.exists(done):
        audio_s, wall_s = map(float, open(done).read().split())
        return audio_s, wall_s
    if kind == "ours":
        cmd = [args.engine, "recognize", "--model", model, "--weights", weights,
               "--threads", str(args.threads), "--out", hyp, *files]
    else:
        cmd = [args.peer_python, os.path.join(HERE, "faster_whisper_baseline.py"), "--threads",
               str(args.threads), os.path.join(args.ct2, f"ct2-{weights}"), hyp, *files]
    audio_s, wall_s = run(cmd)
    with open(done, "w") as f:
        f.write(f"{audio_s} {wall_s}\n")
    return audio_s, wall_s


def wer(score_py, manifest, hyp):
    out = subprocess.run([sys.executable, score_py, "asr", manifest, hyp], capture_output=True, text=True)
    m = re.search(r"WER ([\d.]+) over (\d+) words", out.stdout)
    i = re.search(r"insertions (\d+)", out.stdout)
    if not m or not i:
        sys.exit(f"score.py failed on {hyp}: {out.stdout[-500:]} {out.stderr[-500:]}")
    # Per file: (errors, reference words), from score.py's table rows.
    per_file = {}
    for line in out.stdout.splitlines():
        f = line.split()
        if len(f) >= 6 and f[2].isdigit() and all(x.isdigit() for x in f[3:6]):
            per_file[f[0]] = (int(f[3]) + int(f[4]) + int(f[5]), int(f[2]))
    return float(m.group(1)), int(m.group(2)), int(i.group(1)), per_file


def bootstrap(a, b, rounds=2000, seed=1):
    """95% interval of the relative change in pooled WER from system a to system b, over files
    resampled with replacement (paired: both systems on the same resampled files)."""
    rng = random.Random(seed)
    keys = sorted(a)
    changes = []
    for _ in range(rounds):
        pick = [rng.choice(keys) for _ in keys]
        ea = sum(a[k][0] for k in pick)
        eb = sum(b[k][0] for k in pick)
        if ea:
            changes.append(eb / ea - 1)
    changes.sort()
    return changes[int(0.025 * len(changes))], changes[int(0.975 * len(changes)) - 1]


def timing(ref_dir, hyp):
    out = subprocess.run([sys.executable, os.path.join(HERE, "word_timing_tts.py"), ref_dir, hyp],
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr.strip()[-300:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    ap.add_argument("--evalset", required=True)
    ap.add_argument("--timing")
    ap.add_argument("--devset")
    ap.add_argument("--score")
    ap.add_argument("--peer-python")
    ap.add_argument("--ct2", help="folder with ct2-base/ and ct2-tiny.en/")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work")
    ap.add_argument("--only", help="comma-separated subset names")
    ap.add_argument("--systems", help="comma-separated, e.g. ours:moonshine-base,peer:base")
    ap.add_argument("--reuse", action="store_true",
                    help="score the outputs already in --work again instead of rerunning them")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="speechbatch-eval-")
    os.makedirs(work, exist_ok=True)
    score_py = args.score or os.path.join(args.devset or "", "score.py")
    subsets = evalset_subsets(args.evalset, work)
    if args.devset:
        subsets += devset_subsets(args.devset, work)
    if args.only:
        keep = set(args.only.split(","))
        subsets = [s for s in subsets if s.name in keep]
    systems = [("ours", w) for w in OURS]
    if args.peer_python and args.ct2:
        systems += [("faster-whisper", w) for w in PEERS]
    if args.systems:
        keep = {tuple(s.split(":")) for s in args.systems.split(",")}
        systems = [s for s in systems if (("ours" if s[0] == "ours" else "peer"), s[1]) in keep]

    results = {}  # (subset, system) -> (wer, words, audio_s, wall_s)
    files = {}  # (subset, system) -> {file: (errors, words)}
    for s in subsets:
        for kind, w in systems:
            hyp = os.path.join(work, s.name, f"{kind}-{w}")
            audio_s, wall_s = run_system(args, kind, w, s.model, s.files, hyp)
            e, words, ins, per_file = wer(score_py, s.manifest, hyp)
            results[(s.name, kind, w)] = (e, words, audio_s, wall_s)
            files[(s.name, kind, w)] = {f"{s.name}/{k}": v for k, v in per_file.items()}
            print(f"{s.name:28s} {kind:15s} {w:15s} WER {100 * e:6.2f}% over {words:5d} words,"
                  f" {ins:3d} inserted"
                  f"  audio {audio_s:7.1f} s  speed {audio_s / wall_s:6.1f}x", flush=True)

    print("\n| subset | model name | audio | words | " + " | ".join(f"{k} {w}" for k, w in systems) + " |")
    print("|---|---|---|---|" + "---|" * len(systems))
    for s in subsets:
        cells = []
        for kind, w in systems:
            e, words, audio_s, wall_s = results[(s.name, kind, w)]
            cells.append(f"{100 * e:.2f}% ({audio_s / wall_s:.1f}×)")
        first = results[(s.name, *systems[0])]
        print(f"| {s.name} | {s.model} | {first[2] / 60:.1f} min | {first[1]} | " + " | ".join(cells) + " |")
    # Pooled over all subsets of each band: errors and time add up.
    for narrow in (False, True):
        band = [s for s in subsets if s.narrowband == narrow]
        if not band:
            continue
        cells = []
        for kind, w in systems:
            errs = sum(results[(s.name, kind, w)][0] * results[(s.name, kind, w)][1] for s in band)
            words = sum(results[(s.name, kind, w)][1] for s in band)
            audio = sum(results[(s.name, kind, w)][2] for s in band)
            wall = sum(results[(s.name, kind, w)][3] for s in band)
            cells.append(f"**{100 * errs / words:.2f}%** ({audio / wall:.1f}×)")
        print(f"| all {'narrowband' if narrow else 'broadband'} | {NARROW if narrow else BROAD} | "
              f"{sum(results[(s.name, *systems[0])][2] for s in band) / 60:.1f} min | "
              f"{sum(results[(s.name, *systems[0])][1] for s in band)} | " + " | ".join(cells) + " |")

    # Is a difference in pooled WER more than the luck of which files are in the set?
    print("\nPooled WER change between our weights, with a 95% paired bootstrap interval over files:")
    ours = [w for k, w in systems if k == "ours"]
    for narrow in (False, True):
        band = [s for s in subsets if s.narrowband == narrow]
        for i, a in enumerate(ours):
            for b in ours[i + 1:]:
                fa = {k: v for s in band for k, v in files[(s.name, "ours", a)].items()}
                fb = {k: v for s in band for k, v in files[(s.name, "ours", b)].items()}
                if not fa:
                    continue
                ea, eb = sum(v[0] for v in fa.values()), sum(v[0] for v in fb.values())
                lo, hi = bootstrap(fa, fb)
                print(f"  {'narrowband' if narrow else 'broadband'}: {b} vs {a}: {eb} vs {ea} errors, "
                      f"{100 * (eb / ea - 1):+.1f}% (95% interval {100 * lo:+.1f}% to {100 * hi:+.1f}%)")

    if args.timing:
        print("\nWord timing inside continuous speech (bench/word_timing_tts.py):")
        for band, model in (("broadband", BROAD), ("narrowband", NARROW)):
            ref = os.path.join(args.timing, band)
            if not os.path.isdir(ref):
                continue
            audio = sorted(os.path.join(ref, f) for f in os.listdir(ref) if not f.endswith(".json"))
            for kind, w in systems:
                hyp = os.path.join(work, f"timing-{band}", f"{kind}-{w}")
                run_system(args, kind, w, model, audio, hyp)
                print(f"{band:10s} {kind:15s} {w:15s} {timing(ref, hyp)}", flush=True)


if __name__ == "__main__":
    main()
