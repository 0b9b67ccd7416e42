//! Custom language models on Kubernetes: `/v1/customizations` mapped onto LanguageModel
//! resources, with corpus texts in the model store (an S3 bucket) so that a corpus of millions
//! of words never goes into etcd.
//!
//! The operator does the work (corpus analysis, training, the status); this backend checks each
//! change with the embedded service's rules, on the resource's spec and the corpus analyses the
//! operator stored, replayed into a [`ModelState`] (`speechbatch_custom::resource`), then writes
//! the spec:
//!
//! - words go into `spec.words` (so a model created over REST reads as one applied with
//!   kubectl); a word deleted from a corpus's list goes into that corpus's `excludedWords`;
//! - a corpus text goes to the store, then its reference and sha256 into `spec.corpora`;
//! - train and upgrade raise `spec.training.request`: from then until the operator has handled
//!   it, the model is `training` (or `upgrading`), so a second operation is a 409 at once.
//!
//! Each change is a read-check-replace on the resource's `resourceVersion`, retried when
//! another writer (the operator's status, a second client) got there first, so two clients can
//! never both train, or both add a corpus of one name.

use std::collections::BTreeMap;

use async_trait::async_trait;
use crds::customization::{
    Corpus, CreateLanguageModel, CustomWord, LanguageModel as RestModel, Vocabulary, Word,
};
use crds::language_model::{
    corpus_analysis_key, corpus_text_key, CorpusRef, LanguageModel, LanguageModelSpec,
    LanguageModelStatusFields, SpecWord, TrainingSpec, WordTypeToAdd, CREATED_ANNOTATION,
};
use crds::{RecognitionParams, Timestamp};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::Api;
use sha2::{Digest, Sha256};
use speechbatch_custom::resource::{
    derive_status, model_state, next_training_request, rest_model, StoredAnalysis,
};
use speechbatch_custom::{ModelState, TrainOptions, WordSort, WordType};
use speechbatch_storage::{Bucket, StorageError, StorageErrorKind};

use crate::customization::backend::{custom_error, oldest_first, unknown_model, LanguageModels};
use crate::error::ApiError;

/// Largest analysis or vocabulary object read from the store (a 90,000-word model's vocabulary
/// is a few MB).
const MAX_JSON_BYTES: u64 = 64 << 20;

/// How often a change is tried again when the resource changed under it.
const MAX_ATTEMPTS: usize = 8;

/// LanguageModel resources in one namespace and the model store.
pub struct LanguageModelResources {
    models: Api<LanguageModel>,
    store: Bucket,
}

/// One model as the REST API sees it now.
struct View {
    /// The resource as read (its `resourceVersion` guards the write).
    resource: LanguageModel,
    /// Its status as the REST API shows it (derived from the spec now, not as last written).
    status: LanguageModelStatusFields,
    /// The model's rules and data, its status as the REST API shows it.
    state: ModelState,
}

fn store_error(e: StorageError) -> ApiError {
    tracing::warn!(error = %e, "model store");
    ApiError::new(
        503,
        "The model store of custom language models cannot be reached: try again",
    )
}

