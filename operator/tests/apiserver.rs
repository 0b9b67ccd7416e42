//! Against a REAL apiextensions-apiserver (`scripts/k8s-env`, see setup/k8s/README.md): the
//! checked-in CRD, the examples, schema validation, and the operator's own server-side-apply
//! status path (same field manager), generation/observedGeneration and forced ownership.
//! The server has no core/v1 or batch/v1, so Secrets, Jobs and Events are not exercised here;
//! api-shim/tests/kubernetes_e2e.rs runs the whole operator on kube-sim's stand-ins for them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crds::resource::SpeechBatch;
use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, ResourceExt};
use operator::apply::{apply_status, MANAGER};
use operator::decide::{decide, Observed, Policy, ScanOutcome};
use operator::scan::Scanner;
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn policy() -> Policy {
    operator::Config::defaults().policy()
}

fn plan(n: u64) -> speechbatch_storage::ShardPlan {
    let mut p = speechbatch_storage::ShardPlanner::new(4);
    for i in 0..n {
        p.push(&format!("calls/{i:04}.wav"));
    }
    p.finish()
}

struct FixedScan(u64);
impl Scanner for FixedScan {
    fn scan<'a>(&'a self, _: &'a Client, _: &'a SpeechBatch) -> BoxFuture<'a, ScanOutcome> {
        Box::pin(async move { ScanOutcome::Planned(plan(self.0)) })
    }
}

