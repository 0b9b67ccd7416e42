#!/usr/bin/env python3
"""The peer to beat: PyPI faster-whisper decoding the same CTranslate2 weights, greedily.

    faster_whisper_baseline.py MODEL_DIR OUT_DIR [--threads N] [--compute-type int8] FILE...

Writes OUT_DIR/<file name>.json in the interface's result shape (enough for score.py) and prints
one line: `files N audio_s A wall_s W speed X` where wall time excludes model loading, as the
engine's own summary line does.
"""
import argparse
import json
import os
import time

from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("out_dir")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--compute-type", default="int8")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    model = WhisperModel(args.model_dir, device="cpu", compute_type=args.compute_type, cpu_threads=args.threads)
    audio_s = wall_s = 0.0
    for path in args.files:
        started = time.perf_counter()
        audio = decode_audio(path)
        segments, info = model.transcribe(
            audio, language="en", beam_size=1, best_of=1, temperature=0.0, word_timestamps=True,
            condition_on_previous_text=False, vad_filter=False,
        )
        results = []
        for seg in segments:
            words = [[w.word.strip(), round(w.start, 2), round(w.end, 2)] for w in seg.words or []]
            results.append({"final": True, "alternatives": [{"transcript": seg.text.strip() + " ",
                                                             "timestamps": words}]})
        wall_s += time.perf_counter() - started
        audio_s += len(audio) / 16000
        name = os.path.basename(path)
        with open(os.path.join(args.out_dir, name + ".json"), "w") as f:
            json.dump({"result_index": 0, "results": results}, f)
    print(f"files {len(args.files)} audio_s {audio_s:.1f} wall_s {wall_s:.2f} speed {audio_s / wall_s:.1f}")


if __name__ == "__main__":
    main()
