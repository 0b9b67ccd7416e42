//! One bucket reached with one set of credentials, over aws-sdk-s3.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{
    BehaviorVersion, ConfigBag, Intercept, Region, RequestChecksumCalculation,
    ResponseChecksumValidation, RuntimeComponents,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::credentials::Credentials;
use crate::error::{StorageError, StorageErrorKind};
use crate::iam::{root_cause, IamTokens};
use crate::keys::is_input_key;

/// The user-metadata name under which an output records the batch that wrote it (sent as
/// `x-amz-meta-speechbatch-batch-id`).
pub const BATCH_ID_METADATA: &str = "speechbatch-batch-id";

/// The signing region used when a bucket's location is empty. The interface's locations
/// (`us-geo`, `eu-geo`) are not AWS regions, but SigV4 only needs client and server to agree on
/// the string: s3s and SeaweedFS take the region from the request's credential scope, MinIO
/// accepts any region unless one is configured, and IBM COS accepts its location names.
const DEFAULT_REGION: &str = "us-east-1";

/// Settings shared by all bucket connections.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// Where IAM API keys are exchanged for tokens.
    pub iam_token_url: String,
    /// Limit on establishing a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Limit on one whole operation, retries included (an object body is read after it).
    pub operation_timeout: Duration,
    /// Attempts per operation, the first included; transient errors and throttling are retried.
    pub max_attempts: u32,
}

/// IBM Cloud's IAM token endpoint, where credentials files in the `apikey` format are exchanged
/// for bearer tokens unless a flag names another.
pub const DEFAULT_IAM_TOKEN_URL: &str = "https://iam.cloud.ibm.com/identity/token";

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            iam_token_url: DEFAULT_IAM_TOKEN_URL.to_owned(),
            connect_timeout: Duration::from_secs(10),
            operation_timeout: Duration::from_secs(120),
            max_attempts: 3,
        }
    }
}

/// An input object of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputObject {
    /// The object key.
    pub key: String,
    /// The size in bytes, as listed.
    pub size: u64,
}

/// One bucket reached with one set of credentials. Cheap to clone: clones share the HTTP
/// connection pool and the IAM token cache.
#[derive(Clone)]
pub struct Bucket {
    inner: Arc<Inner>,
    page_size: i32,
}

struct Inner {
    client: aws_sdk_s3::Client,
    name: String,
    endpoint: String,
    operation_timeout: Duration,
    iam: Option<Arc<IamTokens>>,
    /// Strings that must never appear in an error message.
    secrets: Vec<String>,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.inner.name)
            .field("endpoint", &self.inner.endpoint)
            .field("iam", &self.inner.iam.is_some())
            .finish()
    }
}

/// Adds the IAM bearer token and service instance id to every request, in place of SigV4.
struct IamAuth {
    tokens: Arc<IamTokens>,
    instance_id: String,
}

impl fmt::Debug for IamAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamAuth")
            .field("instance_id", &self.instance_id)
            .finish()
    }
}

impl Intercept for IamAuth {
    fn name(&self) -> &'static str {
        "SpeechBatchIamAuth"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn StdError + Send + Sync>> {
        // Interceptors are synchronous: every Bucket operation awaits a fresh token first, so
        // the cache holds one here (possibly past its refresh point on a late retry, still valid).
        let token = self
            .tokens
            .current()
            .ok_or("no IAM token was fetched before the request")?;
        let headers = context.request_mut().headers_mut();
        headers.insert("authorization", format!("Bearer {token}"));
        headers.insert("ibm-service-instance-id", self.instance_id.clone());
        Ok(())
    }
}

