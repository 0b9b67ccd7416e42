#!/usr/bin/env python3
"""Builds a long test recording from the devset, with its reference transcript and word-free timing.

    make_long_audio.py DEVSET OUT_DIR MINUTES

Concatenates the devset's single-speaker clips and conversations (16 kHz; the 8 kHz ones
upsampled), 1 s of silence between pieces, repeated until MINUTES is reached. Writes
OUT_DIR/long_<MINUTES>m.flac (an hour of 16-bit WAV would pass the 100 MB input limit), OUT_DIR/manifest.tsv in score.py's `asr` layout (the
concatenated references) and OUT_DIR/long_<MINUTES>m.turns.json: where each reference utterance
starts, so that absolute timestamps deep into the file can be checked.
"""
import json
import os
import sys

import av
import numpy as np
from faster_whisper.audio import decode_audio

devset, out_dir, minutes = sys.argv[1], sys.argv[2], float(sys.argv[3])
os.makedirs(out_dir, exist_ok=True)
pieces = []
with open(os.path.join(devset, "asr", "manifest.tsv")) as f:
    header = f.readline().rstrip("\n").split("\t")
    for line in f:
        row = dict(zip(header, line.rstrip("\n").split("\t")))
        pieces.append((os.path.join(devset, "asr", row["file"]), [(0.0, row["reference"])]))
for name in sorted(os.listdir(os.path.join(devset, "conversations"))):
    if name.endswith(".ref.json"):
        ref = json.load(open(os.path.join(devset, "conversations", name)))
        turns = [(t["start"], t["text"]) for t in ref["turns"]]
        pieces.append((os.path.join(devset, "conversations", ref["audio"]), turns))

audio, refs, turns, t = [], [], [], 0.0
silence = np.zeros(16000, dtype=np.float32)
while t < minutes * 60:
    for path, piece_turns in pieces:
        samples = decode_audio(path)
        for start, text in piece_turns:
            refs.append(text)
            turns.append({"start": round(t + start, 3), "text": text})
        audio += [samples, silence]
        t += (len(samples) + len(silence)) / 16000
        if t >= minutes * 60:
            break
pcm = (np.clip(np.concatenate(audio), -1, 1) * 32767).astype("<i2")
name = f"long_{int(minutes)}m.flac"
with av.open(os.path.join(out_dir, name), "w") as container:
    stream = container.add_stream("flac", rate=16000, layout="mono")
    for i in range(0, len(pcm), 16000):
        frame = av.AudioFrame.from_ndarray(pcm[None, i : i + 16000], format="s16", layout="mono")
        frame.rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode(None):
        container.mux(packet)
with open(os.path.join(out_dir, "manifest.tsv"), "a") as f:
    reference = " ".join(refs).replace("\t", " ")
    f.write(f"{name}\tmixed\t{reference}\t{reference}\t{len(pcm) / 16000:.2f}\n")
json.dump(turns, open(os.path.join(out_dir, name[:-5] + ".turns.json"), "w"))
print(f"{name}: {len(pcm) / 16000 / 60:.1f} min")
