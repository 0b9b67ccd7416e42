//! The customization API: custom language models (`/v1/customizations`), their corpora and
//! words, training, and the refusals for what the service does not keep (grammars, custom
//! acoustic models). As for batches, `filters` route, `handlers` parse and reply, and a
//! backend trait ([`backend::LanguageModels`]) does the work: the embedded backend keeps the
//! models under its data directory, the Kubernetes backend in LanguageModel resources and the
//! model store; the model's rules themselves are `speechbatch_custom`'s.

pub mod backend;
pub mod filters;
pub mod handlers;

pub use backend::LanguageModels;
