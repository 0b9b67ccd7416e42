//! The embedded backend's custom language models, on local disk under the data directory:
//!
//! ```text
//! customizations/<customization_id>/model.json                         the model's state
//! customizations/<customization_id>/corpora/<sha256 of the name>.txt   each corpus's text
//! ```
//!
//! `model.json` is a [`ModelState`] (metadata, corpora with their analysis, user words, the
//! trained vocabulary, the options of the last training), replaced atomically after every
//! change, so that a crash leaves the state before or after a change. Everything is 0600 in
//! 0700 folders. Corpus files are named by a digest of the corpus name because a name may hold
//! almost any character.
//!
//! The rules (statuses, limits, what may happen while training) are `speechbatch_custom`'s; this
//! module keeps the state, runs the slow parts and serialises the changes. Each model has one
//! lock: a change takes it, applies the rule to a copy, saves the copy and only then makes it
//! the model's state, all on a blocking thread. Corpus analysis and training run without the
//! lock (on blocking threads), against what they read when they started, and take it again to
//! record their result. Reads of the state never wait for more than one change's save.
//!
//! At start every model is loaded; one found `training` or `upgrading` trains again, a corpus
//! found `being_processed` is analysed again.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use crds::customization::{
    Corpus, CorpusStatus, CreateLanguageModel, CustomWord, LanguageModel, Vocabulary, Word,
};
use crds::{RecognitionParams, Timestamp};
use sha2::{Digest, Sha256};
use speechbatch_custom::{analysis, CustomError, ModelState, TrainOptions, WordSort, WordType};

use super::store::{write_atomic, StoreError};
use crate::customization::backend::{custom_error, oldest_first, unknown_model};
use crate::customization::LanguageModels;
use crate::error::ApiError;

/// One model's state behind its lock.
struct Held {
    state: ModelState,
    dir: PathBuf,
    /// Set once the model is deleted: a change that was waiting for the lock finds it gone.
    deleted: bool,
    /// The analysis run each corpus being processed waits for: a run whose corpus was deleted,
    /// reset or replaced meanwhile does not record its result.
    corpus_runs: HashMap<String, u64>,
}

type Slot = Arc<tokio::sync::Mutex<Held>>;

impl Held {
    fn model_path(&self) -> PathBuf {
        self.dir.join("model.json")
    }

    fn corpus_path(&self, name: &str) -> PathBuf {
        corpus_path(&self.dir, name)
    }

    /// Saves `next` and makes it the model's state.
    fn commit(&mut self, next: ModelState) -> Result<(), ApiError> {
        save_model(&self.model_path(), &next)
            .map_err(|e| ApiError::internal("cannot store the custom language model", e))?;
        self.state = next;
        Ok(())
    }

    /// Applies `change` to a copy of the state and commits it.
    fn change<T>(
        &mut self,
        change: impl FnOnce(&mut ModelState, Timestamp) -> Result<T, CustomError>,
    ) -> Result<T, ApiError> {
        let mut next = self.state.clone();
        let out = change(&mut next, Timestamp::now()).map_err(custom_error)?;
        self.commit(next)?;
        Ok(out)
    }
}

fn corpus_path(dir: &Path, name: &str) -> PathBuf {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    dir.join("corpora").join(format!("{hex}.txt"))
}

fn save_model(path: &Path, state: &ModelState) -> Result<(), StoreError> {
    write_atomic(path, &serde_json::to_vec(state)?, 0o600)
}

fn create_private_dir(path: &Path) -> Result<(), StoreError> {
    crate::private_dir(path).map_err(|source| StoreError::CreateDir {
        path: path.to_owned(),
        source,
    })
}

/// Removes a file that may already be gone; other failures are logged (a stray file costs
/// disk space, never correctness: nothing refers to it any more).
fn remove_file(path: &Path) {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            tracing::warn!(path = %path.display(), %error, "cannot remove a file")
        }
        _ => {}
    }
}

/// Work left unfinished by the previous run of the service.
pub(super) enum Unfinished {
    /// The model was training (or upgrading) with these options.
    Training(String, TrainOptions),
    /// The corpus was being analysed; its run number.
    Analysis(String, String, u64),
}

