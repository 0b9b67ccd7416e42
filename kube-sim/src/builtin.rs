//! Storage for the built-in kinds SpeechBatch uses, on a server that only has CRDs.
//!
//! apiextensions-apiserver serves custom resources only, and a CRD's group must contain a dot, so
//! the core group (`/api/v1`) and `batch` cannot be CRDs under their own names. They become CRDs
//! in stand-in groups, and [`crate::proxy`] maps paths and `apiVersion`s between the two, so that
//! clients see `/api/v1/.../secrets` and `batch/v1` Jobs. `coordination.k8s.io` Leases and
//! `events.k8s.io` Events are CRDs under their real names (an approval annotation allows the
//! protected `*.k8s.io` groups).
//!
//! What this does not give: the built-in schemas (the stand-ins keep any field; the real server
//! would reject or prune unknown ones), defaulting, validation, strategic merge patch, and the
//! built-in controllers (see [`crate::kubelet`] and [`crate::gc`]).

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};

/// The stand-in group of the core (`v1`) kinds.
pub const CORE_STAND_IN: &str = "core.kube-sim.speechbatch.io";
/// The stand-in group of the `batch` kinds.
pub const BATCH_STAND_IN: &str = "batch.kube-sim.speechbatch.io";

/// One built-in kind served by a CRD.
#[derive(Clone, Copy, Debug)]
pub struct BuiltIn {
    /// The real group (`""` for core).
    pub group: &'static str,
    /// The group its CRD is in.
    pub crd_group: &'static str,
    /// The kind.
    pub kind: &'static str,
    /// The plural resource name.
    pub plural: &'static str,
    /// Whether it has a status subresource.
    pub status: bool,
}

/// The built-in kinds SpeechBatch's operator, REST shim and tests use.
pub const BUILT_INS: &[BuiltIn] = &[
    BuiltIn {
        group: "",
        crd_group: CORE_STAND_IN,
        kind: "Secret",
        plural: "secrets",
        status: false,
    },
    BuiltIn {
        group: "",
        crd_group: CORE_STAND_IN,
        kind: "Pod",
        plural: "pods",
        status: true,
    },
    BuiltIn {
        group: "batch",
        crd_group: BATCH_STAND_IN,
        kind: "Job",
        plural: "jobs",
        status: true,
    },
    BuiltIn {
        group: "coordination.k8s.io",
        crd_group: "coordination.k8s.io",
        kind: "Lease",
        plural: "leases",
        status: false,
    },
    BuiltIn {
        group: "events.k8s.io",
        crd_group: "events.k8s.io",
        kind: "Event",
        plural: "events",
        status: false,
    },
];

/// The CRDs that store [`BUILT_INS`].
pub fn crds() -> Vec<CustomResourceDefinition> {
    BUILT_INS
        .iter()
        .map(|b| {
            let mut version = json!({
                "name": "v1",
                "served": true,
                "storage": true,
                // Any field is kept: these are the real kinds, validated by their own clients.
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            });
            if b.status {
                version["subresources"] = json!({"status": {}});
            }
            let crd = json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {
                    "name": format!("{}.{}", b.plural, b.crd_group),
                    "annotations": {"api-approved.kubernetes.io": "unapproved, kube-sim test stand-in"},
                },
                "spec": {
                    "group": b.crd_group,
                    "scope": "Namespaced",
                    "names": {
                        "plural": b.plural,
                        "singular": b.kind.to_lowercase(),
                        "kind": b.kind,
                        "listKind": format!("{}List", b.kind),
                    },
                    "versions": [version],
                },
            });
            serde_json::from_value(crd).expect("a well-formed CRD")
        })
        .collect()
}

/// The stand-in path of a request path in a simulated group, or `None` for any other path.
pub fn stand_in_path(path: &str) -> Option<String> {
    if let Some(rest) = path.strip_prefix("/api/v1/") {
        return Some(format!("/apis/{CORE_STAND_IN}/v1/{rest}"));
    }
    if let Some(rest) = path.strip_prefix("/apis/batch/v1/") {
        return Some(format!("/apis/{BATCH_STAND_IN}/v1/{rest}"));
    }
    None
}

fn is_simulated_kind(kind: &str) -> bool {
    let kind = kind.strip_suffix("List").unwrap_or(kind);
    BUILT_INS
        .iter()
        .any(|b| b.kind == kind && b.crd_group != b.group)
}

/// Which way [`rewrite_api_versions`] maps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Direction {
    /// Client to server: `v1` → the core stand-in, `batch/v1` → the batch stand-in.
    ToStandIn,
    /// Server to client.
    FromStandIn,
}

fn map_api_version(v: &str, dir: Direction) -> Option<String> {
    match dir {
        Direction::ToStandIn => match v {
            "v1" => Some(format!("{CORE_STAND_IN}/v1")),
            "batch/v1" => Some(format!("{BATCH_STAND_IN}/v1")),
            _ => None,
        },
        Direction::FromStandIn => match v.strip_suffix("/v1")? {
            CORE_STAND_IN => Some("v1".to_owned()),
            BATCH_STAND_IN => Some("batch/v1".to_owned()),
            _ => None,
        },
    }
}

