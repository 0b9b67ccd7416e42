//! Topics across a batch, found by the service itself (unsupervised): each conversation with
//! enough speech is embedded (the mean of its turns' embeddings, greetings and other turns
//! too short to be about anything left out, without the component every service call shares,
//! see [`crate::Analyzer`]); conversations are clustered
//! agglomeratively (average linkage on cosine similarity), merging while the two closest
//! clusters are more alike than [`MERGE_SIMILARITY`]; each cluster is named by its key n-grams
//! (the words and word pairs most particular to it against the whole batch, c-TF-IDF).
//! Conversations with too little speech get the `unknown` topic; so do turns too short to say
//! anything, and turns close to no cluster.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crds::analytics::Topic;

use crate::encoder::cosine;
use crate::stopwords::is_stop_word;

/// Two clusters merge while their average similarity is at least this.
pub const MERGE_SIMILARITY: f32 = 0.35;
/// A conversation needs this many content words to have a topic.
pub const MIN_CONVERSATION_WORDS: usize = 12;
/// A turn needs this many content words to have a topic.
pub const MIN_TURN_WORDS: usize = 3;
/// A turn takes its nearest cluster only when at least this similar to its centre.
pub const MIN_TURN_SIMILARITY: f32 = 0.3;
/// The id of the batch's topic model (one per batch).
pub const MODEL_ID: &str = "1";
/// Key n-grams kept per cluster.
pub const KEY_NGRAMS: usize = 10;

/// A cluster of the topic model.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// Its topic (cluster id, model id, name).
    pub topic: Topic,
    /// The conversations in it (indices into the batch's documents).
    pub members: Vec<usize>,
    /// The normalised mean of its members' embeddings.
    pub centre: Vec<f32>,
    /// The mean similarity of its members to the centre (1 for one member).
    pub cohesion: f32,
    /// Its key n-grams with their c-TF-IDF weights, strongest first.
    pub key_ngrams: Vec<(String, f64)>,
}

/// The batch's topic model.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TopicModel {
    /// The clusters, largest first.
    pub clusters: Vec<Cluster>,
    /// Each document's cluster (index into `clusters`), `None` for `unknown`.
    pub assignment: Vec<Option<usize>>,
    /// In how many documents each n-gram occurs.
    pub document_frequencies: BTreeMap<String, usize>,
}

impl TopicModel {
    /// The topic of document `doc`.
    pub fn topic_of(&self, doc: usize) -> Topic {
        self.assignment
            .get(doc)
            .copied()
            .flatten()
            .map_or_else(Topic::unknown, |c| self.clusters[c].topic.clone())
    }

    /// The topic of a turn with embedding `e` and `content_words` content words.
    pub fn topic_of_turn(&self, e: &[f32], content_words: usize) -> Topic {
        if content_words < MIN_TURN_WORDS {
            return Topic::unknown();
        }
        self.clusters
            .iter()
            .map(|c| (cosine(&c.centre, e), c))
            .filter(|(s, _)| *s >= MIN_TURN_SIMILARITY)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map_or_else(Topic::unknown, |(_, c)| c.topic.clone())
    }
}

/// The content words of a text: lowercase, no stop words, at least two letters.
pub fn content_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 2 && !is_stop_word(w))
        .map(str::to_owned)
        .collect()
}

/// The n-grams (words and pairs of adjacent content words) of a text, with counts.
pub fn ngrams(text: &str) -> HashMap<String, usize> {
    let words = content_words(text);
    let mut out: HashMap<String, usize> = HashMap::new();
    for w in &words {
        *out.entry(w.clone()).or_default() += 1;
    }
    for pair in words.windows(2) {
        *out.entry(format!("{} {}", pair[0], pair[1])).or_default() += 1;
    }
    out
}

/// Builds the topic model of a batch: `texts[i]` is document i's whole transcript and
/// `embeddings[i]` its embedding (unit length).
pub fn build(texts: &[String], embeddings: &[Vec<f32>]) -> TopicModel {
    let grams: Vec<HashMap<String, usize>> = texts.iter().map(|t| ngrams(t)).collect();
    let mut document_frequencies: BTreeMap<String, usize> = BTreeMap::new();
    for g in &grams {
        for k in g.keys() {
            *document_frequencies.entry(k.clone()).or_default() += 1;
        }
    }
    let eligible: Vec<usize> = (0..texts.len())
        .filter(|&i| content_words(&texts[i]).len() >= MIN_CONVERSATION_WORDS)
        .collect();
    let groups = agglomerate(&eligible, embeddings);
    let mut clusters: Vec<Cluster> = groups
        .into_iter()
        .map(|members| {
            let centre = crate::encoder::normalised(mean(&members, embeddings));
            let cohesion = members
                .iter()
                .map(|&m| cosine(&centre, &embeddings[m]))
                .sum::<f32>()
                / members.len() as f32;
            let key_ngrams = key_ngrams(&members, &grams, &document_frequencies, texts.len());
            Cluster {
                topic: Topic::unknown(),
                members,
                centre,
                cohesion,
                key_ngrams,
            }
        })
        .collect();
    // Largest first, then by first member, so ids are stable for the same batch.
    clusters.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.members[0].cmp(&b.members[0]))
    });
    let mut assignment = vec![None; texts.len()];
    let mut names_used: BTreeSet<String> = BTreeSet::new();
    for (id, c) in clusters.iter_mut().enumerate() {
        for &m in &c.members {
            assignment[m] = Some(id);
        }
        let mut name = topic_name(&c.key_ngrams);
        if !names_used.insert(name.clone()) {
            name = format!("{name}_{id}");
            names_used.insert(name.clone());
        }
        c.topic = Topic {
            cluster_id: id.to_string(),
            model_id: MODEL_ID.to_owned(),
            topic_name: name,
        };
    }
    TopicModel {
        clusters,
        assignment,
        document_frequencies,
    }
}