/// Every custom language model of the service.
pub(super) struct CustomStore {
    root: PathBuf,
    models: Mutex<BTreeMap<String, Slot>>,
    next_run: AtomicU64,
}

impl CustomStore {
    /// Opens (creating) `customizations/` under `data_dir` and loads every model; returns the
    /// work to resume ([`CustomStore::resume`]). Blocks: called once at start.
    pub(super) fn open(data_dir: &Path) -> Result<(Arc<Self>, Vec<Unfinished>), StoreError> {
        let root = data_dir.join("customizations");
        create_private_dir(&root)?;
        let list = |source| StoreError::List {
            path: root.clone(),
            source,
        };
        let mut models = BTreeMap::new();
        let mut unfinished = Vec::new();
        let mut run = 0;
        for entry in fs::read_dir(&root).map_err(list)? {
            let dir = entry.map_err(list)?.path();
            let Some(name) = dir.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            if name.starts_with(".deleted-") {
                // A delete that crashed between its rename and its removal.
                if let Err(error) = fs::remove_dir_all(&dir) {
                    tracing::warn!(path = %dir.display(), %error, "cannot remove a deleted model");
                }
                continue;
            }
            if uuid::Uuid::parse_str(&name).is_err() || !dir.is_dir() {
                continue;
            }
            let state: ModelState = match fs::read(dir.join("model.json"))
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(s) => s,
                Err(error) => {
                    tracing::error!(path = %dir.display(), %error, "skipping unreadable custom language model");
                    continue;
                }
            };
            let mut held = Held {
                state,
                dir,
                deleted: false,
                corpus_runs: HashMap::new(),
            };
            if held.state.model.status.is_busy() {
                // Training and upgrading both train with the options of the training begun
                // last.
                let options = held.state.upgrade_options();
                unfinished.push(Unfinished::Training(name.clone(), options));
            }
            for c in held.state.corpora() {
                if c.status == CorpusStatus::BeingProcessed {
                    run += 1;
                    held.corpus_runs.insert(c.name.clone(), run);
                    unfinished.push(Unfinished::Analysis(name.clone(), c.name, run));
                }
            }
            models.insert(name, Arc::new(tokio::sync::Mutex::new(held)));
        }
        tracing::info!(models = models.len(), "custom language models loaded");
        let store = Arc::new(Self {
            root,
            models: Mutex::new(models),
            next_run: AtomicU64::new(run + 1),
        });
        Ok((store, unfinished))
    }

    /// Restarts what the previous run left unfinished (on the current Tokio runtime).
    pub(super) fn resume(self: &Arc<Self>, unfinished: Vec<Unfinished>) {
        for work in unfinished {
            match work {
                Unfinished::Training(id, options) => {
                    tracing::info!(customization_id = %id, "training again after restart");
                    self.spawn_training(id, options);
                }
                Unfinished::Analysis(id, corpus, run) => {
                    tracing::info!(customization_id = %id, %corpus, "analysing a corpus again after restart");
                    self.spawn_analysis(id, corpus, run, None);
                }
            }
        }
    }

    fn slot(&self, id: &str) -> Result<Slot, ApiError> {
        self.models
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
            .ok_or_else(|| unknown_model(id))
    }

    /// Runs `f` on the model's state under its lock, on a blocking thread (it may read, copy
    /// or write files). 404 for an unknown or deleted model.
    async fn with_held<T: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Held) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let slot = self.slot(id)?;
        let guard = slot.lock_owned().await;
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            let mut held = guard;
            if held.deleted {
                return Err(unknown_model(&id));
            }
            f(&mut held)
        })
        .await
        .map_err(|e| ApiError::internal("a change of a custom language model failed", e))?
    }

    /// A change by one of the model's rules, saved before it is seen.
    async fn change<T: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(&mut ModelState, Timestamp) -> Result<T, CustomError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.with_held(id, move |held| held.change(f)).await
    }

    /// Something read from the model's state (on a blocking thread: a list may be long).
    async fn read<T: Send + 'static>(
        &self,
        id: &str,
        f: impl FnOnce(&ModelState) -> Result<T, CustomError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.with_held(id, move |held| f(&held.state).map_err(custom_error))
            .await
    }

    /// The model's metadata: small, copied on the async thread.
    async fn model(&self, id: &str) -> Result<LanguageModel, ApiError> {
        let slot = self.slot(id)?;
        let held = slot.lock().await;
        if held.deleted {
            return Err(unknown_model(id));
        }
        Ok(held.state.model.clone())
    }

    /// The copy of a model's trained vocabulary a batch (or one request) recognises with,
    /// carrying the weight it will use: the request's, else the one saved at training, else the
    /// default. Every reason the model cannot be used is a 400 naming it.
    pub(super) async fn vocabulary_for(
        &self,
        id: &str,
        params: &RecognitionParams,
    ) -> Result<Vocabulary, ApiError> {
        let (base, requested) = (params.model, params.customization_weight);
        let shown = crate::error::shown(id);
        let slot = self.slot(id).map_err(|_| {
            ApiError::bad_request(format!(
                "Custom language model '{shown}' (language_customization_id) not found: GET /v1/customizations lists the models"
            ))
        })?;
        let guard = slot.lock_owned().await;
        let found = tokio::task::spawn_blocking(move || {
            if guard.deleted {
                return Err(format!(
                    "Custom language model '{shown}' (language_customization_id) not found: GET /v1/customizations lists the models"
                ));
            }
            let mut vocabulary = guard.state.is_usable_by(base)?.clone();
            vocabulary.customization_weight = Some(vocabulary.weight(requested));
            Ok(vocabulary)
        })
        .await
        .map_err(|e| ApiError::internal("cannot read the custom language model", e))?;
        found.map_err(ApiError::bad_request)
    }

    /// Trains in the background: the compute runs on a copy, without the model's lock, and its
    /// result (a vocabulary, or why training failed) is recorded when it ends.
    fn spawn_training(self: &Arc<Self>, id: String, options: TrainOptions) {
        let store = self.clone();
        tokio::spawn(async move {
            let snapshot = match store.read(&id, |s| Ok(s.clone())).await {
                Ok(s) => s,
                Err(error) => {
                    tracing::warn!(customization_id = %id, %error, "training dropped");
                    return;
                }
            };
            let started = std::time::Instant::now();
            let trained =
                tokio::task::spawn_blocking(move || snapshot.train(&options, Timestamp::now()))
                    .await
                    .unwrap_or_else(|e| Err(format!("training stopped unexpectedly: {e}")));
            let outcome = trained
                .as_ref()
                .map(|v| v.words.len())
                .map_err(String::clone);
            let recorded = store
                .change(&id, move |s, now| {
                    s.finish_training(trained, now);
                    Ok(())
                })
                .await;
            match (recorded, outcome) {
                (Err(error), _) => {
                    tracing::error!(customization_id = %id, %error, "cannot record the end of training")
                }
                (Ok(()), Ok(words)) => tracing::info!(
                    customization_id = %id,
                    words,
                    seconds = started.elapsed().as_secs_f32(),
                    "custom language model trained"
                ),
                (Ok(()), Err(error)) => {
                    tracing::warn!(customization_id = %id, %error, "training failed")
                }
            }
        });
    }

    /// Analyses a corpus in the background (`text`, or its file when `None`), and records the
    /// result unless the corpus was replaced, deleted or reset meanwhile.
    fn spawn_analysis(
        self: &Arc<Self>,
        id: String,
        corpus: String,
        run: u64,
        text: Option<String>,
    ) {
        let store = self.clone();
        let path = corpus_path(&self.root.join(&id), &corpus);
        tokio::spawn(async move {
            let analysed = tokio::task::spawn_blocking(move || {
                let text = match text {
                    Some(t) => t,
                    None => fs::read_to_string(&path)
                        .map_err(|e| format!("the corpus text cannot be read back: {e}"))?,
                };
                Ok(analysis::analyze(&text))
            })
            .await
            .unwrap_or_else(|e| Err(format!("analysis stopped unexpectedly: {e}")));
            let name = corpus.clone();
            let recorded = store
                .with_held(&id, move |held| {
                    if held.corpus_runs.get(&name) != Some(&run) {
                        return Ok(false);
                    }
                    held.change(|s, now| {
                        s.finish_corpus(&name, analysed, now);
                        Ok(())
                    })?;
                    held.corpus_runs.remove(&name);
                    Ok(true)
                })
                .await;
            match recorded {
                Ok(true) => tracing::info!(customization_id = %id, %corpus, "corpus analysed"),
                Ok(false) => {
                    tracing::debug!(customization_id = %id, %corpus, "corpus changed during its analysis")
                }
                // The model was deleted meanwhile.
                Err(error) if error.status == 404 => {
                    tracing::debug!(customization_id = %id, %corpus, "model deleted during the analysis of its corpus")
                }
                Err(error) => {
                    tracing::warn!(customization_id = %id, %corpus, %error, "corpus analysis not recorded")
                }
            }
        });
    }
}

