//! Diarization error rate: how much of the reference speech is attributed to the wrong
//! speaker, to no speaker, or to a speaker where nobody spoke.
//!
//! The definitions are the development set's: time is cut into 10 ms frames with no collar
//! around turn boundaries; each reference speaker is paired with at most one hypothesis
//! speaker so that the time they share is as large as possible; then, frame by frame, missed
//! speech is reference speakers beyond the hypothesis's count, false alarm is hypothesis
//! speakers beyond the reference's, and confusion is the remaining reference speakers whose
//! partner is not among the hypothesis speakers. The rate is their sum over reference speech.

use std::collections::BTreeMap;
use std::ops::{Add, AddAssign};
use std::path::Path;

use serde_json::Value;

/// Frame length in seconds.
const STEP: f64 = 0.01;

/// How far apart two words of one speaker may be and still be one speaker segment, in seconds.
/// Word labels leave gaps between words; joining across short pauses scores a speaker's
/// turn as the turn, not as the words' exact extents.
pub const WORD_LABEL_GAP_S: f64 = 1.0;

/// One speaker speaking from `start` to `end` (seconds).
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// Who: a reference letter ("A") or a hypothesis speaker number ("0").
    pub speaker: String,
    /// Start, in seconds from the start of the recording.
    pub start: f64,
    /// End, in seconds from the start of the recording.
    pub end: f64,
}

/// A conversation's reference, read from its `NAME.ref.json`.
#[derive(Debug, Clone)]
pub struct Conversation {
    /// `NAME`, the file name without `.ref.json`.
    pub name: String,
    /// The audio file's name, in the same folder.
    pub audio: String,
    /// How many people speak.
    pub speakers: usize,
    /// Who speaks when, in time order.
    pub turns: Vec<Turn>,
    /// Speaker letter → description of the voice; the same voice recurs across conversations
    /// under different letters.
    pub voices: Vec<(String, String)>,
}

/// Reads every `*.ref.json` of `dir`, sorted by name. Panics, naming the file, on one that is
/// missing a field.
pub fn read_conversations(dir: &Path) -> Vec<Conversation> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".ref.json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let what = path.display();
            let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{what}: {e}"));
            let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
            let field = |t: &Value, name: &str| -> Value {
                t.get(name)
                    .cloned()
                    .unwrap_or_else(|| panic!("{what}: no {name:?}"))
            };
            let turns: Vec<Turn> = field(&v, "turns")
                .as_array()
                .unwrap_or_else(|| panic!("{what}: turns is not a list"))
                .iter()
                .map(|t| Turn {
                    speaker: field(t, "speaker").as_str().expect("speaker").to_owned(),
                    start: field(t, "start").as_f64().expect("start"),
                    end: field(t, "end").as_f64().expect("end"),
                })
                .collect();
            let voices = v["voices"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, d)| (k.clone(), d.as_str().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            let name = path.file_name().unwrap().to_string_lossy();
            Conversation {
                name: name.trim_end_matches(".ref.json").to_owned(),
                audio: field(&v, "audio").as_str().expect("audio").to_owned(),
                speakers: field(&v, "speakers").as_u64().expect("speakers") as usize,
                turns,
                voices,
            }
        })
        .collect()
}

/// Per-word speaker labels as speaker segments: in time order, consecutive labels of the same
/// speaker are joined when the pause between them is at most `gap` seconds; labels of no
/// length are dropped.
pub fn join_word_labels(labels: &[Turn], gap: f64) -> Vec<Turn> {
    let mut sorted: Vec<&Turn> = labels.iter().filter(|l| l.end > l.start).collect();
    sorted.sort_by(|a, b| {
        a.start
            .total_cmp(&b.start)
            .then(a.end.total_cmp(&b.end))
            .then_with(|| a.speaker.cmp(&b.speaker))
    });
    let mut segments: Vec<Turn> = Vec::new();
    for l in sorted {
        match segments.last_mut() {
            Some(last) if last.speaker == l.speaker && l.start - last.end <= gap => {
                last.end = last.end.max(l.end);
            }
            _ => segments.push(l.clone()),
        }
    }
    segments
}

