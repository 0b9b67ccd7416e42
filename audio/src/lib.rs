//! Audio decoding (in progress).
