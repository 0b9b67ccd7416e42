//! The speech analytics a batch with `speech_analytics=true` adds to each `<file>.json`: the
//! conversation's topics, and per speaker turn its tones, sentiment, keywords and topics. Field
//! names and values are the interface's.

use serde::{Deserialize, Serialize};

/// The conversation-level archive a batch with analytics writes at the root of its output bucket.
pub const CONVERSATION_ZIP: &str = "Conversation.zip";
/// The utterance-level archive, beside it.
pub const SPEAKER_ZIP: &str = "Speaker.zip";

/// The string every field of a topic holds when there is too little speech to find one.
pub const UNKNOWN_TOPIC: &str = "unknown";

/// `conversation_speech_analytics`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationAnalytics {
    /// The conversation's topics (one, or one `unknown`).
    pub topics: Vec<Topic>,
}

/// A topic: a cluster of the batch's topic model.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Topic {
    /// The cluster in the topic model.
    pub cluster_id: String,
    /// The topic model.
    pub model_id: String,
    /// A readable name made of the cluster's key n-grams (`pharmacy_prescription`).
    pub topic_name: String,
}

impl Topic {
    /// The topic of too little speech: every field `unknown`.
    pub fn unknown() -> Self {
        Self {
            cluster_id: UNKNOWN_TOPIC.to_owned(),
            model_id: UNKNOWN_TOPIC.to_owned(),
            topic_name: UNKNOWN_TOPIC.to_owned(),
        }
    }

    /// Whether this is the unknown topic.
    pub fn is_unknown(&self) -> bool {
        self.cluster_id == UNKNOWN_TOPIC
    }
}

/// One element of `speaker_turn_speech_analytics`: a continuous stretch of one speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpeakerTurn {
    /// The whole turn's words.
    pub transcript: String,
    /// Start of its first word, in seconds.
    pub from: f64,
    /// End of its last word, in seconds.
    pub to: f64,
    /// The speaker, as in `speaker_labels`.
    pub speaker: i64,
    /// An id unique within the whole batch.
    pub speaker_turn_id: u64,
    /// The turn's analytics.
    pub speech_analytics: TurnAnalytics,
}

/// The analytics of one speaker turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnAnalytics {
    /// Customer-engagement tones.
    pub tone: ToneAnalysis,
    /// Sentiment.
    pub sentiment: Sentiment,
    /// Significant phrases.
    pub keywords: Vec<Keyword>,
    /// The turn's topics.
    pub topics: Vec<Topic>,
}

/// The tones of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToneAnalysis {
    /// An abbreviated copy of the turn.
    pub utterance_text: String,
    /// The utterance's id (the turn's `speaker_turn_id`).
    pub utterance_id: u64,
    /// The tones scoring at least 0.5, highest first (empty when none does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tones: Option<Vec<ToneScore>>,
    /// Why the turn was not analysed for tone (over 500 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One tone of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToneScore {
    /// 0.5–1.0; above 0.75 the tone is likely perceived.
    pub score: f64,
    /// The tone's id.
    pub tone_id: ToneId,
    /// Its display name.
    pub tone_name: String,
}

/// The customer-engagement tones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToneId {
    /// Enthusiastic, delighted.
    Excited,
    /// Annoyed, let down by the service.
    Frustrated,
    /// Rude, disrespectful.
    Impolite,
    /// Courteous.
    Polite,
    /// Unhappy, distressed.
    Sad,
    /// Content with the outcome.
    Satisfied,
    /// Showing understanding of the other's trouble.
    Sympathetic,
}

impl ToneId {
    /// Every tone, in the interface's (alphabetical) order.
    pub const ALL: [ToneId; 7] = [
        ToneId::Excited,
        ToneId::Frustrated,
        ToneId::Impolite,
        ToneId::Polite,
        ToneId::Sad,
        ToneId::Satisfied,
        ToneId::Sympathetic,
    ];

    /// The id as the JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ToneId::Excited => "excited",
            ToneId::Frustrated => "frustrated",
            ToneId::Impolite => "impolite",
            ToneId::Polite => "polite",
            ToneId::Sad => "sad",
            ToneId::Satisfied => "satisfied",
            ToneId::Sympathetic => "sympathetic",
        }
    }

    /// The display name (`Excited`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ToneId::Excited => "Excited",
            ToneId::Frustrated => "Frustrated",
            ToneId::Impolite => "Impolite",
            ToneId::Polite => "Polite",
            ToneId::Sad => "Sad",
            ToneId::Satisfied => "Satisfied",
            ToneId::Sympathetic => "Sympathetic",
        }
    }
}

/// A turn's sentiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    /// -1 (negative) to 1 (positive), 0 neutral.
    pub score: f64,
    /// The score's class.
    pub label: SentimentLabel,
}

/// The three sentiment classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentimentLabel {
    /// Below zero by a margin.
    Negative,
    /// Near zero.
    Neutral,
    /// Above zero by a margin.
    Positive,
}

impl SentimentLabel {
    /// The label as the JSON writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Negative => "negative",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Positive => "positive",
        }
    }
}

/// A significant phrase of a turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Keyword {
    /// The phrase (one or more words), lowercase.
    pub text: String,
    /// 0.0–1.0, higher is more relevant.
    pub relevance: f64,
    /// How often it occurs in the turn.
    pub count: u32,
}

/// How many keywords and topics an [`AnalyticsSummary`] keeps: enough for a dashboard, small
/// enough for a pod's termination message (4096 bytes) on Kubernetes.
pub const SUMMARY_TOP: usize = 10;

/// A batch's speech analytics in a few numbers, for the admin console's job page: what the
/// archives hold, counted over every analysed turn of the batch. The embedded service keeps it in
/// the job record; on Kubernetes the analytics Job reports it and the operator keeps it in the
/// SpeechBatch status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct AnalyticsSummary {
    /// Files analysed.
    pub files: u64,
    /// Speaker turns analysed.
    pub turns: u64,
    /// Turns per sentiment label (`positive`, `neutral`, `negative`), every label present
    /// (0 when no turn has it), so that readers need not know the labels.
    pub sentiment: std::collections::BTreeMap<String, u64>,
    /// Turns per tone id (`satisfied`, `polite`, ...) among the tones each turn was given, every
    /// tone present (0 when no turn has it).
    pub tones: std::collections::BTreeMap<String, u64>,
    /// The batch's conversation topics with how many files have each, most files first, ties
    /// by name (at most [`SUMMARY_TOP`]; `unknown` included when files have it).
    pub topics: Vec<TopicCount>,
    /// The keywords with the most occurrences over the batch's turns, most first, ties by text
    /// (at most [`SUMMARY_TOP`]).
    pub keywords: Vec<KeywordCount>,
}

/// A topic of an [`AnalyticsSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct TopicCount {
    /// The topic's name (`pharmacy_prescription`, or `unknown`).
    pub topic_name: String,
    /// Files whose conversation has this topic.
    pub files: u64,
}

/// A keyword of an [`AnalyticsSummary`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
pub struct KeywordCount {
    /// The phrase, lowercase.
    pub text: String,
    /// Occurrences over every turn of the batch.
    pub count: u64,
}