impl Bucket {
    /// Builds the client for bucket `name` at `location` (the interface's bucket location, used
    /// as the SigV4 region). No network I/O: an IAM token is fetched on the first operation.
    pub async fn connect(
        creds: &Credentials,
        name: &str,
        location: &str,
        cfg: &StorageConfig,
    ) -> Result<Bucket, StorageError> {
        if name.trim().is_empty() {
            return Err(StorageError::new(
                StorageErrorKind::NoSuchBucket,
                format!(
                    "The bucket name is empty (endpoint {}): set the bucket name",
                    creds.end_point()
                ),
            ));
        }
        let region = if location.trim().is_empty() {
            DEFAULT_REGION
        } else {
            location.trim()
        };
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(cfg.connect_timeout)
            .operation_timeout(cfg.operation_timeout)
            .build();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .endpoint_url(creds.end_point())
            // Path-style (`endpoint/bucket/key`): MinIO, SeaweedFS and s3s serve no per-bucket
            // host names, and bucket names with dots break TLS for virtual hosts.
            .force_path_style(true)
            .timeout_config(timeouts)
            .retry_config(
                aws_sdk_s3::config::retry::RetryConfig::standard()
                    .with_max_attempts(cfg.max_attempts.max(1)),
            )
            // The SDK's default CRC32 trailers are rejected by some S3-compatible servers.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        let mut iam = None;
        match creds {
            Credentials::Hmac(h) => {
                builder = builder.credentials_provider(aws_sdk_s3::config::Credentials::new(
                    &h.access_key,
                    &h.secret_key,
                    None,
                    None,
                    "speechbatch-credentials-file",
                ));
            }
            Credentials::Iam(i) => {
                let tokens = IamTokens::new(
                    &cfg.iam_token_url,
                    &i.apikey,
                    name,
                    cfg.connect_timeout,
                    cfg.operation_timeout,
                )?;
                // No SigV4 credentials: the no-auth scheme is chosen and the interceptor adds
                // the bearer token that COS expects instead.
                builder = builder.allow_no_auth().interceptor(IamAuth {
                    tokens: tokens.clone(),
                    instance_id: i.resource_instance_id.clone(),
                });
                iam = Some(tokens);
            }
        }
        Ok(Bucket {
            inner: Arc::new(Inner {
                client: aws_sdk_s3::Client::from_conf(builder.build()),
                name: name.to_owned(),
                endpoint: creds.end_point().to_owned(),
                operation_timeout: cfg.operation_timeout,
                iam,
                secrets: creds.secrets(),
            }),
            page_size: 1000,
        })
    }

    /// The same bucket, listing `page_size` keys per request (1..=1000; S3's maximum and the
    /// default is 1000). Tests use small pages to exercise paging.
    pub fn with_page_size(mut self, page_size: u32) -> Bucket {
        self.page_size = page_size.clamp(1, 1000) as i32;
        self
    }

