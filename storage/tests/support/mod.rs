//! Real S3 servers for the tests: the embedded s3s-fs server in a temporary folder, and
//! SeaweedFS (`weed mini`, installed by setup/seaweedfs.sh) from `speechbatch_storage::testing`.

#![allow(dead_code)] // each test binary uses a part of it

use std::time::Duration;

use speechbatch_storage::testing::{s3_client, EmbeddedTestS3, SeaweedFs};
use speechbatch_storage::{Bucket, Credentials, EndpointPolicy, HmacCredentials, StorageConfig};

pub use speechbatch_storage::testing::{ACCESS_KEY, LOCATION, SECRET_KEY};

/// Settings with small timeouts, so that failures show quickly. The tests' servers listen on
/// loopback, which the end point policy refuses unless an operator allows it: allowed here as
/// `--endpoint-allow 127.0.0.0/8` would.
pub fn test_config() -> StorageConfig {
    StorageConfig {
        connect_timeout: Duration::from_secs(2),
        operation_timeout: Duration::from_secs(20),
        max_attempts: 2,
        endpoint_policy: EndpointPolicy::default().allow("127.0.0.0/8".parse().unwrap()),
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
    Embedded(EmbeddedTestS3),
    Seaweed(SeaweedFs),
}

impl TestServer {
    /// The embedded s3s-fs server in a fresh temporary folder.
    pub async fn embedded() -> TestServer {
        let s3 = EmbeddedTestS3::start().await;
        TestServer {
            name: "s3s-fs",
            endpoint: s3.endpoint(),
            _guard: Guard::Embedded(s3),
        }
    }

    /// SeaweedFS in a fresh temporary folder, ready for writes.
    pub async fn seaweedfs() -> TestServer {
        let weed = SeaweedFs::start(ACCESS_KEY, SECRET_KEY).await;
        TestServer {
            name: "seaweedfs",
            endpoint: weed.endpoint(),
            _guard: Guard::Seaweed(weed),
        }
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
    s3_client(endpoint, ACCESS_KEY, SECRET_KEY)
}
