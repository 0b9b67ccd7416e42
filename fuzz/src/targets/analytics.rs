//! Speech analytics reads each file's result JSON back from the output bucket, which the user
//! owns: it must cope with whatever is there.

use speechbatch_analytics::{keywords, sentiment, tone, turns};

/// Any bytes as a `<file>.json`: speaker turns, and each turn's sentiment, keywords and tones
/// within their documented ranges.
pub fn result_json(data: &[u8]) {
    let Ok(result) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    for (id, turn) in turns::turns(&result).iter().enumerate() {
        assert!(!turn.words.is_empty(), "a turn without words");
        let text = turn.transcript();
        for x in [turn.from(), turn.to(), turn.confidence()] {
            assert!(x.is_finite(), "turn {id}: a time or confidence of {x}");
        }
        let s = sentiment::sentiment(&text);
        assert!((-1.0..=1.0).contains(&s.score), "sentiment {}", s.score);
        for k in keywords::keywords(&text) {
            assert!(
                (0.0..=1.0).contains(&k.relevance),
                "keyword {:?} relevance {}",
                k.text,
                k.relevance
            );
            assert!(k.count > 0, "keyword {:?} counted 0 times", k.text);
        }
        let t = tone::tone(&text, id as u64, s.score);
        for score in t.tones.iter().flatten() {
            assert!(
                (0.5..=1.0).contains(&score.score),
                "tone {:?} scored {}",
                score.tone_id,
                score.score
            );
        }
    }
}
