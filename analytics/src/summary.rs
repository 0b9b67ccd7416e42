//! A batch's analytics in a few numbers ([`AnalyticsSummary`]), for the admin console's job
//! page: counted from the same [`BatchAnalytics`] the archives are written from, so the two
//! always agree.

use std::collections::BTreeMap;

use crds::analytics::{
    AnalyticsSummary, KeywordCount, SentimentLabel, ToneId, TopicCount, SUMMARY_TOP,
};

use crate::BatchAnalytics;

impl BatchAnalytics {
    /// The batch's summary: files and turns analysed, turns per sentiment label and per tone
    /// (every label and tone present, 0 included), and the [`SUMMARY_TOP`] conversation topics
    /// (by files) and keywords (by occurrences), ties broken by name so that the same batch
    /// always gives the same summary.
    pub fn summary(&self) -> AnalyticsSummary {
        let mut sentiment: BTreeMap<String, u64> = [
            SentimentLabel::Negative,
            SentimentLabel::Neutral,
            SentimentLabel::Positive,
        ]
        .into_iter()
        .map(|l| (l.as_str().to_owned(), 0))
        .collect();
        let mut tones: BTreeMap<String, u64> = ToneId::ALL
            .into_iter()
            .map(|t| (t.as_str().to_owned(), 0))
            .collect();
        let mut topics: BTreeMap<&str, u64> = BTreeMap::new();
        let mut keywords: BTreeMap<&str, u64> = BTreeMap::new();
        let mut turns = 0u64;
        for file in &self.files {
            // A file counts once per topic, however its conversation lists it.
            let mut names: Vec<&str> = file
                .conversation
                .topics
                .iter()
                .map(|t| t.topic_name.as_str())
                .collect();
            names.sort_unstable();
            names.dedup();
            for name in names {
                *topics.entry(name).or_default() += 1;
            }
            for turn in &file.turns {
                turns += 1;
                let a = &turn.speech_analytics;
                *sentiment
                    .entry(a.sentiment.label.as_str().to_owned())
                    .or_default() += 1;
                // A turn counts once per tone (the list never repeats one; this makes sure).
                let mut ids: Vec<ToneId> =
                    a.tone.tones.iter().flatten().map(|t| t.tone_id).collect();
                ids.sort_unstable();
                ids.dedup();
                for id in ids {
                    *tones.entry(id.as_str().to_owned()).or_default() += 1;
                }
                for k in &a.keywords {
                    *keywords.entry(k.text.as_str()).or_default() += u64::from(k.count);
                }
            }
        }
        AnalyticsSummary {
            files: self.files.len() as u64,
            turns,
            sentiment,
            tones,
            topics: top(topics)
                .map(|(name, files)| TopicCount {
                    topic_name: name.to_owned(),
                    files,
                })
                .collect(),
            keywords: top(keywords)
                .map(|(text, count)| KeywordCount {
                    text: text.to_owned(),
                    count,
                })
                .collect(),
        }
    }
}

