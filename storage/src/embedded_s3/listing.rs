//! ListObjectsV2 over a bucket's folder, in place of s3s-fs's: one entry the server cannot serve
//! (a symbolic link, a special file, a name that is not UTF-8 or has a control character or a
//! backslash, a key over 1024 bytes, an unreadable folder) is left out instead of failing the
//! whole listing, and symbolic links are never followed. Pages follow s3s-fs's: keys in byte
//! order, the continuation token is the last key or common prefix of the page.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use s3s::dto::{
    CommonPrefix, EncodingType, ListObjectsV2Input, ListObjectsV2Output, Object, Timestamp,
};

use crate::keys::key_problem;

/// S3's largest page.
const MAX_PAGE: usize = 1000;

/// An entry of the bucket's folder that the listing left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Skipped {
    /// Its key (lossy when the name is not UTF-8; `/` at the end for a folder).
    pub(super) key: String,
    /// Why it was left out, as the end of a sentence that starts with its key.
    pub(super) why: &'static str,
}

/// One page, and the entries left out between the page's start and its end (the whole rest of
/// the listing for the last page). A listing read page by page reports each left-out entry
/// once, so that the guard can log them once per listing rather than on every request.
#[derive(Debug)]
pub(super) struct Page {
    pub(super) output: ListObjectsV2Output,
    pub(super) skipped: Vec<Skipped>,
}

/// Lists `bucket_folder` (a real folder) as ListObjectsV2 does. Blocking: runs the walk.
pub(super) fn list(bucket_folder: &Path, input: ListObjectsV2Input) -> std::io::Result<Page> {
    let prefix = input
        .prefix
        .as_deref()
        .unwrap_or("")
        .trim_start_matches('/');
    let marker = match (
        input.continuation_token.as_deref(),
        input.start_after.as_deref(),
    ) {
        (Some(t), Some(s)) => Some(t.max(s)),
        (t, s) => t.or(s),
    };
    let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
    let max_keys = usize::try_from(input.max_keys.unwrap_or(1000))
        .unwrap_or(0)
        .min(MAX_PAGE);

    let (mut keys, mut skipped) = walk(bucket_folder, prefix, marker)?;
    keys.sort_unstable();

    // Objects and common prefixes in key order, as many as the page takes.
    enum Item {
        Object(String),
        Prefix(String),
    }
    let mut items: Vec<Item> = Vec::new();
    let mut truncated = false;
    for key in keys {
        let item = match delimiter.and_then(|d| key[prefix.len()..].find(d).map(|i| (d, i))) {
            Some((d, i)) => {
                let common = &key[..prefix.len() + i + d.len()];
                if marker.is_some_and(|m| common <= m)
                    || matches!(items.last(), Some(Item::Prefix(p)) if p == common)
                {
                    continue;
                }
                Item::Prefix(common.to_owned())
            }
            None => Item::Object(key),
        };
        if items.len() == max_keys {
            truncated = max_keys > 0;
            break;
        }
        items.push(item);
    }
    let last = items.last().map(|i| match i {
        Item::Object(k) | Item::Prefix(k) => k.clone(),
    });
    skipped.retain(|s| !truncated || last.as_deref().is_some_and(|l| s.key.as_str() <= l));
    skipped.sort_by(|a, b| a.key.cmp(&b.key));

    let url = input
        .encoding_type
        .as_ref()
        .is_some_and(|e| e.as_str() == EncodingType::URL);
    let shown = |s: &str| if url { url_encode(s) } else { s.to_owned() };
    let mut contents = Vec::new();
    let mut common_prefixes = Vec::new();
    let mut count = 0;
    for item in items {
        match item {
            Item::Prefix(p) => {
                common_prefixes.push(CommonPrefix {
                    prefix: Some(shown(&p)),
                });
                count += 1;
            }
            Item::Object(key) => {
                // A file that went away (or was replaced by a link) since the walk is left out.
                let Ok(meta) = std::fs::symlink_metadata(bucket_folder.join(&key)) else {
                    continue;
                };
                if !meta.file_type().is_file() {
                    continue;
                }
                contents.push(Object {
                    key: Some(shown(&key)),
                    last_modified: meta.modified().ok().map(Timestamp::from),
                    size: Some(i64::try_from(meta.len()).unwrap_or(i64::MAX)),
                    ..Default::default()
                });
                count += 1;
            }
        }
    }
    let output = ListObjectsV2Output {
        key_count: Some(count),
        max_keys: Some(max_keys as i32),
        is_truncated: Some(truncated),
        contents: (!contents.is_empty()).then_some(contents),
        common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
        continuation_token: input.continuation_token,
        next_continuation_token: if truncated { last } else { None },
        delimiter: input.delimiter.map(|d| shown(&d)),
        encoding_type: input.encoding_type,
        name: Some(input.bucket),
        prefix: input.prefix.map(|p| shown(&p)),
        start_after: input.start_after.map(|s| shown(&s)),
        ..Default::default()
    };
    Ok(Page { output, skipped })
}

