#!/usr/bin/env bash
# Reproduces the figures of BENCHMARKS.md: the engine and faster-whisper side by side, in one run,
# on the same weights, the same audio and the same number of threads.
#
#   bench/run.sh [THREADS]      (default 2)
#
# Needs a quiet machine: other processes on the same cores distort every speed figure.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
threads="${1:-2}"
"$root/scripts/setup"
# shellcheck source=setup/env.sh
source "$root/setup/env.sh"
cargo build --release -q --manifest-path "$root/Cargo.toml" -p transcriber
engine="$root/target/release/transcriber"
devset="$root/../shared/devset"
score() { python3 "$devset/score.py" "$@" | tail -1; }

venv="$("$root/bench/peer-venv.sh")"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT

# faster-whisper reads the CTranslate2 directories the ONNX graphs were converted from.
python3 "$root/bench/unpack_ct2.py" "$SPEECHBATCH_CACHE/downloads" "$work"

# ours WEIGHTS OUT FILE...: run the engine, print its summary line.
ours() { local w="$1" out="$2"; shift 2; "$engine" recognize --weights "$w" --threads "$threads" --out "$out" "$@" 2>&1 | tail -1; }
peer() { local w="$1" out="$2"; shift 2; "$venv/bin/python" "$root/bench/faster_whisper_baseline.py" --threads "$threads" "$work/ct2-$w" "$out" "$@"; }

echo "== devset/asr ($(ls "$devset"/asr/*.flac | wc -l) clips), $threads threads"
# faster-whisper runs only the Whisper weights (there is no CTranslate2 Moonshine).
for w in tiny.en base moonshine-base; do
  echo "-- $w"
  echo "ours:           $(ours "$w" "$work/ours-$w" "$devset"/asr/*.flac)"
  echo "   $(score asr "$devset/asr/manifest.tsv" "$work/ours-$w")"
  [ "$w" = moonshine-base ] && continue
  echo "faster-whisper: $(peer "$w" "$work/peer-$w" "$devset"/asr/*.flac)"
  echo "   $(score asr "$devset/asr/manifest.tsv" "$work/peer-$w")"
done

echo "== a 10.5-minute recording (devset clips and conversations, 1 s apart), $threads threads"
mkdir -p "$work/long"; printf 'file\tvoice\treference\tformatted\tduration_s\n' > "$work/long/manifest.tsv"
"$venv/bin/python" "$root/bench/make_long_audio.py" "$devset" "$work/long" 10
for w in tiny.en base moonshine-base; do
  echo "-- $w"
  echo "ours:           $(ours "$w" "$work/long-ours-$w" "$work/long/long_10m.flac")"
  echo "   $(score asr "$work/long/manifest.tsv" "$work/long-ours-$w")"
  [ "$w" = moonshine-base ] && continue
  echo "faster-whisper: $(peer "$w" "$work/long-peer-$w" "$work/long/long_10m.flac")"
  echo "   $(score asr "$work/long/manifest.tsv" "$work/long-peer-$w")"
done

echo "== narrowband: the devset's 8 kHz conversations with en-US_NarrowbandModel"
python3 - "$devset/conversations" "$work/conv-manifest.tsv" <<'PY'
import json, os, sys
src, out = sys.argv[1:]
with open(out, "w") as f:
    f.write("file\tvoice\treference\tformatted\tduration_s\n")
    for name in sorted(os.listdir(src)):
        if name.endswith(".ref.json"):
            ref = json.load(open(os.path.join(src, name)))
            text = " ".join(t["text"] for t in ref["turns"])
            f.write(f"{ref['audio']}\tmixed\t{text}\t{text}\t{ref['duration']}\n")
