#!/usr/bin/env python3
"""Writes the mel front-end fixture for tests/mel.rs.

    python make_mel_fixture.py            # numpy only; cross-checks against librosa when importable

mel_input.f32  little-endian float32 test signal (16 kHz): a chirp, two tones and seeded noise,
               8123 samples (an odd length, so the last frame is reflected padding).
mel_expected.f32  its power mel spectrogram, float32 [51 frames][40 bands], computed by the
               numpy re-implementation below of resemblyzer's
               librosa.feature.melspectrogram(y, sr=16000, n_fft=400, hop_length=160, n_mels=40)
               with center=True and reflect padding (librosa < 0.10 default, which resemblyzer used).
The fixture in the repository was generated with numpy 2.4 and checked against librosa 0.11
(pad_mode="reflect"): max relative difference below 1e-5.
"""
import os
import numpy as np

SR, N_FFT, HOP, N_MELS = 16000, 400, 160, 40


def hz_to_mel(f):
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters():
    fft_freqs = np.linspace(0, SR / 2, 1 + N_FFT // 2)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(SR / 2), N_MELS + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    w = np.zeros((N_MELS, len(fft_freqs)))
    for i in range(N_MELS):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        w[i] = np.maximum(0, np.minimum(lower, upper))
    w *= (2.0 / (mel_f[2:N_MELS + 2] - mel_f[:N_MELS]))[:, None]
    return w.astype(np.float32)


def melspectrogram(y):
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    padded = np.pad(y, N_FFT // 2, mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.stack([padded[t * HOP:t * HOP + N_FFT] for t in range(n_frames)])
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    return (power.astype(np.float32) @ mel_filters().T).astype(np.float32)


def signal():
    t = np.arange(8123) / SR
    rng = np.random.default_rng(20261124)
    y = 0.3 * np.sin(2 * np.pi * (200 * t + 3000 * t ** 2))
    y += 0.1 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * 5100 * t)
    y += 0.02 * rng.standard_normal(len(t))
    return y.astype(np.float32)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    y = signal()
    mel = melspectrogram(y)
    try:
        import librosa
        ref = librosa.feature.melspectrogram(y=y, sr=SR, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS, pad_mode="reflect").T
        rel = np.max(np.abs(ref - mel) / (np.abs(ref) + 1e-6 * np.max(ref)))
        assert rel < 1e-4, rel
        print("librosa %s agrees: max relative difference %.2e" % (librosa.__version__, rel))
    except ImportError:
        print("librosa not installed: numpy implementation only")
    y.astype("<f4").tofile(os.path.join(here, "mel_input.f32"))
    mel.astype("<f4").tofile(os.path.join(here, "mel_expected.f32"))
    print("frames", mel.shape[0], "max", float(mel.max()))


if __name__ == "__main__":
    main()
