//! One bucket reached with one set of credentials, over aws-sdk-s3.

use std::borrow::Cow;
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
use aws_sdk_s3::types::EncodingType;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::credentials::Credentials;
use crate::endpoint::{
    refused_message, EndpointHost, EndpointPolicy, EndpointRefused, PolicyResolver,
};
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
    /// Which addresses end points may reach ([`EndpointPolicy`]; the default refuses
    /// link-local and metadata addresses and the like). A service adds its own
    /// listeners and the embedded S3 endpoint, and the operator's `--endpoint-allow` entries.
    pub endpoint_policy: EndpointPolicy,
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
            endpoint_policy: EndpointPolicy::default(),
        }
    }
}

/// The longest bucket location accepted (S3 regions and COS locations are at most about 30).
pub const MAX_LOCATION_LEN: usize = 64;

/// Checks a bucket name, loosely by S3's rules (the legacy ones, the loosest any S3-compatible
/// server applies): 3 to 255 ASCII letters, digits, `.`, `-` and `_`. Errs with the end of a
/// sentence that starts with the field's name; the name itself is never echoed.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    if !(3..=255).contains(&name.len()) {
        return Err("is not a bucket name: a bucket name has 3 to 255 characters".to_owned());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return Err(
            "is not a bucket name: a bucket name has only ASCII letters, digits, '.', '-' and '_'"
                .to_owned(),
        );
    }
    Ok(())
}

/// Checks a bucket location (sent as the SigV4 signing region): 1 to [`MAX_LOCATION_LEN`]
/// ASCII letters, digits, `-`, `_` and `.`, such as `us-south` or `us-geo`. Errs with the end
/// of a sentence that starts with the field's name; the value is never echoed.
pub fn check_bucket_location(location: &str) -> Result<(), String> {
    if location.is_empty()
        || location.len() > MAX_LOCATION_LEN
        || !location
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(format!(
            "is not a bucket location: give the bucket's location (region), such as us-south or \
             us-geo: 1 to {MAX_LOCATION_LEN} ASCII letters, digits, '-', '_' and '.'"
        ));
    }
    Ok(())
}

/// S3's error codes that are shown to users as they are. Any other code a server sends is
/// logged but not echoed: the end point may be any HTTP server, and its answers are not for
/// users to read through this service.
const STANDARD_CODES: &[&str] = &[
    "AccessDenied",
    "AccountProblem",
    "AllAccessDisabled",
    "AuthorizationHeaderMalformed",
    "BadDigest",
    "EntityTooLarge",
    "ExpiredToken",
    "Forbidden",
    "InternalError",
    "InvalidAccessKeyId",
    "InvalidArgument",
    "InvalidBucketName",
    "InvalidClientTokenId",
    "InvalidObjectState",
    "InvalidRange",
    "InvalidRequest",
    "InvalidSecurity",
    "InvalidToken",
    "KeyTooLongError",
    "MethodNotAllowed",
    "MissingContentLength",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "NotImplemented",
    "NotSignedUp",
    "PermanentRedirect",
    "PreconditionFailed",
    "RequestTimeTooSkewed",
    "RequestTimeout",
    "ServiceUnavailable",
    "SignatureDoesNotMatch",
    "SlowDown",
    "TemporaryRedirect",
    "XAmzContentSHA256Mismatch",
];

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
        // `insert` panics on a value that is not a valid header value; a token with a line
        // break (from the token endpoint) must fail the request, not the process. The errors
        // do not quote the values.
        headers
            .try_insert("authorization", format!("Bearer {token}"))
            .map_err(|_| "the IAM token is not a valid HTTP header value")?;
        headers
            .try_insert("ibm-service-instance-id", self.instance_id.clone())
            .map_err(|_| "resource_instance_id is not a valid HTTP header value")?;
        Ok(())
    }
}

