//! Output naming: each input `K` yields `K.json` and/or `K.notice`, beside it in the same bucket
//! or at the same relative path in a separate output bucket; an input whose key cannot safely
//! have outputs beside it gets its `.notice` at an escaped key instead ([`output_key`]).
//!
//! Also the one rule on which keys are unsafe ([`key_problem`]): the embedded S3 server refuses
//! such keys, and the worker writes nothing beside an input that has one.

use sha2::{Digest, Sha256};

/// The archives a batch with speech analytics writes at the root of its output bucket.
pub const ANALYTICS_ARCHIVES: [&str; 2] = [
    crds::analytics::CONVERSATION_ZIP,
    crds::analytics::SPEAKER_ZIP,
];

/// S3's limit on the length of a key, in bytes of UTF-8.
pub const MAX_KEY_BYTES: usize = 1024;

/// The longest segment (the text between two `/`) a key may have: 255 bytes, the longest file
/// name of common file systems. Servers that store each segment as a file or folder name (the
/// embedded server, MinIO) cannot store a longer one.
pub const MAX_KEY_SEGMENT_BYTES: usize = 255;

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

/// Why a key is unsafe: S3-compatible servers store it under another name, somewhere else, or
/// not at all, so the service neither serves it (the embedded server) nor writes beside it (the
/// worker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyProblem {
    /// The key is empty.
    Empty,
    /// The key starts with `/`: SeaweedFS drops it (storing the object under another key), and a
    /// server over a folder would read it as an absolute path.
    LeadingSlash,
    /// A `.` or `..` segment: servers over a folder resolve it to another folder, even outside
    /// the bucket's folder, and URL normalisation may do the same on the way.
    DotSegment,
    /// A control character (U+0000 to U+001F, or U+007F): XML listings cannot carry most of them.
    ControlCharacter,
    /// A backslash: SeaweedFS stores it as `/`, and Windows file systems as a folder separator.
    Backslash,
    /// Longer than S3's [`MAX_KEY_BYTES`].
    TooLong,
    /// A segment longer than [`MAX_KEY_SEGMENT_BYTES`].
    SegmentTooLong,
}

impl KeyProblem {
    /// Why such a key cannot be used, as the end of a sentence that starts with "the key"
    /// (for users).
    pub fn describe(self) -> &'static str {
        match self {
            Self::Empty => "is empty",
            Self::LeadingSlash => {
                "starts with '/', which some S3 servers drop, storing the object under another key"
            }
            Self::DotSegment => {
                "has a '.' or '..' folder, which S3 servers that keep objects as files resolve to \
                 another folder, so an output written beside it could land outside the output \
                 bucket's folder"
            }
            Self::ControlCharacter => {
                "contains a control character, which S3 listings and file systems cannot carry reliably"
            }
            Self::Backslash => {
                "contains a backslash, which some S3 servers and file systems take for a folder separator"
            }
            Self::TooLong => "is longer than S3's limit of 1024 bytes",
            Self::SegmentTooLong => {
                "has a folder or file name longer than 255 bytes, the limit of the file systems \
                 S3 servers keep objects on"
            }
        }
    }
}

/// The first problem `key` has, if any; checked in the order of [`KeyProblem`]'s variants.
pub fn key_problem(key: &str) -> Option<KeyProblem> {
    if key.is_empty() {
        return Some(KeyProblem::Empty);
    }
    if key.starts_with('/') {
        return Some(KeyProblem::LeadingSlash);
    }
    if key.split('/').any(|s| s == "." || s == "..") {
        return Some(KeyProblem::DotSegment);
    }
    if key.chars().any(is_control) {
        return Some(KeyProblem::ControlCharacter);
    }
    if key.contains('\\') {
        return Some(KeyProblem::Backslash);
    }
    if key.len() > MAX_KEY_BYTES {
        return Some(KeyProblem::TooLong);
    }
    if key.split('/').any(|s| s.len() > MAX_KEY_SEGMENT_BYTES) {
        return Some(KeyProblem::SegmentTooLong);
    }
    None
}

