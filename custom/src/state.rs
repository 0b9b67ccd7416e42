//! The state of one custom language model and every operation on it, as pure functions: the
//! REST layer (or the operator) loads a [`ModelState`], calls one method, and saves the result.
//! Slow work (analysing a corpus, training) is split into `begin_*`, a pure computation the
//! caller runs where it likes ([`crate::analysis::analyze`], [`ModelState::train`]), and
//! `finish_*`.
//!
//! # Status rules
//!
//! | status | meaning here |
//! |---|---|
//! | `pending` | nothing valid to train on yet, or a corpus is still being analysed |
//! | `ready` | has analysed corpora or user words not trained in their current form |
//! | `training`, `upgrading` | busy: every change is refused with 409 |
//! | `available` | trained on the current corpora and words |
//! | `failed` | the last training failed; `error` says why |
//!
//! Any change of corpora or words (from any status but the busy ones) re-derives the status:
//! `pending` while a corpus is analysed, else `ready` if there is something valid, else
//! `pending`; the `error` of a failed training goes. The last successful training
//! ([`ModelState::trained`]) is kept through all of that, so that jobs can go on using it until
//! the model is trained again ([`ModelState::is_usable_by`]); only [`ModelState::reset`] drops
//! it.
//!
//! # Words
//!
//! A word's identity ignores case: `myveltrix` added by a user and `MyVeltrix` found in a corpus
//! are one word (its sources are both), shown as the user spelt it. A word's `count` is the sum
//! of its occurrences in the corpora; `sounds_like` is the user's, else derived
//! ([`crate::sounds_like::derive_sounds_like`]); `display_as` is the user's, else the word.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

use crds::customization::{
    Corpus, CorpusStatus, CreateLanguageModel, CustomWord, LanguageModel, LanguageModelStatus,
    Vocabulary, VocabularyWord, Word, MAX_CORPUS_NAME_CHARS, MAX_OOV_WORDS, MAX_SOUNDS_LIKE,
    MAX_SOUNDS_LIKE_CHARS, MAX_TOTAL_WORDS, RESERVED_CORPUS_NAMES,
};
use crds::{ErrorBody, ModelName, Timestamp};
use serde::{Deserialize, Serialize};

use crate::analysis::CorpusAnalysis;
use crate::sounds_like::derive_sounds_like;

/// The owner every model gets: the service has one API key, whose user is `admin`.
pub const OWNER: &str = "admin";

/// The version of every base model (there is one); a model lists `<base model>.v1`.
pub const BASE_MODEL_VERSION: &str = "v1";

/// The source name of words a user added or changed, in a word's `source`.
pub const USER_SOURCE: &str = "user";

/// Why an operation was refused; each variant is one HTTP status.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CustomError {
    /// 404: the corpus or word does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: the model is busy (training, upgrading, or the corpus is being analysed) or the
    /// corpus already exists.
    #[error("{0}")]
    Conflict(String),
    /// 400: the request is invalid; the message says what to fix.
    #[error("{0}")]
    Invalid(String),
}

impl CustomError {
    /// The HTTP status code of the error.
    pub fn status_code(&self) -> u16 {
        match self {
            Self::NotFound(_) => 404,
            Self::Conflict(_) => 409,
            Self::Invalid(_) => 400,
        }
    }

    /// The interface's error body for it.
    pub fn to_error_body(&self) -> ErrorBody {
        ErrorBody::new(self.status_code(), self.to_string())
    }
}

/// One corpus with the out-of-vocabulary words its analysis found (its text is stored by the
/// caller, not here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusState {
    /// The corpus as `GET .../corpora` shows it.
    pub corpus: Corpus,
    /// Each out-of-vocabulary word, spelt as the corpus spells it, with its count; empty unless
    /// the corpus is analysed.
    #[serde(default)]
    pub oov: BTreeMap<String, u64>,
}

/// What a user said about one word (`POST .../words`, `PUT .../words/{word}`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UserWord {
    /// The user's `sounds_like` spellings as given (trimmed); empty when none were given, in
    /// which case the service derives them.
    #[serde(default)]
    pub sounds_like: Vec<String>,
    /// What transcripts show; the word itself when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_as: Option<String>,
}

/// Which words training puts into the vocabulary (`word_type_to_add`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordTypeToAdd {
    /// Every word: from corpora and from users.
    #[default]
    All,
    /// Only the words users added or changed.
    User,
}

impl FromStr for WordTypeToAdd {
    type Err = CustomError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            "user" => Ok(Self::User),
            _ => Err(CustomError::Invalid(format!(
                "Invalid value '{}' for word_type_to_add: use all or user",
                crds::shown(s)
            ))),
        }
    }
}

/// The options of `POST .../train`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Which words to train on.
    #[serde(default)]
    pub word_type_to_add: WordTypeToAdd,
    /// The weight to save with the trained model (0.0–1.0); `None` keeps the one saved by the
    /// previous training, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization_weight: Option<f64>,
    /// Refuse to train (400) when some corpus could not be analysed, instead of training
    /// without it and saying so in `warnings`.
    #[serde(default)]
    pub strict: bool,
}