async fn table_row(client: &Client, name: &str) -> serde_json::Map<String, serde_json::Value> {
    let req = http::Request::get(format!(
        "/apis/speechbatch.io/v1alpha1/namespaces/default/speechbatches/{name}"
    ))
    .header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: serde_json::Value = client.request(req).await.unwrap();
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    let cells = table["rows"][0]["cells"].as_array().unwrap();
    cols.iter()
        .map(|c| c.to_string())
        .zip(cells.iter().cloned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_crd_examples_and_the_operators_status_writes_work_on_a_real_api_server() {
    let started = Instant::now();
    let api_server = kube_sim::ApiServer::start().unwrap();
    let client = api_server.client().await.unwrap();

    // The checked-in CRD, applied and Established.
    let crd_yaml = std::fs::read_to_string(
        repo().join("charts/speechbatch/crds/speechbatches.speechbatch.io.yaml"),
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

    // The examples (SpeechBatch documents only: this server has no core/v1 for the Secrets).
    let batches: Api<SpeechBatch> = Api::namespaced(client.clone(), "default");
    let mut created = Vec::new();
    for entry in std::fs::read_dir(repo().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let value = serde_yaml::Value::deserialize(doc).unwrap();
            if value["kind"].as_str() != Some("SpeechBatch") {
                continue;
            }
            let sb: SpeechBatch = serde_yaml::from_value(value).unwrap();
            // Created from the YAML as written (not re-serialized by our types).
            let made = batches
                .create(&PostParams::default(), &sb)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(made.metadata.generation, Some(1));
            created.push(made.name_any());
        }
    }
    assert!(created.len() >= 2, "{created:?}");

    // Schema rejections: parallelism below 1, a missing input bucket.
    let ar = ApiResource::erase::<SpeechBatch>(&());
    let dynamic: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    for (name, spec, field) in [
        (
            "bad-parallelism",
            json!({"input": {"name": "b", "location": "us-geo", "credentialsSecret": {"name": "s"}}, "parallelism": 0}),
            "spec.parallelism",
        ),
        (
            "bad-no-input",
            json!({"recognition": {"model": "en-US_BroadbandModel"}}),
            "spec.input",
        ),
        (
            "bad-model",
            json!({"input": {"name": "b", "location": "us-geo", "credentialsSecret": {"name": "s"}}, "recognition": {"model": "fr-FR_BroadbandModel"}}),
            "spec.recognition.model",
        ),
    ] {
        let obj: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "speechbatch.io/v1alpha1", "kind": "SpeechBatch",
            "metadata": {"name": name}, "spec": spec,
        }))
        .unwrap();
        match dynamic.create(&PostParams::default(), &obj).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 422, "{name}: {s:?}");
                assert!(s.message.contains(field), "{name}: {}", s.message);
            }
            other => panic!("{name} was not rejected: {other:?}"),
        }
    }

    // The operator's status path: core decision + apply layer, same field manager.
    let name = "meetings-2026-11";
    let sb = batches.get(name).await.unwrap();
    let d = decide(
        &Observed {
            batch: &sb,
            scan: Some(ScanOutcome::Planned(plan(7))),
            job: None,
            pods: vec![],
            analytics: None,
            analytics_pods: vec![],
            now: crds::Timestamp::now(),
        },
        &policy(),
    );
    let written = apply_status(&batches, name, &d.status).await.unwrap();
    let read = batches.get(name).await.unwrap();
    assert_eq!(
        read.status.as_ref(),
        Some(&d.status),
        "status read back as written"
    );
    assert_eq!(written.status, read.status);
    let managers: Vec<_> = read
        .managed_fields()
        .iter()
        .filter(|m| m.subresource.as_deref() == Some("status"))
        .map(|m| m.manager.clone().unwrap())
        .collect();
    assert_eq!(managers, [MANAGER]);
    let row = table_row(&client, name).await;
    assert_eq!(row["Status"], "waiting", "{row:?}");
    assert_eq!(row["Total"], 7);
    assert_eq!(row["Succeeded"], 0);
    assert_eq!(row["Failed"], 0);
    assert_eq!(row["Progress"], 0.0);
    assert!(row["Age"].is_string(), "{row:?}");

    // A spec change bumps generation; the next status says which generation it describes.
    let changed = batches
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"parallelism": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(changed.metadata.generation, Some(2));
    assert_eq!(
        changed.status.as_ref().unwrap().observed_generation,
        Some(1),
        "a spec update leaves status alone"
    );
    let d2 = decide(
        &Observed {
            batch: &changed,
            scan: None,
            job: None,
            pods: vec![],
            analytics: None,
            analytics_pods: vec![],
            now: crds::Timestamp::now(),
        },
        &policy(),
    );
    apply_status(&batches, name, &d2.status).await.unwrap();
    let read = batches.get(name).await.unwrap();
    let st = read.status.unwrap();
    assert_eq!(st.observed_generation, Some(2));
    assert!(
        st.conditions
            .iter()
            .all(|c| c.observed_generation == Some(2)),
        "{:?}",
        st.conditions
    );
    assert_eq!(st.plan, d.status.plan, "the plan is kept");

    // Another manager writing our fields: refused without force, taken with force, and the
    // operator's forced apply takes them back.
    let intruder = json!({"apiVersion": "speechbatch.io/v1alpha1", "kind": "SpeechBatch", "status": {"status": "running", "totalCount": 99}});
    match batches
        .patch_status(
            name,
            &PatchParams::apply("intruder"),
            &Patch::Apply(&intruder),
        )
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 409, "{s:?}"),
        other => panic!("conflict expected: {other:?}"),
    }
    batches
        .patch_status(
            name,
            &PatchParams::apply("intruder").force(),
            &Patch::Apply(&intruder),
        )
        .await
        .unwrap();
    assert_eq!(table_row(&client, name).await["Status"], "running");
    let now_sb = batches.get(name).await.unwrap();
    let d3 = decide(
        &Observed {
            batch: &now_sb,
            scan: None,
            job: None,
            pods: vec![],
            analytics: None,
            analytics_pods: vec![],
            now: crds::Timestamp::now(),
        },
        &policy(),
    );
    assert_eq!(
        d3.status.status,
        Some(crds::BatchStatus::Waiting),
        "derived from conditions, not from the intruder's string"
    );
    apply_status(&batches, name, &d3.status).await.unwrap();
    let back = batches.get(name).await.unwrap();
    assert_eq!(
        back.status.as_ref().unwrap().status,
        Some(crds::BatchStatus::Waiting)
    );
    assert_eq!(back.status.as_ref().unwrap().total_count, 7);

    // The real reconcile: the finalizer first, then scan → status `waiting` written by SSA;
    // creating the Job then fails here (no batch/v1), after the plan was recorded.
    let other = "call-center-week-48";
    let metrics = Arc::new(operator::metrics::Metrics::default());
    let ctx = Arc::new(operator::controller::Context::new(
        client.clone(),
        policy(),
        Arc::new(FixedScan(5)),
        metrics,
        None,
        Duration::from_secs(60),
    ));
    let first =
        operator::controller::reconcile(Arc::new(batches.get(other).await.unwrap()), ctx.clone())
            .await
            .unwrap();
    assert_eq!(first, kube::runtime::controller::Action::await_change());
    let with_finalizer = batches.get(other).await.unwrap();
    assert_eq!(
        with_finalizer.finalizers(),
        [operator::controller::FINALIZER]
    );
    let err = operator::controller::reconcile(Arc::new(with_finalizer), ctx)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("404") || err.to_string().to_lowercase().contains("not found"),
        "{err}"
    );
    let st = batches.get(other).await.unwrap().status.unwrap();
    assert_eq!(
        (st.status, st.total_count),
        (Some(crds::BatchStatus::Waiting), 5)
    );
    assert_eq!(table_row(&client, other).await["Status"], "waiting");

    let elapsed = started.elapsed();
    println!("API server test took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

use serde::Deserialize;
