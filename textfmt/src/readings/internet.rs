//! Web and e-mail addresses as said aloud.

/// Internet addresses are said with "dot" and "at": "yahoo.com" → "yahoo dot com",
/// "john.doe@foo.com" → "john dot doe at foo dot com", "www" → "w w w".
pub(crate) fn internet_words(piece: &str) -> Option<Vec<String>> {
    let lower = piece.to_ascii_lowercase();
    // The protocol is not said aloud, so it has no spoken form.
    let body = match lower.find("://") {
        Some(p) if lower.starts_with("http") => &piece[p + 3..],
        _ => piece,
    };
    let (local, domain) = match body.split_once('@') {
        Some((l, d)) => (Some(l), d),
        None => (None, body),
    };
    let (host, path) = domain.split_once('/').unwrap_or((domain, ""));
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last()?.to_ascii_lowercase();
    let label_ok = |l: &&str| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-');
    if labels.len() < 2 || !TLDS.contains(&tld.as_str()) || !labels.iter().all(label_ok) {
        return None;
    }
    let mut words = Vec::new();
    if let Some(local) = local {
        let parts: Vec<&str> = local.split('.').collect();
        if !parts.iter().all(label_ok) {
            return None;
        }
        push_dotted(&mut words, &parts);
        words.push("at".to_string());
    }
    push_dotted(&mut words, &labels);
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        words.push("slash".to_string());
        words.push(seg.to_string());
    }
    Some(words)
}

pub(super) fn push_dotted(words: &mut Vec<String>, labels: &[&str]) {
    for (k, label) in labels.iter().enumerate() {
        if k > 0 {
            words.push("dot".to_string());
        }
        if label.eq_ignore_ascii_case("www") {
            words.extend(["w", "w", "w"].map(String::from));
        } else {
            words.push((*label).to_string());
        }
    }
}

/// Top-level domains recognised in spoken and written addresses.
pub(crate) const TLDS: &[&str] = &[
    "com", "org", "net", "edu", "gov", "io", "co", "us", "uk", "info", "biz", "ai", "app", "dev",
    "tv", "me",
];
