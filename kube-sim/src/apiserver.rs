//! A real Kubernetes API server for tests: etcd plus apiextensions-apiserver on loopback, started
//! by `scripts/k8s-env` in a temporary folder and stopped on drop. It serves CRDs and custom
//! resources (schema validation, status subresource, server-side apply, watch), nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;

/// The repository root (this crate's parent folder).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("kube-sim lives in the workspace")
        .to_path_buf()
}

/// etcd + apiextensions-apiserver in a temporary folder.
pub struct ApiServer {
    dir: tempfile::TempDir,
}

impl ApiServer {
    /// Starts both; fails with a pointer to `setup/k8s.sh` when the binaries are missing.
    pub fn start() -> anyhow::Result<ApiServer> {
        let repo = repo();
        let bins = Command::new("bash")
            .arg("-c")
            .arg(". setup/k8s/env.sh && echo \"$APIEXT_SERVER\" && echo \"$ETCD\"")
            .current_dir(&repo)
            .output()
            .context("cannot run bash")?;
        let text = String::from_utf8_lossy(&bins.stdout).to_string();
        if !bins.status.success() || text.lines().count() != 2 {
            bail!("setup/k8s/env.sh failed: run setup/k8s.sh");
        }
        for bin in text.lines() {
            if !Path::new(bin).is_file() {
                bail!("{bin} is missing: run setup/k8s.sh to install the test Kubernetes API (apiextensions-apiserver + etcd)");
            }
        }
        let dir = tempfile::tempdir()?;
        let out = Command::new(repo.join("scripts/k8s-env"))
            .arg("start")
            .arg(dir.path())
            .output()
            .context("cannot run scripts/k8s-env")?;
        if !out.status.success() {
            bail!(
                "scripts/k8s-env start failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(ApiServer { dir })
    }

    /// The folder with the server's kubeconfig, certificates and logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A client with the administrator's certificate, straight to the server.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let kc = Kubeconfig::read_from(self.dir.path().join("kubeconfig"))?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        Ok(Client::try_from(cfg)?)
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/k8s-env"))
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}