impl TrainOptions {
    /// The options from the query parameters of `POST .../train`, each as given (absent:
    /// default). A bad value is a 400 naming the parameter.
    pub fn from_query(
        word_type_to_add: Option<&str>,
        customization_weight: Option<&str>,
        strict: Option<&str>,
    ) -> Result<Self, CustomError> {
        let word_type_to_add = word_type_to_add
            .map(str::parse)
            .transpose()?
            .unwrap_or_default();
        let customization_weight = customization_weight
            .map(|w| {
                w.trim()
                    .parse::<f64>()
                    .map_err(|_| weight_error(w))
                    .and_then(|v| check_weight(v).map(|()| v))
            })
            .transpose()?;
        let strict = match strict.map(str::to_ascii_lowercase).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(CustomError::Invalid(format!(
                    "Invalid value '{}' for strict: use true or false",
                    crds::shown(other)
                )))
            }
        };
        Ok(Self {
            word_type_to_add,
            customization_weight,
            strict,
        })
    }

    fn validate(&self) -> Result<(), CustomError> {
        match self.customization_weight {
            Some(w) => check_weight(w),
            None => Ok(()),
        }
    }
}

fn weight_error(w: impl fmt::Display) -> CustomError {
    CustomError::Invalid(format!(
        "Invalid value '{}' for customization_weight: use a number from 0.0 to 1.0",
        crds::shown(&w.to_string())
    ))
}

fn check_weight(w: f64) -> Result<(), CustomError> {
    if (0.0..=1.0).contains(&w) {
        Ok(())
    } else {
        Err(weight_error(w))
    }
}

/// Which words `GET .../words` lists (`word_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WordType {
    /// Every word.
    #[default]
    All,
    /// Words users added or changed.
    User,
    /// Words found in corpora.
    Corpora,
    /// Words from grammars: always none, as grammars are not served.
    Grammars,
}

impl FromStr for WordType {
    type Err = CustomError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(Self::All),
            "user" => Ok(Self::User),
            "corpora" => Ok(Self::Corpora),
            "grammars" => Ok(Self::Grammars),
            _ => Err(CustomError::Invalid(format!(
                "Invalid value '{}' for word_type: use all, user, corpora or grammars",
                crds::shown(s)
            ))),
        }
    }
}

/// The order of `GET .../words` (`sort`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WordSort {
    /// `alphabetical`, `+alphabetical`: by the word's characters (digits, then capitals, then
    /// small letters), the default.
    #[default]
    AlphabeticalAscending,
    /// `-alphabetical`.
    AlphabeticalDescending,
    /// `+count`: least used first, ties alphabetical.
    CountAscending,
    /// `count`, `-count`: most used first, ties alphabetical.
    CountDescending,
}

impl FromStr for WordSort {
    type Err = CustomError;
    /// A `+` that reached the server unencoded in a query string arrives as a space, so a
    /// leading space counts as `+`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "alphabetical" | "+alphabetical" | " alphabetical" => Ok(Self::AlphabeticalAscending),
            "-alphabetical" => Ok(Self::AlphabeticalDescending),
            "+count" | " count" => Ok(Self::CountAscending),
            "count" | "-count" => Ok(Self::CountDescending),
            _ => Err(CustomError::Invalid(format!(
                "Invalid value '{}' for sort: use alphabetical or count, optionally with + or -",
                crds::shown(s)
            ))),
        }
    }
}

/// The whole persisted metadata of one custom language model: everything but the corpus texts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelState {
    /// The model as `GET /v1/customizations/{id}` shows it.
    pub model: LanguageModel,
    /// Its corpora by name.
    #[serde(default)]
    pub corpora: BTreeMap<String, CorpusState>,
    /// The words users added or changed, keyed by the word as the user spelt it (at most one
    /// spelling per word ignoring case).
    #[serde(default)]
    pub user_words: BTreeMap<String, UserWord>,
    /// The last successful training: what jobs use, until the model is trained again or reset.
    #[serde(default)]
    pub trained: Option<Vocabulary>,
    /// The options of the training begun last, which an upgrade trains with again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_options: Option<TrainOptions>,
}

/// One word of the merged view while it is built.
struct Merged<'a> {
    word: String,
    /// The largest count of one corpus under `word`'s spelling: the best-attested spelling
    /// names the word when no user spelt it.
    spelling_count: u64,
    count: u64,
    sources: Vec<String>,
    user: Option<&'a UserWord>,
}

impl Merged<'_> {
    fn into_word(self) -> Word {
        let user = self.user.cloned().unwrap_or_default();
        Word {
            sounds_like: if user.sounds_like.is_empty() {
                derive_sounds_like(&self.word)
            } else {
                user.sounds_like
            },
            display_as: user.display_as.unwrap_or_else(|| self.word.clone()),
            word: self.word,
            count: self.count,
            source: self.sources,
            error: None,
        }
    }
}

