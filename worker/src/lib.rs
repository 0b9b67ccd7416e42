//! The SpeechBatch batch worker: read a shard's inputs from the input bucket, recognise each
//! file, write its `.json` or `.notice` to the output bucket. The embedded service runs
//! [`batch::run_shard`] in-process; Kubernetes shard pods run the `speechbatch-shard` binary
//! ([`shard`]). The engine comes in behind the [`Recognizer`] trait.

pub mod analytics;
pub mod batch;
pub mod recognizer;
pub mod shard;

pub use batch::{run_shard, BatchFiles, ShardEnd};
pub use recognizer::{Recognized, Recognizer};