fn kube_error(context: &str, e: kube::Error) -> ApiError {
    ApiError::internal(context, e)
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// A customization id this backend could have made: a resource name (RFC 1123 subdomain).
/// Anything else names no model (and never reaches the API server's URL).
fn is_resource_name(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 253
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl LanguageModelResources {
    /// The models of `namespace`, their texts and vocabularies in `store`.
    pub fn new(client: kube::Client, namespace: &str, store: Bucket) -> Self {
        Self {
            models: Api::namespaced(client, namespace),
            store,
        }
    }

    async fn resource(&self, id: &str) -> Result<LanguageModel, ApiError> {
        if !is_resource_name(id) {
            return Err(unknown_model(id));
        }
        match self.models.get_opt(id).await {
            // A model being deleted (the operator's finalizer is removing its store objects)
            // is already gone for the REST API.
            Ok(Some(lm)) if lm.metadata.deletion_timestamp.is_none() => Ok(lm),
            Ok(_) => Err(unknown_model(id)),
            Err(e) => Err(kube_error("cannot read the LanguageModel", e)),
        }
    }

    /// The stored analyses of the model's corpora (missing ones are still being analysed).
    async fn analyses(
        &self,
        lm: &LanguageModel,
    ) -> Result<BTreeMap<String, StoredAnalysis>, ApiError> {
        let id = lm.metadata.name.as_deref().unwrap_or_default();
        let reads = lm.spec.corpora.iter().map(|c| async move {
            let key = corpus_analysis_key(id, &c.name);
            match self.store.get(&key, MAX_JSON_BYTES).await {
                Ok(bytes) => Ok(serde_json::from_slice::<StoredAnalysis>(&bytes)
                    .ok()
                    .map(|a| (c.name.clone(), a))),
                Err(e) if e.kind == StorageErrorKind::NotFound => Ok(None),
                Err(e) => Err(store_error(e)),
            }
        });
        let found = futures::future::try_join_all(reads).await?;
        Ok(found.into_iter().flatten().collect())
    }

    /// The model's status as the REST API shows it, and its state (`Err`: the spec breaks a
    /// rule, e.g. a word applied with kubectl that the REST API would have refused).
    async fn status_and_state(
        &self,
        lm: &LanguageModel,
    ) -> Result<(LanguageModelStatusFields, Result<ModelState, String>), ApiError> {
        let id = lm.metadata.name.clone().unwrap_or_default();
        let analyses = self.analyses(lm).await?;
        let now = Timestamp::now();
        let state = model_state(&id, &lm.spec, &analyses, None, now);
        let status = derive_status(lm, state.as_ref().map_err(String::as_str), now);
        Ok((status, state))
    }

    async fn rest_view(&self, lm: &LanguageModel) -> Result<RestModel, ApiError> {
        let (status, _) = self.status_and_state(lm).await?;
        Ok(rest_model(lm, &status))
    }

    /// One model, its state carrying the status the REST API shows (so that the state's rules
    /// refuse a change while it trains).
    async fn view(&self, id: &str) -> Result<View, ApiError> {
        let resource = self.resource(id).await?;
        let (status, state) = self.status_and_state(&resource).await?;
        let mut state = state.map_err(|e| {
            ApiError::new(
                409,
                format!(
                    "Custom language model {id} has a LanguageModel spec that is not valid ({e}): fix it with kubectl first"
                ),
            )
        })?;
        state.model = rest_model(&resource, &status);
        Ok(View {
            resource,
            status,
            state,
        })
    }

    /// The vocabulary of the model's last successful training.
    async fn trained(
        &self,
        status: &LanguageModelStatusFields,
    ) -> Result<Option<Vocabulary>, ApiError> {
        let Some(t) = status.trained.as_ref() else {
            return Ok(None);
        };
        match self.store.get(&t.object, MAX_JSON_BYTES).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ApiError::internal("the trained vocabulary cannot be read", e)),
            Err(e) if e.kind == StorageErrorKind::NotFound => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Reads the model, lets `change` check the change on its state and give the new spec,
    /// and writes it if nothing changed meanwhile (else reads and tries again).
    async fn update<F>(&self, id: &str, change: F) -> Result<LanguageModel, ApiError>
    where
        F: Fn(&mut View) -> Result<LanguageModelSpec, ApiError>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let mut view = self.view(id).await?;
            let spec = change(&mut view)?;
            let mut lm = view.resource;
            lm.spec = spec;
            match self.models.replace(id, &PostParams::default(), &lm).await {
                Ok(written) => return Ok(written),
                Err(e) if is_status(&e, 409) => continue,
                Err(e) if is_status(&e, 404) => return Err(unknown_model(id)),
                Err(e) => return Err(kube_error("cannot update the LanguageModel", e)),
            }
        }
        Err(ApiError::new(
            409,
            format!("Custom language model {id} is being changed by another request: try again"),
        ))
    }

    /// Deletes store objects, logging (not failing on) what cannot be deleted: they belong to
    /// no corpus any more, and go with the model.
    async fn delete_objects(&self, keys: &[String]) {
        for key in keys {
            if let Err(e) = self.store.delete(key).await {
                tracing::warn!(%key, error = %e, "cannot delete a model store object");
            }
        }
    }

    /// The vocabulary a batch with `params` recognises with: the model's last training, with
    /// the weight the job uses (the request's, else the saved one, else the default). 400
    /// naming the problem when the model does not exist, was never trained, failed or is for
    /// another base model.
    pub async fn vocabulary_for(
        &self,
        id: &str,
        params: &RecognitionParams,
    ) -> Result<Vocabulary, ApiError> {
        let not_found = || {
            ApiError::bad_request(format!(
                "Custom language model '{}' (language_customization_id) not found: GET /v1/customizations lists the models",
                crate::error::shown(id)
            ))
        };
        let mut view = match self.view(id).await {
            Ok(v) => v,
            Err(e) if e.status == 404 => return Err(not_found()),
            Err(e) if e.status == 409 => return Err(ApiError::bad_request(e.message)),
            Err(e) => return Err(e),
        };
        view.state.trained = self.trained(&view.status).await?;
        let mut vocabulary = view
            .state
            .is_usable_by(params.model)
            .map_err(ApiError::bad_request)?
            .clone();
        vocabulary.customization_weight = Some(vocabulary.weight(params.customization_weight));
        Ok(vocabulary)
    }

    /// Stores a batch's frozen copy of its vocabulary.
    pub async fn put_vocabulary(&self, key: &str, vocabulary: &Vocabulary) -> Result<(), ApiError> {
        let body = serde_json::to_vec(vocabulary).expect("a vocabulary serializes");
        self.store
            .put(key, body, "application/json")
            .await
            .map_err(store_error)
    }

    /// Removes a batch's frozen vocabulary (a batch that could not be created).
    pub async fn delete_vocabulary(&self, key: &str) {
        self.delete_objects(&[key.to_owned()]).await;
    }
}

