//! The `/v1/batches` REST API of SpeechBatch (warp: `filters` route, `handlers` work, `request`
//! parses the multipart form) over a [`backend::Backend`]: the Kubernetes backend, which maps the
//! API onto SpeechBatch resources, and (feature `embedded`, on by default) the embedded backend
//! that runs batches on one machine. The custom language models of `/v1/customizations` are in
//! [`customization`], over a [`customization::LanguageModels`] backend; the admin console at
//! `/console` in [`console`].

pub mod auth;
pub mod backend;
pub mod body;
pub mod console;
pub mod customization;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod error;
pub mod filters;
pub mod handlers;
mod private_dir;
pub use private_dir::private_dir;
pub mod kubernetes;
pub mod request;
pub mod server;