fn key(word: &str) -> String {
    word.trim().to_lowercase()
}

impl ModelState {
    /// A new model from `POST /v1/customizations`: status `pending`, no data.
    ///
    /// 400 when the name is empty, the base model is not one of the service's, or the dialect
    /// is not `en-US`.
    pub fn new(
        customization_id: String,
        req: &CreateLanguageModel,
        now: Timestamp,
    ) -> Result<Self, CustomError> {
        let name = req.name.trim();
        if name.is_empty() {
            return Err(CustomError::Invalid(
                "A name is required for the custom model (\"name\")".to_string(),
            ));
        }
        let base: ModelName = req
            .base_model_name
            .parse()
            .map_err(|e: crds::UnknownModel| CustomError::Invalid(e.to_string()))?;
        match req.dialect.as_deref() {
            None => {}
            Some(d) if d.eq_ignore_ascii_case(ModelName::LANGUAGE) => {}
            Some(d) => {
                return Err(CustomError::Invalid(format!(
                    "Dialect '{}' is not supported by base model {base}: use {}",
                    crds::shown(d),
                    ModelName::LANGUAGE
                )))
            }
        }
        Ok(Self {
            model: LanguageModel {
                customization_id,
                created: now,
                updated: now,
                language: ModelName::LANGUAGE.to_string(),
                dialect: ModelName::LANGUAGE.to_string(),
                versions: vec![format!("{base}.{BASE_MODEL_VERSION}")],
                owner: OWNER.to_string(),
                name: name.to_string(),
                description: req.description.clone().unwrap_or_default(),
                base_model_name: base,
                status: LanguageModelStatus::Pending,
                progress: 0,
                warnings: None,
                error: None,
            },
            corpora: BTreeMap::new(),
            user_words: BTreeMap::new(),
            trained: None,
            train_options: None,
        })
    }

    fn id(&self) -> &str {
        &self.model.customization_id
    }

    /// 409 while training or upgrading.
    pub fn check_not_busy(&self) -> Result<(), CustomError> {
        if self.model.status.is_busy() {
            return Err(CustomError::Conflict(format!(
                "Customization {} is {}: wait until it finishes and try again",
                self.id(),
                self.model.status.as_str()
            )));
        }
        Ok(())
    }

    /// 409 while a corpus is analysed (training, upgrading and reset wait for it).
    fn check_no_analysis(&self) -> Result<(), CustomError> {
        match self
            .corpora
            .values()
            .find(|c| c.corpus.status == CorpusStatus::BeingProcessed)
        {
            Some(c) => Err(CustomError::Conflict(format!(
                "Corpus '{}' of customization {} is still being analyzed: wait until its status is analyzed and try again",
                c.corpus.name,
                self.id()
            ))),
            None => Ok(()),
        }
    }

    /// Re-derives the status after corpora or words changed (see the module docs).
    fn data_changed(&mut self, now: Timestamp) {
        self.model.updated = now;
        if self.model.status.is_busy() {
            return;
        }
        let analysing = self
            .corpora
            .values()
            .any(|c| c.corpus.status == CorpusStatus::BeingProcessed);
        let has_data = !self.user_words.is_empty()
            || self
                .corpora
                .values()
                .any(|c| c.corpus.status == CorpusStatus::Analyzed);
        self.model.status = if !analysing && has_data {
            LanguageModelStatus::Ready
        } else {
            LanguageModelStatus::Pending
        };
        self.model.progress = 0;
        self.model.error = None;
    }

    /// Every corpus, by name.
    pub fn corpora(&self) -> Vec<Corpus> {
        self.corpora.values().map(|c| c.corpus.clone()).collect()
    }

    /// One corpus; 404 if there is none of that name.
    pub fn corpus(&self, name: &str) -> Result<Corpus, CustomError> {
        self.corpora
            .get(name)
            .map(|c| c.corpus.clone())
            .ok_or_else(|| self.no_corpus(name))
    }

    fn no_corpus(&self, name: &str) -> CustomError {
        CustomError::NotFound(format!(
            "Corpus '{}' not found in customization {}",
            crds::shown(name),
            self.id()
        ))
    }

    /// Starts adding corpus `name` (`POST .../corpora/{name}`): the corpus is listed as
    /// `being_processed` and the model is `pending` until [`ModelState::finish_corpus`].
    ///
    /// 409 while busy, when the corpus exists and `allow_overwrite` is false, or when the
    /// corpus is being analysed already; 400 for a name that is empty, longer than 128
    /// characters, contains `/` or a control character, or is reserved.
    pub fn begin_corpus(
        &mut self,
        name: &str,
        allow_overwrite: bool,
        now: Timestamp,
    ) -> Result<(), CustomError> {
        self.check_not_busy()?;
        validate_corpus_name(name)?;
        if let Some(existing) = self.corpora.get(name) {
            if !allow_overwrite {
                return Err(CustomError::Conflict(format!(
                    "Corpus '{}' already exists in customization {}: use allow_overwrite=true to replace it",
                    crds::shown(name),
                    self.id()
                )));
            }
            if existing.corpus.status == CorpusStatus::BeingProcessed {
                return Err(CustomError::Conflict(format!(
                    "Corpus '{}' is still being analyzed: wait until its status is analyzed and try again",
                    crds::shown(name)
                )));
            }
        }
        self.corpora.insert(
            name.to_string(),
            CorpusState {
                corpus: Corpus {
                    name: name.to_string(),
                    total_words: 0,
                    out_of_vocabulary_words: 0,
                    status: CorpusStatus::BeingProcessed,
                    error: None,
                },
                oov: BTreeMap::new(),
            },
        );
        self.data_changed(now);
        Ok(())
    }

