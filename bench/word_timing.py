#!/usr/bin/env python3
"""Word start-time error against speech whose timing is known exactly.

    word_timing.py CONVERSATIONS_DIR HYP_DIR

The devset conversations place each turn at an exact sample position (`start`/`end` in
NAME.ref.json, with 30 ms of padding around the trimmed speech). For each turn, the hypothesis
word that starts nearest the turn's speech onset is its first word; its start time is compared
with the onset. Prints per-conversation and overall mean absolute error in milliseconds (and the mean
signed error: positive means late), and the same for the last word's end against the turn's
speech offset.
"""
import json
import os
import statistics
import sys

PADDING = 0.03



def summary(starts, ends):
    """Mean absolute and mean signed (bias) errors, in ms."""
    ms = lambda xs: 1000 * statistics.mean(xs)  # noqa: E731
    return (f"start error {ms([abs(x) for x in starts]):5.0f} ms (bias {ms(starts):+5.0f})"
            f"  end error {ms([abs(x) for x in ends]):5.0f} ms (bias {ms(ends):+5.0f})")


conv_dir, hyp_dir = sys.argv[1], sys.argv[2]
all_start, all_end = [], []
for name in sorted(os.listdir(conv_dir)):
    if not name.endswith(".ref.json"):
        continue
    ref = json.load(open(os.path.join(conv_dir, name)))
    hyp = json.load(open(os.path.join(hyp_dir, ref["audio"] + ".json")))
    words = [w for r in hyp["results"] for w in r["alternatives"][0]["timestamps"]]
    starts, ends = [], []
    for turn in ref["turns"]:
        onset, offset = turn["start"] + PADDING, turn["end"] - PADDING
        first = min(words, key=lambda w: abs(w[1] - onset))
        last = min(words, key=lambda w: abs(w[2] - offset))
        starts.append(first[1] - onset)
        ends.append(last[2] - offset)
    all_start += starts
    all_end += ends
    print(f"{ref['audio']:16} turns {len(starts):3}  {summary(starts, ends)}")
print(f"all {len(all_start)} turns: {summary(all_start, all_end)}")
