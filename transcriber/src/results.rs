//! Recognised words grouped into the interface's results, in the house style, with speaker labels.

use speechbatch_diarize::{SpeakerLabel, SpeakerTimeline};
use speechbatch_textfmt::Word;

use crate::output::{
    round, Alternative, RecognitionResults, SpeechResult, WordConfidence, WordTime,
};
use crds::RecognitionParams;

/// A pause at least this long between words starts a new result, as the service splits
/// utterances at pauses.
pub const RESULT_PAUSE_S: f64 = 0.6;

/// Words of one window, with where the window's pauses are.
pub struct WindowWords {
    /// The words, with absolute times.
    pub words: Vec<Word>,
    /// Pauses of at least [`RESULT_PAUSE_S`] between the window's speech segments, (from, to) in
    /// seconds: the places where one result ends and the next begins.
    pub pauses: Vec<(f64, f64)>,
}

/// One utterance in the house style, before speaker labels.
struct Utterance {
    words: Vec<Word>,
    /// The recogniser's confidence in it.
    confidence: f64,
}

/// The words grouped into results at pauses and window boundaries, formatted, with a speaker
/// label for every output word.
pub fn build_results(
    windows: Vec<WindowWords>,
    opts: &RecognitionParams,
    speakers: &SpeakerTimeline,
) -> RecognitionResults {
    let utterances = utterances(windows, opts);
    let spans: Vec<(f64, f64)> = utterances
        .iter()
        .flat_map(|u| u.words.iter().map(|w| (w.start, w.end)))
        .collect();
    let mut labels = speakers.label_words(&spans);
    for l in &mut labels {
        l.confidence = round(l.confidence, 3);
    }
    assemble(utterances, labels, opts)
}

/// Like [`build_results`] for a file whose channels were recognised one by one: `channels`
/// holds each channel's index and words, every word of channel `c` is labelled speaker `c`,
/// and the results of all channels are interleaved by their start times (overlapping speech
/// stays in both channels' results).
pub fn build_channel_results(
    channels: Vec<(u32, Vec<WindowWords>)>,
    opts: &RecognitionParams,
) -> RecognitionResults {
    let mut tagged: Vec<(u32, Utterance)> = channels
        .into_iter()
        .flat_map(|(channel, windows)| {
            utterances(windows, opts)
                .into_iter()
                .map(move |u| (channel, u))
        })
        .collect();
    // Stable: at equal start times the lower channel comes first.
    tagged.sort_by(|a, b| a.1.words[0].start.total_cmp(&b.1.words[0].start));
    let mut labels: Vec<SpeakerLabel> = tagged
        .iter()
        .flat_map(|(channel, u)| {
            u.words.iter().map(|w| SpeakerLabel {
                speaker: *channel,
                // The channel says who spoke: there is nothing to doubt.
                confidence: 1.0,
                final_: false,
                from: w.start,
                to: w.end,
            })
        })
        .collect();
    if let Some(last) = labels.last_mut() {
        last.final_ = true;
    }
    assemble(tagged.into_iter().map(|(_, u)| u).collect(), labels, opts)
}

/// The windows' words grouped at pauses into utterances in the house style, times rounded to
/// the precision the output prints (so that each speaker label's from/to equal its word's).
fn utterances(windows: Vec<WindowWords>, opts: &RecognitionParams) -> Vec<Utterance> {
    let mut utterances = Vec::new();
    for window in windows {
        let mut group: Vec<Word> = Vec::new();
        for w in window.words {
            if let Some(prev) = group.last() {
                let pause_between = window
                    .pauses
                    .iter()
                    .any(|&(from, to)| prev.start < from && w.start >= to - 1e-6);
                if pause_between {
                    utterances.extend(utterance_of(std::mem::take(&mut group), opts));
                }
            }
            group.push(w);
        }
        utterances.extend(utterance_of(group, opts));
    }
    // Labels are given to the words the user sees, after formatting merged or split them.
    for w in utterances.iter_mut().flat_map(|u| u.words.iter_mut()) {
        w.start = round(w.start, 2);
        w.end = round(w.end, 2);
    }
    utterances
}

/// The results of `utterances`, taking one label per word from `labels` in order.
fn assemble(
    utterances: Vec<Utterance>,
    labels: Vec<SpeakerLabel>,
    opts: &RecognitionParams,
) -> RecognitionResults {
    let mut label_iter = labels.iter();
    let results = utterances
        .into_iter()
        .map(|u| result_of(u, opts, &mut label_iter))
        .collect();
    RecognitionResults {
        result_index: 0,
        speaker_labels: labels,
        results,
        audio_seconds: 0.0,
        diarize_seconds: 0.0,
    }
}

/// The recogniser's words of one utterance in the house style with the formatting options
/// applied; `None` if nothing is left.
fn utterance_of(words: Vec<Word>, opts: &RecognitionParams) -> Option<Utterance> {
    if words.is_empty() {
        return None;
    }
    // The alternative's confidence is that of the recogniser's own words, before formatting
    // merges or splits them.
    let confidence = words.iter().map(|w| w.confidence as f64).sum::<f64>() / words.len() as f64;
    let words = speechbatch_textfmt::format_words(&words, opts);
    (!words.is_empty()).then_some(Utterance { words, confidence })
}

/// One result of the interface, taking each word's speaker label from `labels`.
fn result_of<'l>(
    u: Utterance,
    opts: &RecognitionParams,
    labels: &mut impl Iterator<Item = &'l SpeakerLabel>,
) -> SpeechResult {
    let transcript = speechbatch_textfmt::transcript(&u.words);
    let word_confidence = opts.word_confidence.then(|| {
        u.words
            .iter()
            .map(|w| WordConfidence {
                word: w.text.clone(),
                confidence: w.confidence as f64,
            })
            .collect()
    });
    let timestamps = u
        .words
        .into_iter()
        .map(|w| WordTime {
            word: w.text,
            start: w.start,
            end: w.end,
            speaker: labels.next().cloned(),
        })
        .collect();
    SpeechResult {
        final_: true,
        alternatives: vec![Alternative {
            transcript,
            confidence: round(u.confidence, 3),
            timestamps,
            word_confidence,
        }],
    }
}
