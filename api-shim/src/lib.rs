//! The `/v1/batches` REST API of SpeechBatch (warp: `filters` route, `handlers` work, `request`
//! parses the multipart form) over a [`backend::Backend`], and the embedded backend that runs
//! batches on one machine.

pub mod auth;
pub mod backend;
pub mod embedded;
pub mod error;
pub mod filters;
pub mod handlers;
pub mod kubernetes;
pub mod request;
