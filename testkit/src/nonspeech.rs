//! Audio with no speech in it, as a contact centre's recordings have: silence, line hiss, loud
//! noise, rumble, keypad tones, call-progress tones, hold music and clicks. A recogniser must
//! write no words for any of them. The signals are generated (seeded, the same on every run),
//! so the set needs no files and can be as long as a test wants.

use std::f32::consts::PI;

/// The rate of every generated signal, in Hz.
pub const RATE: u32 = 16_000;

/// One non-speech recording: a name for messages and 16 kHz samples in [-1, 1].
#[derive(Debug, Clone)]
pub struct NonSpeech {
    /// What it is, e.g. `dtmf`.
    pub name: &'static str,
    /// The samples.
    pub samples: Vec<f32>,
}

fn tone(freqs: &[f32], seconds: f32, amp: f32) -> Vec<f32> {
    let n = (seconds * RATE as f32) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            amp * freqs.iter().map(|f| (2.0 * PI * f * t).sin()).sum::<f32>() / freqs.len() as f32
        })
        .collect()
}

fn silence(seconds: f32) -> Vec<f32> {
    vec![0.0; (seconds * RATE as f32) as usize]
}

fn noise(seconds: f32, amp: f32, seed: u64) -> Vec<f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..(seconds * RATE as f32) as usize)
        .map(|_| amp * (rng.f32() * 2.0 - 1.0))
        .collect()
}

/// Integrated white noise (a 1/f² spectrum: fans, traffic, wind), normalised to `amp` peak.
fn rumble(seconds: f32, amp: f32, seed: u64) -> Vec<f32> {
    let mut level = 0.0f32;
    let raw: Vec<f32> = noise(seconds, 1.0, seed)
        .into_iter()
        .map(|x| {
            level = 0.998 * level + 0.02 * x;
            level
        })
        .collect();
    let peak = raw.iter().fold(0.0f32, |m, x| m.max(x.abs())).max(1e-9);
    raw.into_iter().map(|x| amp * x / peak).collect()
}

/// The keypad's dual tones (ITU-T Q.23): a card number typed at an IVR.
fn dtmf(digits: &str) -> Vec<f32> {
    let mut out = Vec::new();
    for d in digits.chars() {
        let (row, col) = match d {
            '1' => (697.0, 1209.0),
            '2' => (697.0, 1336.0),
            '3' => (697.0, 1477.0),
            '4' => (770.0, 1209.0),
            '5' => (770.0, 1336.0),
            '6' => (770.0, 1477.0),
            '7' => (852.0, 1209.0),
            '8' => (852.0, 1336.0),
            '9' => (852.0, 1477.0),
            '*' => (941.0, 1209.0),
            '0' => (941.0, 1336.0),
            _ => (941.0, 1477.0),
        };
        out.extend(tone(&[row, col], 0.15, 0.5));
        out.extend(silence(0.1));
    }
    out
}

/// Tones that repeat: `on` seconds of `freqs`, `off` seconds of silence, `times` times.
fn cadence(freqs: &[f32], on: f32, off: f32, times: usize) -> Vec<f32> {
    (0..times)
        .flat_map(|_| tone(freqs, on, 0.4).into_iter().chain(silence(off)))
        .collect()
}

/// A plucked note: harmonics that decay, as a piano or guitar sounds.
fn note(freq: f32, seconds: f32, amp: f32) -> Vec<f32> {
    let n = (seconds * RATE as f32) as usize;
    (0..n)
        .map(|i| {
            let t = i as f32 / RATE as f32;
            let env = (-3.0 * t).exp() * (1.0 - (-200.0 * t).exp());
            let partials: f32 = (1..=6)
                .map(|k| (2.0 * PI * freq * k as f32 * t).sin() / k as f32)
                .sum();
            amp * env * partials / 2.45
        })
        .collect()
}

