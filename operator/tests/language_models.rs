//! The LanguageModel controller against a REAL apiextensions-apiserver (`kube_sim::ApiServer`)
//! and a real S3 server (the embedded one): a model applied as a resource, with its words in the
//! spec and a training request, becomes `available` with the status the operator writes and a
//! trained vocabulary in the model store; a corpus added to the store and the spec is analysed
//! and trained on; `kubectl get slm`'s columns show it; deletion removes its store objects.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crds::customization::{CorpusStatus, LanguageModelStatus, Vocabulary};
use crds::language_model::{corpus_text_key, model_prefix, CorpusRef, LanguageModel};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};
use speechbatch_storage::embedded_s3::EmbeddedS3;
use speechbatch_storage::{Bucket, Credentials, StorageConfig};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

async fn wait_for(
    api: &Api<LanguageModel>,
    name: &str,
    what: &str,
    done: impl Fn(&LanguageModel) -> bool,
) -> LanguageModel {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let lm = api.get(name).await.unwrap();
        if done(&lm) {
            return lm;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not in 60 s; status {:?}",
            lm.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn table_row(client: &Client, name: &str) -> Vec<(String, serde_json::Value)> {
    let req = http::Request::get(format!(
        "/apis/speechbatch.io/v1alpha1/namespaces/default/languagemodels/{name}"
    ))
    .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    let cols: Vec<String> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    cols.into_iter()
        .zip(
            table["rows"][0]["cells"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_model_applied_as_a_resource_is_trained_by_the_operator() {
    let api_server = kube_sim::ApiServer::start().unwrap();
    let client = api_server.client().await.unwrap();
    let crd_yaml = std::fs::read_to_string(
        repo().join("charts/speechbatch/crds/languagemodels.speechbatch.io.yaml"),
    )
    .unwrap();
    let crd: CustomResourceDefinition = serde_yaml::from_str(&crd_yaml).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        &crd.name_any(),
        &PatchParams::apply("speechbatch-test").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(20),
        await_condition(crds, &crd.name_any(), conditions::is_crd_established()),
    )
    .await
    .expect("CRD established in time")
    .unwrap();

    // The model store: a bucket on the embedded S3 server.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("s3/models")).unwrap();
    let s3 = EmbeddedS3::start(
        dir.path().join("s3"),
        "127.0.0.1:0".parse().unwrap(),
        Some(("AKID-MODELS", "SECRET-MODELS")),
    )
    .await
    .unwrap();
    let creds = Credentials::from_json(
        serde_json::json!({"end_point": s3.endpoint(), "access_key": "AKID-MODELS", "secret_key": "SECRET-MODELS"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let store = Bucket::connect(&creds, "models", "us-geo", &StorageConfig::default())
        .await
        .unwrap();

    let ctx = Arc::new(operator::model_controller::ModelContext {
        client: client.clone(),
        store: store.clone(),
    });
    let controller = tokio::spawn(operator::model_controller::run(
        client.clone(),
        Some("default"),
        ctx,
    ));

    // The example manifest: words in the spec, training request 1.
    let text = std::fs::read_to_string(repo().join("examples/languagemodel.yaml")).unwrap();
    let lm: LanguageModel = serde_yaml::from_str(&text).unwrap();
    let name = lm.name_any();
    let api: Api<LanguageModel> = Api::namespaced(client.clone(), "default");
    api.create(&PostParams::default(), &lm).await.unwrap();
    let lm = wait_for(&api, &name, "available after training request 1", |m| {
        m.status.as_ref().and_then(|s| s.status) == Some(LanguageModelStatus::Available)
    })
    .await;
    let status = lm.status.clone().unwrap();
    assert_eq!(status.words, 3, "{status:?}");
    assert_eq!(status.progress, 100);
    assert_eq!(status.observed_generation, lm.metadata.generation);
    assert!(lm
        .finalizers()
        .iter()
        .any(|f| f == crds::language_model::FINALIZER));
    let trained = status.trained.clone().unwrap();
    assert_eq!(trained.request, 1);
    let vocab: Vocabulary =
        serde_json::from_slice(&store.get(&trained.object, 1 << 20).await.unwrap()).unwrap();
    assert_eq!(vocab.customization_id, name);
    assert_eq!(vocab.customization_weight, Some(0.5));
    let nimbra = vocab
        .words
        .iter()
        .find(|w| w.display_as == "Nimbra")
        .unwrap();
    assert!(
        nimbra.spellings.contains(&"nim bra".to_string()),
        "{nimbra:?}"
    );
    // kubectl get slm: Name, Model, Base, Status, Words, Age.
    let row = table_row(&client, &name).await;
    let cell = |c: &str| row.iter().find(|(k, _)| k == c).map(|(_, v)| v.clone());
    assert_eq!(
        cell("Status"),
        Some(serde_json::json!("available")),
        "{row:?}"
    );
    assert_eq!(cell("Words"), Some(serde_json::json!(3)), "{row:?}");
    assert_eq!(
        cell("Base"),
        Some(serde_json::json!("en-US_BroadbandModel"))
    );
    // NAME is the resource's (the customization id), Model the name it was given.
    assert_eq!(cell("Name"), Some(serde_json::json!(name)));
    assert_eq!(cell("Model"), Some(serde_json::json!("Product names")));
    assert!(cell("Age").is_some());

    // A corpus: its text in the store, its reference in the spec. It is analysed (ready), then
    // trained on with request 2 (available, with the corpus's words).
    let corpus = std::fs::read(repo().join("testdata/custom/corpus.txt")).unwrap();
    let key = corpus_text_key(&name, "products");
    store.put(&key, corpus, "text/plain").await.unwrap();
    let patch = serde_json::json!({"spec": {"corpora": [CorpusRef {
        name: "products".into(),
        object: key.clone(),
        sha256: "corpus-v1".into(),
        excluded_words: Vec::new(),
    }]}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let lm = wait_for(&api, &name, "corpus analysed, model ready", |m| {
        m.status.as_ref().is_some_and(|s| {
            s.status == Some(LanguageModelStatus::Ready)
                && s.corpora
                    .first()
                    .is_some_and(|c| c.status == CorpusStatus::Analyzed)
        })
    })
    .await;
    let status = lm.status.clone().unwrap();
    assert!(status.corpora[0].out_of_vocabulary_words > 0, "{status:?}");
    assert!(status.words > 3, "{status:?}");
    assert_eq!(
        status.trained.as_ref().unwrap().request,
        1,
        "the old training stays"
    );
    api.patch(
        &name,
        &PatchParams::default(),
        &Patch::Merge(&serde_json::json!({"spec": {"training": {"request": 2}}})),
    )
    .await
    .unwrap();
    let lm = wait_for(&api, &name, "available after training request 2", |m| {
        m.status.as_ref().is_some_and(|s| {
            s.status == Some(LanguageModelStatus::Available)
                && s.trained.as_ref().is_some_and(|t| t.request == 2)
        })
    })
    .await;
    let t2 = lm.status.unwrap().trained.unwrap();
    let vocab: Vocabulary =
        serde_json::from_slice(&store.get(&t2.object, 1 << 20).await.unwrap()).unwrap();
    assert!(
        vocab.words.iter().any(|w| w.display_as == "Zentraphone"),
        "the corpus's words are trained: {:?}",
        vocab
            .words
            .iter()
            .map(|w| &w.display_as)
            .collect::<Vec<_>>()
    );
    assert!(
        store.get(&trained.object, 1 << 20).await.is_ok(),
        "request 1's vocabulary stays for batches that named it"
    );

    // Deletion: the finalizer removes every store object of the model, then the resource goes.
    api.delete(&name, &DeleteParams::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.get_opt(&name).await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the LanguageModel is not deleted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(store
        .list_keys(&model_prefix(&name))
        .await
        .unwrap()
        .is_empty());
    controller.abort();
}