/// The keys of the regular files under `folder` that start with `prefix` and come after
/// `marker`, and the entries left out. Folders wholly outside the prefix or before the marker
/// are not entered.
fn walk(
    folder: &Path,
    prefix: &str,
    marker: Option<&str>,
) -> std::io::Result<(Vec<String>, Vec<Skipped>)> {
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    let mut folders: VecDeque<(PathBuf, String)> = VecDeque::new();
    // The bucket's own folder must be readable: that failure is the request's.
    let top = std::fs::read_dir(folder)?;
    let mut pending = Some(top);
    let mut current = (folder.to_owned(), String::new());
    loop {
        let entries = match pending.take() {
            Some(entries) => entries,
            None => {
                let Some(next) = folders.pop_front() else {
                    break;
                };
                current = next;
                match std::fs::read_dir(&current.0) {
                    Ok(entries) => entries,
                    Err(_) => {
                        skipped.push(Skipped {
                            key: current.1.clone(),
                            why: "cannot be read (a folder)",
                        });
                        continue;
                    }
                }
            }
        };
        let dir_key = &current.1;
        for entry in entries {
            let Ok(entry) = entry else {
                skipped.push(Skipped {
                    key: dir_key.clone(),
                    why: "has an entry that cannot be read",
                });
                continue;
            };
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                let key = format!("{dir_key}{}", name.to_string_lossy());
                if key.starts_with(prefix) {
                    skipped.push(Skipped {
                        key,
                        why: "has a name that is not UTF-8",
                    });
                }
                continue;
            };
            let key = format!("{dir_key}{name}");
            let Ok(file_type) = entry.file_type() else {
                skipped.push(Skipped {
                    key,
                    why: "cannot be read",
                });
                continue;
            };
            if file_type.is_dir() {
                let sub = format!("{key}/");
                let in_prefix = sub.starts_with(prefix) || prefix.starts_with(&sub);
                // Every key below `sub` sorts before a marker that is past `sub` without
                // starting with it.
                let before_marker =
                    marker.is_some_and(|m| sub.as_str() < m && !m.starts_with(&sub));
                if !in_prefix || before_marker {
                    continue;
                }
                if let Some(problem) = key_problem(&sub) {
                    skipped.push(Skipped {
                        key: sub,
                        why: problem.describe(),
                    });
                    continue;
                }
                folders.push_back((entry.path(), sub));
                continue;
            }
            if !key.starts_with(prefix) {
                continue;
            }
            let why = if file_type.is_symlink() {
                Some("is a symbolic link, which this server does not follow")
            } else if !file_type.is_file() {
                Some("is not a regular file")
            } else {
                key_problem(&key).map(|p| p.describe())
            };
            if let Some(why) = why {
                skipped.push(Skipped { key, why });
            } else if marker.is_none_or(|m| key.as_str() > m) {
                keys.push(key);
            }
        }
    }
    if let Some(m) = marker {
        skipped.retain(|s| s.key.as_str() > m);
    }
    Ok((keys, skipped))
}