impl Bucket {
    /// Builds the client for bucket `name` at `location` (the interface's bucket location, used
    /// as the SigV4 region). No network I/O: an IAM token is fetched on the first operation,
    /// and an end point's host name is resolved (and checked against
    /// [`StorageConfig::endpoint_policy`]) at each connection.
    ///
    /// Refuses, with a permanent error and before any connection, what the S3 client cannot
    /// take (a bucket name, location or credentials field with a line break: records written by
    /// older versions are not checked by the REST API's rules) and an end point whose address
    /// the policy refuses.
    pub async fn connect(
        creds: &Credentials,
        name: &str,
        location: &str,
        cfg: &StorageConfig,
    ) -> Result<Bucket, StorageError> {
        let ep = creds.end_point();
        creds
            .check()
            .map_err(|e| StorageError::new(StorageErrorKind::InvalidCredentials, e.0))?;
        if name.trim().is_empty() {
            return Err(StorageError::new(
                StorageErrorKind::NoSuchBucket,
                format!("The bucket name is empty (endpoint {ep}): set the bucket name"),
            ));
        }
        check_bucket_name(name).map_err(|why| {
            StorageError::new(
                StorageErrorKind::NoSuchBucket,
                format!(
                    "The bucket name {why} (endpoint {ep}): fix input_bucket_name or output_bucket_name"
                ),
            )
        })?;
        let region = if location.trim().is_empty() {
            DEFAULT_REGION
        } else {
            location.trim()
        };
        check_bucket_location(region).map_err(|why| {
            StorageError::new(
                StorageErrorKind::NoSuchBucket,
                format!(
                    "The location of bucket '{name}' {why} (endpoint {ep}): fix input_bucket_location or output_bucket_location"
                ),
            )
        })?;
        let refused = || StorageError::new(StorageErrorKind::AccessDenied, refused_message(ep));
        // `check` has made sure it parses, with a host.
        let url = reqwest::Url::parse(ep).map_err(|_| refused())?;
        let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
            return Err(refused());
        };
        let host = cfg
            .endpoint_policy
            .check_host(host, port)
            .map_err(|_| refused())?;
        let resolver_host = match host {
            EndpointHost::Ip(_) => String::new(),
            EndpointHost::Name { name, .. } => name,
        };
        // The SDK's own HTTPS client (hyper 1, rustls on aws-lc-rs), with the policy's DNS
        // resolver: every connection goes to an address the policy allowed at that moment.
        // Environment proxies (HTTPS_PROXY) are not used: a proxy would resolve end point names
        // where the policy cannot see them.
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_with_resolver(PolicyResolver::new(
                Arc::new(cfg.endpoint_policy.clone()),
                resolver_host,
                port,
            ));
        let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
            .connect_timeout(cfg.connect_timeout)
            .operation_timeout(cfg.operation_timeout)
            .build();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http)
            .region(Region::new(region.to_owned()))
            .endpoint_url(ep)
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
    ///
    /// Pages are asked for URL-encoded (S3's `encoding-type=url`), so that a key with a control
    /// character, which XML cannot carry, neither fails the listing nor arrives altered; whether
    /// the worker can use such a key is its decision (`keys::input_key_problem`).
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
                .encoding_type(EncodingType::Url)
                .max_keys(b.page_size);
            match (st.token.take(), &st.after) {
                (Some(token), _) => req = req.continuation_token(token),
                (None, Some(after)) => req = req.start_after(after),
                (None, None) => {}
            }
            let page = req.send().await.map_err(|e| b.classify(e, "list", None))?;
            let encoded = page.encoding_type() == Some(&EncodingType::Url);
            let mut items = Vec::new();
            for obj in page.contents() {
                let Some(key) = obj.key().and_then(|k| b.listed_key(k, encoded)) else {
                    continue;
                };
                let key = key.as_ref();
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
            tracing::warn!(endpoint = %self.inner.endpoint, bucket = %self.inner.name, key, error = %self.scrub(&root_cause(&e)), "reading an object's body failed");
            StorageError::new(
                StorageErrorKind::Unreachable,
                format!(
                    "Reading object '{key}' of bucket '{}' from {} broke off: try again later",
                    self.inner.name, self.inner.endpoint,
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

    /// A key as listed: decoded when the page is URL-encoded. A key that does not decode (a
    /// malformed escape, or not UTF-8) cannot be addressed: it is left out, with a warning.
    fn listed_key<'a>(&self, listed: &'a str, encoded: bool) -> Option<Cow<'a, str>> {
        if !encoded {
            return Some(Cow::Borrowed(listed));
        }
        let key = url_decode(listed);
        if key.is_none() {
            tracing::warn!(
                bucket = %self.inner.name,
                endpoint = %self.inner.endpoint,
                listed = %listed.escape_debug(),
                "the object storage listed a key that does not decode as URL-encoded UTF-8; it is left out"
            );
        }
        key.map(Cow::Owned)
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
                .encoding_type(EncodingType::Url)
                .max_keys(self.page_size);
            if let Some(t) = token.take() {
                req = req.continuation_token(t);
            }
            let page = req
                .send()
                .await
                .map_err(|e| self.classify(e, "list", None))?;
            let encoded = page.encoding_type() == Some(&EncodingType::Url);
            keys.extend(page.contents().iter().filter_map(|o| {
                o.key()
                    .and_then(|k| self.listed_key(k, encoded))
                    .map(Cow::into_owned)
            }));
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

    /// The one message for an end point that could not be reached or did not answer as S3
    /// does: connection refused, reset, timed out, a name that does not resolve, TLS failing, an
    /// unreadable or non-S3 answer all read the same, so that a job's error cannot tell which
    /// (an open port from a closed one). The detail goes to the log.
    fn unreachable(&self, kind: StorageErrorKind) -> StorageError {
        StorageError::new(
            kind,
            format!(
                "Could not reach the end point {} for bucket '{}', or it did not answer as an S3 \
                 object storage does: check end_point and the network, or try again later",
                self.inner.endpoint, self.inner.name
            ),
        )
    }

    /// Turns an SDK error into a classified error with a message that says what to fix. Users
    /// see S3's standard error codes ([`STANDARD_CODES`]) and nothing else the server or the
    /// network said; the full error goes to the log (scrubbed of secrets).
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
        let detail = || self.scrub(&aws_sdk_s3::error::DisplayErrorContext(&err).to_string());
        if let Some(refused) = find_source::<EndpointRefused>(&err) {
            tracing::warn!(endpoint = %ep, bucket = %b, %refused, "storage end point refused by the end point policy");
            return StorageError::new(AccessDenied, refused_message(ep));
        }
        let obj = key.map(|k| format!("object '{k}' in ")).unwrap_or_default();
        let se = match &err {
            SdkError::ServiceError(se) => se,
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => {
                let kind = match &err {
                    SdkError::TimeoutError(_) => Timeout,
                    SdkError::DispatchFailure(d) if d.is_timeout() => Timeout,
                    SdkError::DispatchFailure(_) => Unreachable,
                    _ => Other,
                };
                tracing::warn!(endpoint = %ep, bucket = %b, operation = what, key, error = %detail(), "storage end point unreachable");
                return self.unreachable(kind);
            }
            _ => {
                tracing::warn!(endpoint = %ep, bucket = %b, operation = what, key, error = %detail(), "storage request failed");
                return StorageError::new(
                    Other,
                    format!(
                        "Cannot {what} {obj}bucket '{b}' at {ep}: the request could not be made; \
                         check the bucket name, its location and the credentials"
                    ),
                );
            }
        };
        let status = se.raw().status().as_u16();
        let code = err.code();
        let standard = code.filter(|c| STANDARD_CODES.contains(c));
        let kind = service_error_kind(code, status, key.is_some());
        tracing::debug!(endpoint = %ep, bucket = %b, operation = what, key, status, error = %detail(), "storage error response");
        // A bucket-level request (listing, the first a job makes) answered without a standard
        // code did not come from an S3 server: it reads as no answer at all. Object requests
        // come after a listing succeeded; HEAD answers have no body, hence no code.
        if key.is_none() && standard.is_none() {
            tracing::warn!(endpoint = %ep, bucket = %b, operation = what, status, error = %detail(), "storage end point answered as no S3 server does");
            return self.unreachable(Other);
        }
        let shown = standard
            .map(|c| format!("{c}, HTTP {status}"))
            .unwrap_or_else(|| format!("HTTP {status}"));
        let message = match kind {
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
                None => format!(
                    "Bucket '{b}' was not found at {ep} ({shown}): check the bucket name"
                ),
            },
            InvalidKey => format!(
                "The object storage at {ep} refused the key '{}' in bucket '{b}' ({shown}): it cannot \
                 store an object under that key (too long, or characters or folders it does not \
                 accept); rename the object or use another bucket",
                key.unwrap_or_default().escape_debug()
            ),
            AccessDenied => format!(
                "The credentials for bucket '{b}' at {ep} may not {what} {obj}this bucket ({shown}): \
                 grant them READ on the input bucket and READ and WRITE on the output bucket"
            ),
            _ if standard == Some("PermanentRedirect") || status == 301 => format!(
                "Bucket '{b}' is not served at {ep} ({shown}): use the endpoint of the bucket's region in end_point"
            ),
            _ if status >= 500 => format!(
                "The object storage at {ep} failed to {what} {obj}bucket '{b}' ({shown}): try again later"
            ),
            _ => format!("The object storage at {ep} refused to {what} {obj}bucket '{b}' ({shown})"),
        };
        StorageError::new(kind, message)
    }
}