PY
grep -E '^(file|conv0[56])' "$work/conv-manifest.tsv" > "$work/conv-8k.tsv"
for w in tiny.en base moonshine-base; do
  "$engine" recognize --model en-US_NarrowbandModel --weights "$w" --threads "$threads" \
    --out "$work/nb-$w" "$devset"/conversations/*.wav 2>/dev/null
  echo "-- $w: $(score asr "$work/conv-8k.tsv" "$work/nb-$w")"
done

echo "== speaker labels on the conversations (score.py diar), engine end to end"
for mode in clustering baseline; do
  flag=""; [ "$mode" = baseline ] && flag="--baseline-diarization"
  a=$("$engine" recognize $flag --threads "$threads" --out "$work/diar-$mode" "$devset"/conversations/*.flac 2>&1 | tail -1)
  b=$("$engine" recognize $flag --model en-US_NarrowbandModel --threads "$threads" --out "$work/diar-$mode" "$devset"/conversations/*.wav 2>&1 | tail -1)
  echo "-- $mode: $(score diar "$devset/conversations" "$work/diar-$mode")"
  echo "   broadband: $a"
  echo "   narrowband: $b"
done
"$engine" recognize --threads "$threads" --out "$work/diar-asr" "$devset"/asr/*.flac 2>/dev/null
echo "-- single-speaker clips of devset/asr given one speaker: $(python3 -c '
import glob, json, sys
files = glob.glob(sys.argv[1] + "/*.json")
one = sum(len({l["speaker"] for l in json.load(open(f))["speaker_labels"]}) == 1 for f in files)
print(f"{one}/{len(files)}")' "$work/diar-asr")"

echo "== two-channel calls (devset/stereo, narrowband): channel by channel vs mixed down"
for split in auto false; do
  "$engine" recognize --model en-US_NarrowbandModel --split-channels "$split" --threads "$threads" \
    --out "$work/stereo-$split" "$devset"/stereo/*.wav 2>/dev/null
  echo "-- split_channels=$split: $(score diar "$devset/stereo" "$work/stereo-$split")"
done

echo "== non-speech (silence, noise, tones, hold music, clicks; 30 s each): words written"
cargo run --release -q --manifest-path "$root/Cargo.toml" -p transcriber --example write_non_speech -- "$work/nonspeech" 30 >/dev/null
for model in en-US_BroadbandModel en-US_ShortForm_NarrowbandModel; do
  "$engine" recognize --model "$model" --threads "$threads" --out "$work/ns-$model" "$work"/nonspeech/*.wav 2>/dev/null
  echo "-- $model: $(python3 -c '
import glob, json, sys
files = sorted(glob.glob(sys.argv[1] + "/*.json"))
words = {f.split("/")[-1]: sum(len(r["alternatives"][0]["timestamps"]) for r in json.load(open(f))["results"]) for f in files}
print(sum(words.values()), "words in", len(files), "files", {k: v for k, v in words.items() if v})' "$work/ns-$model")"
done

echo "== transcript style (devset/asr, broadband)"
echo "-- default style vs the spoken-form references: $(score asr "$devset/asr/manifest.tsv" "$work/diar-asr")"
"$engine" recognize --smart-formatting --threads "$threads" --out "$work/smart" "$devset"/asr/*.flac 2>/dev/null
python3 - "$devset/asr/manifest.tsv" "$work/formatted.tsv" <<'PY'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])]
with open(sys.argv[2], "w") as f:
    f.write("\t".join(rows[0]) + "\n")
    for r in rows[1:]:
        f.write("\t".join([r[0], r[1], r[3], r[3], r[4]]) + "\n")  # the formatted column as reference
PY
echo "-- smart formatting vs the formatted column:   $(score asr "$work/formatted.tsv" "$work/smart")"
python3 - "$devset/asr/manifest.tsv" "$work/smart" <<'PY'
import json, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1])][1:]
same = 0
for r in rows:
    v = json.load(open(f"{sys.argv[2]}/{r[0]}.json"))
    text = " ".join(x["alternatives"][0]["transcript"].strip() for x in v["results"])
    same += text.lower() == r[3].lower()
print(f"-- smart-formatted transcripts identical to the formatted column (ignoring case): {same}/{len(rows)}")
PY

echo "== word timing on the conversations (known turn onsets and offsets)"
"$engine" recognize --threads "$threads" --out "$work/conv" "$devset"/conversations/*.flac 2>/dev/null
"$engine" recognize --model en-US_NarrowbandModel --threads "$threads" --out "$work/conv" "$devset"/conversations/*.wav 2>/dev/null
python3 "$root/bench/word_timing.py" "$devset/conversations" "$work/conv" | tail -1

echo "== one hour of audio: peak memory"
rm -f "$work/long/manifest.tsv"; printf 'file\tvoice\treference\tformatted\tduration_s\n' > "$work/long/manifest.tsv"
"$venv/bin/python" "$root/bench/make_long_audio.py" "$devset" "$work/long" 60
/usr/bin/time -f "peak RSS %M KB, wall %e s" "$engine" recognize --threads "$threads" --out "$work/hour" "$work/long/long_60m.flac" 2>&1 | tail -2
echo "   $(score asr "$work/long/manifest.tsv" "$work/hour")"