    /// A corpus body as text: UTF-8 (a byte order mark is dropped), not binary, with at least
    /// one word. 400 saying why otherwise.
    pub fn validate_corpus_text(bytes: &[u8]) -> Result<String, CustomError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.contains(&0) {
            return Err(CustomError::Invalid(
                "The corpus is not plain text (it contains NUL bytes): send a UTF-8 text file"
                    .to_string(),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            CustomError::Invalid(format!(
                "The corpus is not UTF-8 text (invalid byte at offset {}): send a UTF-8 text file",
                e.valid_up_to()
            ))
        })?;
        if crate::text::words(text).next().is_none() {
            return Err(CustomError::Invalid(
                "The corpus is empty: send a text file with at least one word".to_string(),
            ));
        }
        Ok(text.to_string())
    }

    /// Records the analysis of corpus `name`: `analyzed` with its counts, or `undetermined`
    /// with the error. A corpus that would take the model over 10,000,000 words or over
    /// 90,000 out-of-vocabulary words (with the other corpora and the user words) is
    /// `undetermined` with an error naming the limit. Ignored unless the corpus exists and is
    /// `being_processed` (it was deleted, or the model reset, meanwhile).
    pub fn finish_corpus(
        &mut self,
        name: &str,
        result: Result<CorpusAnalysis, String>,
        now: Timestamp,
    ) {
        if self
            .corpora
            .get(name)
            .is_none_or(|c| c.corpus.status != CorpusStatus::BeingProcessed)
        {
            return;
        }
        let outcome = result.and_then(|a| self.check_corpus_limits(name, a));
        let c = self.corpora.get_mut(name).expect("checked above");
        match outcome {
            Ok(a) => {
                c.corpus.total_words = a.total_words;
                c.corpus.out_of_vocabulary_words = a.oov.len() as u64;
                c.corpus.status = CorpusStatus::Analyzed;
                c.corpus.error = None;
                c.oov = a.oov;
            }
            Err(e) => {
                c.corpus.total_words = 0;
                c.corpus.out_of_vocabulary_words = 0;
                c.corpus.status = CorpusStatus::Undetermined;
                c.corpus.error = Some(e);
                c.oov.clear();
            }
        }
        self.data_changed(now);
    }

    fn check_corpus_limits(&self, name: &str, a: CorpusAnalysis) -> Result<CorpusAnalysis, String> {
        let others: u64 = self
            .corpora
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .map(|(_, c)| c.corpus.total_words)
            .sum();
        let total = others + a.total_words;
        if total > MAX_TOTAL_WORDS {
            return Err(format!(
                "The corpus has {} words, which would give the model's corpora {total} words: a model may hold at most {MAX_TOTAL_WORDS} words",
                a.total_words
            ));
        }
        let distinct = self.distinct_words(Some(name), a.oov.keys().map(String::as_str));
        if distinct > MAX_OOV_WORDS {
            return Err(format!(
                "The corpus has {} out-of-vocabulary words, which would give the model {distinct}: a model may hold at most {MAX_OOV_WORDS} out-of-vocabulary words",
                a.oov.len()
            ));
        }
        Ok(a)
    }

