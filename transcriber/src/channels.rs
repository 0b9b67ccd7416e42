//! Call recordings with one talker per channel: whether to recognise the channels one by one.
//!
//! Contact-centre recorders keep the agent on one channel and the customer on the other. Mixed
//! down, their overlapping speech is lost and two similar voices are hard to tell apart; kept
//! apart, each channel is one speaker and overlaps cost nothing. Other multichannel files (a
//! stereo copy of one mix, a room recorded by two microphones, one live channel among silent
//! ones) are mixed as before.
//!
//! The rule (`split_channels=auto`), measured on the first [`DECIDE_AFTER_S`] seconds (or the
//! whole file if it is shorter), in 20 ms frames:
//! - a frame is *solo* for channel `c` when `c` is the loudest channel, above
//!   [`ACTIVE_FLOOR`], and louder than every other channel by [`SOLO_MARGIN_DB`] or more;
//! - a channel is *live* when it has at least [`MIN_SOLO_S`] seconds of solo frames;
//! - the file is split when at least two channels are live and no two live channels are copies
//!   of one signal (their correlation over the frames where either is active is below
//!   [`MAX_CORRELATION`]). Each live channel is then recognised on its own, and silent channels
//!   are left out.
//!
//! `split_channels=true` splits every file with two or more channels that carry sound
//! (above [`ACTIVE_FLOOR`] for at least [`MIN_ACTIVE_S`] seconds); `false` always mixes.

use crds::SplitChannels;

use crate::mel::SAMPLE_RATE;

/// How much of the file the decision looks at, in seconds.
pub const DECIDE_AFTER_S: f64 = 120.0;
/// The frame of the level measurements: 20 ms at 16 kHz.
const FRAME: usize = 320;
/// Mean square below which a frame is silence (about -50 dBFS).
pub const ACTIVE_FLOOR: f32 = 1e-5;
/// How much louder than every other channel a solo frame's channel is, in dB.
pub const SOLO_MARGIN_DB: f32 = 15.0;
/// Solo time that makes a channel live, in seconds.
pub const MIN_SOLO_S: f64 = 1.0;
/// Sound time that makes a channel worth recognising when the split is forced, in seconds.
pub const MIN_ACTIVE_S: f64 = 0.2;
/// Correlation at or above which two channels carry one mix.
pub const MAX_CORRELATION: f64 = 0.5;
/// While another channel is this much louder (dB), a channel's frame is taken for the other
/// talker's echo or crosstalk and muted before recognition.
pub const CROSSTALK_MARGIN_DB: f32 = 20.0;

/// How a file's channels are recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Mixed down to one signal; speakers found by voice.
    Mix,
    /// These channels (indices, ascending) one by one; speaker `c` is channel `c`.
    Split(Vec<usize>),
}

fn db_ratio(db: f32) -> f32 {
    10f32.powf(db / 10.0)
}

/// Level statistics of the first seconds of a multichannel file.
#[derive(Debug, Clone)]
pub struct SplitDetector {
    channels: usize,
    /// Samples seen per channel.
    samples: usize,
    /// Partial frame carried between chunks, per channel.
    pending: Vec<Vec<f32>>,
    /// Solo frames per channel.
    solo_frames: Vec<usize>,
    /// Active frames per channel.
    active_frames: Vec<usize>,
    /// Over frames where any channel is active: Σ x_i·x_j, indexed `[i * channels + j]`.
    cross: Vec<f64>,
}

impl SplitDetector {
    /// A detector for `channels` channels.
    pub fn new(channels: usize) -> Self {
        Self {
            channels,
            samples: 0,
            pending: vec![Vec::new(); channels],
            solo_frames: vec![0; channels],
            active_frames: vec![0; channels],
            cross: vec![0.0; channels * channels],
        }
    }