    /// The bucket name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Checks that the bucket exists and that the credentials can list it.
    pub async fn check_access(&self) -> Result<(), StorageError> {
        self.authorize().await?;
        self.inner
            .client
            .list_objects_v2()
            .bucket(&self.inner.name)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.classify(e, "list", None))?;
        Ok(())
    }

    /// Streams the input objects in S3 key (byte) order, one listing page at a time: keys that
    /// are not outputs (`.json`, `.notice`) nor folder markers (`/` at the end), strictly after
    /// `start_after` (`None`: from the start) and at most `last` (`None`: to the end).
    pub fn list_inputs(
        &self,
        start_after: Option<String>,
        last: Option<String>,
    ) -> BoxStream<'static, Result<InputObject, StorageError>> {
        struct State {
            bucket: Bucket,
            /// Where the next page starts: a continuation token, else a start-after key.
            token: Option<String>,
            after: Option<String>,
            last: Option<String>,
            done: bool,
        }
        let empty_range = matches!((&start_after, &last), (Some(a), Some(l)) if l <= a);
        let state = State {
            bucket: self.clone(),
            token: None,
            after: start_after,
            last,
            done: empty_range,
        };
        let pages = stream::try_unfold(state, |mut st| async move {
            if st.done {
                return Ok(None);
            }
            let b = &st.bucket;
            b.authorize().await?;
            let mut req = b
                .inner
                .client
                .list_objects_v2()
                .bucket(&b.inner.name)
                .max_keys(b.page_size);
            match (st.token.take(), &st.after) {
                (Some(token), _) => req = req.continuation_token(token),
                (None, Some(after)) => req = req.start_after(after),
                (None, None) => {}
            }
            let page = req.send().await.map_err(|e| b.classify(e, "list", None))?;
            let mut items = Vec::new();
            for obj in page.contents() {
                let Some(key) = obj.key() else { continue };
                // S3 lists in byte order and shard ranges rely on it. SeaweedFS 4.48 lists
                // folder by folder instead ("a/b" before "a-c"), and its start-after skips the
                // subtree of a folder of that name: such a listing must fail loudly rather than
                // make inputs be skipped or counted twice.
                if st.after.as_deref().is_some_and(|a| key <= a) {
                    return Err(StorageError::new(
                        StorageErrorKind::Other,
                        format!(
                            "The object storage at {} listed bucket '{}' out of key order (at '{key}'): \
                             batch jobs need the S3 byte order; use a server that keeps it, or rename \
                             keys so that no folder name is followed by a character below '/' \
                             (such as '-' or '.') in a sibling's name",
                            b.inner.endpoint, b.inner.name
                        ),
                    ));
                }
                st.after = Some(key.to_owned());
                if st.last.as_deref().is_some_and(|l| key > l) {
                    st.done = true;
                    break;
                }
                if is_input_key(key) {
                    items.push(InputObject {
                        key: key.to_owned(),
                        size: obj.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
            if !page.is_truncated().unwrap_or(false) || page.contents().is_empty() {
                st.done = true;
            }
            // Without a token, the next page starts after the last key seen (S3 allows both).
            st.token = page.next_continuation_token().map(str::to_owned);
            Ok(Some((items, st)))
        });
        pages
            .map_ok(|items| stream::iter(items.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    /// Reads one object. When it is larger than `max_bytes` the result is a `TooLarge` error and
    /// the body is not downloaded (the size is checked from the response's content length, and
    /// the read stops at `max_bytes` should the server not send one).
    pub async fn get(&self, key: &str, max_bytes: u64) -> Result<Vec<u8>, StorageError> {
        self.authorize().await?;
        let resp = self
            .inner
            .client
            .get_object()
            .bucket(&self.inner.name)
            .key(key)
            .send()
            .await
            .map_err(|e| self.classify(e, "read", Some(key)))?;
        let name = &self.inner.name;
        let too_large = |size: Option<i64>| {
            let size = size
                .map(|s| format!("{s} bytes"))
                .unwrap_or_else(|| "larger".to_owned());
            StorageError::new(
                StorageErrorKind::TooLarge,
                format!("Object '{key}' in bucket '{name}' is {size}, more than the limit of {max_bytes} bytes"),
            )
        };
        let len = resp.content_length().unwrap_or(-1);
        if len > 0 && len as u64 > max_bytes {
            // Dropping the response closes the connection without reading the body.
            return Err(too_large(Some(len)));
        }
        let mut buf = Vec::with_capacity(len.clamp(0, max_bytes as i64) as usize);
        let mut body: ByteStream = resp.body;
        while let Some(chunk) = body.try_next().await.map_err(|e| {
            StorageError::new(
                StorageErrorKind::Unreachable,
                format!(
                    "Reading object '{key}' of bucket '{}' from {} failed: {}; try again",
                    self.inner.name,
                    self.inner.endpoint,
                    self.scrub(&root_cause(&e))
                ),
            )
        })? {
            if (buf.len() + chunk.len()) as u64 > max_bytes {
                return Err(too_large(None));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    }

    /// Writes an output object (content type `application/json`), overwriting any object of
    /// that key, with the user metadata `speechbatch-batch-id: <batch_id>`.
    pub async fn put_output(
        &self,
        key: &str,
        body: Vec<u8>,
        batch_id: &str,
    ) -> Result<(), StorageError> {
        self.put_output_as(key, body, "application/json", batch_id)
            .await
    }

    /// Writes an output object of another content type (the analytics archives), tagged with
    /// the batch as [`Bucket::put_output`] does.
    pub async fn put_output_as(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        batch_id: &str,
    ) -> Result<(), StorageError> {
        self.put_object(key, body, content_type, Some((BATCH_ID_METADATA, batch_id)))
            .await
    }

    /// Writes any object (overwriting one of that key), with `content_type`. For the model
    /// store: corpus texts, analyses, vocabularies.
    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StorageError> {
        self.put_object(key, body, content_type, None).await
    }

    /// One PUT, with one user metadata pair when given.
    async fn put_object(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        metadata: Option<(&str, &str)>,
    ) -> Result<(), StorageError> {
        self.authorize().await?;
        let mut request = self
            .inner
            .client
            .put_object()
            .bucket(&self.inner.name)
            .key(key)
            .content_type(content_type);
        if let Some((name, value)) = metadata {
            request = request.metadata(name, value);
        }
        request
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.classify(e, "write", Some(key)))?;
        Ok(())
    }

    /// Deletes an object; deleting one that does not exist succeeds.
    pub async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.authorize().await?;
        match self
            .inner
            .client
            .delete_object()
            .bucket(&self.inner.name)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let err = self.classify(e, "delete", Some(key));
                if err.kind == StorageErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Every key under `prefix` (all pages), in listing order. For small prefixes such as one
    /// custom model's objects; batch inputs are listed with [`Bucket::list_inputs`].
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.authorize().await?;
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut req = self
                .inner
                .client
                .list_objects_v2()
                .bucket(&self.inner.name)
                .prefix(prefix)
                .max_keys(self.page_size);
            if let Some(t) = token.take() {
                req = req.continuation_token(t);
            }
            let page = req
                .send()
                .await
                .map_err(|e| self.classify(e, "list", None))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match page.next_continuation_token() {
                Some(t) if page.is_truncated().unwrap_or(false) && !page.contents().is_empty() => {
                    token = Some(t.to_owned())
                }
                _ => break,
            }
        }
        Ok(keys)
    }

    /// The batch id recorded in an output object's metadata; `None` when the object does not
    /// exist (or has no such metadata).
    pub async fn output_batch_id(&self, key: &str) -> Result<Option<String>, StorageError> {
        self.authorize().await?;
        match self
            .inner
            .client
            .head_object()
            .bucket(&self.inner.name)
            .key(key)
            .send()
            .await
        {
            Ok(head) => Ok(head
                .metadata()
                .and_then(|m| m.get(BATCH_ID_METADATA))
                .cloned()),
            Err(e) => {
                let err = self.classify(e, "read", Some(key));
                if err.kind == StorageErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    /// Makes sure an IAM bucket has a fresh token for the interceptor.
    async fn authorize(&self) -> Result<(), StorageError> {
        if let Some(iam) = &self.inner.iam {
            iam.token().await?;
        }
        Ok(())
    }

    /// Removes any secret from server- or library-provided text before it goes into a message.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in &self.inner.secrets {
            if !s.is_empty() {
                out = out.replace(s.as_str(), "***");
            }
        }
        out
    }

    /// Turns an SDK error into a classified error with a message that says what to fix.
    fn classify<E>(
        &self,
        err: SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
        what: &str,
        key: Option<&str>,
    ) -> StorageError
    where
        E: ProvideErrorMetadata + StdError + 'static,
    {
        use StorageErrorKind::*;
        let b = &self.inner.name;
        let ep = &self.inner.endpoint;
        let obj = key.map(|k| format!("object '{k}' in ")).unwrap_or_default();
        let (kind, message) = match &err {
            SdkError::TimeoutError(_) => {
                let secs = self.inner.operation_timeout.as_secs();
                let m = format!(
                    "The object storage endpoint {ep} did not answer within {secs} s \
                     ({what} {obj}bucket '{b}'): check end_point and the network, or try again later"
                );
                (Timeout, m)
            }
            SdkError::DispatchFailure(d) => {
                let cause = self.scrub(&root_cause(&err));
                let m = format!(
                    "Cannot reach the object storage endpoint {ep} for bucket '{b}': {cause}; check end_point"
                );
                (if d.is_timeout() { Timeout } else { Unreachable }, m)
            }
            SdkError::ServiceError(se) => {
                let status = se.raw().status().as_u16();
                // Codes only, never server messages: a message might quote request details.
                let code = err.code().filter(|c| {
                    c.len() < 64 && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '.')
                });
                let shown = code
                    .map(str::to_owned)
                    .unwrap_or_else(|| format!("HTTP {status}"));
                let kind = service_error_kind(code, status);
                let m = match kind {
                    InvalidCredentials if code == Some("AuthorizationHeaderMalformed") => format!(
                        "The object storage at {ep} rejected the request signature for bucket '{b}' \
                         ({shown}): check the bucket location (it is the signing region) and the credentials"
                    ),
                    InvalidCredentials => {
                        let fix = if self.inner.iam.is_some() {
                            "check apikey and resource_instance_id"
                        } else {
                            "check access_key and secret_key"
                        };
                        format!("The credentials for bucket '{b}' at {ep} were rejected ({shown}): {fix}")
                    }
                    NoSuchBucket => format!(
                        "Bucket '{b}' does not exist at {ep}: create it or fix the bucket name \
                         (input_bucket_name or output_bucket_name)"
                    ),
                    NotFound => match key {
                        Some(k) => format!("Object '{k}' does not exist in bucket '{b}' at {ep}"),
                        None => format!("Bucket '{b}' was not found at {ep} ({shown}): check the bucket name"),
                    },
                    AccessDenied => format!(
                        "The credentials for bucket '{b}' at {ep} may not {what} {obj}this bucket ({shown}): \
                         grant them READ on the input bucket and READ and WRITE on the output bucket"
                    ),
                    _ if code == Some("PermanentRedirect") || status == 301 => format!(
                        "Bucket '{b}' is not served at {ep} ({shown}): use the endpoint of the bucket's region in end_point"
                    ),
                    _ if status >= 500 => format!(
                        "The object storage at {ep} failed to {what} {obj}bucket '{b}' ({shown}, HTTP {status}): \
                         try again later"
                    ),
                    _ => format!(
                        "The object storage at {ep} refused to {what} {obj}bucket '{b}' ({shown}, HTTP {status})"
                    ),
                };
                (kind, m)
            }
            SdkError::ResponseError(_) => {
                let cause = self.scrub(&root_cause(&err));
                let m = format!(
                    "The object storage at {ep} sent an unreadable response to {what} {obj}bucket '{b}': \
                     {cause}; check that end_point is an S3 endpoint"
                );
                (Other, m)
            }
            _ => {
                let cause = self.scrub(&root_cause(&err));
                (
                    Other,
                    format!("Cannot {what} {obj}bucket '{b}' at {ep}: {cause}"),
                )
            }
        };
        StorageError::new(kind, message)
    }
}

/// The kind of an S3 error response, from its code (or, for HEAD responses, which have no
/// body, from its status).
fn service_error_kind(code: Option<&str>, status: u16) -> StorageErrorKind {
    use StorageErrorKind::*;
    match (code, status) {
        // NotSignedUp: s3s's answer to an unknown access key.
        (
            Some(
                "InvalidAccessKeyId"
                | "NotSignedUp"
                | "SignatureDoesNotMatch"
                | "InvalidToken"
                | "ExpiredToken"
                | "InvalidSecurity"
                | "InvalidClientTokenId"
                | "AuthorizationHeaderMalformed",
            ),
            _,
        )
        | (None, 401) => InvalidCredentials,
        (Some("NoSuchBucket"), _) => NoSuchBucket,
        (Some("NoSuchKey" | "NotFound"), _) | (None, 404) => NotFound,
        (Some("AccessDenied" | "AllAccessDisabled" | "AccountProblem" | "Forbidden"), _)
        | (None, 403) => AccessDenied,
        _ => Other,
    }
}
