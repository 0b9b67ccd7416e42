//! The garbage collector, for the kinds a test names: an object all of whose owners are gone is
//! deleted (background propagation), and an owner deleted with foreground propagation (it carries
//! the `foregroundDeletion` finalizer) has its dependents deleted first, then the finalizer
//! removed. Orphan propagation is not simulated.
//!
//! Each pass lists the kinds one after another, so its view is not one moment: an owner created
//! after its kind was listed, with a dependent that named it before the dependent's kind was,
//! looks gone. Like the real collector, which confirms an absent owner with a live read before it
//! deletes, an object is deleted as an orphan only once a read of each owner finds it gone.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
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
    let objects = list(client, kinds).await?;
    sweep(client, kinds, &objects).await
}

/// Every object of `kinds`, listed one kind after another.
pub async fn list(
    client: &Client,
    kinds: &[ApiResource],
) -> Result<Vec<(ApiResource, DynamicObject)>, kube::Error> {
    let mut objects = Vec::new();
    for ar in kinds {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        for o in api.list(&ListParams::default()).await?.items {
            objects.push((ar.clone(), o));
        }
    }
    Ok(objects)
}

/// One pass of the collector over `objects`, a [`list`] of `kinds`.
pub async fn sweep(
    client: &Client,
    kinds: &[ApiResource],
    objects: &[(ApiResource, DynamicObject)],
) -> Result<(), kube::Error> {
    let live: BTreeSet<String> = objects.iter().filter_map(|(_, o)| o.uid()).collect();
    let foreground: BTreeSet<String> = objects
        .iter()
        .filter(|(_, o)| {
            o.metadata.deletion_timestamp.is_some()
                && o.finalizers().iter().any(|f| f == FOREGROUND)
        })
        .filter_map(|(_, o)| o.uid())
        .collect();
    for (ar, o) in objects {
        let owners = o.owner_references();
        if owners.is_empty() || o.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let namespace = o.namespace().unwrap_or_default();
        let owner_going = owners.iter().any(|r| foreground.contains(&r.uid));
        let orphaned = !owner_going
            && owners.iter().all(|r| !live.contains(&r.uid))
            && all_gone(client, kinds, &namespace, owners).await?;
        if orphaned || owner_going {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &namespace, ar);
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
    for (ar, o) in objects {
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

/// Whether a read of each owner, now, finds it gone (absent, or another object of that name). An
/// owner of a kind the collector was not given counts as gone, as it did in the lists.
async fn all_gone(
    client: &Client,
    kinds: &[ApiResource],
    namespace: &str,
    owners: &[OwnerReference],
) -> Result<bool, kube::Error> {
    for r in owners {
        let Some(ar) = kinds
            .iter()
            .find(|ar| ar.api_version == r.api_version && ar.kind == r.kind)
        else {
            continue;
        };
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, ar);
        if let Some(owner) = api.get_opt(&r.name).await? {
            if owner.uid().as_deref() == Some(r.uid.as_str()) {
                return Ok(false);
            }
        }
    }
    Ok(true)
}