/// The [`SUMMARY_TOP`] entries of `counts` with the highest counts, highest first; among equal
/// counts, by name (the map's order, kept by the stable sort).
fn top(counts: BTreeMap<&str, u64>) -> impl Iterator<Item = (&str, u64)> {
    let mut v: Vec<(&str, u64)> = counts.into_iter().collect();
    v.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
    v.into_iter().take(SUMMARY_TOP)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FileAnalytics, TopicModel};
    use crds::analytics::{
        ConversationAnalytics, Keyword, Sentiment, SpeakerTurn, ToneAnalysis, ToneScore, Topic,
        TurnAnalytics,
    };

    fn topic(name: &str) -> Topic {
        Topic {
            cluster_id: format!("c-{name}"),
            model_id: "m".into(),
            topic_name: name.into(),
        }
    }

    fn turn(
        label: SentimentLabel,
        tones: Option<&[ToneId]>,
        keywords: &[(&str, u32)],
    ) -> SpeakerTurn {
        SpeakerTurn {
            transcript: "words".into(),
            from: 0.0,
            to: 1.0,
            speaker: 0,
            speaker_turn_id: 0,
            speech_analytics: TurnAnalytics {
                tone: ToneAnalysis {
                    utterance_text: "words".into(),
                    utterance_id: 0,
                    tones: tones.map(|ts| {
                        ts.iter()
                            .map(|&t| ToneScore {
                                score: 0.8,
                                tone_id: t,
                                tone_name: t.name().into(),
                            })
                            .collect()
                    }),
                    error: None,
                },
                sentiment: Sentiment { score: 0.0, label },
                keywords: keywords
                    .iter()
                    .map(|&(text, count)| Keyword {
                        text: text.into(),
                        relevance: 0.5,
                        count,
                    })
                    .collect(),
                topics: vec![Topic::unknown()],
            },
        }
    }

    fn file(topic_name: &str, turns: Vec<SpeakerTurn>) -> FileAnalytics {
        FileAnalytics {
            conversation: ConversationAnalytics {
                topics: vec![topic(topic_name)],
            },
            confidences: vec![0.9; turns.len()],
            turns,
        }
    }

    fn batch(files: Vec<FileAnalytics>) -> BatchAnalytics {
        BatchAnalytics {
            ids: (0..files.len()).map(|i| format!("f{i}")).collect(),
            files,
            model: TopicModel::default(),
        }
    }

    #[test]
    fn the_summary_counts_files_turns_labels_tones_topics_and_keywords() {
        use SentimentLabel::*;
        use ToneId::*;
        let b = batch(vec![
            file(
                "pharmacy_prescription",
                vec![
                    turn(
                        Positive,
                        Some(&[Polite, Satisfied]),
                        &[("refill", 2), ("pharmacy", 1)],
                    ),
                    turn(Negative, Some(&[]), &[("refill", 1)]),
                ],
            ),
            file(
                "pharmacy_prescription",
                vec![turn(Positive, Some(&[Polite]), &[("insurance", 3)])],
            ),
            file("unknown", vec![turn(Neutral, None, &[("pharmacy", 2)])]),
        ]);
        let s = b.summary();
        assert_eq!((s.files, s.turns), (3, 4));
        assert_eq!(
            s.sentiment,
            BTreeMap::from([
                ("negative".to_owned(), 1),
                ("neutral".to_owned(), 1),
                ("positive".to_owned(), 2)
            ])
        );
        assert_eq!(s.tones.len(), ToneId::ALL.len(), "every tone, 0 included");
        assert_eq!(
            (s.tones["polite"], s.tones["satisfied"], s.tones["sad"]),
            (2, 1, 0)
        );
        assert_eq!(
            s.topics,
            [
                TopicCount {
                    topic_name: "pharmacy_prescription".into(),
                    files: 2
                },
                TopicCount {
                    topic_name: "unknown".into(),
                    files: 1
                }
            ]
        );
        // Occurrences summed over turns; equal counts by text.
        let kw: Vec<(&str, u64)> = s
            .keywords
            .iter()
            .map(|k| (k.text.as_str(), k.count))
            .collect();
        assert_eq!(kw, [("insurance", 3), ("pharmacy", 3), ("refill", 3)]);
    }

    #[test]
    fn the_summary_keeps_the_top_entries_whatever_the_order_of_files() {
        // 12 topics and 12 keywords: topic i in i files (topic00 in one), keyword i with as
        // many occurrences; topic00 and topic01 (one file each) fall below the ten kept.
        let mut files = Vec::new();
        for i in 0..12u32 {
            let n = if i == 0 { 1 } else { i };
            for _ in 0..n {
                files.push(file(
                    &format!("topic{i:02}"),
                    vec![turn(
                        SentimentLabel::Neutral,
                        None,
                        &[(&format!("kw{i:02}"), 1)],
                    )],
                ));
            }
        }
        let s = batch(files.clone()).summary();
        assert_eq!(s.topics.len(), SUMMARY_TOP);
        assert_eq!(s.keywords.len(), SUMMARY_TOP);
        let names: Vec<&str> = s.topics.iter().map(|t| t.topic_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "topic11", "topic10", "topic09", "topic08", "topic07", "topic06", "topic05",
                "topic04", "topic03", "topic02"
            ]
        );
        assert_eq!(s.keywords[0].text, "kw11");
        assert_eq!(s.keywords[9].text, "kw02");
        files.reverse();
        assert_eq!(batch(files).summary(), s, "deterministic");
        // Equal counts at the cut: by name.
        let tie: Vec<FileAnalytics> = (0..12)
            .rev()
            .map(|i| file(&format!("t{i:02}"), vec![]))
            .collect();
        let names: Vec<String> = batch(tie)
            .summary()
            .topics
            .into_iter()
            .map(|t| t.topic_name)
            .collect();
        assert_eq!(names.first().map(String::as_str), Some("t00"));
        assert_eq!(names.last().map(String::as_str), Some("t09"));
    }

    #[test]
    fn an_empty_batch_has_zero_counts() {
        let s = batch(Vec::new()).summary();
        assert_eq!((s.files, s.turns), (0, 0));
        assert!(s.sentiment.values().all(|&n| n == 0) && s.sentiment.len() == 3);
        assert!(s.topics.is_empty() && s.keywords.is_empty());
    }
}
