//! The SpeechBatch Kubernetes operator. Empty until the Kubernetes issue: see README.md.
