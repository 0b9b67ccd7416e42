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
    /// The server refused the object key itself (too long, or characters, segments or folders
    /// it cannot store): the same key is refused again on a retry.
    InvalidKey,
    /// The endpoint did not answer in time.
    Timeout,
    /// Anything else (unexpected server answers, malformed responses).
    Other,
}

impl StorageErrorKind {
    /// Whether retrying cannot fix the failure: the credentials were rejected or lack a
    /// permission, the bucket or object does not exist, or the server refused the key. An
    /// unreachable endpoint, a timeout or an odd answer may be a passing outage. The one rule every caller follows: the
    /// operator's scan (fail the batch now or retry), the shard's exit code (fail the Job or
    /// retry the index) and the embedded runner.
    pub fn is_permanent(self) -> bool {
        matches!(
            self,
            Self::InvalidCredentials
                | Self::AccessDenied
                | Self::NoSuchBucket
                | Self::NotFound
                | Self::InvalidKey
        )
    }
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
    /// Whether retrying cannot fix it ([`StorageErrorKind::is_permanent`]).
    pub fn is_permanent(&self) -> bool {
        self.kind.is_permanent()
    }

    /// An error of `kind` with the user-facing `message`.
    pub fn new(kind: StorageErrorKind, message: impl Into<String>) -> Self {
        StorageError {
            kind,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_credentials_and_missing_buckets_are_permanent_outages_are_not() {
        use StorageErrorKind::*;
        for kind in [
            InvalidCredentials,
            AccessDenied,
            NoSuchBucket,
            NotFound,
            InvalidKey,
        ] {
            assert!(kind.is_permanent(), "{kind:?}");
        }
        for kind in [Unreachable, Timeout, TooLarge, Other] {
            assert!(!kind.is_permanent(), "{kind:?}");
        }
    }
}
