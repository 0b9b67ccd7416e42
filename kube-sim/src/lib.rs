//! kube-sim: as much of a Kubernetes cluster as this machine can run, for end-to-end tests.
//!
//! No kube-apiserver, kubelet or container runtime can run here. What does run is a real
//! apiextensions-apiserver on etcd ([`apiserver`]). On top of it:
//! - [`builtin`]: Secrets, Pods and Jobs stored as CRDs in stand-in groups, Leases and Events as
//!   CRDs under their real names;
//! - [`proxy`]: the endpoint clients use, which serves `/api/v1` and `/apis/batch/v1` from those
//!   stand-ins, so that unchanged kube-rs code (the operator, the REST shim) talks to it;
//! - [`kubelet`]: the Job controller and the kubelet, running each pod's container as a local
//!   process;
//! - [`gc`]: owner-reference garbage collection.
//!
//! [`Cluster`] starts all of them. It is test support: nothing here ships.

pub mod apiserver;
pub mod builtin;
pub mod gc;
pub mod kubelet;
pub mod proxy;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, ResourceExt};
use tokio::task::JoinHandle;

pub use apiserver::ApiServer;
pub use kubelet::KubeletConfig;

/// What to start a [`Cluster`] with.
pub struct ClusterOptions {
    /// CRD manifests (YAML files) to install besides the stand-ins.
    pub crds: Vec<PathBuf>,
    /// Owner kinds the garbage collector must know besides Jobs (e.g. the SpeechBatch kind).
    pub owner_kinds: Vec<ApiResource>,
    /// How pods run; `root` is replaced by a folder of the cluster's.
    pub kubelet: KubeletConfig,
}

/// A running stand-in cluster; everything stops when it is dropped.
pub struct Cluster {
    tasks: Vec<JoinHandle<()>>,
    proxy: proxy::Proxy,
    dir: tempfile::TempDir,
    pods_root: PathBuf,
    server: ApiServer,
}

impl Cluster {
    /// Starts the API server, installs the CRDs, and starts the proxy, kubelet and garbage
    /// collector.
    pub async fn start(mut opts: ClusterOptions) -> anyhow::Result<Cluster> {
        let server = ApiServer::start()?;
        let admin = server.client().await?;
        let mut crds = builtin::crds();
        for path in &opts.crds {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            crds.push(
                serde_yaml::from_str(&text)
                    .with_context(|| format!("{} is not a CRD", path.display()))?,
            );
        }
        install_crds(&admin, &crds).await?;
        let proxy = proxy::Proxy::start(admin).await?;
        let dir = tempfile::tempdir()?;
        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {}\nusers:\n- name: kube-sim\n  user: {{}}\ncontexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    user: kube-sim\n    namespace: default\ncurrent-context: kube-sim\n",
            proxy.url()
        );
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig)?;
        let pods_root = dir.path().join("pods");
        opts.kubelet.root = pods_root.clone();
        let mut cluster = Cluster {
            tasks: Vec::new(),
            proxy,
            dir,
            pods_root,
            server,
        };
        let client = cluster.client().await?;
        cluster
            .tasks
            .push(tokio::spawn(kubelet::run(client.clone(), opts.kubelet)));
        let mut kinds = opts.owner_kinds;
        for (group, kind, plural) in [
            ("", "Secret", "secrets"),
            ("", "Pod", "pods"),
            ("batch", "Job", "jobs"),
        ] {
            kinds.push(ApiResource {
                group: group.to_owned(),
                version: "v1".to_owned(),
                api_version: if group.is_empty() {
                    "v1".to_owned()
                } else {
                    format!("{group}/v1")
                },
                kind: kind.to_owned(),
                plural: plural.to_owned(),
            });
        }
        cluster.tasks.push(tokio::spawn(gc::run(
            client,
            kinds,
            Duration::from_millis(500),
        )));
        Ok(cluster)
    }

    /// A kubeconfig that points at the proxy (no credentials needed), for the programs under test.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The proxy's URL.
    pub fn url(&self) -> String {
        self.proxy.url()
    }

    /// A client through the proxy, as the programs under test see the cluster.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let kc = Kubeconfig::read_from(self.kubeconfig())?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(cfg)?)
    }

    /// The real API server underneath.
    pub fn server(&self) -> &ApiServer {
        &self.server
    }

    /// SIGKILLs the container process of a running pod, as an OOM kill or a lost node would;
    /// false when the pod has no process here.
    pub fn kill_pod_process(&self, namespace: &str, pod: &str) -> bool {
        let pid_file = self.pods_root.join(namespace).join(pod).join("pid");
        let Ok(pid) = std::fs::read_to_string(pid_file) else {
            return false;
        };
        std::process::Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Every pod's output so far, for a failing test's message.
    pub fn pod_logs(&self) -> String {
        let mut out = String::new();
        let mut dirs: Vec<PathBuf> = walk_logs(&self.pods_root);
        dirs.sort();
        for log in dirs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(30)..].join("\n");
            out.push_str(&format!("--- {}\n{tail}\n", log.display()));
        }
        out
    }
}

fn walk_logs(root: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(namespaces) = std::fs::read_dir(root) else {
        return found;
    };
    for ns in namespaces.flatten() {
        let Ok(pods) = std::fs::read_dir(ns.path()) else {
            continue;
        };
        for pod in pods.flatten() {
            let log = pod.path().join("log");
            if log.is_file() {
                found.push(log);
            }
        }
    }
    found
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Creates the CRDs and waits until each is Established.
pub async fn install_crds(
    client: &Client,
    crds: &[CustomResourceDefinition],
) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crds {
        api.create(&PostParams::default(), crd)
            .await
            .with_context(|| format!("cannot create CRD {}", crd.name_any()))?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for crd in crds {
        loop {
            let current = api.get(&crd.name_any()).await?;
            let established = current
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                bail!("CRD {} not Established within 30 s", crd.name_any());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}