/// The spec's user words from the state's (after a change checked by the state).
fn spec_words(state: &ModelState) -> Vec<SpecWord> {
    state
        .user_words
        .iter()
        .map(|(word, w)| SpecWord {
            word: word.clone(),
            sounds_like: w.sounds_like.clone(),
            display_as: w.display_as.clone(),
        })
        .collect()
}

fn training_spec(request: u32, options: &TrainOptions, upgrade: bool) -> TrainingSpec {
    TrainingSpec {
        request,
        word_type_to_add: Some(match options.word_type_to_add {
            speechbatch_custom::WordTypeToAdd::All => WordTypeToAdd::All,
            speechbatch_custom::WordTypeToAdd::User => WordTypeToAdd::User,
        }),
        customization_weight: options.customization_weight,
        strict: options.strict,
        upgrade,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[async_trait]
impl LanguageModels for LanguageModelResources {
    async fn create_model(&self, request: CreateLanguageModel) -> Result<String, ApiError> {
        let id = uuid::Uuid::new_v4().to_string();
        let now = Timestamp::now();
        let state = ModelState::new(id.clone(), &request, now).map_err(custom_error)?;
        let spec = LanguageModelSpec {
            name: state.model.name.clone(),
            base_model_name: state.model.base_model_name,
            description: state.model.description.clone(),
            dialect: request.dialect.clone(),
            words: Vec::new(),
            corpora: Vec::new(),
            training: None,
        };
        let mut lm = LanguageModel::new(&id, spec);
        lm.metadata.annotations = Some(BTreeMap::from([(
            CREATED_ANNOTATION.to_string(),
            now.to_string(),
        )]));
        self.models
            .create(&PostParams::default(), &lm)
            .await
            .map_err(|e| kube_error("cannot create the LanguageModel", e))?;
        Ok(id)
    }

    async fn list_models(&self, language: Option<String>) -> Result<Vec<RestModel>, ApiError> {
        let list = self
            .models
            .list(&ListParams::default())
            .await
            .map_err(|e| kube_error("cannot list LanguageModels", e))?;
        let live = list
            .items
            .iter()
            .filter(|lm| lm.metadata.deletion_timestamp.is_none());
        let mut models = futures::future::try_join_all(live.map(|lm| self.rest_view(lm))).await?;
        if let Some(language) = language {
            models.retain(|m| m.language.eq_ignore_ascii_case(&language));
        }
        oldest_first(&mut models);
        Ok(models)
    }

    async fn get_model(&self, id: &str) -> Result<RestModel, ApiError> {
        let lm = self.resource(id).await?;
        self.rest_view(&lm).await
    }

    async fn delete_model(&self, id: &str) -> Result<(), ApiError> {
        self.view(id)
            .await?
            .state
            .check_not_busy()
            .map_err(custom_error)?;
        // The operator's finalizer removes the model's store objects; batches keep their
        // own copies of its vocabulary.
        match self.models.delete(id, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, 404) => Err(unknown_model(id)),
            Err(e) => Err(kube_error("cannot delete the LanguageModel", e)),
        }
    }

    async fn train(&self, id: &str, options: TrainOptions) -> Result<(), ApiError> {
        self.update(id, |view| {
            view.state
                .begin_training(&options, Timestamp::now())
                .map_err(custom_error)?;
            let mut spec = view.resource.spec.clone();
            let request = next_training_request(&view.resource);
            spec.training = Some(training_spec(request, &options, false));
            Ok(spec)
        })
        .await
        .map(drop)
    }

    async fn reset(&self, id: &str) -> Result<(), ApiError> {
        let before = self.resource(id).await?;
        let written = self
            .update(id, |view| {
                view.state.reset(Timestamp::now()).map_err(custom_error)?;
                let mut spec = view.resource.spec.clone();
                spec.words.clear();
                spec.corpora.clear();
                Ok(spec)
            })
            .await?;
        let model = written.metadata.name.clone().unwrap_or_default();
        let gone: Vec<String> = before
            .spec
            .corpora
            .iter()
            .flat_map(|c| [c.object.clone(), corpus_analysis_key(&model, &c.name)])
            .collect();
        self.delete_objects(&gone).await;
        Ok(())
    }

    async fn upgrade(&self, id: &str) -> Result<(), ApiError> {
        let trained = self.trained(&self.view(id).await?.status).await?;
        self.update(id, |view| {
            view.state.trained = trained.clone();
            view.state
                .begin_upgrade(Timestamp::now())
                .map_err(custom_error)?;
            let mut spec = view.resource.spec.clone();
            let request = next_training_request(&view.resource);
            let mut training = spec.training.clone().unwrap_or_default();
            training.request = request;
            training.upgrade = true;
            spec.training = Some(training);
            Ok(spec)
        })
        .await
        .map(drop)
    }

    async fn add_corpus(
        &self,
        id: &str,
        name: &str,
        text: Vec<u8>,
        allow_overwrite: bool,
    ) -> Result<(), ApiError> {
        // Every check before the text is stored: a refused corpus leaves nothing behind.
        let check = |view: &mut View| {
            view.state
                .begin_corpus(name, allow_overwrite, Timestamp::now())
                .map_err(custom_error)
        };
        check(&mut self.view(id).await?)?;
        ModelState::validate_corpus_text(&text).map_err(custom_error)?;
        let sha256 = sha256_hex(&text);
        let object = corpus_text_key(id, name);
        self.store
            .put(&object, text, "text/plain; charset=utf-8")
            .await
            .map_err(store_error)?;
        self.update(id, |view| {
            check(view)?;
            let mut spec = view.resource.spec.clone();
            spec.corpora.retain(|c| c.name != name);
            spec.corpora.push(CorpusRef {
                name: name.to_owned(),
                object: object.clone(),
                sha256: sha256.clone(),
                excluded_words: Vec::new(),
            });
            Ok(spec)
        })
        .await
        .map(drop)
    }

    async fn list_corpora(&self, id: &str) -> Result<Vec<Corpus>, ApiError> {
        Ok(self.view(id).await?.state.corpora())
    }

    async fn get_corpus(&self, id: &str, name: &str) -> Result<Corpus, ApiError> {
        self.view(id)
            .await?
            .state
            .corpus(name)
            .map_err(custom_error)
    }

    async fn delete_corpus(&self, id: &str, name: &str) -> Result<(), ApiError> {
        let written = self
            .update(id, |view| {
                view.state
                    .delete_corpus(name, Timestamp::now())
                    .map_err(custom_error)?;
                let mut spec = view.resource.spec.clone();
                spec.corpora.retain(|c| c.name != name);
                Ok(spec)
            })
            .await?;
        let model = written.metadata.name.clone().unwrap_or_default();
        self.delete_objects(&[
            corpus_text_key(&model, name),
            corpus_analysis_key(&model, name),
        ])
        .await;
        Ok(())
    }

    async fn add_words(&self, id: &str, words: Vec<CustomWord>) -> Result<(), ApiError> {
        self.update(id, |view| {
            view.state
                .add_words(&words, Timestamp::now())
                .map_err(custom_error)?;
            let mut spec = view.resource.spec.clone();
            spec.words = spec_words(&view.state);
            Ok(spec)
        })
        .await
        .map(drop)
    }

    async fn put_word(&self, id: &str, word: &str, definition: CustomWord) -> Result<(), ApiError> {
        // As `ModelState::put_word`: the path names the word.
        let word = CustomWord {
            word: Some(word.to_owned()),
            ..definition
        };
        self.add_words(id, vec![word]).await
    }

    async fn list_words(
        &self,
        id: &str,
        word_type: WordType,
        sort: WordSort,
    ) -> Result<Vec<Word>, ApiError> {
        Ok(self.view(id).await?.state.words(word_type, sort))
    }

    async fn get_word(&self, id: &str, word: &str) -> Result<Word, ApiError> {
        self.view(id).await?.state.word(word).map_err(custom_error)
    }

    async fn delete_word(&self, id: &str, word: &str) -> Result<(), ApiError> {
        self.update(id, |view| {
            let wanted = word.trim().to_lowercase();
            // The corpora whose word lists have it: they keep it out from now on.
            let giving: Vec<String> = view
                .state
                .corpora
                .iter()
                .filter(|(_, c)| c.oov.keys().any(|w| w.to_lowercase() == wanted))
                .map(|(name, _)| name.clone())
                .collect();
            view.state
                .delete_word(word, Timestamp::now())
                .map_err(custom_error)?;
            let mut spec = view.resource.spec.clone();
            spec.words = spec_words(&view.state);
            for c in spec.corpora.iter_mut().filter(|c| giving.contains(&c.name)) {
                c.excluded_words.push(wanted.clone());
            }
            Ok(spec)
        })
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_resource_names_reach_the_api_server() {
        assert!(is_resource_name("0b9f3c2e-1d4a-4c1e-9f7a-2b6d8e5c4a10"));
        assert!(is_resource_name("products"));
        for bad in [
            "",
            "Products",
            "a/b",
            "../x",
            "a b",
            "-a",
            "a-",
            &"a".repeat(254),
        ] {
            assert!(!is_resource_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn user_words_go_to_the_spec_as_checked() {
        let create = CreateLanguageModel {
            name: "m".into(),
            base_model_name: "en-US_BroadbandModel".into(),
            dialect: None,
            description: None,
        };
        let mut state = ModelState::new("m".into(), &create, Timestamp::now()).unwrap();
        let word = |w: &str| CustomWord {
            word: Some(w.into()),
            sounds_like: Some(vec!["nim bra".into()]),
            display_as: Some("Nimbra".into()),
        };
        state
            .add_words(&[word("nimbra"), word("Orlessa")], Timestamp::now())
            .unwrap();
        // A second spelling of a word replaces the first, as on the embedded backend.
        state
            .add_words(&[word("NIMBRA")], Timestamp::now())
            .unwrap();
        let words = spec_words(&state);
        let names: Vec<&str> = words.iter().map(|w| w.word.as_str()).collect();
        assert_eq!(names, ["NIMBRA", "Orlessa"]);
        assert_eq!(words[0].display_as.as_deref(), Some("Nimbra"));
        assert_eq!(words[0].sounds_like, ["nim bra"]);
    }
}