/// Rewrites `apiVersion` in every JSON object whose `kind` is a simulated kind (the object, the
/// items of a list, the object of a watch event, owner references). `Status`, `DeleteOptions`
/// and other `v1` kinds keep theirs. Managed-field entries name the stand-in group; they carry
/// no `kind` and are mapped by their `apiVersion` alone on the way out.
pub fn rewrite_api_versions(value: &mut Value, dir: Direction) {
    match value {
        Value::Object(map) => {
            let simulated = map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(is_simulated_kind);
            let managed_field = map.contains_key("manager") && map.contains_key("operation");
            if simulated || (managed_field && dir == Direction::FromStandIn) {
                if let Some(Value::String(v)) = map.get_mut("apiVersion") {
                    if let Some(mapped) = map_api_version(v, dir) {
                        *v = mapped;
                    }
                }
            }
            for v in map.values_mut() {
                rewrite_api_versions(v, dir);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rewrite_api_versions(v, dir)),
        _ => {}
    }
}

/// What the real API server does to a Secret on write: `stringData` entries are base64-encoded
/// into `data` (overriding keys there) and `stringData` is dropped.
pub fn merge_string_data(secret: &mut Value) {
    use base64::Engine as _;
    if secret.get("kind").and_then(Value::as_str) != Some("Secret") {
        return;
    }
    let Some(Value::Object(strings)) = secret.as_object_mut().and_then(|m| m.remove("stringData"))
    else {
        return;
    };
    let data = secret
        .as_object_mut()
        .expect("checked above")
        .entry("data")
        .or_insert_with(|| json!({}));
    if let Value::Object(data) = data {
        for (k, v) in strings {
            let text = v.as_str().unwrap_or_default();
            data.insert(
                k,
                Value::String(base64::engine::general_purpose::STANDARD.encode(text)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_and_batch_paths_map_to_their_stand_ins_and_others_pass() {
        assert_eq!(
            stand_in_path("/api/v1/namespaces/default/secrets/a").as_deref(),
            Some("/apis/core.kube-sim.speechbatch.io/v1/namespaces/default/secrets/a")
        );
        assert_eq!(
            stand_in_path("/apis/batch/v1/jobs").as_deref(),
            Some("/apis/batch.kube-sim.speechbatch.io/v1/jobs")
        );
        assert_eq!(stand_in_path("/apis/batch.example.com/v1/jobs"), None);
        assert_eq!(
            stand_in_path("/apis/speechbatch.io/v1alpha1/speechbatches"),
            None
        );
        assert_eq!(stand_in_path("/version"), None);
    }

    #[test]
    fn api_versions_round_trip_for_simulated_kinds_only() {
        let original = json!({
            "kind": "PodList", "apiVersion": "v1",
            "items": [{"kind": "Pod", "apiVersion": "v1", "metadata": {
                "ownerReferences": [{"kind": "Job", "apiVersion": "batch/v1", "name": "j", "uid": "u"},
                                     {"kind": "SpeechBatch", "apiVersion": "speechbatch.io/v1alpha1", "name": "b", "uid": "v"}]}}],
        });
        let mut v = original.clone();
        rewrite_api_versions(&mut v, Direction::ToStandIn);
        assert_eq!(v["apiVersion"], "core.kube-sim.speechbatch.io/v1");
        assert_eq!(
            v["items"][0]["apiVersion"],
            "core.kube-sim.speechbatch.io/v1"
        );
        let owners = &v["items"][0]["metadata"]["ownerReferences"];
        assert_eq!(owners[0]["apiVersion"], "batch.kube-sim.speechbatch.io/v1");
        assert_eq!(owners[1]["apiVersion"], "speechbatch.io/v1alpha1");
        rewrite_api_versions(&mut v, Direction::FromStandIn);
        assert_eq!(v, original);

        let mut status = json!({"kind": "Status", "apiVersion": "v1", "code": 404});
        rewrite_api_versions(&mut status, Direction::ToStandIn);
        assert_eq!(status["apiVersion"], "v1");
        let mut lease = json!({"kind": "Lease", "apiVersion": "coordination.k8s.io/v1"});
        rewrite_api_versions(&mut lease, Direction::ToStandIn);
        assert_eq!(lease["apiVersion"], "coordination.k8s.io/v1");
    }

    #[test]
    fn string_data_is_encoded_into_data_as_the_api_server_does() {
        let mut s = json!({"kind": "Secret", "data": {"a": "eA==", "b": "eA=="},
                           "stringData": {"b": "hi", "c": "{}"}});
        merge_string_data(&mut s);
        assert_eq!(
            s,
            json!({"kind": "Secret", "data": {"a": "eA==", "b": "aGk=", "c": "e30="}})
        );
    }

    #[test]
    fn every_stand_in_crd_is_in_its_group_and_kind() {
        let crds = crds();
        assert_eq!(crds.len(), BUILT_INS.len());
        for (crd, b) in crds.iter().zip(BUILT_INS) {
            assert_eq!(crd.spec.group, b.crd_group);
            assert_eq!(crd.spec.names.kind, b.kind);
            let has_status = crd.spec.versions[0]
                .subresources
                .as_ref()
                .is_some_and(|s| s.status.is_some());
            assert_eq!(has_status, b.status, "{}", b.kind);
        }
    }
}