    /// How many distinct words (ignoring case) the model would hold with `extra`, leaving out
    /// corpus `without`.
    fn distinct_words<'a>(
        &'a self,
        without: Option<&str>,
        extra: impl Iterator<Item = &'a str>,
    ) -> usize {
        let mut all: HashSet<String> = HashSet::new();
        for (name, c) in &self.corpora {
            if Some(name.as_str()) != without {
                all.extend(c.oov.keys().map(|w| key(w)));
            }
        }
        all.extend(self.user_words.keys().map(|w| key(w)));
        all.extend(extra.map(key));
        all.len()
    }

    /// Deletes corpus `name` (`DELETE .../corpora/{name}`); its words go unless another corpus
    /// has them or a user added them. 404 if there is none; 409 while busy or while the corpus
    /// is being analysed.
    pub fn delete_corpus(&mut self, name: &str, now: Timestamp) -> Result<(), CustomError> {
        self.check_not_busy()?;
        let c = self.corpora.get(name).ok_or_else(|| self.no_corpus(name))?;
        if c.corpus.status == CorpusStatus::BeingProcessed {
            return Err(CustomError::Conflict(format!(
                "Corpus '{}' is still being analyzed: wait until its status is analyzed and try again",
                crds::shown(name)
            )));
        }
        self.corpora.remove(name);
        self.data_changed(now);
        Ok(())
    }

    /// Adds or replaces user words (`POST .../words`), all or none: every word is checked
    /// before any is stored. A word that differs only in case from an existing user word
    /// replaces it.
    ///
    /// 409 while busy; 400, naming the word and the problem, when a word is missing, empty,
    /// contains whitespace (join parts with `-` or `_`, as the interface asks) or has no letter
    /// or digit, when `sounds_like` has more than 5 spellings or one is empty, longer than 40
    /// characters (not counting spaces), contains a digit or a character other than letters,
    /// spaces, `.`, `'` and `-`, when `display_as` is empty, or when the model would hold over
    /// 90,000 words.
    pub fn add_words(&mut self, words: &[CustomWord], now: Timestamp) -> Result<(), CustomError> {
        self.check_not_busy()?;
        if words.is_empty() {
            return Err(CustomError::Invalid(
                "No words given: send {\"words\": [{\"word\": ...}]} with at least one word"
                    .to_string(),
            ));
        }
        let mut checked: Vec<(String, UserWord)> = Vec::with_capacity(words.len());
        for (i, w) in words.iter().enumerate() {
            checked.push(validate_word(i, w)?);
        }
        let distinct = self.distinct_words(None, checked.iter().map(|(w, _)| w.as_str()));
        if distinct > MAX_OOV_WORDS {
            return Err(CustomError::Invalid(format!(
                "The words would give customization {} {distinct} words: a model may hold at most {MAX_OOV_WORDS}",
                self.id()
            )));
        }
        // One pass over the existing spellings, so that adding many words stays linear.
        let mut spelling_of: std::collections::HashMap<String, String> = self
            .user_words
            .keys()
            .map(|w| (key(w), w.clone()))
            .collect();
        for (word, user) in checked {
            if let Some(old) = spelling_of.insert(key(&word), word.clone()) {
                self.user_words.remove(&old);
            }
            self.user_words.insert(word, user);
        }
        self.data_changed(now);
        Ok(())
    }

    /// Adds or replaces one user word (`PUT .../words/{word}`): `word` from the path, the rest
    /// from `w` (whose own `word`, if any, is ignored). Errors as [`ModelState::add_words`].
    pub fn put_word(
        &mut self,
        word: &str,
        w: &CustomWord,
        now: Timestamp,
    ) -> Result<(), CustomError> {
        let w = CustomWord {
            word: Some(word.to_string()),
            sounds_like: w.sounds_like.clone(),
            display_as: w.display_as.clone(),
        };
        self.add_words(std::slice::from_ref(&w), now)
    }

    /// One word of the merged view (`GET .../words/{word}`), whatever its case; 404 if the
    /// model has no such word.
    pub fn word(&self, word: &str) -> Result<Word, CustomError> {
        let wanted = key(word);
        self.merged(|k| *k == wanted)
            .into_values()
            .next()
            .map(Merged::into_word)
            .ok_or_else(|| self.no_word(word))
    }

    fn no_word(&self, word: &str) -> CustomError {
        CustomError::NotFound(format!(
            "Word '{}' not found in customization {}",
            crds::shown(word),
            self.id()
        ))
    }

    /// Deletes a word (`DELETE .../words/{word}`, any case) from the model, whatever its
    /// sources: the user's entry goes, and so does the word in every corpus's word list (the
    /// corpus's counts stay as analysed; adding the corpus again brings the word back). 404 if
    /// the model has no such word; 409 while busy.
    pub fn delete_word(&mut self, word: &str, now: Timestamp) -> Result<(), CustomError> {
        self.check_not_busy()?;
        let wanted = key(word);
        let mut found = false;
        let user_keys: Vec<String> = self
            .user_words
            .keys()
            .filter(|w| key(w) == wanted)
            .cloned()
            .collect();
        for k in user_keys {
            self.user_words.remove(&k);
            found = true;
        }
        for c in self.corpora.values_mut() {
            let before = c.oov.len();
            c.oov.retain(|w, _| key(w) != wanted);
            found |= c.oov.len() != before;
        }
        if !found {
            return Err(self.no_word(word));
        }
        self.data_changed(now);
        Ok(())
    }

    /// The merged view of the words whose lowercase form passes `keep`, by lowercase form.
    fn merged(&self, keep: impl Fn(&String) -> bool) -> BTreeMap<String, Merged<'_>> {
        let mut out: BTreeMap<String, Merged<'_>> = BTreeMap::new();
        for (name, c) in &self.corpora {
            for (spelling, &n) in &c.oov {
                let k = key(spelling);
                if !keep(&k) {
                    continue;
                }
                let m = out.entry(k).or_insert_with(|| Merged {
                    word: spelling.clone(),
                    spelling_count: 0,
                    count: 0,
                    sources: Vec::new(),
                    user: None,
                });
                m.count += n;
                if n > m.spelling_count {
                    m.word = spelling.clone();
                    m.spelling_count = n;
                }
                if m.sources.last() != Some(name) {
                    m.sources.push(name.clone());
                }
            }
        }
        for (spelling, user) in &self.user_words {
            let k = key(spelling);
            if !keep(&k) {
                continue;
            }
            let m = out.entry(k).or_insert_with(|| Merged {
                word: spelling.clone(),
                spelling_count: 0,
                count: 0,
                sources: Vec::new(),
                user: None,
            });
            m.word = spelling.clone();
            m.sources.push(USER_SOURCE.to_string());
            m.user = Some(user);
        }
        out
    }

    /// The words of the model (`GET .../words`): corpus out-of-vocabulary words and user words
    /// merged (see the module docs), those of `word_type`, in `sort` order.
    pub fn words(&self, word_type: WordType, sort: WordSort) -> Vec<Word> {
        let mut words: Vec<Word> = self
            .merged(|_| true)
            .into_values()
            .filter(|m| match word_type {
                WordType::All => true,
                WordType::User => m.user.is_some(),
                WordType::Corpora => m.sources.iter().any(|s| s != USER_SOURCE),
                WordType::Grammars => false,
            })
            .map(Merged::into_word)
            .collect();
        sort_words(&mut words, sort);
        words
    }

    /// Starts training (`POST .../train`): status `training`, progress 0. The caller then runs
    /// [`ModelState::train`] and gives its result to [`ModelState::finish_training`].
    ///
    /// 409 while busy or while a corpus is analysed; 400 for a weight outside 0.0–1.0, when
    /// there is nothing to train on (no analysed corpus and no user word; no user word for
    /// `word_type_to_add=user`), or, with `strict`, when a corpus could not be analysed.
    pub fn begin_training(
        &mut self,
        opts: &TrainOptions,
        now: Timestamp,
    ) -> Result<(), CustomError> {
        self.check_not_busy()?;
        self.check_no_analysis()?;
        opts.validate()?;
        let analysed = self
            .corpora
            .values()
            .any(|c| c.corpus.status == CorpusStatus::Analyzed);
        match opts.word_type_to_add {
            WordTypeToAdd::All if self.user_words.is_empty() && !analysed => {
                return Err(CustomError::Invalid(format!(
                    "Customization {} has no analyzed corpora and no words to train on: add a corpus or words first",
                    self.id()
                )));
            }
            WordTypeToAdd::User if self.user_words.is_empty() => {
                return Err(CustomError::Invalid(format!(
                    "Customization {} has no user-added words to train on with word_type_to_add=user",
                    self.id()
                )));
            }
            _ => {}
        }
        if opts.strict && opts.word_type_to_add == WordTypeToAdd::All {
            if let Some(problems) = self.left_out() {
                return Err(CustomError::Invalid(format!(
                    "Training with strict=true refused: {problems}. Fix or delete the corpora, or train with strict=false"
                )));
            }
        }
        self.model.status = LanguageModelStatus::Training;
        self.model.progress = 0;
        self.model.error = None;
        self.model.warnings = None;
        self.model.updated = now;
        self.train_options = Some(opts.clone());
        Ok(())
    }

    /// What training leaves out: the corpora that could not be analysed, described.
    fn left_out(&self) -> Option<String> {
        let bad: Vec<String> = self
            .corpora
            .values()
            .filter(|c| c.corpus.status == CorpusStatus::Undetermined)
            .map(|c| match &c.corpus.error {
                Some(e) => format!("corpus '{}' could not be analyzed ({e})", c.corpus.name),
                None => format!("corpus '{}' could not be analyzed", c.corpus.name),
            })
            .collect();
        (!bad.is_empty()).then(|| bad.join("; "))
    }

    /// Builds the vocabulary a training produces, from the current words (pure; call it
    /// between [`ModelState::begin_training`] or [`ModelState::begin_upgrade`] and
    /// [`ModelState::finish_training`]).
    ///
    /// Words come most used first (then alphabetically); each has its `display_as` and its
    /// spellings: the word, then its `sounds_like` (user's, else derived), without repeats
    /// (ignoring case). `word_type_to_add=user` keeps only the words users added or changed.
    /// The weight is the options', else the one saved by the previous training. Errs only for
    /// a weight outside 0.0–1.0.
    pub fn train(&self, opts: &TrainOptions, now: Timestamp) -> Result<Vocabulary, String> {
        opts.validate().map_err(|e| e.to_string())?;
        let mut words: Vec<(String, VocabularyWord)> = self
            .merged(|_| true)
            .into_values()
            .filter(|m| opts.word_type_to_add == WordTypeToAdd::All || m.user.is_some())
            .map(|m| {
                let w = m.into_word();
                let mut spellings: Vec<String> = Vec::with_capacity(1 + w.sounds_like.len());
                let mut seen: HashSet<String> = HashSet::new();
                for s in std::iter::once(&w.word).chain(&w.sounds_like) {
                    if seen.insert(s.to_lowercase()) {
                        spellings.push(s.clone());
                    }
                }
                let vw = VocabularyWord {
                    display_as: w.display_as,
                    spellings,
                    count: w.count,
                };
                (w.word, vw)
            })
            .collect();
        words.sort_by(|(a, x), (b, y)| y.count.cmp(&x.count).then_with(|| a.cmp(b)));
        Ok(Vocabulary {
            customization_id: self.model.customization_id.clone(),
            trained: now,
            base_model_name: self.model.base_model_name,
            customization_weight: opts
                .customization_weight
                .or_else(|| self.trained.as_ref().and_then(|v| v.customization_weight)),
            words: words.into_iter().map(|(_, w)| w).collect(),
        })
    }

    /// Training progress, 0–99 while training or upgrading (100 only once available); ignored
    /// otherwise.
    pub fn set_progress(&mut self, progress: u32) {
        if self.model.status.is_busy() {
            self.model.progress = progress.min(99);
        }
    }

    /// Ends training or upgrading: `available`, progress 100, the vocabulary kept for jobs,
    /// and `warnings` naming corpora that were left out; or `failed` with the error (the
    /// previous vocabulary stays stored, but [`ModelState::is_usable_by`] refuses a failed
    /// model). Ignored unless training or upgrading.
    pub fn finish_training(&mut self, result: Result<Vocabulary, String>, now: Timestamp) {
        if !self.model.status.is_busy() {
            return;
        }
        self.model.updated = now;
        match result {
            Ok(v) => {
                let all = self
                    .train_options
                    .as_ref()
                    .is_none_or(|o| o.word_type_to_add == WordTypeToAdd::All);
                self.model.warnings = if all {
                    self.left_out()
                        .map(|p| format!("Training left out what it could not use: {p}"))
                } else {
                    None
                };
                self.model.status = LanguageModelStatus::Available;
                self.model.progress = 100;
                self.model.error = None;
                self.trained = Some(v);
            }
            Err(e) => {
                self.model.status = LanguageModelStatus::Failed;
                self.model.progress = 0;
                self.model.warnings = None;
                self.model.error = Some(e);
            }
        }
    }

    /// Drops every corpus, word and the trained vocabulary (`POST .../reset`); the model keeps
    /// its id, name and base model and is `pending`. 409 while busy or while a corpus is
    /// analysed. The caller deletes the corpus texts.
    pub fn reset(&mut self, now: Timestamp) -> Result<(), CustomError> {
        self.check_not_busy()?;
        self.check_no_analysis()?;
        self.corpora.clear();
        self.user_words.clear();
        self.trained = None;
        self.train_options = None;
        self.model.status = LanguageModelStatus::Pending;
        self.model.progress = 0;
        self.model.warnings = None;
        self.model.error = None;
        self.model.updated = now;
        Ok(())
    }

    /// Starts an upgrade (`POST .../upgrade_model`): status `upgrading`; the caller then runs
    /// [`ModelState::train`] with [`ModelState::upgrade_options`] and
    /// [`ModelState::finish_training`], which makes it `available` again. There is one version
    /// of each base model, so an upgrade is a retraining on the current words.
    ///
    /// 409 while busy or while a corpus is analysed; 400 if the model was never trained.
    pub fn begin_upgrade(&mut self, now: Timestamp) -> Result<(), CustomError> {
        self.check_not_busy()?;
        self.check_no_analysis()?;
        if self.trained.is_none() {
            return Err(CustomError::Invalid(format!(
                "Customization {} has not been trained: train it before upgrading it",
                self.id()
            )));
        }
        self.model.status = LanguageModelStatus::Upgrading;
        self.model.progress = 0;
        self.model.error = None;
        self.model.updated = now;
        Ok(())
    }

    /// The options an upgrade trains with: those of the training begun last.
    pub fn upgrade_options(&self) -> TrainOptions {
        self.train_options.clone().unwrap_or_default()
    }

    /// After a restart, nothing is training or analysing any more: a model left `training` or
    /// `upgrading` becomes `failed` and a corpus left `being_processed` becomes `undetermined`,
    /// each with an error saying to try again. Returns whether anything changed (then save it).
    pub fn interrupted(&mut self, now: Timestamp) -> bool {
        let mut changed = false;
        for c in self.corpora.values_mut() {
            if c.corpus.status == CorpusStatus::BeingProcessed {
                c.corpus.status = CorpusStatus::Undetermined;
                c.corpus.error = Some(
                    "The analysis was interrupted by a restart of the service: add the corpus again"
                        .to_string(),
                );
                c.oov.clear();
                changed = true;
            }
        }
        if self.model.status.is_busy() {
            let what = self.model.status.as_str();
            self.model.status = LanguageModelStatus::Failed;
            self.model.progress = 0;
            self.model.error = Some(format!(
                "The model stopped {what} when the service restarted: train it again"
            ));
            self.model.updated = now;
            return true;
        }
        if changed {
            self.data_changed(now);
        }
        changed
    }

    /// The vocabulary a batch job recognises with, when it asks for this model with `base`:
    /// the last successful training, whatever the status now (the trained version stays usable
    /// until the model is trained again), unless the model failed its last training. Errs
    /// (the REST layer answers 400 with the message) when the model was never trained, failed,
    /// or is for another base model.
    pub fn is_usable_by(&self, base: ModelName) -> Result<&Vocabulary, String> {
        let id = self.id();
        if self.model.status == LanguageModelStatus::Failed {
            return Err(format!(
                "Custom model {id} is not available: its last training failed ({}). Train it again",
                self.model.error.as_deref().unwrap_or("no reason recorded")
            ));
        }
        let Some(v) = &self.trained else {
            return Err(format!(
                "Custom model {id} is not available: it has not been trained (status {}). Train it before using it",
                self.model.status.as_str()
            ));
        };
        if self.model.base_model_name != base {
            return Err(format!(
                "Custom model {id} is for base model {}, which does not match the requested model {base}",
                self.model.base_model_name
            ));
        }
        Ok(v)
    }
}

