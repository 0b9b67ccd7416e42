//! S3-compatible buckets for SpeechBatch (work in progress).
