//! Test support shared by this crate's tests and the api-shim's: SeaweedFS on loopback and a
//! stand-in for IBM Cloud IAM, so that both test suites run against one implementation.
//!
//! Built only with the `testing` cargo feature (off by default; the service never has it). A
//! crate's tests turn it on with a dev-dependency:
//! `speechbatch-storage = { path = "…", features = ["testing"] }`.
//!
//! - [`seaweedfs`]: `weed mini` (installed by setup/seaweedfs.sh) on free loopback ports with one
//!   key pair, ready for writes, killed on drop.
//! - [`iam`]: an IAM token endpoint and a bearer-checking S3 proxy (as COS does with IAM) in
//!   front of an embedded s3s-fs server.
//! - [`EmbeddedTestS3`]: the embedded s3s-fs server in a temporary folder with the tests' keys.
//! - [`free_ports`], [`closed_addr`]: loopback ports for servers the tests start.
//! - [`s3_client()`]: a plain SDK client for fixtures (creating buckets, writing inputs).
//!
//! Everything here panics on failure, with a message that says what to fix: it is for tests.

mod embedded;
mod http;
pub mod iam;
mod ports;
mod s3_client;
pub mod seaweedfs;

pub use embedded::{EmbeddedTestS3, ACCESS_KEY, SECRET_KEY};
pub use iam::Iam;
pub use ports::{closed_addr, free_ports};
pub use s3_client::s3_client;
pub use seaweedfs::{weed_binary, SeaweedFs};

/// The bucket location the tests use: not an AWS region, as the interface's locations are not.
pub const LOCATION: &str = "us-geo";
