//! Errors of bucket operations, classified so that callers can tell a request-level problem
//! (bad credentials, missing bucket) from a per-file one, and worded for users: the message
//! becomes a job's `error_message`.

/// What went wrong, coarsely: the orchestrators decide from this whether a job fails, a file
/// gets a `.notice`, or an operation is retried later.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StorageErrorKind {
    /// The server (or the IAM token endpoint) rejected the credentials themselves.
    InvalidCredentials,
    /// The credentials are valid but lack a permission on this bucket or object.
    AccessDenied,
    /// The bucket does not exist at the endpoint.
    NoSuchBucket,
    /// The object does not exist.
    NotFound,
    /// Nothing answered at the endpoint (connection refused, unknown host, TLS failure).
    Unreachable,
    /// The object is larger than the caller's limit; it was not downloaded.
    TooLarge,
    /// The endpoint did not answer in time.
    Timeout,
    /// Anything else (unexpected server answers, malformed responses).
    Other,
}

/// A failed bucket operation. `message` says what to fix, names the bucket and endpoint, and
/// never contains a secret: it is shown to users as a job's `error_message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StorageError {
    /// The class of the failure.
    pub kind: StorageErrorKind,
    /// A sentence for users.
    pub message: String,
}

impl StorageError {
    /// An error of `kind` with the user-facing `message`.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
        }
    }
}