/// How many different speakers `turns` have.
pub fn speaker_count(turns: &[Turn]) -> usize {
    let mut names: Vec<&str> = turns.iter().map(|t| t.speaker.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}

/// The parts of a diarization error, in seconds. Add them up over conversations for the
/// error rate of a set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DiarizationErrors {
    /// Reference speech with fewer hypothesis speakers than reference speakers.
    pub missed: f64,
    /// Hypothesis speech beyond the reference's speakers (including where nobody spoke).
    pub false_alarm: f64,
    /// Reference speech given to a speaker other than the reference speaker's partner.
    pub confusion: f64,
    /// Reference speech, counted once per speaker (two people at once count twice).
    pub speech: f64,
}

impl DiarizationErrors {
    /// The diarization error rate: all errors over reference speech.
    pub fn rate(&self) -> f64 {
        (self.missed + self.false_alarm + self.confusion) / self.speech.max(1e-9)
    }
}

impl Add for DiarizationErrors {
    type Output = DiarizationErrors;

    fn add(self, other: DiarizationErrors) -> DiarizationErrors {
        DiarizationErrors {
            missed: self.missed + other.missed,
            false_alarm: self.false_alarm + other.false_alarm,
            confusion: self.confusion + other.confusion,
            speech: self.speech + other.speech,
        }
    }
}

impl AddAssign for DiarizationErrors {
    fn add_assign(&mut self, other: DiarizationErrors) {
        *self = *self + other;
    }
}

/// Which speakers are active in each frame: one bit per speaker, `words` u64s per frame.
struct Activity {
    words: usize,
    bits: Vec<u64>,
}

impl Activity {
    fn new(turns: &[Turn], frames: usize) -> (Activity, usize) {
        let index: BTreeMap<&str, usize> = {
            let mut names: Vec<&str> = turns.iter().map(|t| t.speaker.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names.into_iter().enumerate().map(|(k, s)| (s, k)).collect()
        };
        let words = index.len().div_ceil(64).max(1);
        let mut bits = vec![0u64; frames * words];
        for t in turns {
            let k = index[t.speaker.as_str()];
            for f in frame(t.start)..frame(t.end).min(frames) {
                bits[f * words + k / 64] |= 1 << (k % 64);
            }
        }
        (Activity { words, bits }, index.len())
    }

    fn speakers(&self, frame: usize) -> impl Iterator<Item = usize> + '_ {
        self.bits[frame * self.words..(frame + 1) * self.words]
            .iter()
            .enumerate()
            .flat_map(|(w, &word)| {
                (0..64)
                    .filter(move |b| word >> b & 1 == 1)
                    .map(move |b| w * 64 + b)
            })
    }
}

/// The frame a time falls in, rounding to the nearest frame boundary (halves to even, as the
/// development set's scorer does).
fn frame(t: f64) -> usize {
    (t / STEP).round_ties_even().max(0.0) as usize
}

/// The diarization errors of `hypothesis` segments against `reference` turns (see the module
/// documentation for the definitions). Use [`join_word_labels`] first on per-word labels.
pub fn diarization_errors(reference: &[Turn], hypothesis: &[Turn]) -> DiarizationErrors {
    let end = reference
        .iter()
        .chain(hypothesis)
        .map(|t| t.end)
        .fold(0.0, f64::max);
    let frames = (end / STEP) as usize + 2;
    let (r, nr) = Activity::new(reference, frames);
    let (h, nh) = Activity::new(hypothesis, frames);

    let mut overlap = vec![vec![0i64; nh]; nr];
    for f in 0..frames {
        for a in r.speakers(f) {
            for b in h.speakers(f) {
                overlap[a][b] += 1;
            }
        }
    }
    let mut partner: Vec<Option<usize>> = vec![None; nr];
    for (a, b) in max_weight_assignment(&overlap) {
        partner[a] = Some(b);
    }

    let (mut missed, mut false_alarm, mut confusion, mut speech) = (0usize, 0usize, 0usize, 0usize);
    for f in 0..frames {
        let in_h: Vec<usize> = h.speakers(f).collect();
        let (mut n_ref, mut correct) = (0usize, 0usize);
        for a in r.speakers(f) {
            n_ref += 1;
            correct += usize::from(partner[a].is_some_and(|b| in_h.contains(&b)));
        }
        let n_hyp = in_h.len();
        speech += n_ref;
        missed += n_ref.saturating_sub(n_hyp);
        false_alarm += n_hyp.saturating_sub(n_ref);
        confusion += n_ref.min(n_hyp) - correct;
    }
    let seconds = |frames: usize| frames as f64 * STEP;
    DiarizationErrors {
        missed: seconds(missed),
        false_alarm: seconds(false_alarm),
        confusion: seconds(confusion),
        speech: seconds(speech),
    }
}

