//! Starting `weed mini` and stopping it.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use super::weed_binary;
use crate::testing::free_ports;

/// A `weed mini` child process and its folder; killed when dropped.
#[derive(Debug)]
pub(super) struct WeedMini {
    /// `None` while stopped.
    child: Option<Child>,
    args: Vec<String>,
    /// The S3 API's port.
    pub(super) s3_port: u16,
    dir: tempfile::TempDir,
}

impl WeedMini {
    /// Spawns `weed mini` in a fresh temporary folder, every port a free loopback one, with one
    /// identity: requests signed with another key pair are rejected. Output goes to `weed.log`.
    pub(super) fn spawn(access_key: &str, secret_key: &str) -> WeedMini {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let config = dir.path().join("s3.json");
        let identities = serde_json::json!({"identities": [{
            "name": "speechbatch-test",
            "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(&config, serde_json::to_vec(&identities).unwrap()).unwrap();
        let p = free_ports(10);
        let args = vec![
            format!("-dir={}", data.display()),
            "-ip=127.0.0.1".into(),
            "-ip.bind=127.0.0.1".into(),
            format!("-s3.port={}", p[0]),
            format!("-s3.port.grpc={}", p[1]),
            format!("-master.port={}", p[2]),
            format!("-master.port.grpc={}", p[3]),
            format!("-volume.port={}", p[4]),
            format!("-volume.port.grpc={}", p[5]),
            format!("-filer.port={}", p[6]),
            format!("-filer.port.grpc={}", p[7]),
            format!("-admin.port={}", p[8]),
            format!("-admin.port.grpc={}", p[9]),
            "-admin.ui=false".into(),
            "-webdav=false".into(),
            "-s3.port.iceberg=0".into(),
            "-s3.port.lance=0".into(),
            "-master.telemetry=false".into(),
            // Small volumes: the default preallocates for a disk-sized count of them.
            "-master.volumeSizeLimitMB=64".into(),
            // A fixed volume count: by default it is the free disk space over the volume size,
            // so a nearly full disk would leave the server with no room to write at all.
            "-volume.max=8".into(),
            format!("-s3.config={}", config.display()),
        ];
        let mut weed = WeedMini {
            child: None,
            args,
            s3_port: p[0],
            dir,
        };
        weed.run();
        weed
    }

    /// Starts the process (again) with the same ports and data; output is added to `weed.log`.
    pub(super) fn run(&mut self) {
        assert!(self.child.is_none(), "weed mini is running");
        let weed = weed_binary();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("weed.log"))
            .unwrap();
        let child = Command::new(&weed)
            .arg("mini")
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {}: {e}; run setup/seaweedfs.sh",
                    weed.display()
                )
            });
        self.child = Some(child);
    }

    /// Kills the process (SIGKILL, as a crash); its data stays.
    pub(super) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process's folder (data, config and `weed.log`).
    pub(super) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for WeedMini {
    fn drop(&mut self) {
        self.kill();
    }
}
