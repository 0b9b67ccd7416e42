//! A stand-in for IBM Cloud IAM and COS: a token endpoint that exchanges one API key for bearer
//! tokens, and a loopback proxy that checks those tokens and the instance id, then forwards the
//! request (without them) to an embedded s3s-fs server that checks no signature.

mod proxy;
mod token;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::embedded_s3::EmbeddedS3;
use crate::{Credentials, IamCredentials};

/// The one API key the token endpoint accepts.
pub const APIKEY: &str = "iam-test-apikey-Huw5KLD1Qlg6a8ftrk8MGhSp";
/// The service instance id the proxy requires (header `ibm-service-instance-id`).
pub const INSTANCE: &str = "ec21da8a-b15c-42bd-8ca7-a9d4230107c9";
/// The region of the credentials made here.
pub const REGION: &str = "us-south";
/// How long tokens live unless [`Iam::with_token_lifetime`] says otherwise.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// What the token endpoint and the proxy did.
#[derive(Debug, Default)]
pub struct IamState {
    /// Successful API key exchanges.
    pub exchanges: u64,
    /// Issued tokens and when they expire.
    pub tokens: HashMap<String, Instant>,
    /// Requests the proxy refused (a missing, wrong or expired token, or no instance id).
    pub refused: Vec<String>,
    /// Requests the proxy forwarded.
    pub forwarded: u64,
}

/// [`IamState`] shared between the servers and the test.
pub type SharedIamState = Arc<Mutex<IamState>>;

/// A running token endpoint and bearer-checking proxy in front of an s3s-fs server; the servers
/// stop when the runtime ends, the s3s-fs server also when this is dropped.
pub struct Iam {
    /// The token URL, for `StorageConfig::iam_token_url` or the service's `--iam-token-url`.
    pub token_url: String,
    /// The proxy: the `end_point` of IAM credentials.
    pub endpoint: String,
    /// The folder the s3s-fs server serves: each subfolder a bucket, each file below it an
    /// object.
    pub root: tempfile::TempDir,
    /// What the servers did.
    pub state: SharedIamState,
    _s3: EmbeddedS3,
}

impl Iam {
    /// Starts the servers; tokens live an hour.
    pub async fn start() -> Iam {
        Iam::with_token_lifetime(DEFAULT_TOKEN_LIFETIME).await
    }

    /// Starts the servers; tokens live `lifetime` (short ones test refreshing).
    pub async fn with_token_lifetime(lifetime: Duration) -> Iam {
        let root = tempfile::tempdir().unwrap();
        let s3 = EmbeddedS3::start(root.path().to_owned(), "127.0.0.1:0".parse().unwrap(), None)
            .await
            .unwrap();
        let state = SharedIamState::default();
        let token = token::token_endpoint(state.clone(), lifetime).await;
        let proxy = proxy::bearer_proxy(state.clone(), s3.addr()).await;
        Iam {
            token_url: format!("http://{token}/identity/token"),
            endpoint: format!("http://{proxy}"),
            root,
            state,
            _s3: s3,
        }
    }

    /// IAM credentials for the proxy with `apikey`.
    pub fn credentials(&self, apikey: &str) -> Credentials {
        credentials(&self.endpoint, apikey)
    }

    /// An IAM credentials file (JSON) for the proxy with `apikey`.
    pub fn creds_file(&self, apikey: &str) -> Vec<u8> {
        serde_json::to_vec_pretty(&serde_json::json!({
            "apikey": apikey,
            "end_point": self.endpoint,
            "resource_instance_id": INSTANCE,
            "region": REGION,
        }))
        .unwrap()
    }
}

/// IAM credentials for `end_point` with `apikey`, instance [`INSTANCE`], region [`REGION`].
pub fn credentials(end_point: &str, apikey: &str) -> Credentials {
    Credentials::Iam(IamCredentials {
        apikey: apikey.to_owned(),
        end_point: end_point.to_owned(),
        resource_instance_id: INSTANCE.to_owned(),
        region: REGION.to_owned(),
    })
}