/// U+0000 to U+001F and U+007F.
fn is_control(c: char) -> bool {
    c < ' ' || c == '\u{7f}'
}

/// Why the input `input_key` cannot have its outputs beside it: a problem of the key itself or of
/// its longest output key (`<key>.notice`). Such an input gets only a `.notice`, at the key
/// [`output_key`] gives, and is never read.
pub fn input_key_problem(input_key: &str) -> Option<KeyProblem> {
    key_problem(input_key).or_else(|| key_problem(&beside(input_key, OutputKind::Notice)))
}

/// The kind of output written for an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputKind {
    /// The recognition result, `<key>.json`.
    Json,
    /// A problem with the input, `<key>.notice`.
    Notice,
}

impl OutputKind {
    /// `.json` or `.notice`.
    fn suffix(self) -> &'static str {
        match self {
            Self::Json => ".json",
            Self::Notice => ".notice",
        }
    }
}

/// The output key for an input key, the same relative path in either bucket: `<key>.json` or
/// `<key>.notice`, unless the input has a [`input_key_problem`]. Then the key is the input key
/// escaped (`%` as `%25`, control characters and `\` as `%XX`, a `.` or `..` segment as `%2E` or
/// `%2E%2E`, a `/` that would start an empty segment as `%2F`) followed by the suffix, so that
/// distinct inputs keep distinct outputs; and when that is still too long (over 1024 bytes, or a
/// segment over 255), a prefix of the escaped key, `~`, the first 16 hex digits of the SHA-256 of
/// the input key, and the suffix. Writers and the resume check both call this, so a restarted
/// shard finds what an earlier run wrote.
///
/// An escaped key is a valid key of its own: an input whose key is literally the escaped form
/// (for example `a/%2E%2E/b.wav` beside an input `a/../b.wav`) shares its `.notice` key.
pub fn output_key(input_key: &str, kind: OutputKind) -> String {
    if input_key_problem(input_key).is_none() {
        return beside(input_key, kind);
    }
    let escaped = escape_key(input_key);
    let plain = format!("{escaped}{}", kind.suffix());
    if key_problem(&plain).is_none() {
        return plain;
    }
    hashed_key(input_key, &escaped, kind.suffix())
}

/// `<key><suffix>`.
fn beside(input_key: &str, kind: OutputKind) -> String {
    format!("{input_key}{}", kind.suffix())
}

/// The escaped form of a key (see [`output_key`]): no control character, backslash, leading `/`,
/// empty or dot segment remains, and the mapping is one-to-one because `%` is escaped too.
fn escape_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 16);
    let mut previous_empty = false;
    for (i, segment) in key.split('/').enumerate() {
        if i > 0 {
            // A '/' after an empty segment (at the start, or doubled) would leave an empty
            // segment, which servers fold away.
            out.push_str(if previous_empty { "%2F" } else { "/" });
        }
        if i == 0 && segment.is_empty() {
            // The key starts with '/': the separator above carries it.
        } else if segment == "." || segment == ".." {
            out.push_str(&"%2E".repeat(segment.len()));
        } else {
            for c in segment.chars() {
                if c == '%' || c == '\\' || is_control(c) {
                    out.push_str(&format!("%{:02X}", c as u32));
                } else {
                    out.push(c);
                }
            }
        }
        previous_empty = segment.is_empty();
    }
    out
}

/// Hex digits of the key's SHA-256 kept in a hashed output key: 64 bits, so that two keys of
/// one bucket share a hashed key with negligible chance.
const HASH_HEX_DIGITS: usize = 16;

/// Segments of the escaped key are cut to this many bytes in a hashed key, leaving room in the
/// last one for `~`, the hash and the suffix within [`MAX_KEY_SEGMENT_BYTES`].
const HASHED_SEGMENT_BYTES: usize = 200;

