//! IBM Cloud IAM: an API key is exchanged for a bearer token at the token endpoint; the token is
//! cached, shared by all clones of a bucket, and refreshed before it expires.

use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{StorageError, StorageErrorKind};

/// The longest a refresh is done ahead of expiry. A token is replaced when less than
/// `min(REFRESH_AHEAD_MAX, lifetime / 5)` of its lifetime remains, as IBM's SDKs do (they refresh
/// at 80 %): a request signed just before expiry could otherwise reach the server too late,
/// and short-lived tokens (tests use 2 s) must not be refreshed on every request.
const REFRESH_AHEAD_MAX: Duration = Duration::from_secs(60);

#[derive(Clone)]
struct Token {
    value: String,
    refresh_at: Instant,
}

/// The token cache of one set of IAM credentials.
pub(crate) struct IamTokens {
    http: reqwest::Client,
    url: String,
    apikey: String,
    bucket: String,
    /// Serialises exchanges: concurrent requests wait for one exchange instead of each doing one.
    exchange: tokio::sync::Mutex<()>,
    /// The current token; the S3 interceptor reads it synchronously.
    current: StdMutex<Option<Token>>,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: Option<u64>,
}

impl IamTokens {
    pub(crate) fn new(
        url: &str,
        apikey: &str,
        bucket: &str,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Arc<Self>, StorageError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| {
                StorageError::new(
                    StorageErrorKind::Other,
                    format!("Cannot set up the HTTP client for the IAM token endpoint {url}: {e}"),
                )
            })?;
        Ok(Arc::new(IamTokens {
            http,
            url: url.to_owned(),
            apikey: apikey.to_owned(),
            bucket: bucket.to_owned(),
            exchange: tokio::sync::Mutex::new(()),
            current: StdMutex::new(None),
        }))
    }

    /// The cached token when it is still fresh.
    pub(crate) fn cached(&self) -> Option<String> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .map(|t| t.value.clone())
    }

    /// The last token fetched, fresh or not (for the synchronous S3 interceptor).
    pub(crate) fn current(&self) -> Option<String> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().map(|t| t.value.clone())
    }

    /// A fresh token, exchanging the API key when the cached one is missing or near expiry.
    pub(crate) async fn token(&self) -> Result<String, StorageError> {
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let _guard = self.exchange.lock().await;
        // Another task may have refreshed it while this one waited.
        if let Some(t) = self.cached() {
            return Ok(t);
        }
        let token = self.exchange_apikey().await?;
        let value = token.value.clone();
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(token);
        Ok(value)
    }

    async fn exchange_apikey(&self) -> Result<Token, StorageError> {
        let started = Instant::now();
        let url = &self.url;
        let bucket = &self.bucket;
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&[
                ("grant_type", "urn:ibm:params:oauth:grant-type:apikey"),
                ("apikey", self.apikey.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                // reqwest's messages name the URL, not the form body: no secret in them.
                let (kind, what) = if e.is_timeout() {
                    (StorageErrorKind::Timeout, "did not answer in time")
                } else {
                    (StorageErrorKind::Unreachable, "cannot be reached")
                };
                StorageError::new(
                    kind,
                    format!(
                        "The IAM token endpoint {url} {what} ({}) while getting a token for bucket '{bucket}': check the network or the IAM token URL setting",
                        root_cause(&e)
                    ),
                )
            })?;
        let status = resp.status();
        if status.is_client_error() {
            // IAM answers 400 "BXNIM0415E Provided API key could not be found" for a bad key.
            let code = resp
                .json::<serde_json::Value>()
                .await
                .ok()
                .and_then(|v| {
                    v.get("errorCode")
                        .and_then(|c| c.as_str())
                        .map(str::to_owned)
                })
                .filter(|c| !c.contains(&self.apikey) && c.len() < 40)
                .map(|c| format!(", {c}"))
                .unwrap_or_default();
            return Err(StorageError::new(
                StorageErrorKind::InvalidCredentials,
                format!(
                    "The IAM API key for bucket '{bucket}' was rejected by {url} (HTTP {}{code}): check apikey in the credentials file",
                    status.as_u16()
                ),
            ));
        }
        if !status.is_success() {
            return Err(StorageError::new(
                StorageErrorKind::Other,
                format!(
                    "The IAM token endpoint {url} answered HTTP {} while getting a token for bucket '{bucket}': try again later",
                    status.as_u16()
                ),
            ));
        }
        let body: TokenResponse = resp.json().await.map_err(|_| {
            StorageError::new(
                StorageErrorKind::Other,
                format!("The IAM token endpoint {url} sent a response without an access_token (for bucket '{bucket}'): check the IAM token URL setting"),
            )
        })?;
        // Lifetimes are counted on this machine's monotonic clock from the request's start, not
        // from the server's `expiration` timestamp: clock skew cannot make a token look fresh.
        let lifetime = Duration::from_secs(body.expires_in.unwrap_or(3600));
        let ahead = REFRESH_AHEAD_MAX.min(lifetime / 5);
        tracing::debug!(bucket = %bucket, lifetime_s = lifetime.as_secs(), "IAM token exchanged");
        Ok(Token {
            value: body.access_token,
            refresh_at: started + lifetime - ahead,
        })
    }
}

/// The innermost error of a chain: reqwest's top level says only "error sending request".
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