    /// Seconds of audio measured so far.
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / SAMPLE_RATE as f64
    }

    /// Whether the decision has seen enough.
    pub fn has_enough(&self) -> bool {
        self.seconds() >= DECIDE_AFTER_S
    }

    /// Measures one chunk (one plane per channel, all the same length).
    pub fn push(&mut self, planes: &[Vec<f32>]) {
        for (pending, plane) in self.pending.iter_mut().zip(planes) {
            pending.extend_from_slice(plane);
        }
        self.samples += planes.first().map_or(0, Vec::len);
        let whole = self.pending[0].len() / FRAME * FRAME;
        for start in (0..whole).step_by(FRAME) {
            self.frame(start);
        }
        for pending in &mut self.pending {
            pending.drain(..whole);
        }
    }

    fn frame(&mut self, start: usize) {
        let n = self.channels;
        let frames: Vec<&[f32]> = self
            .pending
            .iter()
            .map(|p| &p[start..start + FRAME])
            .collect();
        let energy: Vec<f32> = frames
            .iter()
            .map(|f| f.iter().map(|x| x * x).sum::<f32>() / FRAME as f32)
            .collect();
        for (c, &e) in energy.iter().enumerate() {
            if e >= ACTIVE_FLOOR {
                self.active_frames[c] += 1;
            }
        }
        let (loudest, &top) = energy
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .expect("at least one channel");
        if top < ACTIVE_FLOOR {
            return;
        }
        let margin = db_ratio(SOLO_MARGIN_DB);
        if energy
            .iter()
            .enumerate()
            .all(|(c, &e)| c == loudest || e * margin <= top)
        {
            self.solo_frames[loudest] += 1;
        }
        for i in 0..n {
            for j in i..n {
                let dot: f64 = frames[i]
                    .iter()
                    .zip(frames[j])
                    .map(|(a, b)| f64::from(*a) * f64::from(*b))
                    .sum();
                self.cross[i * n + j] += dot;
            }
        }
    }

    fn correlation(&self, i: usize, j: usize) -> f64 {
        let n = self.channels;
        let (i, j) = (i.min(j), i.max(j));
        let denom = (self.cross[i * n + i] * self.cross[j * n + j]).sqrt();
        if denom <= 0.0 {
            return 0.0;
        }
        self.cross[i * n + j] / denom
    }

    /// The layout for `mode` from what was measured.
    pub fn decide(&self, mode: SplitChannels) -> Layout {
        let frames_for = |s: f64| (s * SAMPLE_RATE as f64 / FRAME as f64).ceil() as usize;
        let chosen: Vec<usize> = match mode {
            SplitChannels::False => return Layout::Mix,
            SplitChannels::True => (0..self.channels)
                .filter(|&c| self.active_frames[c] >= frames_for(MIN_ACTIVE_S))
                .collect(),
            SplitChannels::Auto => {
                let live: Vec<usize> = (0..self.channels)
                    .filter(|&c| self.solo_frames[c] >= frames_for(MIN_SOLO_S))
                    .collect();
                let copies = live.iter().enumerate().any(|(k, &i)| {
                    live[k + 1..]
                        .iter()
                        .any(|&j| self.correlation(i, j).abs() >= MAX_CORRELATION)
                });
                if copies {
                    return Layout::Mix;
                }
                live
            }
        };
        if chosen.len() >= 2 {
            Layout::Split(chosen)
        } else {
            Layout::Mix
        }
    }
}

