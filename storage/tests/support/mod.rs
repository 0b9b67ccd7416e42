//! Real S3 servers for the tests: the embedded s3s-fs server in a temporary folder, and
//! SeaweedFS (`weed mini`, installed by setup/seaweedfs.sh) on loopback ports chosen here.

#![allow(dead_code)] // each test binary uses a part of it

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_s3::config::{BehaviorVersion, Region};
use speechbatch_storage::embedded_s3::EmbeddedS3;
use speechbatch_storage::{Bucket, Credentials, HmacCredentials, StorageConfig};

pub const ACCESS_KEY: &str = "speechbatch-test-ak";
pub const SECRET_KEY: &str = "Sup3rSecretTestKey/With+Chars0123456789";
/// A bucket location that is not an AWS region, as the interface's are.
pub const LOCATION: &str = "us-geo";

/// Settings with small timeouts, so that failures show quickly.
pub fn test_config() -> StorageConfig {
    StorageConfig {
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(20),
        max_attempts: 2,
        ..StorageConfig::default()
    }
}

/// One running S3 server with one key pair.
pub struct TestServer {
    pub name: &'static str,
    pub endpoint: String,
    _guard: Guard,
}

enum Guard {
    Embedded(EmbeddedS3, tempfile::TempDir),
    Seaweed(SeaweedProcess),
}

impl TestServer {
    /// The embedded s3s-fs server in a fresh temporary folder.
    pub async fn embedded() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let s3 = EmbeddedS3::start(
            dir.path().to_owned(),
            "127.0.0.1:0".parse().unwrap(),
            Some((ACCESS_KEY, SECRET_KEY)),
        )
        .await
        .unwrap();
        TestServer {
            name: "s3s-fs",
            endpoint: s3.endpoint(),
            _guard: Guard::Embedded(s3, dir),
        }
    }

    /// SeaweedFS in a fresh temporary folder, ready for writes.
    pub async fn seaweedfs() -> TestServer {
        let p = SeaweedProcess::start();
        let endpoint = format!("http://127.0.0.1:{}", p.s3_port);
        let server = TestServer {
            name: "seaweedfs",
            endpoint,
            _guard: Guard::Seaweed(p),
        };
        server.wait_ready().await;
        server
    }

    pub fn credentials(&self, access_key: &str, secret_key: &str) -> Credentials {
        Credentials::Hmac(HmacCredentials {
            end_point: self.endpoint.clone(),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
        })
    }

    pub async fn bucket(&self, name: &str) -> Bucket {
        Bucket::connect(
            &self.credentials(ACCESS_KEY, SECRET_KEY),
            name,
            LOCATION,
            &test_config(),
        )
        .await
        .unwrap()
    }

    /// A plain SDK client for setting up fixtures (creating buckets, writing inputs).
    pub fn admin(&self) -> aws_sdk_s3::Client {
        admin_client(&self.endpoint)
    }

    /// SeaweedFS answers S3 before its volume server takes writes: wait until a write works.
    async fn wait_ready(&self) {
        let admin = self.admin();
        let deadline = Instant::now() + Duration::from_secs(40);
        let mut last_err = String::new();
        while Instant::now() < deadline {
            // Fails once the bucket exists; the write below tells whether the server is ready.
            let _ = admin.create_bucket().bucket("ready-probe").send().await;
            let put = admin
                .put_object()
                .bucket("ready-probe")
                .key("probe")
                .body(b"x".to_vec().into())
                .send()
                .await;
            match put {
                Ok(_) => return,
                Err(e) => last_err = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = match &self._guard {
            Guard::Seaweed(p) => {
                std::fs::read_to_string(p.dir.path().join("weed.log")).unwrap_or_default()
            }
            Guard::Embedded(..) => String::new(),
        };
        let tail: String = log
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        panic!(
            "{} did not become ready in 40 s: {last_err}\n--- log tail ---\n{tail}",
            self.name
        );
    }

    /// Creates a bucket and writes `objects` into it, 16 writes at a time.
    pub async fn fill(&self, bucket: &str, objects: Vec<(String, Vec<u8>)>) {
        use futures::StreamExt;
        let admin = self.admin();
        admin.create_bucket().bucket(bucket).send().await.unwrap();
        futures::stream::iter(objects)
            .map(|(k, v)| {
                let admin = admin.clone();
                async move {
                    admin
                        .put_object()
                        .bucket(bucket)
                        .key(&k)
                        .body(v.into())
                        .send()
                        .await
                        .unwrap_or_else(|e| {
                            panic!("put {k}: {}", aws_sdk_s3::error::DisplayErrorContext(&e))
                        });
                }
            })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
    }
}

pub fn admin_client(endpoint: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(LOCATION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            ACCESS_KEY, SECRET_KEY, None, None, "test",
        ))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Loopback ports that were free a moment ago (all held at once so they differ).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect()
}

/// An address where nothing listens.
pub fn closed_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// The `weed` binary that setup/seaweedfs.sh installs; the tests fail (not skip) without it.
pub fn weed_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SPEECHBATCH_WEED") {
        return PathBuf::from(p);
    }
    let cache = std::env::var_os("SPEECHBATCH_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/speechbatch")
        });
    let weed = cache.join("seaweedfs-venv/bin/weed");
    assert!(
        weed.is_file(),
        "SeaweedFS is not installed ({} is missing): run setup/seaweedfs.sh (scripts/setup does) or set SPEECHBATCH_WEED",
        weed.display()
    );
    weed
}

/// A `weed mini` process; killed when dropped.
pub struct SeaweedProcess {
    child: Child,
    pub s3_port: u16,
    dir: tempfile::TempDir,
}

impl SeaweedProcess {
    pub fn start() -> SeaweedProcess {
        let weed = weed_binary();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let config = dir.path().join("s3.json");
        // One identity: requests signed with another key pair are rejected.
        let identities = serde_json::json!({"identities": [{
            "name": "speechbatch-test",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(&config, serde_json::to_vec(&identities).unwrap()).unwrap();
        let p = free_ports(10);
        let log = std::fs::File::create(dir.path().join("weed.log")).unwrap();
        let args = [
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
            format!("-s3.config={}", config.display()),
        ];
        let child = Command::new(&weed)
            .arg("mini")
            .args(&args)
            .current_dir(dir.path())
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
        SeaweedProcess {
            child,
            s3_port: p[0],
            dir,
        }
    }
}

impl Drop for SeaweedProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