/// The first error of type `T` in `err`'s chain of sources, `err` included.
fn find_source<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// The kind of an S3 error response, from its code (or, for HEAD responses, which have no
/// body, from its status). `object`: whether the request named an object key, so that an
/// invalid argument is most likely that key.
fn service_error_kind(code: Option<&str>, status: u16, object: bool) -> StorageErrorKind {
    use StorageErrorKind::*;
    match (code, status) {
        (Some("KeyTooLongError"), _) => InvalidKey,
        // The embedded server's answer to a key it refuses, and MinIO's.
        (Some("InvalidArgument" | "XMinioInvalidObjectName"), _) if object => InvalidKey,
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

/// Decodes a key of a URL-encoded listing: `%XX` escapes and `+` for a space (what S3 and
/// SeaweedFS send, and botocore decodes with `unquote_plus`). `None` for a malformed escape or
/// bytes that are not UTF-8.
pub(crate) fn url_decode(listed: &str) -> Option<String> {
    let bytes = listed.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod key_tests {
    use super::*;

    #[test]
    fn listed_keys_decode_as_s3_encodes_them() {
        // As SeaweedFS encoded them in a listing with encoding-type=url.
        let cases = [
            ("a%01b.wav", "a\u{1}b.wav"),
            ("cr%0Dlf%0A.wav", "cr\rlf\n.wav"),
            ("sp+ace%2Bplus%25pct.wav", "sp ace+plus%pct.wav"),
            ("back/slash.wav", "back/slash.wav"),
            ("%C3%BC%20x", "\u{fc} x"),
        ];
        for (listed, key) in cases {
            assert_eq!(url_decode(listed).as_deref(), Some(key), "{listed}");
        }
        for bad in ["a%", "a%2", "a%zz", "%FF"] {
            assert_eq!(url_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn refused_keys_are_permanent_and_other_invalid_arguments_are_not_keys() {
        use StorageErrorKind::*;
        assert_eq!(
            service_error_kind(Some("KeyTooLongError"), 400, true),
            InvalidKey
        );
        assert_eq!(
            service_error_kind(Some("InvalidArgument"), 400, true),
            InvalidKey
        );
        assert_eq!(
            service_error_kind(Some("InvalidArgument"), 400, false),
            Other
        );
        assert_eq!(service_error_kind(Some("NoSuchKey"), 404, true), NotFound);
        assert!(InvalidKey.is_permanent());
    }
}

#[cfg(test)]
mod connect_tests {
    use super::*;
    use crate::credentials::HmacCredentials;

    #[test]
    fn bucket_names_follow_s3s_rules_loosely() {
        for ok in [
            "abc",
            "my_cos_bucket",
            "a.b-c",
            "UPPER-legacy",
            &"b".repeat(255),
        ] {
            assert_eq!(check_bucket_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "ab",
            "",
            &"b".repeat(256),
            "a/b",
            "in\rput",
            "input\n",
            "in put",
            "arn:aws:s3:us-east-1:123456789012:accesspoint:ap",
            "bücket",
            "a?b",
        ] {
            let e = check_bucket_name(bad).unwrap_err();
            assert!(e.starts_with("is not a bucket name"), "{bad:?}: {e}");
            assert!(!e.contains(bad) || bad.is_empty(), "{bad:?} echoed: {e}");
        }
    }

    #[test]
    fn bucket_locations_are_short_plain_region_names() {
        for ok in ["us-geo", "us-south-standard", "eu_de.1", "us-east-1", "x"] {
            assert_eq!(check_bucket_location(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "us\r\nX-Injected: 1",
            "us-geo\n",
            "us geo",
            "us/geo",
            "üs",
            &"a".repeat(MAX_LOCATION_LEN + 1),
        ] {
            let e = check_bucket_location(bad).unwrap_err();
            assert!(e.starts_with("is not a bucket location"), "{bad:?}: {e}");
            assert!(!e.contains("Injected"), "{e}");
        }
    }

    fn creds(end_point: &str, access_key: &str) -> Credentials {
        Credentials::Hmac(HmacCredentials {
            end_point: end_point.into(),
            access_key: access_key.into(),
            secret_key: "secret-key-value".into(),
        })
    }

    /// Records of older versions were not checked: what would panic inside the SDK (a line
    /// break in a header value) is a permanent error before any request.
    #[tokio::test]
    async fn connect_refuses_what_the_sdk_cannot_send_as_permanent_errors() {
        let cfg = StorageConfig::default();
        let ep = "http://127.0.0.1:9";
        let good = Bucket::connect(&creds(ep, "AKIA"), "calls", "us-geo", &cfg).await;
        assert!(good.is_ok(), "{good:?}");
        for (name, location, access_key, kind) in [
            (
                "calls",
                "us-geo\r\nX-Injected: 1",
                "AKIA",
                StorageErrorKind::NoSuchBucket,
            ),
            ("calls", "us\ngeo", "AKIA", StorageErrorKind::NoSuchBucket),
            ("cal\rls", "us-geo", "AKIA", StorageErrorKind::NoSuchBucket),
            ("ca", "us-geo", "AKIA", StorageErrorKind::NoSuchBucket),
            (
                "calls",
                "us-geo",
                "AK\r\nIA",
                StorageErrorKind::InvalidCredentials,
            ),
            (
                "calls",
                "us-geo",
                "AKIA\t",
                StorageErrorKind::InvalidCredentials,
            ),
        ] {
            let e = Bucket::connect(&creds(ep, access_key), name, location, &cfg)
                .await
                .unwrap_err();
            assert_eq!(e.kind, kind, "{name:?} {location:?} {access_key:?}: {e}");
            assert!(e.is_permanent());
            assert!(
                !e.message.contains('\r') && !e.message.contains('\n'),
                "{e:?}"
            );
            assert!(!e.message.contains("secret-key-value"), "{e}");
        }
        // An empty location is the default signing region (the model store's default).
        assert!(Bucket::connect(&creds(ep, "AKIA"), "calls", "", &cfg)
            .await
            .is_ok());
        // An end point with a line break (which the URL parser would silently drop).
        let e = Bucket::connect(
            &creds("http://127.0.0.1:9\n", "AKIA"),
            "calls",
            "us-geo",
            &cfg,
        )
        .await
        .unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::InvalidCredentials, "{e}");
    }

    #[tokio::test]
    async fn connect_refuses_end_point_addresses_the_policy_refuses() {
        let default = StorageConfig::default();
        for ep in [
            "http://169.254.169.254",
            "http://169.254.169.254:80/latest",
            "http://[fe80::1]:9000",
            "http://[::ffff:169.254.169.254]",
            "http://2852039166",
            "http://0.0.0.0:9000",
            "http://[fd00:ec2::254]",
        ] {
            let e = Bucket::connect(&creds(ep, "AKIA"), "calls", "us-geo", &default)
                .await
                .unwrap_err();
            assert_eq!(e.kind, StorageErrorKind::AccessDenied, "{ep}: {e}");
            assert!(e.is_permanent());
            assert_eq!(e.message, refused_message(ep), "{ep}");
        }
        // Loopback: allowed by default, refused with private addresses denied.
        let strict = StorageConfig {
            endpoint_policy: EndpointPolicy::default().deny_private(true),
            ..StorageConfig::default()
        };
        for ep in [
            "http://0x7f.1:9000",
            "http://127.0.0.1:9000",
            "http://[::1]:9000",
            "http://[::ffff:127.0.0.1]:9000",
        ] {
            let ok = Bucket::connect(&creds(ep, "AKIA"), "calls", "us-geo", &default).await;
            assert!(ok.is_ok(), "{ep}: {ok:?}");
            let e = Bucket::connect(&creds(ep, "AKIA"), "calls", "us-geo", &strict)
                .await
                .unwrap_err();
            assert_eq!(e.kind, StorageErrorKind::AccessDenied, "{ep}: {e}");
            assert!(e.is_permanent());
            assert_eq!(e.message, refused_message(ep), "{ep}");
        }
        // The service's own listener: refused by the default policy.
        let own = StorageConfig {
            endpoint_policy: EndpointPolicy::default()
                .deny_listener("127.0.0.1:8080".parse().unwrap()),
            ..StorageConfig::default()
        };
        let e = Bucket::connect(&creds("http://127.0.0.1:8080", "AKIA"), "calls", "", &own)
            .await
            .unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::AccessDenied, "{e}");
        assert_eq!(e.message, refused_message("http://127.0.0.1:8080"));
        // Allowed by entry with private addresses denied: the embedded S3 endpoint's address.
        let cfg = StorageConfig {
            endpoint_policy: EndpointPolicy::default()
                .allow_listener("127.0.0.1:9000".parse().unwrap())
                .deny_private(true),
            ..StorageConfig::default()
        };
        let ok = Bucket::connect(&creds("http://127.0.0.1:9000", "AKIA"), "calls", "", &cfg).await;
        assert!(ok.is_ok(), "{ok:?}");
        let e = Bucket::connect(&creds("http://127.0.0.1:9001", "AKIA"), "calls", "", &cfg)
            .await
            .unwrap_err();
        assert_eq!(e.kind, StorageErrorKind::AccessDenied, "{e}");
        // Names are checked when they are resolved, at each connection: not here, even where
        // the name's loopback addresses will be refused.
        let named = Bucket::connect(
            &creds("http://localhost:9000", "AKIA"),
            "calls",
            "",
            &strict,
        )
        .await;
        assert!(named.is_ok(), "{named:?}");
    }
}
