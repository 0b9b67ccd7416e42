#!/usr/bin/env python3
"""Build word-timing ground truth inside continuous speech with Festival.

    build.py OUT_DIR

Each paragraph of paragraphs.txt is synthesised by Festival as one utterance, in one of three
voices (round robin). Festival reports the start and end of every segment (phone) it rendered;
a word runs from the start of its first segment to the end of its last, and pauses ('pau'
segments) belong to no word. Writes

    OUT_DIR/broadband/NAME.flac         16 kHz mono FLAC, speech levelled to -20 dBFS, 0.3 s of
                                        non-speech before the first and after the last word
    OUT_DIR/broadband/NAME.words.json   {"audio", "voice", "text", "words": [{"word", "start", "end"}]}
    OUT_DIR/narrowband/NAME.wav         the same audio through a telephone channel (300-3400 Hz,
                                        8 kHz, mu-law round trip), 16-bit PCM WAV
    OUT_DIR/narrowband/NAME.words.json  the same times
    OUT_DIR/checks.txt                  the alignment checks below, per file and per voice

and checks, failing the build if any check fails, that the times line up with the samples
(details in README.md):
- the waveform is as long as Festival's segment timeline (HTS: exactly; diphone voices add the
  20-30 ms tail of their last pitch-synchronous window, inside the final pause);
- pauses are silent (30 dB or more under the speech level) and no word is;
- acoustic edges fall on the reference within a few tens of ms, per voice, in both bands:
  energy onsets after pauses and offsets before them, and inside continuous speech the fall
  from a vowel into a voiceless stop's closure and the fall of the zero-crossing rate from a
  sibilant into a vowel; the same measurements on a reference moved by 30 ms must see the move;
- the resampling and telephone filters have no delay (an impulse keeps its sample).

Standard library only, plus the `festival` and `sox` commands. Deterministic.
"""
import array
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
PARAGRAPHS = os.path.join(HERE, "paragraphs.txt")

# (short name used in file names, Festival voice function, description)
VOICES = [
    ("slt", "cmu_us_slt_arctic_hts", "US English female, HTS (festvox-us-slt-hts)"),
    ("kal", "kal_diphone", "US English male, diphone (festvox-kallpc16k)"),
    ("ked", "ked_diphone", "US English male, diphone (festvox-kdlpc16k)"),
]
RATE = 16000
NB_RATE = 8000
LEVEL_DBFS = -20.0      # RMS over the samples inside words
MAX_PEAK = 0.95         # of full scale: the gain is lowered if the level would clip
KEEP = 0.05             # seconds of Festival's own leading/trailing pause kept ...
PAD = 0.25              # ... plus this much digital silence: 0.3 s before/after speech
FADE = 0.005            # fade in/out over the kept pause, so the cuts make no click

SEG_SCHEME = r"""
(define (tg_dump utt path)
  (let ((fd (fopen path "w")) (info (wave.info (utt.wave utt))))
    (format fd "WAVE %d %d\n" (cadr (assoc 'num_samples info)) (cadr (assoc 'sample_rate info)))
    (mapcar (lambda (s) (format fd "S %s %f %f\n" (item.name s) (item.feat s "segment_start") (item.feat s "end")))
            (utt.relation.items utt 'Segment))
    (let ((tok (utt.relation.first utt 'Token)))
      (while tok
        (format fd "T %s\n" (item.name tok))
        (mapcar
         (lambda (w)
           (let ((ws (item.relation w 'SylStructure)))
             (if ws
                 (begin
                   (format fd "W %s\n" (item.name w))
                   (mapcar (lambda (syl)
                             (mapcar (lambda (seg)
                                       (format fd "P %s %f %f\n" (item.name seg)
                                               (item.feat seg "segment_start") (item.feat seg "end")))
                                     (item.daughters syl)))
                           (item.daughters ws))))))
         (item.daughters tok))
        (set! tok (item.next tok))))
    (fclose fd)))
(define (tg_synth text wavpath segpath)
  (let ((utt (utt.synth (eval (list (quote Utterance) (quote Text) text)))))
    (utt.save.wave utt wavpath 'riff)
    (tg_dump utt segpath)))
"""