/// Pairs rows with columns, each at most once, so that the paired weights sum to the most
/// possible (the Hungarian method with potentials, on the matrix padded square with zeros).
fn max_weight_assignment(weights: &[Vec<i64>]) -> Vec<(usize, usize)> {
    let rows = weights.len();
    let cols = weights.first().map_or(0, Vec::len);
    let n = rows.max(cols);
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    // Minimising the negated weights maximises the weights.
    let cost = |i: usize, j: usize| {
        if i < rows && j < cols {
            -weights[i][j]
        } else {
            0
        }
    };
    const INF: i64 = i64::MAX / 4;
    // 1-based, index 0 a sentinel: u row potentials, v column potentials, owner[j] the row
    // assigned to column j, via[j] the previous column on the augmenting path.
    let (mut u, mut v) = (vec![0i64; n + 1], vec![0i64; n + 1]);
    let mut owner = vec![0usize; n + 1];
    let mut via = vec![0usize; n + 1];
    for row in 1..=n {
        owner[0] = row;
        let mut col = 0;
        let mut slack = vec![INF; n + 1];
        let mut done = vec![false; n + 1];
        loop {
            done[col] = true;
            let i = owner[col];
            let (mut delta, mut next) = (INF, 0);
            for j in 1..=n {
                if done[j] {
                    continue;
                }
                let reduced = cost(i - 1, j - 1) - u[i] - v[j];
                if reduced < slack[j] {
                    slack[j] = reduced;
                    via[j] = col;
                }
                if slack[j] < delta {
                    delta = slack[j];
                    next = j;
                }
            }
            for j in 0..=n {
                if done[j] {
                    u[owner[j]] += delta;
                    v[j] -= delta;
                } else {
                    slack[j] -= delta;
                }
            }
            col = next;
            if owner[col] == 0 {
                break;
            }
        }
        // Flip the augmenting path back to the start.
        while col != 0 {
            let prev = via[col];
            owner[col] = owner[prev];
            col = prev;
        }
    }
    (1..=n)
        .filter(|&j| owner[j] >= 1 && owner[j] - 1 < rows && j - 1 < cols)
        .map(|j| (owner[j] - 1, j - 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(speaker: &str, start: f64, end: f64) -> Turn {
        Turn {
            speaker: speaker.to_owned(),
            start,
            end,
        }
    }

    #[test]
    fn a_perfect_hypothesis_under_other_names_has_no_errors() {
        let reference = [
            turn("A", 0.5, 3.0),
            turn("B", 3.5, 6.0),
            turn("A", 6.2, 8.0),
        ];
        let hypothesis = [
            turn("1", 0.5, 3.0),
            turn("0", 3.5, 6.0),
            turn("1", 6.2, 8.0),
        ];
        let e = diarization_errors(&reference, &hypothesis);
        assert_eq!(e.missed + e.false_alarm + e.confusion, 0.0);
        assert!((e.speech - 6.8).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn missed_false_alarm_and_confused_speech_are_told_apart() {
        // A speaks 0–4 s, B 4–8 s. The hypothesis: speaker 0 over 0–5 s (1 s of B confused),
        // nobody over 5–6 s (missed), speaker 1 over 6–9 s (1 s of false alarm after B).
        let reference = [turn("A", 0.0, 4.0), turn("B", 4.0, 8.0)];
        let hypothesis = [turn("0", 0.0, 5.0), turn("1", 6.0, 9.0)];
        let e = diarization_errors(&reference, &hypothesis);
        assert!((e.confusion - 1.0).abs() < 1e-9, "{e:?}");
        assert!((e.missed - 1.0).abs() < 1e-9, "{e:?}");
        assert!((e.false_alarm - 1.0).abs() < 1e-9, "{e:?}");
        assert!((e.speech - 8.0).abs() < 1e-9, "{e:?}");
        assert!((e.rate() - 3.0 / 8.0).abs() < 1e-9);
    }

    #[test]
    fn one_hypothesis_speaker_for_two_people_confuses_the_shorter_one() {
        let reference = [turn("A", 0.0, 6.0), turn("B", 6.0, 8.0)];
        let e = diarization_errors(&reference, &[turn("0", 0.0, 8.0)]);
        assert!((e.confusion - 2.0).abs() < 1e-9, "{e:?}");
        assert_eq!(e.missed + e.false_alarm, 0.0);
    }

    #[test]
    fn overlapping_speech_counts_once_per_speaker() {
        let reference = [turn("A", 0.0, 2.0), turn("B", 1.0, 3.0)];
        let e = diarization_errors(&reference, &[turn("0", 0.0, 3.0)]);
        assert!((e.speech - 4.0).abs() < 1e-9, "{e:?}");
        // 1–2 s: two people, one hypothesis speaker; 2–3 s: B given to A's partner.
        assert!((e.missed - 1.0).abs() < 1e-9, "{e:?}");
        assert!((e.confusion - 1.0).abs() < 1e-9, "{e:?}");
    }

    #[test]
    fn no_hypothesis_misses_everything() {
        let e = diarization_errors(&[turn("A", 1.0, 2.5)], &[]);
        assert!((e.missed - 1.5).abs() < 1e-9 && e.rate() > 0.999, "{e:?}");
    }

    #[test]
    fn word_labels_join_across_short_pauses_of_one_speaker() {
        let labels = [
            turn("0", 0.0, 0.3),
            turn("0", 1.2, 1.5), // 0.9 s pause: joined
            turn("1", 1.6, 1.9),
            turn("0", 2.0, 2.0), // no length: dropped
            turn("1", 3.5, 3.8), // 1.6 s pause: a new segment
        ];
        assert_eq!(
            join_word_labels(&labels, WORD_LABEL_GAP_S),
            [
                turn("0", 0.0, 1.5),
                turn("1", 1.6, 1.9),
                turn("1", 3.5, 3.8)
            ]
        );
        assert_eq!(speaker_count(&labels), 2);
    }

    #[test]
    fn the_assignment_has_the_largest_total_weight() {
        fn best(weights: &[Vec<i64>], row: usize, used: &mut Vec<bool>) -> i64 {
            if row == weights.len() {
                return 0;
            }
            let mut top = best(weights, row + 1, used); // row left unpaired
            for j in 0..used.len() {
                if !used[j] {
                    used[j] = true;
                    top = top.max(weights[row][j] + best(weights, row + 1, used));
                    used[j] = false;
                }
            }
            top
        }
        let mut state = 0x9E37_79B9u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..200 {
            let rows = 1 + (next() % 5) as usize;
            let cols = 1 + (next() % 5) as usize;
            let weights: Vec<Vec<i64>> = (0..rows)
                .map(|_| (0..cols).map(|_| i64::from(next() % 50)).collect())
                .collect();
            let pairs = max_weight_assignment(&weights);
            let mut rows_seen: Vec<usize> = pairs.iter().map(|p| p.0).collect();
            let mut cols_seen: Vec<usize> = pairs.iter().map(|p| p.1).collect();
            rows_seen.sort_unstable();
            rows_seen.dedup();
            cols_seen.sort_unstable();
            cols_seen.dedup();
            assert_eq!(rows_seen.len(), pairs.len(), "a row paired twice");
            assert_eq!(cols_seen.len(), pairs.len(), "a column paired twice");
            let total: i64 = pairs.iter().map(|&(i, j)| weights[i][j]).sum();
            assert_eq!(
                total,
                best(&weights, 0, &mut vec![false; cols]),
                "{weights:?}"
            );
        }
    }
}
