//! Output naming: each input `K` yields `K.json` and/or `K.notice`, beside it in the same bucket
//! or at the same relative path in a separate output bucket.

/// The archives a batch with speech analytics writes at the root of its output bucket.
pub const ANALYTICS_ARCHIVES: [&str; 2] = [
    crds::analytics::CONVERSATION_ZIP,
    crds::analytics::SPEAKER_ZIP,
];

/// True for keys the service writes (`.json` results, `.notice` files and the analytics
/// archives): they are never inputs, so that a rerun over a bucket that holds both does not
/// transcribe its own outputs.
pub fn is_output_key(key: &str) -> bool {
    key.ends_with(".json") || key.ends_with(".notice") || ANALYTICS_ARCHIVES.contains(&key)
}

/// True for keys that are inputs: not outputs and not folder markers (keys ending in `/`, which
/// consoles create for empty folders). Empty objects are inputs; they get a `.notice`.
pub fn is_input_key(key: &str) -> bool {
    !key.is_empty() && !key.ends_with('/') && !is_output_key(key)
}

/// The kind of output written for an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// The recognition result, `<key>.json`.
    Json,
    /// A problem with the input, `<key>.notice`.
    Notice,
}

/// The output key for an input key: `<key>.json` or `<key>.notice`, the same relative path in
/// either bucket.
pub fn output_key(input_key: &str, kind: OutputKind) -> String {
    match kind {
        OutputKind::Json => format!("{input_key}.json"),
        OutputKind::Notice => format!("{input_key}.notice"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_and_inputs() {
        assert!(is_output_key("a/b.wav.json") && is_output_key("x.notice"));
        assert!(!is_output_key("a/b.wav") && !is_output_key("json") && !is_output_key("a.JSONx"));
        assert!(is_input_key("a/b.wav") && is_input_key("noext"));
        assert!(!is_input_key("folder/") && !is_input_key("a.wav.json") && !is_input_key(""));
        assert_eq!(output_key("a/b.wav", OutputKind::Json), "a/b.wav.json");
        assert_eq!(output_key("a/b.wav", OutputKind::Notice), "a/b.wav.notice");
        assert!(is_output_key(&output_key("k", OutputKind::Json)));
    }
}
