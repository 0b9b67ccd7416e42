//! The garbage collector deletes what has lost its owner, and nothing whose owner is there.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{ApiResource, DeleteParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use kube_sim::{gc, Cluster, ClusterOptions, KubeletConfig};

fn options() -> ClusterOptions {
    ClusterOptions {
        crds: Vec::new(),
        owner_kinds: vec![ApiResource::erase::<Lease>(&())],
        kubelet: KubeletConfig {
            commands: BTreeMap::new(),
            env: Vec::new(),
            termination_log_env: "TERMINATION_LOG".into(),
            root: Default::default(),
            grace: Duration::from_secs(1),
            tick: Duration::from_millis(200),
        },
    }
}

/// The REST shim's order: the credentials Secret, then its SpeechBatch, then the Secret's owner
/// reference. A pass of the collector that listed the owners' kind before the owner was created
/// and the Secrets after the reference was added saw a Secret whose owner did not exist, and
/// deleted it: a job then failed for want of its credentials (seen in the Kubernetes REST
/// contract test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependent_is_deleted_only_once_its_owner_is_really_gone() {
    let cluster = Cluster::start(options())
        .await
        .expect("kube-sim cluster starts (needs setup/k8s.sh)");
    let client = cluster.client().await.unwrap();
    let leases: Api<Lease> = Api::default_namespaced(client.clone());
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let kinds = [
        ApiResource::erase::<Lease>(&()),
        ApiResource::erase::<Secret>(&()),
    ];

    // One pass's lists, with the owner and its dependent created between them.
    let mut seen = gc::list(&client, &kinds[..1]).await.unwrap();
    let owner = leases
        .create(
            &PostParams::default(),
            &Lease {
                metadata: ObjectMeta {
                    name: Some("owner".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let reference = owner
        .controller_owner_ref(&())
        .expect("the server gives a uid");
    secrets
        .create(
            &PostParams::default(),
            &Secret {
                metadata: ObjectMeta {
                    name: Some("dependent".into()),
                    owner_references: Some(vec![reference]),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    seen.extend(gc::list(&client, &kinds[1..]).await.unwrap());
    let names: Vec<String> = seen.iter().map(|(_, o)| o.name_any()).collect();
    assert_eq!(
        names,
        ["dependent"],
        "the pass saw the dependent, not its owner"
    );

    gc::sweep(&client, &kinds, &seen).await.unwrap();
    assert!(
        secrets.get_opt("dependent").await.unwrap().is_some(),
        "a Secret whose owner exists was deleted"
    );

    // Once the owner is gone, the dependent goes (this pass, or the cluster's own collector).
    leases
        .delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    let seen = gc::list(&client, &kinds).await.unwrap();
    gc::sweep(&client, &kinds, &seen).await.unwrap();
    assert!(
        secrets.get_opt("dependent").await.unwrap().is_none(),
        "a Secret whose owner was deleted is still there"
    );
}