/// Mutes, frame by frame, the parts of each chosen channel where another channel is
/// [`CROSSTALK_MARGIN_DB`] louder: what a channel carries then is the other talker's echo or
/// the line's crosstalk, which would otherwise be transcribed a second time under the wrong
/// speaker. Overlapping speech is kept: each talker is loud on their own channel. Returns one
/// plane per chosen channel.
pub fn isolate(planes: &[Vec<f32>], chosen: &[usize]) -> Vec<Vec<f32>> {
    let len = planes.first().map_or(0, Vec::len);
    let margin = db_ratio(CROSSTALK_MARGIN_DB);
    let mut out: Vec<Vec<f32>> = chosen.iter().map(|&c| planes[c].clone()).collect();
    for start in (0..len).step_by(FRAME) {
        let end = (start + FRAME).min(len);
        let energy: Vec<f32> = planes
            .iter()
            .map(|p| p[start..end].iter().map(|x| x * x).sum::<f32>() / (end - start) as f32)
            .collect();
        let top = energy.iter().copied().fold(0.0f32, f32::max);
        for (plane, &c) in out.iter_mut().zip(chosen) {
            if energy[c] * margin < top {
                plane[start..end].fill(0.0);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 200 Hz tone with the given amplitude in the given stretches (seconds), silence elsewhere.
    fn talker(seconds: f64, spans: &[(f64, f64)], amp: f32, hz: f32) -> Vec<f32> {
        let n = (seconds * SAMPLE_RATE as f64) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / SAMPLE_RATE as f64;
                if spans.iter().any(|&(a, b)| t >= a && t < b) {
                    amp * (2.0 * std::f32::consts::PI * hz * t as f32).sin()
                } else {
                    0.0
                }
            })
            .collect()
    }

    fn detect(planes: &[Vec<f32>], mode: SplitChannels) -> Layout {
        let mut d = SplitDetector::new(planes.len());
        // In uneven chunks, as a decoder delivers them.
        let len = planes[0].len();
        let mut at = 0;
        for step in [7_000, 16_000, 333].iter().cycle() {
            if at >= len {
                break;
            }
            let to = (at + step).min(len);
            let chunk: Vec<Vec<f32>> = planes.iter().map(|p| p[at..to].to_vec()).collect();
            d.push(&chunk);
            at = to;
        }
        d.decide(mode)
    }

    #[test]
    fn turn_taking_on_separate_channels_is_split() {
        let agent = talker(10.0, &[(0.0, 3.0), (6.0, 8.0)], 0.3, 210.0);
        let customer = talker(10.0, &[(3.5, 5.5), (7.5, 10.0)], 0.2, 170.0);
        assert_eq!(
            detect(&[agent, customer], SplitChannels::Auto),
            Layout::Split(vec![0, 1])
        );
    }

    #[test]
    fn one_mix_on_both_channels_and_one_live_channel_are_mixed() {
        let voice = talker(10.0, &[(0.0, 4.0), (5.0, 9.0)], 0.3, 200.0);
        let copy: Vec<f32> = voice.iter().map(|x| x * 0.5).collect();
        assert_eq!(
            detect(&[voice.clone(), copy], SplitChannels::Auto),
            Layout::Mix
        );
        let silent = vec![0.0; voice.len()];
        assert_eq!(
            detect(&[silent.clone(), voice.clone()], SplitChannels::Auto),
            Layout::Mix
        );
        // Forcing the split of one live channel has nothing to split.
        assert_eq!(detect(&[silent, voice], SplitChannels::True), Layout::Mix);
    }

    #[test]
    fn the_split_can_be_forced_either_way() {
        let voice = talker(10.0, &[(0.0, 9.0)], 0.3, 200.0);
        let copy = voice.clone();
        assert_eq!(
            detect(&[voice.clone(), copy], SplitChannels::True),
            Layout::Split(vec![0, 1])
        );
        let agent = talker(10.0, &[(0.0, 3.0)], 0.3, 210.0);
        let customer = talker(10.0, &[(4.0, 8.0)], 0.3, 170.0);
        assert_eq!(
            detect(&[agent, customer], SplitChannels::False),
            Layout::Mix
        );
    }

    #[test]
    fn silent_channels_of_a_split_file_are_left_out() {
        let a = talker(10.0, &[(0.0, 3.0)], 0.3, 210.0);
        let silent = vec![0.0; a.len()];
        let b = talker(10.0, &[(4.0, 8.0)], 0.3, 170.0);
        assert_eq!(
            detect(&[a, silent, b], SplitChannels::Auto),
            Layout::Split(vec![0, 2])
        );
    }

    #[test]
    fn crosstalk_is_muted_and_overlapping_speech_kept() {
        let agent = talker(4.0, &[(0.0, 2.0), (3.0, 4.0)], 0.3, 210.0);
        let customer_voice = talker(4.0, &[(2.0, 4.0)], 0.3, 170.0);
        // The agent's voice leaks into the customer's channel 30 dB down.
        let customer: Vec<f32> = customer_voice
            .iter()
            .zip(&agent)
            .map(|(c, a)| c + a * 0.03)
            .collect();
        let out = isolate(&[agent.clone(), customer], &[0, 1]);
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        let s = SAMPLE_RATE;
        assert_eq!(rms(&out[1][..2 * s - FRAME]), 0.0, "echo muted");
        assert!(rms(&out[1][3 * s..]) > 0.2, "overlap kept on channel 1");
        assert!(rms(&out[0][3 * s..]) > 0.2, "overlap kept on channel 0");
        assert_eq!(out[0], agent, "the louder talker is untouched");
    }
}
