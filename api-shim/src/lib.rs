//! The /v1/batches REST server. Empty until the batch-service issue: see README.md.
