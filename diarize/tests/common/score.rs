//! Scoring speaker labels against the conversations' reference turns, with the testkit's DER
//! (the development set's definitions: 10 ms frames, no collar, word labels of one speaker
//! joined across pauses of up to a second).

use std::fmt::Write;

use speechbatch_diarize::SpeakerLabel;
use speechbatch_testkit::{
    diarization_errors, join_word_labels, speaker_count, Conversation, DiarizationErrors, Turn,
    WORD_LABEL_GAP_S,
};

/// The verdict over a set of conversations.
#[derive(Debug, Clone)]
pub struct Score {
    /// Diarization error rate over all of them.
    pub der: f64,
    /// Conversations where the number of speakers found is the reference's.
    pub correct: usize,
    /// Conversations scored.
    pub total: usize,
    /// One line per conversation and the totals, for the test's output.
    pub report: String,
}

/// Per-word speaker labels as the scorer's turns.
pub fn label_turns(labels: &[SpeakerLabel]) -> Vec<Turn> {
    labels
        .iter()
        .map(|l| Turn {
            speaker: l.speaker.to_string(),
            start: l.from,
            end: l.to,
        })
        .collect()
}

/// Scores each conversation's word labels against its reference.
pub fn score<'a>(
    scored: impl IntoIterator<Item = (&'a Conversation, &'a [SpeakerLabel])>,
) -> Score {
    let mut report = format!(
        "{:<24} {:>7} {:>7} {:>7} {:>7} {:>7} {:>4} {:>4}\n",
        "conversation", "DER", "miss", "fa", "conf", "speech", "ref", "hyp"
    );
    let mut sum = DiarizationErrors::default();
    let (mut correct, mut total) = (0, 0);
    for (reference, labels) in scored {
        let segments = join_word_labels(&label_turns(labels), WORD_LABEL_GAP_S);
        let e = diarization_errors(&reference.turns, &segments);
        let found = speaker_count(&segments);
        writeln!(
            report,
            "{:<24} {:>7.4} {:>7.2} {:>7.2} {:>7.2} {:>7.2} {:>4} {:>4}",
            reference.name,
            e.rate(),
            e.missed,
            e.false_alarm,
            e.confusion,
            e.speech,
            reference.speakers,
            found
        )
        .unwrap();
        sum += e;
        correct += usize::from(found == reference.speakers);
        total += 1;
    }
    write!(
        report,
        "DER {:.4} speakers-correct {correct}/{total}",
        sum.rate()
    )
    .unwrap();
    Score {
        der: sum.rate(),
        correct,
        total,
        report,
    }
}
