//! The garbage collector, for the kinds a test names: an object all of whose owners are gone is
//! deleted (background propagation), and an owner deleted with foreground propagation (it carries
//! the `foregroundDeletion` finalizer) has its dependents deleted first, then the finalizer
//! removed. Orphan propagation is not simulated.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::api::{ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

const FOREGROUND: &str = "foregroundDeletion";

/// Runs until the task is aborted, looking at `kinds` every `tick`.
pub async fn run(client: Client, kinds: Vec<ApiResource>, tick: Duration) {
    loop {
        if let Err(e) = collect(&client, &kinds).await {
            tracing::warn!("kube-sim garbage collector: {e}");
        }
        tokio::time::sleep(tick).await;
    }
}

async fn collect(client: &Client, kinds: &[ApiResource]) -> Result<(), kube::Error> {
    let mut objects: Vec<(ApiResource, DynamicObject)> = Vec::new();
    for ar in kinds {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        for o in api.list(&ListParams::default()).await?.items {
            objects.push((ar.clone(), o));
        }
    }
    let live: BTreeSet<String> = objects.iter().filter_map(|(_, o)| o.uid()).collect();
    let foreground: BTreeSet<String> = objects
        .iter()
        .filter(|(_, o)| {
            o.metadata.deletion_timestamp.is_some()
                && o.finalizers().iter().any(|f| f == FOREGROUND)
        })
        .filter_map(|(_, o)| o.uid())
        .collect();
    for (ar, o) in &objects {
        let owners = o.owner_references();
        if owners.is_empty() || o.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let orphaned = owners.iter().all(|r| !live.contains(&r.uid));
        let owner_going = owners.iter().any(|r| foreground.contains(&r.uid));
        if orphaned || owner_going {
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &o.namespace().unwrap_or_default(), ar);
            let dp = if owner_going {
                DeleteParams::foreground()
            } else {
                DeleteParams::background()
            };
            match api.delete(&o.name_any(), &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e),
            }
        }
    }
    // Owners whose dependents are all gone lose the finalizer.
    for (ar, o) in &objects {
        let Some(uid) = o.uid() else { continue };
        if !foreground.contains(&uid) {
            continue;
        }
        let has_dependents = objects
            .iter()
            .any(|(_, d)| d.owner_references().iter().any(|r| r.uid == uid));
        if has_dependents {
            continue;
        }
        let rest: Vec<String> = o
            .finalizers()
            .iter()
            .filter(|f| *f != FOREGROUND)
            .cloned()
            .collect();
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), &o.namespace().unwrap_or_default(), ar);
        let patch = json!({"metadata": {"finalizers": rest}});
        match api
            .patch(
                &o.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