/// Hold music: a melody over a slow chord, looped, with the telephone's narrow band of a
/// played recording left as it is.
fn hold_music(seconds: f32) -> Vec<f32> {
    // A phrase in C major, in semitones above middle C and beats.
    let melody = [
        (0, 1.0),
        (4, 1.0),
        (7, 1.0),
        (12, 2.0),
        (11, 1.0),
        (7, 1.0),
        (9, 2.0),
    ];
    let beat = 0.35;
    let total = (seconds * RATE as f32) as usize;
    let mut out = vec![0.0f32; total];
    let mut at = 0usize;
    let semitone = |s: i32| 261.63 * 2f32.powf(s as f32 / 12.0);
    'outer: loop {
        for &(pitch, beats) in &melody {
            let len = beats * beat;
            let mut voices = note(semitone(pitch), len + 0.3, 0.3);
            // The chord's root an octave down, on every note.
            let bass = note(semitone(pitch % 12 - 12), len + 0.3, 0.2);
            for (v, b) in voices.iter_mut().zip(&bass) {
                *v += b;
            }
            for (k, v) in voices.into_iter().enumerate() {
                if at + k >= total {
                    break 'outer;
                }
                out[at + k] += v;
            }
            at += (len * RATE as f32) as usize;
        }
    }
    out
}

/// Keyboard typing and mouse clicks: short decaying bursts at uneven intervals.
fn clicks(seconds: f32, seed: u64) -> Vec<f32> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = silence(seconds);
    let mut at = 0usize;
    while at < out.len() {
        let burst = (0.004 * RATE as f32) as usize;
        for k in 0..burst.min(out.len() - at) {
            out[at + k] += 0.5 * (rng.f32() * 2.0 - 1.0) * (-(k as f32) / 15.0).exp();
        }
        at += rng.usize(1_200..6_000);
    }
    out
}

/// The set: every kind of non-speech, each about `seconds` long.
pub fn non_speech_set(seconds: f32) -> Vec<NonSpeech> {
    let repeat = |one: Vec<f32>| -> Vec<f32> {
        let want = (seconds * RATE as f32) as usize;
        one.iter()
            .copied()
            .cycle()
            .take(want.max(one.len()))
            .collect()
    };
    vec![
        NonSpeech {
            name: "digital silence",
            samples: silence(seconds),
        },
        NonSpeech {
            name: "line hiss (-55 dBFS)",
            samples: noise(seconds, 0.003, 1),
        },
        NonSpeech {
            name: "loud white noise",
            samples: noise(seconds, 0.3, 2),
        },
        NonSpeech {
            name: "rumble",
            samples: rumble(seconds, 0.3, 3),
        },
        NonSpeech {
            name: "dtmf",
            samples: repeat(dtmf("4111111111111111#")),
        },
        NonSpeech {
            name: "dial tone and ringback",
            samples: repeat(
                tone(&[350.0, 440.0], 2.0, 0.4)
                    .into_iter()
                    .chain(cadence(&[440.0, 480.0], 2.0, 4.0, 3))
                    .collect(),
            ),
        },
        NonSpeech {
            name: "busy signal",
            samples: repeat(cadence(&[480.0, 620.0], 0.5, 0.5, 4)),
        },
        NonSpeech {
            name: "hold music",
            samples: hold_music(seconds),
        },
        NonSpeech {
            name: "keyboard clicks",
            samples: clicks(seconds, 4),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_signal_is_long_enough_in_range_and_not_silent_but_the_first() {
        let set = non_speech_set(10.0);
        assert_eq!(set.len(), 9);
        for s in &set {
            assert!(s.samples.len() >= 10 * RATE as usize - 1, "{}", s.name);
            assert!(s.samples.iter().all(|x| x.abs() <= 1.0), "{}", s.name);
            let rms =
                (s.samples.iter().map(|x| x * x).sum::<f32>() / s.samples.len() as f32).sqrt();
            assert_eq!(
                rms == 0.0,
                s.name == "digital silence",
                "{}: rms {rms}",
                s.name
            );
        }
    }
}