def dump_words_json(doc):
    """JSON with one word per line."""
    head = {k: v for k, v in doc.items() if k != "words"}
    lines = [json.dumps(head)[:-1] + ', "words": [']
    lines += ["  " + json.dumps(w) + ("," if i + 1 < len(doc["words"]) else "")
              for i, w in enumerate(doc["words"])]
    return "\n".join(lines) + "\n]}\n"


def run(cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def sox(*args):
    # -D: no dither, so the output is a deterministic function of the input
    run(["sox", "-D", "-V1", *args])


def normalise(word):
    """The service's house style: lowercase, no punctuation but apostrophes."""
    word = word.lower().replace("\u2019", "'")
    word = re.sub(r"[^a-z0-9' ]+", " ", word)
    return " ".join(w.strip("'") for w in word.split() if w.strip("'"))


def read_paragraphs():
    out = []
    for line in open(PARAGRAPHS, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.search(r'[0-9"\\\-]', line):
            sys.exit(f"paragraphs.txt: digits, quotes, backslashes and hyphens are not allowed: {line}")
        out.append(line)
    return out


def read_wav(path):
    with wave.open(path) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2, path
        rate = w.getframerate()
        data = array.array("h", w.readframes(w.getnframes()))
    if sys.byteorder == "big":
        data.byteswap()
    return rate, data


def write_wav(path, rate, data):
    data = array.array("h", data)
    if sys.byteorder == "big":
        data.byteswap()
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def parse_segs(path):
    """Festival's dump: the waveform size, the Segment relation, and tokens -> words -> segments."""
    wave_info, segs, tokens = None, [], []
    for line in open(path, encoding="utf-8"):
        kind, rest = line[0], line[2:].rstrip("\n")
        if line.startswith("WAVE "):
            n, rate = line.split()[1:]
            wave_info = (int(n), int(rate))
        elif kind == "S":
            name, start, end = rest.split()
            segs.append((name, float(start), float(end)))
        elif kind == "T":
            tokens.append({"token": rest, "words": [], "phones": []})
        elif kind == "W":
            tokens[-1]["words"].append(rest)
        elif kind == "P":
            name, start, end = rest.split()
            tokens[-1]["phones"].append((name, float(start), float(end)))
    return wave_info, segs, tokens


def synthesise(paragraphs, work):
    """One Festival process per voice; returns [(name, voice, text, wav, segs)] in paragraph order."""
    jobs = []
    per_voice = {v[0]: [] for v in VOICES}
    for i, text in enumerate(paragraphs):
        short, func, _ = VOICES[i % len(VOICES)]
        name = f"p{i + 1:02d}_{short}"
        job = (name, short, text, os.path.join(work, name + ".festival.wav"),
               os.path.join(work, name + ".segs"))
        jobs.append(job)
        per_voice[short].append(job)
    for short, func, _ in VOICES:
        script = [SEG_SCHEME, f"(voice_{func})"]
        for name, _, text, wav, segs in per_voice[short]:
            script.append(f'(tg_synth "{text}" "{wav}" "{segs}")')
        path = os.path.join(work, f"synth_{short}.scm")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(script) + "\n")
        run(["festival", "--batch", path])
    return jobs


# ---------------------------------------------------------------- ground truth from Festival

def words_of(name, text, segs, tokens):
    """Reference words with Festival times; checks that they are exactly the written words.

    A word starts where its first segment (in the SylStructure relation) starts. It ends where
    the last non-pause segment before the next word or pause ends: post-lexical rules may insert
    a segment into the Segment relation that no syllable holds (e.g. ked_diphone's 'r' after
    'er'), and it belongs to the word it follows."""
    written = normalise(text).split()
    # the Segment relation is one contiguous timeline from 0
    assert abs(segs[0][1]) < 1e-6, name
    for a, b in zip(segs, segs[1:]):
        assert abs(a[2] - b[1]) < 1e-5, (name, a, b)
    index = {round(s[1], 5): i for i, s in enumerate(segs)}
    words = []
    for tok in tokens:
        spoken = normalise(tok["token"])
        if not spoken:
            assert not tok["phones"], (name, tok)    # punctuation only
            continue
        assert tok["phones"], f"{name}: token {tok['token']!r} has no segments"
        assert len(spoken.split()) == 1, f"{name}: token {tok['token']!r} is several words"
        first = index[round(tok["phones"][0][1], 5)]
        last = index[round(tok["phones"][-1][1], 5)]
        assert segs[first][:2] == tok["phones"][0][:2] and segs[last][:2] == tok["phones"][-1][:2]
        words.append({"word": spoken, "first": first, "last": last})
    got = [w["word"] for w in words]
    assert got == written, f"{name}: Festival's words differ from the text:\n{got}\n{written}"
    owner = [None] * len(segs)
    for k, w in enumerate(words):
        nxt = words[k + 1]["first"] if k + 1 < len(words) else len(segs)
        assert w["first"] <= w["last"] < nxt, (name, w)
        j = w["last"]
        while j + 1 < nxt and segs[j + 1][0] != "pau":
            j += 1                                  # a segment no syllable holds
        for i in range(w["first"], j + 1):
            assert segs[i][0] != "pau" and owner[i] is None, (name, w, segs[i])
            owner[i] = k
        w["start"], w["end"] = segs[w["first"]][1], segs[j][2]
        w["phones"] = [s[0] for s in segs[w["first"]:j + 1]]
    orphans = [s for s, o in zip(segs, owner) if o is None and s[0] != "pau"]
    assert not orphans, (name, orphans)
    return words


# ---------------------------------------------------------------- signal measurements

class Frames:
    """Short-time measurements of a 16-bit signal via prefix sums (pure Python, O(n))."""

    def __init__(self, rate, data):
        self.rate, self.n = rate, len(data)
        e, z = [0.0], [0]
        se, sz, prev = 0.0, 0, 0
        for x in data:
            se += x * x
            if (x >= 0) != (prev >= 0):
                sz += 1
            prev = x
            e.append(se)
            z.append(sz)
        self.e, self.z = e, z

    def _span(self, t0, t1):
        a = max(0, min(self.n, int(round(t0 * self.rate))))
        b = max(0, min(self.n, int(round(t1 * self.rate))))
        return a, b

    def rms_db(self, t0, t1):
        """RMS in dB re full scale over [t0, t1)."""
        a, b = self._span(t0, t1)
        if b <= a:
            return -200.0
        p = (self.e[b] - self.e[a]) / (b - a) / 32768.0 ** 2
        return 10 * math.log10(p) if p > 0 else -200.0

    def zcr(self, t0, t1):
        a, b = self._span(t0, t1)
        return (self.z[b] - self.z[a]) / max(1, b - a)


def percentile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def pauses_of(words, duration):
    """Gaps between words (and before the first / after the last), as (start, end)."""
    out, prev = [], 0.0
    for w in words:
        if w["start"] - prev > 1e-6:
            out.append((prev, w["start"]))
        prev = w["end"]
    if duration - prev > 1e-6:
        out.append((prev, duration))
    return out


SIBILANTS = {"s", "z", "sh", "zh"}
VOWELS = {"aa", "ae", "ah", "ao", "aw", "ax", "ay", "eh", "er", "ey", "ih", "iy", "ow", "oy",
          "uh", "uw"}
SONORANTS = VOWELS | {"m", "n", "ng", "l", "r", "w", "y"}
VOICELESS_STOPS = {"p", "t", "k"}
# what check_file measures: (label, the most its median may be off, in seconds). Phrase-final
# offsets are loose: diphone voices fade out over the last 20-40 ms of a phrase-final segment.
KINDS = {
    "onset": ("onset after pause", 0.020),
    "offset": ("offset before pause", 0.035),
    "vstop": ("vowel>stop closure", 0.025),
    "sv": ("sibilant>vowel zcr", 0.015),
}
CONTROL = 0.030     # the checks rerun on a timeline shifted by this much must see the shift


def check_file(frames, words, segs, duration, speech_db, zcr=True):
    """Where the audio's acoustic events fall against the reference timeline, in seconds
    (positive: the audio is later than the reference).

    An energy edge is located, within 50-60 ms of the reference boundary, where the short-time
    level (10 ms window, 0.5 ms steps) crosses the midpoint in dB between the loudest and the
    quietest level of that window: unbiased for a transition that is symmetric in dB, and
    independent of where the reference puts it. Measured: onsets of words that begin with a
    sonorant after a pause of 100 ms or more; offsets of words that end with a sonorant or
    sibilant before one; inside continuous speech, the fall from a vowel into the silent closure
    of a voiceless stop (energy), and the fall of the zero-crossing rate from a sibilant into
    the vowel after it."""
    W = 0.010
    step = 0.0005

    def edge(t0, t1, rising, peak_until=None):
        ts = [t0 + i * step for i in range(int((t1 - t0) / step) + 1)]
        ls = [frames.rms_db(t - W / 2, t + W / 2) for t in ts]
        last = len(ts) if peak_until is None else int((peak_until - t0) / step) + 1
        top = max(range(last), key=lambda i: ls[i])
        hi = ls[top]
        thr = (hi + max(hi - 60, min(ls))) / 2
        if rising:
            j = top
            while j > 0 and ls[j] >= thr:
                j -= 1
            if ls[j] >= thr:
                return None
            k = j + 1                   # ls[j] < thr <= ls[k]: interpolate
        else:
            j = top
            while j < len(ls) - 1 and ls[j] >= thr:
                j += 1
            if ls[j] >= thr:
                return None
            k = j - 1
        f = (thr - ls[j]) / (ls[k] - ls[j])
        return ts[j] + (ts[k] - ts[j]) * f

    r = {"onset": [], "offset": [], "vstop": [], "sv": []}
    pauses = pauses_of(words, duration)
    pause_db = [frames.rms_db(a + 0.025, b - 0.025) - speech_db for a, b in pauses if b - a >= 0.1]
    r["pause_db_max"] = max(pause_db) if pause_db else float("nan")
    r["n_pauses"] = len(pause_db)
    r["word_db_min"] = min(frames.rms_db(w["start"], w["end"]) - speech_db for w in words)
    starts = {round(w["start"], 6) for w in words}
    ends = {round(w["end"], 6) for w in words}

    def add(key, t, ref):
        if t is not None:
            r[key].append(t - ref)

    for k in range(1, len(segs) - 1):
        prev, seg, nxt = segs[k - 1], segs[k], segs[k + 1]
        name, a, b = seg
        if name == "pau" or b - a < 0.03:
            continue
        if (prev[0] == "pau" and a - prev[1] >= 0.1 and name in SONORANTS
                and round(a, 6) in starts):
            add("onset", edge(a - 0.06, a + 0.06, True), a)
        if (nxt[0] == "pau" and nxt[2] - b >= 0.1 and name in SONORANTS | SIBILANTS
                and round(b, 6) in ends):
            add("offset", edge(b - 0.06, b + 0.06, False), b)
        if (name in VOWELS and nxt[0] in VOICELESS_STOPS and b - a >= 0.05
                and nxt[2] - b >= 0.05):
            add("vstop", edge(b - 0.05, b + 0.05, False, peak_until=b + 0.01), b)
        if zcr and name in SIBILANTS and nxt[0] in VOWELS and b - a >= 0.05 and nxt[2] - b >= 0.05:
            za = frames.zcr(a + (b - a) * 0.3, b - (b - a) * 0.3)
            zb = frames.zcr(b + (nxt[2] - b) * 0.3, nxt[2] - (nxt[2] - b) * 0.3)
            if za > 2 * zb:
                thr, t = (za + zb) / 2, a + (b - a) / 2
                while t < nxt[2] and frames.zcr(t - 0.004, t + 0.004) > thr:
                    t += step
                r["sv"].append(t - b)
    return r


def impulse_delay(chain, rate_in, rate_out, work):
    """Where an impulse at 0.5 s comes out of a sox chain (seconds after 0.5 s)."""
    src = os.path.join(work, "impulse.wav")
    dst = os.path.join(work, "impulse.out.wav")
    data = [0] * rate_in
    data[rate_in // 2] = 20000
    write_wav(src, rate_in, data)
    chain(src, dst)
    rate, out = read_wav(dst)
    assert rate == rate_out
    peak = max(range(len(out)), key=lambda i: abs(out[i]))
    return peak / rate - 0.5


def to_16k(src, dst):
    sox(src, "-r", str(RATE), dst)


def telephone(src, dst):
    """Band-limit 300-3400 Hz, 8 kHz, mu-law round trip, 16-bit PCM."""
    mid = dst + ".bl.wav"
    ulaw = dst + ".ulaw.wav"
    sox(src, "-b", "16", "-e", "signed-integer", mid, "sinc", "300-3400", "rate", str(NB_RATE))
    sox(mid, "-e", "u-law", "-b", "8", ulaw)
    sox(ulaw, "-e", "signed-integer", "-b", "16", dst)
    os.remove(mid)
    os.remove(ulaw)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.abspath(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    paragraphs = read_paragraphs()
    if re.search(r'["\\]', out):
        sys.exit(f"{out}: the path may not contain quotes or backslashes (Festival reads it)")
    work = tempfile.mkdtemp(prefix="timing-", dir=out)
    stage = {b: os.path.join(work, b) for b in ("broadband", "narrowband")}
    for d in stage.values():
        os.makedirs(d)
    report = []

    def say(line=""):
        print(line)
        report.append(line)

    # the filters keep the time base: an impulse stays on its sample
    d16 = impulse_delay(to_16k, 32000, RATE, work)
    dnb = impulse_delay(telephone, RATE, NB_RATE, work)
    say(f"impulse delay: 32 kHz -> 16 kHz {d16 * 1000:+.3f} ms; telephone channel {dnb * 1000:+.3f} ms")
    assert abs(d16) <= 1 / RATE and abs(dnb) <= 1 / NB_RATE, (d16, dnb)

    jobs = synthesise(paragraphs, work)
    per_voice = {}
    totals = {"broadband": 0.0, "narrowband": 0.0}
    failures = []
    for name, short, text, fwav, fsegs in jobs:
        (nsamp, frate), segs, tokens = parse_segs(fsegs)
        words = words_of(name, text, segs, tokens)
        rate, data = read_wav(fwav)
        assert rate == frate and len(data) == nsamp, name
        # the waveform ends where the segment timeline ends (HTS: to the sample; diphone voices
        # add the 20-30 ms tail of their last pitch-synchronous window, inside the final pause)
        tail = len(data) / rate - segs[-1][2]
        if rate != RATE:
            wav16 = fwav + ".16k.wav"
            to_16k(fwav, wav16)
            rate, data = read_wav(wav16)
        # cut Festival's own leading/trailing pause down to KEEP, pad with PAD of silence
        first, last = words[0]["start"], words[-1]["end"]
        lead, trail = min(KEEP, first), min(KEEP, segs[-1][2] - last)
        a, b = int(round((first - lead) * RATE)), int(round((last + trail) * RATE))
        cut = data[a:b]
        lead_pad = int(round((KEEP + PAD - lead) * RATE))
        trail_pad = int(round((KEEP + PAD - trail) * RATE))
        shift = lead_pad / RATE - a / RATE
        # level: RMS over the samples inside words
        sq = n = 0
        for w in words:
            for x in data[int(round(w["start"] * RATE)):int(round(w["end"] * RATE))]:
                sq += x * x
                n += 1
        speech = math.sqrt(sq / n) / 32768
        gain = 10 ** (LEVEL_DBFS / 20) / speech
        peak = max(abs(x) for x in cut) / 32768
        gain = min(gain, MAX_PEAK / peak)
        nf = int(FADE * RATE)
        scaled = []
        for i, x in enumerate(cut):
            g = gain * min(1.0, i / nf, (len(cut) - 1 - i) / nf)
            scaled.append(max(-32768, min(32767, int(round(x * g)))))
        final = [0] * lead_pad + scaled + [0] * trail_pad
        duration = len(final) / RATE
        out_words = [{"word": w["word"], "start": round(w["start"] + shift, 3),
                      "end": round(w["end"] + shift, 3)} for w in words]
        spans = [(w["start"] + shift, w["end"] + shift) for w in words]
        phone_spans = [(s[0], s[1] + shift, s[2] + shift) for s in segs
                       if s[2] + shift > 0 and s[1] + shift < duration]
        bb_wav = os.path.join(work, name + ".bb.wav")
        write_wav(bb_wav, RATE, final)
        sox(bb_wav, os.path.join(stage["broadband"], name + ".flac"))
        nb_wav = os.path.join(stage["narrowband"], name + ".wav")
        telephone(bb_wav, nb_wav)

        swords = [{"word": w["word"], "start": s, "end": e} for w, (s, e) in zip(words, spans)]
        fb = Frames(RATE, final)
        speech_db = 20 * math.log10(speech * gain)
        rb = check_file(fb, swords, phone_spans, duration, speech_db)
        nrate, ndata = read_wav(nb_wav)
        assert nrate == NB_RATE and abs(len(ndata) / NB_RATE - duration) < 1e-3, name
        fn = Frames(NB_RATE, ndata)
        ndb = 10 * math.log10(sum(10 ** (fn.rms_db(s, e) / 10) * (e - s) for s, e in spans)
                              / sum(e - s for s, e in spans))
        rn = check_file(fn, swords, phone_spans, duration, ndb, zcr=False)
        totals["broadband"] += duration
        totals["narrowband"] += len(ndata) / NB_RATE

        for band, ext in (("broadband", ".flac"), ("narrowband", ".wav")):
            doc = {"audio": name + ext, "voice": short, "text": " ".join(w["word"] for w in words),
                   "source_text": text, "duration": round(duration, 3),
                   "engine": "festival " + dict((v[0], v[1]) for v in VOICES)[short],
                   "words": out_words}
            with open(os.path.join(stage[band], name + ".words.json"), "w") as f:
                f.write(dump_words_json(doc))

        v = per_voice.setdefault(short, {"files": 0, "seconds": 0.0, "words": 0, "tail": [],
                                         "broadband": {}, "narrowband": {}, "early": {},
                                         "late": {}})
        for sign, key in ((-1, "early"), (1, "late")):
            d = sign * CONTROL      # the reference moved later: the audio seems earlier
            moved = check_file(fb, [dict(w, start=w["start"] + d, end=w["end"] + d) for w in swords],
                               [(p, a + d, b + d) for p, a, b in phone_spans], duration, speech_db)
            for k in KINDS:
                v[key].setdefault(k, []).extend(moved[k])
        for band, res in (("broadband", rb), ("narrowband", rn)):
            for key in KINDS:
                v[band].setdefault(key, []).extend(res[key])
        v["files"] += 1
        v["seconds"] += duration
        v["words"] += len(words)
        v["tail"].append(tail)
        med = lambda xs: f"{percentile(xs, .5) * 1000:+4.0f}" if xs else "   -"  # noqa: E731
        say(f"{name}  {duration:5.2f} s  {len(words):3} words  wave-timeline {tail * 1000:+5.1f} ms  "
            f"level {speech_db:+.1f} dBFS (gain {20 * math.log10(gain):+.1f} dB)  "
            f"{rb['n_pauses']:2} pauses <= {rb['pause_db_max']:+.0f}/{rn['pause_db_max']:+.0f} dB, "
            f"words >= {rb['word_db_min']:+.0f}/{rn['word_db_min']:+.0f} dB  median ms: "
            f"onset {med(rb['onset'])} offset {med(rb['offset'])} "
            f"vowel>stop {med(rb['vstop'])} sibilant>vowel {med(rb['sv'])}")
        problems = []
        if not -0.0005 <= tail <= 0.035:
            problems.append(f"waveform ends {tail * 1000:+.1f} ms from the last segment")
        if rb["pause_db_max"] > -30 or rn["pause_db_max"] > -30:
            problems.append("a pause is not silent")
        if rb["word_db_min"] < -25 or rn["word_db_min"] < -30:
            problems.append("a word is silent")
        if problems:
            failures.append(f"{name}: " + "; ".join(problems))

    say()
    say("acoustic events against the reference timeline, per voice (audio minus reference, ms;")
    say("median [10th, 90th percentile]); each median must be within the limit in brackets:")
    for short, _, desc in VOICES:
        v = per_voice[short]
        for band in ("broadband", "narrowband"):
            parts = []
            for key in KINDS:
                xs = v[band][key]
                if not xs:
                    continue
                m = percentile(xs, .5)
                parts.append(f"{KINDS[key][0]} n={len(xs)} {m * 1000:+.1f} "
                             f"[{percentile(xs, .1) * 1000:+.0f}, {percentile(xs, .9) * 1000:+.0f}] "
                             f"(+-{KINDS[key][1] * 1000:.0f})")
                if abs(m) > KINDS[key][1]:
                    failures.append(f"{short} {band}: {KINDS[key][0]} median {m * 1000:+.1f} ms")
            on, off = percentile(v[band]["onset"], .5), percentile(v[band]["offset"], .5)
            parts.append(f"shift (onset+offset)/2 {(on + off) / 2 * 1000:+.1f} (+-15)")
            if abs(on + off) / 2 > 0.015:
                failures.append(f"{short} {band}: the timeline is shifted {(on + off) / 2 * 1000:+.1f} ms")
            say(f"  {short} {band:10} " + "; ".join(parts))
    say(f"control: the same broadband checks on the reference moved {CONTROL * 1000:.0f} ms earlier / later")
    say("must move by at least two thirds of that (medians, ms):")
    for short, _, desc in VOICES:
        v = per_voice[short]
        parts = []
        for k in KINDS:
            e, m, l = (percentile(v[key][k], .5) for key in ("early", "broadband", "late"))
            parts.append(f"{KINDS[k][0]} {e * 1000:+.0f} / {m * 1000:+.0f} / {l * 1000:+.0f}")
            if not (e - m > CONTROL * 2 / 3 and m - l > CONTROL * 2 / 3) and k != "offset":
                failures.append(f"{short}: {KINDS[k][0]} does not follow a shifted reference")
        say(f"  {short}  " + "; ".join(parts))
    say()
    for short, _, desc in VOICES:
        v = per_voice[short]
        say(f"voice {short} ({desc}): {v['files']} files, {v['words']} words, {v['seconds']:.1f} s")
    say(f"total: {len(jobs)} files, {sum(v['words'] for v in per_voice.values())} words; "
        f"broadband {totals['broadband'] / 60:.2f} min, narrowband {totals['narrowband'] / 60:.2f} min")
    if failures:
        say("FAILED checks:")
        for f in failures:
            say("  " + f)
    with open(os.path.join(work, "checks.txt"), "w") as f:
        f.write("\n".join(report) + "\n")
    if failures:
        sys.exit(f"alignment checks failed; work files kept in {work}")

    # replace the previous outputs only once everything passed
    for band, d in stage.items():
        dst = os.path.join(out, band)
        if os.path.isdir(dst):
            shutil.rmtree(dst)
        os.rename(d, dst)
    os.replace(os.path.join(work, "checks.txt"), os.path.join(out, "checks.txt"))
    shutil.rmtree(work)
    digest = hashlib.sha256()
    for band in ("broadband", "narrowband"):
        for fn in sorted(os.listdir(os.path.join(out, band))):
            with open(os.path.join(out, band, fn), "rb") as f:
                digest.update(fn.encode() + b"\0" + f.read())
    print(f"wrote {out}/broadband and {out}/narrowband; content sha256 {digest.hexdigest()[:16]}")


if __name__ == "__main__":
    main()