/// The models of the embedded backend, as the REST API sees them
/// ([`Embedded::language_models`](super::Embedded::language_models)).
#[async_trait]
impl LanguageModels for Arc<CustomStore> {
    async fn create_model(&self, request: CreateLanguageModel) -> Result<String, ApiError> {
        let custom = self.clone();
        let id = uuid::Uuid::new_v4().to_string();
        let state =
            ModelState::new(id.clone(), &request, Timestamp::now()).map_err(custom_error)?;
        let dir = custom.root.join(&id);
        let held = tokio::task::spawn_blocking(move || {
            create_private_dir(&dir.join("corpora"))?;
            let held = Held {
                state,
                dir,
                deleted: false,
                corpus_runs: HashMap::new(),
            };
            save_model(&held.model_path(), &held.state)?;
            Ok::<_, StoreError>(held)
        })
        .await
        .map_err(|e| ApiError::internal("cannot store the custom language model", e))?
        .map_err(|e| ApiError::internal("cannot store the custom language model", e))?;
        custom
            .models
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.clone(), Arc::new(tokio::sync::Mutex::new(held)));
        Ok(id)
    }

    async fn list_models(&self, language: Option<String>) -> Result<Vec<LanguageModel>, ApiError> {
        let slots: Vec<Slot> = self
            .models
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        let mut models = Vec::with_capacity(slots.len());
        for slot in slots {
            let held = slot.lock().await;
            if !held.deleted
                && language
                    .as_ref()
                    .is_none_or(|l| *l == held.state.model.language)
            {
                models.push(held.state.model.clone());
            }
        }
        oldest_first(&mut models);
        Ok(models)
    }

    async fn get_model(&self, id: &str) -> Result<LanguageModel, ApiError> {
        self.model(id).await
    }

    async fn delete_model(&self, id: &str) -> Result<(), ApiError> {
        let custom = self.clone();
        let trash = custom.root.join(format!(".deleted-{id}"));
        let shown = crate::error::shown(id);
        custom
            .with_held(id, move |held| {
                if held.state.model.status.is_busy() {
                    return Err(ApiError::new(
                        409,
                        format!(
                            "Custom language model '{shown}' is {}: it can be deleted once that ends",
                            held.state.model.status.as_str()
                        ),
                    ));
                }
                // Renamed first, so that the model is gone at once even if removing its files
                // takes long or fails (a later start removes what is left).
                fs::rename(&held.dir, &trash)
                    .map_err(|e| ApiError::internal("cannot delete the custom language model", e))?;
                held.deleted = true;
                if let Err(error) = fs::remove_dir_all(&trash) {
                    tracing::warn!(path = %trash.display(), %error, "cannot remove a deleted model's files");
                }
                Ok(())
            })
            .await?;
        custom
            .models
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        Ok(())
    }

    async fn train(&self, id: &str, options: TrainOptions) -> Result<(), ApiError> {
        let saved = options.clone();
        self.change(id, move |s, now| s.begin_training(&saved, now))
            .await?;
        self.spawn_training(id.to_string(), options);
        Ok(())
    }

    async fn reset(&self, id: &str) -> Result<(), ApiError> {
        self.with_held(id, |held| {
            held.change(|s, now| s.reset(now))?;
            held.corpus_runs.clear();
            if let Ok(files) = fs::read_dir(held.dir.join("corpora")) {
                for f in files.flatten() {
                    remove_file(&f.path());
                }
            }
            Ok(())
        })
        .await
    }

    async fn upgrade(&self, id: &str) -> Result<(), ApiError> {
        let options = self
            .change(id, |s, now| {
                s.begin_upgrade(now)?;
                Ok(s.upgrade_options())
            })
            .await?;
        self.spawn_training(id.to_string(), options);
        Ok(())
    }

    async fn add_corpus(
        &self,
        id: &str,
        name: &str,
        text: Vec<u8>,
        allow_overwrite: bool,
    ) -> Result<(), ApiError> {
        let custom = self.clone();
        custom.slot(id)?;
        // Up to 64 MiB to check: off the async threads.
        let text = tokio::task::spawn_blocking(move || ModelState::validate_corpus_text(&text))
            .await
            .map_err(|e| ApiError::internal("cannot read the corpus", e))?
            .map_err(custom_error)?;
        let run = custom.next_run.fetch_add(1, Ordering::Relaxed);
        let corpus = name.to_string();
        let text = custom
            .with_held(id, move |held| {
                let mut next = held.state.clone();
                next.begin_corpus(&corpus, allow_overwrite, Timestamp::now())
                    .map_err(custom_error)?;
                // The text first: the saved state then never names a corpus without its text.
                write_atomic(&held.corpus_path(&corpus), text.as_bytes(), 0o600)
                    .map_err(|e| ApiError::internal("cannot store the corpus", e))?;
                held.commit(next)?;
                held.corpus_runs.insert(corpus, run);
                Ok(text)
            })
            .await?;
        custom.spawn_analysis(id.to_string(), name.to_string(), run, Some(text));
        Ok(())
    }

    async fn list_corpora(&self, id: &str) -> Result<Vec<Corpus>, ApiError> {
        self.read(id, |s| Ok(s.corpora())).await
    }

    async fn get_corpus(&self, id: &str, name: &str) -> Result<Corpus, ApiError> {
        let name = name.to_string();
        self.read(id, move |s| s.corpus(&name)).await
    }

    async fn delete_corpus(&self, id: &str, name: &str) -> Result<(), ApiError> {
        let name = name.to_string();
        self.with_held(id, move |held| {
            held.change(|s, now| s.delete_corpus(&name, now))?;
            held.corpus_runs.remove(&name);
            remove_file(&held.corpus_path(&name));
            Ok(())
        })
        .await
    }

    async fn add_words(&self, id: &str, words: Vec<CustomWord>) -> Result<(), ApiError> {
        self.change(id, move |s, now| s.add_words(&words, now))
            .await
    }

    async fn put_word(&self, id: &str, word: &str, definition: CustomWord) -> Result<(), ApiError> {
        let word = word.to_string();
        self.change(id, move |s, now| s.put_word(&word, &definition, now))
            .await
    }

    async fn list_words(
        &self,
        id: &str,
        word_type: WordType,
        sort: WordSort,
    ) -> Result<Vec<Word>, ApiError> {
        self.read(id, move |s| Ok(s.words(word_type, sort))).await
    }

    async fn get_word(&self, id: &str, word: &str) -> Result<Word, ApiError> {
        let word = word.to_string();
        self.read(id, move |s| s.word(&word)).await
    }

    async fn delete_word(&self, id: &str, word: &str) -> Result<(), ApiError> {
        let word = word.to_string();
        self.change(id, move |s, now| s.delete_word(&word, now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use crds::ModelName;
    use speechbatch_testkit::wait_for;

    use super::*;

    const CORPUS: &str =
        "Restart the Quorbit router, then the Zentraphone.\nThe Quorbit light turns green.\n";

    fn open(dir: &Path) -> Arc<CustomStore> {
        let (store, unfinished) = CustomStore::open(dir).unwrap();
        store.resume(unfinished);
        store
    }

    async fn create(store: &Arc<CustomStore>, base: ModelName) -> String {
        store
            .create_model(CreateLanguageModel {
                name: "support".into(),
                base_model_name: base.as_str().into(),
                dialect: None,
                description: None,
            })
            .await
            .unwrap()
    }

    fn word(w: &str) -> CustomWord {
        CustomWord {
            word: Some(w.into()),
            ..CustomWord::default()
        }
    }

    async fn wait_model(store: &Arc<CustomStore>, id: &str, status: &str) -> LanguageModel {
        wait_for(
            format!("model {id} is {status}"),
            Duration::from_secs(30),
            async || {
                let m = store.get_model(id).await.unwrap();
                (m.status.as_str() == status).then_some(m)
            },
        )
        .await
    }

    async fn wait_corpus(store: &Arc<CustomStore>, id: &str, name: &str) -> Corpus {
        wait_for(
            format!("corpus {name} is analysed"),
            Duration::from_secs(30),
            async || {
                let c = store.get_corpus(id, name).await.unwrap();
                (c.status != CorpusStatus::BeingProcessed).then_some(c)
            },
        )
        .await
    }

    /// Puts the model in `training` as `POST .../train` does, without starting the compute:
    /// the model stays busy until the test ends it.
    async fn hold_training(store: &Arc<CustomStore>, id: &str) {
        store
            .change(id, |s, now| s.begin_training(&TrainOptions::default(), now))
            .await
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn while_a_model_trains_every_change_and_its_deletion_are_refused_with_409() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let id = create(&store, ModelName::Broadband).await;
        store
            .add_words(&id, vec![word("Zentraphone")])
            .await
            .unwrap();
        hold_training(&store, &id).await;
        assert_eq!(
            store.get_model(&id).await.unwrap().status.as_str(),
            "training"
        );
        let conflicts = [
            store.train(&id, TrainOptions::default()).await,
            store.upgrade(&id).await,
            store.reset(&id).await,
            store.delete_model(&id).await,
            store.add_words(&id, vec![word("Quorbit")]).await,
            store.put_word(&id, "Quorbit", CustomWord::default()).await,
            store.delete_word(&id, "Zentraphone").await,
            store
                .add_corpus(&id, "calls", CORPUS.as_bytes().to_vec(), false)
                .await,
        ];
        for (i, result) in conflicts.into_iter().enumerate() {
            let e = result.unwrap_err();
            assert_eq!(e.status, 409, "operation {i}: {e}");
        }
        // Reads go on meanwhile.
        assert_eq!(
            store
                .list_words(&id, WordType::All, WordSort::default())
                .await
                .unwrap()
                .len(),
            1
        );
        // Once training ends the model can be deleted, with its files.
        store
            .change(&id, |s, now| {
                let trained = s.train(&TrainOptions::default(), now);
                s.finish_training(trained, now);
                Ok(())
            })
            .await
            .unwrap();
        store.delete_model(&id).await.unwrap();
        assert_eq!(store.get_model(&id).await.unwrap_err().status, 404);
        assert_eq!(store.delete_model(&id).await.unwrap_err().status, 404);
        assert!(!dir.path().join("customizations").join(&id).exists());
        assert_eq!(store.list_models(None).await.unwrap(), []);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn models_survive_a_restart_privately_and_interrupted_work_is_done_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let trained = create(&store, ModelName::Broadband).await;
        store
            .add_corpus(&trained, "calls", CORPUS.as_bytes().to_vec(), false)
            .await
            .unwrap();
        let analysed = wait_corpus(&store, &trained, "calls").await;
        assert_eq!(analysed.status, CorpusStatus::Analyzed, "{analysed:?}");
        store
            .train(
                &trained,
                TrainOptions {
                    customization_weight: Some(0.7),
                    ..TrainOptions::default()
                },
            )
            .await
            .unwrap();
        wait_model(&store, &trained, "available").await;
        // Left training, and a corpus left being analysed, as a crash would leave them.
        hold_training(&store, &trained).await;
        let analysing = create(&store, ModelName::Narrowband).await;
        store
            .with_held(&analysing, |held| {
                held.change(|s, now| s.begin_corpus("late", false, now))?;
                write_atomic(&held.corpus_path("late"), CORPUS.as_bytes(), 0o600)
                    .map_err(|e| ApiError::internal("test", e))
            })
            .await
            .unwrap();
        let before = store.list_models(None).await.unwrap();
        drop(store);

        let store = open(dir.path());
        let after = store.list_models(None).await.unwrap();
        assert_eq!(
            after
                .iter()
                .map(|m| &m.customization_id)
                .collect::<Vec<_>>(),
            before
                .iter()
                .map(|m| &m.customization_id)
                .collect::<Vec<_>>()
        );
        let m = wait_model(&store, &trained, "available").await;
        assert_eq!(m.progress, 100);
        let late = wait_corpus(&store, &analysing, "late").await;
        assert_eq!(
            (late.status, late.total_words),
            (CorpusStatus::Analyzed, analysed.total_words),
            "{late:?}"
        );
        // The options of the interrupted training were kept: the weight is still the one saved.
        let params = RecognitionParams::default();
        let v = store.vocabulary_for(&trained, &params).await.unwrap();
        assert_eq!(v.customization_weight, Some(0.7));
        // Private to the service's user.
        let model_dir = dir.path().join("customizations").join(&trained);
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("customizations")), 0o700);
        assert_eq!(mode(&model_dir.join("model.json")), 0o600);
        assert_eq!(mode(&corpus_path(&model_dir, "calls")), 0o600);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_batch_gets_a_copy_of_the_trained_vocabulary_carrying_the_weight_it_will_use() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let broadband = RecognitionParams::default();
        let e = store
            .vocabulary_for("nonesuch", &broadband)
            .await
            .unwrap_err();
        assert!(e.status == 400 && e.message.contains("nonesuch"), "{e}");
        let id = create(&store, ModelName::Broadband).await;
        let e = store.vocabulary_for(&id, &broadband).await.unwrap_err();
        assert!(e.status == 400 && e.message.contains("trained"), "{e}");
        store
            .add_words(&id, vec![word("Zentraphone")])
            .await
            .unwrap();
        store.train(&id, TrainOptions::default()).await.unwrap();
        wait_model(&store, &id, "available").await;
        let narrowband = RecognitionParams {
            model: ModelName::Narrowband,
            ..RecognitionParams::default()
        };
        let e = store.vocabulary_for(&id, &narrowband).await.unwrap_err();
        assert!(
            e.status == 400 && e.message.contains("en-US_NarrowbandModel"),
            "{e}"
        );
        // No weight saved at training: the request's, else the default.
        let v = store.vocabulary_for(&id, &broadband).await.unwrap();
        assert_eq!(v.customization_weight, Some(0.3));
        assert_eq!(v.words[0].display_as, "Zentraphone");
        let heavy = RecognitionParams {
            customization_weight: Some(0.9),
            ..RecognitionParams::default()
        };
        assert_eq!(
            store
                .vocabulary_for(&id, &heavy)
                .await
                .unwrap()
                .customization_weight,
            Some(0.9)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_analysis_overtaken_by_a_newer_one_of_the_same_corpus_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        let id = create(&store, ModelName::Broadband).await;
        let current = store
            .with_held(&id, |held| {
                held.change(|s, now| s.begin_corpus("c", false, now))?;
                held.corpus_runs.insert("c".into(), 2);
                Ok(2)
            })
            .await
            .unwrap();
        // The stale run has more words; whichever ends first, only the current one counts.
        store.spawn_analysis(id.clone(), "c".into(), 1, Some(format!("{CORPUS}{CORPUS}")));
        store.spawn_analysis(id.clone(), "c".into(), current, Some(CORPUS.into()));
        let c = wait_corpus(&store, &id, "c").await;
        let alone = analysis::analyze(CORPUS).total_words;
        assert_eq!(c.total_words, alone, "{c:?}");
    }
}