fn mean(members: &[usize], embeddings: &[Vec<f32>]) -> Vec<f32> {
    let dim = embeddings.first().map_or(0, Vec::len);
    let mut m = vec![0f32; dim];
    for &i in members {
        for (a, b) in m.iter_mut().zip(&embeddings[i]) {
            *a += b;
        }
    }
    m
}

/// Average-linkage agglomerative clustering of `items` (indices into `embeddings`).
fn agglomerate(items: &[usize], embeddings: &[Vec<f32>]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = items.iter().map(|&i| vec![i]).collect();
    let sim = |a: &[usize], b: &[usize]| -> f32 {
        let mut s = 0.0;
        for &x in a {
            for &y in b {
                s += cosine(&embeddings[x], &embeddings[y]);
            }
        }
        s / (a.len() * b.len()) as f32
    };
    loop {
        let mut best: Option<(usize, usize, f32)> = None;
        for i in 0..groups.len() {
            for j in i + 1..groups.len() {
                let s = sim(&groups[i], &groups[j]);
                if best.is_none_or(|(_, _, b)| s > b) {
                    best = Some((i, j, s));
                }
            }
        }
        match best {
            Some((i, j, s)) if s >= MERGE_SIMILARITY => {
                let merged = groups.swap_remove(j);
                groups[i].extend(merged);
                groups[i].sort_unstable();
            }
            _ => return groups,
        }
    }
}

/// The n-grams most particular to a cluster: their count in the cluster times their inverse
/// document frequency in the batch, n-grams of one document only left out when the cluster
/// has more.
fn key_ngrams(
    members: &[usize],
    grams: &[HashMap<String, usize>],
    df: &BTreeMap<String, usize>,
    docs: usize,
) -> Vec<(String, f64)> {
    let mut tf: HashMap<&str, (usize, usize)> = HashMap::new();
    for &m in members {
        for (g, &n) in &grams[m] {
            let e = tf.entry(g.as_str()).or_default();
            e.0 += n;
            e.1 += 1;
        }
    }
    let mut scored: Vec<(String, f64)> = tf
        .into_iter()
        .filter(|(_, (_, in_docs))| members.len() == 1 || *in_docs >= 2)
        .map(|(g, (n, in_docs))| {
            let idf = ((1 + docs) as f64 / (1 + df[g]) as f64).ln() + 1.0;
            // Shared by the cluster's conversations weighs more than repeated in one.
            let spread = in_docs as f64 / members.len() as f64;
            (g.to_owned(), n as f64 * idf * (0.5 + spread))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    scored.truncate(KEY_NGRAMS);
    scored
}

/// A readable name from the key n-grams: the two strongest words not already in the name,
/// joined with `_` (`pharmacy_prescription`).
fn topic_name(key: &[(String, f64)]) -> String {
    let mut words: Vec<&str> = Vec::new();
    for (g, _) in key {
        for w in g.split(' ') {
            if words.len() < 2 && !words.contains(&w) {
                words.push(w);
            }
        }
    }
    if words.is_empty() {
        return "general".to_owned();
    }
    words
        .iter()
        .map(|w| w.replace(|c: char| !c.is_alphanumeric(), ""))
        .collect::<Vec<_>>()
        .join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        crate::encoder::normalised(v.to_vec())
    }

    #[test]
    fn close_documents_share_a_cluster_named_by_their_words() {
        let texts: Vec<String> = [
            "refill prescription pharmacy weekend tablets blood pressure doctor pharmacist pickup counter dosage bottle",
            "pharmacy prescription insurance coverage plan drug list doctor exception pharmacist copay monthly price",
            "fraudulent transaction debit card store city blocked card replacement money refund account statement",
            "overdraft fee account transfer arrived cutoff courtesy reversal balance statement bank customer",
            "hi",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let e = vec![
            unit(&[1.0, 0.1, 0.0]),
            unit(&[0.9, 0.2, 0.0]),
            unit(&[0.0, 1.0, 0.2]),
            unit(&[0.1, 0.9, 0.3]),
            unit(&[0.0, 0.0, 1.0]),
        ];
        let m = build(&texts, &e);
        assert_eq!(m.clusters.len(), 2, "{:?}", m.clusters);
        assert_eq!(m.topic_of(0), m.topic_of(1));
        assert_eq!(m.topic_of(2), m.topic_of(3));
        assert_ne!(m.topic_of(0), m.topic_of(2));
        assert!(m.topic_of(4).is_unknown(), "too little speech");
        // Named by words the cluster's conversations share and the others lack.
        for w in m.topic_of(0).topic_name.split('_') {
            assert!(texts[0].contains(w) && texts[1].contains(w), "{w}");
            assert!(!texts[2].contains(w) && !texts[3].contains(w), "{w}");
        }
        assert_eq!(m.topic_of(0).model_id, MODEL_ID);
        assert!(m.topic_of_turn(&e[0], 2).is_unknown(), "short turn");
        assert_eq!(m.topic_of_turn(&e[1], 5), m.topic_of(0));
    }
}