/// A listed string as S3 encodes it for `encoding-type=url`: bytes other than unreserved ones
/// and `/` as `%XX`, a space as `+` (what [`crate::bucket::url_decode`] reads back).
pub(crate) fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(max_keys: i32, after: Option<&str>) -> ListObjectsV2Input {
        let mut input = ListObjectsV2Input::builder()
            .bucket("b".to_owned())
            .build()
            .unwrap();
        input.max_keys = Some(max_keys);
        input.continuation_token = after.map(str::to_owned);
        input
    }

    fn keys(page: &Page) -> Vec<String> {
        page.output
            .contents
            .iter()
            .flatten()
            .map(|o| o.key.clone().unwrap())
            .collect()
    }

    /// Files, a control character, a backslash, a symbolic link to a folder and to a file
    /// outside, a folder whose keys would be over 1024 bytes.
    fn folder() -> (tempfile::TempDir, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"secret").unwrap();
        let b = dir.path();
        for f in ["a.wav", "c/d.wav", "c/e.wav", "m.wav", "z/z.wav"] {
            std::fs::create_dir_all(b.join(f).parent().unwrap()).unwrap();
            std::fs::write(b.join(f), b"x").unwrap();
        }
        std::fs::write(b.join("b\u{1}.wav"), b"x").unwrap();
        std::fs::write(b.join("c/back\\slash.wav"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), b.join("k-link")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), b.join("n-link.wav"))
            .unwrap();
        let deep = b.join("y/".repeat(400) + &"q".repeat(240));
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("deep.wav"), b"x").unwrap();
        (dir, outside)
    }

    #[test]
    fn entries_that_cannot_be_served_are_left_out_and_reported_once_per_listing() {
        let (dir, _outside) = folder();
        let all = list(dir.path(), input(1000, None)).unwrap();
        assert_eq!(
            keys(&all),
            ["a.wav", "c/d.wav", "c/e.wav", "m.wav", "z/z.wav"]
        );
        assert_eq!(all.output.is_truncated, Some(false));
        let reported = |p: &Page| p.skipped.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
        let want_skipped: Vec<String> = [
            "b\u{1}.wav".to_owned(),
            "c/back\\slash.wav".to_owned(),
            "k-link".to_owned(),
            "n-link.wav".to_owned(),
            "y/".repeat(400) + &"q".repeat(240) + "/",
        ]
        .into();
        let mut got = reported(&all);
        got.sort();
        assert_eq!(got, want_skipped);
        assert!(all.skipped[0].why.contains("control character"));

        // Page by page: the same keys, each left-out entry reported by exactly one page.
        let mut token = None;
        let mut listed = Vec::new();
        let mut reports = Vec::new();
        loop {
            let page = list(dir.path(), input(2, token.as_deref())).unwrap();
            listed.extend(keys(&page));
            reports.extend(reported(&page));
            if page.output.is_truncated != Some(true) {
                break;
            }
            token = page.output.next_continuation_token.clone();
        }
        assert_eq!(listed, keys(&all));
        reports.sort();
        assert_eq!(reports, want_skipped);
    }

    #[test]
    fn prefixes_delimiters_and_url_encoding() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["a-b", "a/b", "a/c/d", "sp ace+%.wav", "ü.wav"] {
            std::fs::create_dir_all(dir.path().join(f).parent().unwrap()).unwrap();
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let mut i = input(1000, None);
        i.delimiter = Some("/".into());
        let page = list(dir.path(), i).unwrap();
        assert_eq!(keys(&page), ["a-b", "sp ace+%.wav", "ü.wav"]);
        let prefixes: Vec<_> = page
            .output
            .common_prefixes
            .iter()
            .flatten()
            .map(|p| p.prefix.clone().unwrap())
            .collect();
        assert_eq!(prefixes, ["a/"]);

        let mut i = input(1000, None);
        i.prefix = Some("a/".into());
        assert_eq!(keys(&list(dir.path(), i).unwrap()), ["a/b", "a/c/d"]);

        let mut i = input(1000, None);
        i.encoding_type = Some(EncodingType::from_static(EncodingType::URL));
        let encoded = keys(&list(dir.path(), i).unwrap());
        assert_eq!(
            encoded,
            ["a-b", "a/b", "a/c/d", "sp+ace%2B%25.wav", "%C3%BC.wav"]
        );
        for (e, k) in encoded
            .iter()
            .zip(["a-b", "a/b", "a/c/d", "sp ace+%.wav", "ü.wav"])
        {
            assert_eq!(crate::bucket::url_decode(e).as_deref(), Some(k));
        }
        // A whole-folder page boundary: a token past "a/" skips the folder without entering it.
        let page = list(dir.path(), input(1000, Some("a/c/d"))).unwrap();
        assert_eq!(keys(&page), ["sp ace+%.wav", "ü.wav"]);
    }

    #[test]
    fn every_control_character_round_trips_through_url_encoding() {
        let all: String = (0u8..=0x7f).map(char::from).chain(['é', '😀']).collect();
        assert_eq!(
            crate::bucket::url_decode(&url_encode(&all)).as_deref(),
            Some(all.as_str())
        );
    }
}