/// 400 for a corpus name the interface does not allow.
fn validate_corpus_name(name: &str) -> Result<(), CustomError> {
    let invalid = |why: &str| {
        Err(CustomError::Invalid(format!(
            "Invalid corpus name '{name}': {why}"
        )))
    };
    if name.trim().is_empty() {
        return invalid("a name is required");
    }
    if name.chars().count() > MAX_CORPUS_NAME_CHARS {
        return invalid(&format!("use at most {MAX_CORPUS_NAME_CHARS} characters"));
    }
    if name.contains('/') || name.chars().any(char::is_control) {
        return invalid("it may not contain '/' or control characters");
    }
    if RESERVED_CORPUS_NAMES
        .iter()
        .any(|r| r.eq_ignore_ascii_case(name))
    {
        return invalid(&format!(
            "the names {} are reserved",
            RESERVED_CORPUS_NAMES.join(", ")
        ));
    }
    Ok(())
}

/// Checks word `i` of a words request, giving its spelling and what to store.
fn validate_word(i: usize, w: &CustomWord) -> Result<(String, UserWord), CustomError> {
    let word = w.word.as_deref().map(str::trim).unwrap_or_default();
    if word.is_empty() {
        return Err(CustomError::Invalid(format!(
            "Word {} of the request has no \"word\"",
            i + 1
        )));
    }
    let bad = |why: String| {
        Err(CustomError::Invalid(format!(
            "Invalid word '{word}': {why}"
        )))
    };
    if word.chars().any(char::is_whitespace) {
        return bad("a word may not contain spaces; join the parts with '-' or '_'".to_string());
    }
    if !word.chars().any(char::is_alphanumeric) {
        return bad("a word needs at least one letter or digit".to_string());
    }
    let mut sounds_like = Vec::new();
    if let Some(given) = &w.sounds_like {
        if given.len() > MAX_SOUNDS_LIKE {
            return bad(format!(
                "it has {} sounds_like spellings; at most {MAX_SOUNDS_LIKE} are allowed",
                given.len()
            ));
        }
        for s in given {
            let s = s.trim();
            if s.is_empty() {
                return bad("a sounds_like spelling is empty".to_string());
            }
            if s.chars().filter(|c| !c.is_whitespace()).count() > MAX_SOUNDS_LIKE_CHARS {
                return bad(format!(
                    "sounds_like '{s}' is longer than {MAX_SOUNDS_LIKE_CHARS} characters (spaces not counted)"
                ));
            }
            if s.chars().any(char::is_numeric) {
                return bad(format!(
                    "sounds_like '{s}' contains digits; spell numbers out (\"nine\", not \"9\")"
                ));
            }
            if let Some(c) = s.chars().find(|c| {
                !(c.is_alphabetic() || c.is_whitespace() || matches!(c, '.' | '\'' | '-'))
            }) {
                return bad(format!(
                    "sounds_like '{s}' contains '{c}'; use letters, spaces, periods, apostrophes and hyphens"
                ));
            }
            sounds_like.push(s.to_string());
        }
    }
    if let Some(d) = &w.display_as {
        if d.trim().is_empty() {
            return bad("display_as is empty; leave it out to show the word itself".to_string());
        }
    }
    Ok((
        word.to_string(),
        UserWord {
            sounds_like,
            display_as: w.display_as.clone(),
        },
    ))
}

/// Sorts the words listing; alphabetical order is by the words' characters (code points:
/// digits, then capitals, then small letters), and ties of count are alphabetical.
fn sort_words(words: &mut [Word], sort: WordSort) {
    match sort {
        WordSort::AlphabeticalAscending => words.sort_by(|a, b| a.word.cmp(&b.word)),
        WordSort::AlphabeticalDescending => words.sort_by(|a, b| b.word.cmp(&a.word)),
        WordSort::CountAscending => {
            words.sort_by(|a, b| a.count.cmp(&b.count).then_with(|| a.word.cmp(&b.word)))
        }
        WordSort::CountDescending => {
            words.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.word.cmp(&b.word)))
        }
    }
}

#[cfg(test)]
mod tests;
