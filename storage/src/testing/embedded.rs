//! The embedded s3s-fs server in a fresh temporary folder, with the tests' key pair.

use crate::embedded_s3::EmbeddedS3;

/// The access key of the tests' S3 servers.
pub const ACCESS_KEY: &str = "speechbatch-test-ak";
/// The secret key of the tests' S3 servers (with `/` and `+`, which signing must escape).
pub const SECRET_KEY: &str = "Sup3rSecretTestKey/With+Chars0123456789";

/// s3s-fs on a free loopback port, serving a temporary folder; stopped and removed on drop.
pub struct EmbeddedTestS3 {
    /// The folder it serves (one sub-folder per bucket).
    pub root: tempfile::TempDir,
    /// The server.
    pub server: EmbeddedS3,
}

impl EmbeddedTestS3 {
    /// Starts it with [`ACCESS_KEY`] and [`SECRET_KEY`].
    pub async fn start() -> EmbeddedTestS3 {
        let root = tempfile::tempdir().expect("a temporary folder");
        let server = EmbeddedS3::start(
            root.path().to_owned(),
            "127.0.0.1:0".parse().expect("a socket address"),
            Some((ACCESS_KEY, SECRET_KEY)),
        )
        .await
        .expect("the embedded S3 server starts");
        EmbeddedTestS3 { root, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }
}