/// `<prefix of escaped>~<hash><suffix>`, within every limit of [`key_problem`].
fn hashed_key(input_key: &str, escaped: &str, suffix: &str) -> String {
    let digest = Sha256::digest(input_key.as_bytes());
    let hash: String = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..HASH_HEX_DIGITS]
        .to_owned();
    let budget = MAX_KEY_BYTES - 1 - HASH_HEX_DIGITS - suffix.len();
    let mut prefix = String::with_capacity(budget);
    for (i, segment) in escaped.split('/').enumerate() {
        let sep = usize::from(i > 0);
        let room = budget.saturating_sub(prefix.len() + sep);
        if room == 0 {
            break;
        }
        if i > 0 {
            prefix.push('/');
        }
        let cut = cut_escaped(segment, room.min(HASHED_SEGMENT_BYTES));
        prefix.push_str(cut);
        if cut.len() < segment.len() {
            break;
        }
    }
    format!("{prefix}~{hash}{suffix}")
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary and not
/// inside a `%XX` escape.
fn cut_escaped(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    // An escape is three ASCII bytes: a '%' among the last two kept bytes starts a cut one.
    if let Some(pos) = s[end.saturating_sub(2)..end].rfind('%') {
        end = end.saturating_sub(2) + pos;
    }
    &s[..end]
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

    #[test]
    fn key_problems() {
        use KeyProblem::*;
        let cases: [(&str, Option<KeyProblem>); 22] = [
            ("a/b.wav", None),
            ("a//b.wav", None),
            ("folder/", None),
            ("...", None),
            ("a/..b/c.", None),
            ("50% off+more ü.wav", None),
            ("", Some(Empty)),
            ("/a.wav", Some(LeadingSlash)),
            ("..", Some(DotSegment)),
            (".", Some(DotSegment)),
            ("../x", Some(DotSegment)),
            ("a/../b.wav", Some(DotSegment)),
            ("a/./b.wav", Some(DotSegment)),
            ("a/..", Some(DotSegment)),
            ("a\u{1}b", Some(ControlCharacter)),
            ("a\nb", Some(ControlCharacter)),
            ("a\u{7f}", Some(ControlCharacter)),
            ("a\\b", Some(Backslash)),
            (&"k".repeat(1024), Some(SegmentTooLong)),
            (&"k".repeat(1025), Some(TooLong)),
            (&"k".repeat(255), None),
            (&"k".repeat(256), Some(SegmentTooLong)),
        ];
        for (key, want) in cases {
            assert_eq!(key_problem(key), want, "{key:?}");
        }
        let deep = "d/".repeat(511) + "k";
        assert_eq!((deep.len(), key_problem(&deep)), (1023, None));
        // Fine as a key, but its `.notice` would be too long.
        assert_eq!(input_key_problem(&deep), Some(TooLong));
        assert_eq!(input_key_problem(&"k".repeat(249)), Some(SegmentTooLong));
        assert_eq!(input_key_problem(&"k".repeat(248)), None);
        assert!(KeyProblem::DotSegment.describe().contains("'..'"));
    }

    #[test]
    fn unsafe_inputs_get_their_notice_at_an_escaped_key() {
        let notice = |k: &str| output_key(k, OutputKind::Notice);
        assert_eq!(notice("a/../b.wav"), "a/%2E%2E/b.wav.notice");
        assert_eq!(notice("../x.wav"), "%2E%2E/x.wav.notice");
        assert_eq!(notice("a/./b.wav"), "a/%2E/b.wav.notice");
        assert_eq!(notice("a/.."), "a/%2E%2E.notice");
        assert_eq!(notice("a\u{1}b%.wav"), "a%01b%25.wav.notice");
        assert_eq!(notice("x/\r\n\u{7f}.wav"), "x/%0D%0A%7F.wav.notice");
        assert_eq!(notice("/lead.wav"), "%2Flead.wav.notice");
        assert_eq!(notice("a\\..\\b.wav"), "a%5C..%5Cb.wav.notice");
        // Empty segments are kept only where the key is escaped anyway.
        assert_eq!(notice("a//../b"), "a/%2F%2E%2E/b.notice");
        assert_eq!(notice("//.."), "%2F%2F%2E%2E.notice");
        assert_eq!(
            output_key("a/../b.wav", OutputKind::Json),
            "a/%2E%2E/b.wav.json"
        );
        // Safe keys are never escaped, '%' included.
        assert_eq!(notice("50%.wav"), "50%.wav.notice");
        assert_eq!(notice("a//b.wav"), "a//b.wav.notice");
    }

    #[test]
    fn escaping_is_one_to_one() {
        let keys = [
            "a/../b",
            "a/%2E%2E/b",
            "a/%252E%252E/b",
            "..",
            "%2E%2E",
            ".",
            "%2E",
            "a\u{1}",
            "a%01",
            "a%2501",
            "/a",
            "%2Fa",
            "//a",
            "/%2Fa",
            "a\\b",
            "a%5Cb",
        ];
        let mut seen = std::collections::HashMap::new();
        for k in keys {
            let e = escape_key(k);
            assert!(key_problem(&e).is_none(), "{k:?} -> {e:?}");
            if let Some(other) = seen.insert(e.clone(), k) {
                panic!("{k:?} and {other:?} both escape to {e:?}");
            }
        }
    }

    #[test]
    fn too_long_escaped_keys_are_hashed_within_every_limit() {
        let long_dots = format!("{}/../b.wav", "d/".repeat(505));
        let long_segment = format!("../{}", "é".repeat(200));
        let many_escapes = format!("x/{}", "\u{1}".repeat(400));
        let long_key = format!("{}.wav", "k/".repeat(510));
        let near_limit = format!("{}%/{}", "s".repeat(199), "t".repeat(254));
        for key in [
            long_dots.as_str(),
            &long_segment,
            &many_escapes,
            &long_key,
            &near_limit,
        ] {
            assert!(input_key_problem(key).is_some(), "{key:?}");
            for kind in [OutputKind::Notice, OutputKind::Json] {
                let out = output_key(key, kind);
                assert_eq!(key_problem(&out), None, "{key:?} -> {out:?}");
                assert!(out.ends_with(kind.suffix()) && is_output_key(&out), "{out}");
                assert_eq!(output_key(key, kind), out, "deterministic");
                assert!(out.contains('~'), "hashed: {out}");
                // A cut never splits an escape: every '%' starts two hex digits.
                for (i, _) in out.match_indices('%') {
                    let hex = out.get(i + 1..i + 3).unwrap_or("");
                    assert!(
                        hex.len() == 2 && hex.chars().all(|c| c.is_ascii_hexdigit()),
                        "{out}"
                    );
                }
            }
        }
        let a = output_key(
            &format!("{}/../a.wav", "d/".repeat(505)),
            OutputKind::Notice,
        );
        let b = output_key(
            &format!("{}/../b.wav", "d/".repeat(505)),
            OutputKind::Notice,
        );
        assert_ne!(a, b, "the hash tells keys with one prefix apart");
        assert!(a.starts_with("d/d/d/") && a.len() <= MAX_KEY_BYTES, "{a}");
        // Control characters escape to three bytes each: 1200 bytes, hashed.
        let out = output_key(&many_escapes, OutputKind::Notice);
        assert!(out.starts_with("x/%01%01") && out.contains('~'), "{out}");
    }

    #[test]
    fn cuts_keep_escapes_whole() {
        assert_eq!(cut_escaped("ab%01cd", 4), "ab");
        assert_eq!(cut_escaped("ab%01cd", 3), "ab");
        assert_eq!(cut_escaped("ab%01cd", 5), "ab%01");
        assert_eq!(cut_escaped("aé", 2), "a");
        assert_eq!(cut_escaped("abc", 9), "abc");
    }
}
