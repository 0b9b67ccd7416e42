//! The service's error body: `{"code": 400, "code_description": "Bad Request", "error": "..."}`.

use serde::{Deserialize, Serialize};

/// The JSON error object of the batch interface. REST errors carry it as the response body, and
/// a `.notice` output holds it for an input file that could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The HTTP status code the error corresponds to (400 for a bad file, 500 for an engine fault).
    pub code: u16,
    /// The standard reason phrase of `code`, e.g. `Bad Request`.
    pub code_description: String,
    /// What went wrong, written for the user who has to fix it.
    pub error: String,
}

impl ErrorBody {
    /// An error body for `code` with its standard reason phrase.
    pub fn new(code: u16, error: impl Into<String>) -> Self {
        Self {
            code,
            code_description: reason_phrase(code).to_string(),
            error: error.into(),
        }
    }

    /// The body serialized as pretty JSON, as written to a `.notice` file.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("an ErrorBody always serializes")
    }
}

/// How much of a value the client sent (an id, a query parameter, a header) an error message
/// quotes.
pub const SHOWN_CHARS: usize = 64;

/// `text` as an error message quotes it: at most [`SHOWN_CHARS`] characters, control characters
/// escaped, so that a huge or binary value does not come back whole (nor fill a log line).
pub fn shown(text: &str) -> String {
    cut(text, SHOWN_CHARS)
}

/// `text` cut to `max` characters (marked with `…`), control characters escaped.
pub fn cut(text: &str, max: usize) -> String {
    let mut out = String::new();
    for c in text.chars().take(max) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The standard reason phrase of `code` (RFC 9110), `Error` for a code without one.
pub fn reason_phrase(code: u16) -> &'static str {
    http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_the_interface_field_names() {
        let body = ErrorBody::new(400, "unsupported audio format");
        let v: serde_json::Value = serde_json::from_str(&body.to_json_pretty()).unwrap();
        assert_eq!(v["code"], 400);
        assert_eq!(v["code_description"], "Bad Request");
        assert_eq!(v["error"], "unsupported audio format");
        assert_eq!(v.as_object().unwrap().len(), 3);
        assert_eq!(reason_phrase(501), "Not Implemented");
        assert_eq!(reason_phrase(409), "Conflict");
        assert_eq!(reason_phrase(599), "Error");
    }

    #[test]
    fn quoted_values_are_short_and_escaped() {
        assert_eq!(shown("abc"), "abc");
        assert_eq!(shown("a\nb"), "a\\nb");
        let s = shown(&"x".repeat(60_000));
        assert!(
            s.chars().count() == SHOWN_CHARS + 1 && s.ends_with('…'),
            "{s}"
        );
    }
}
