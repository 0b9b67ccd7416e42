//! s3s-fs's attributes of an object that no longer describe its file.
//!
//! s3s-fs keeps an object's ETag and checksums in `.bucket-<b64>.object-<b64>.internal.json` in
//! the served folder (its headers and user metadata beside it, in `….metadata.json`), written
//! after the object's file on every S3 write. Nothing updates them when the file is replaced in
//! the bucket's folder by hand (the README's way to fill a bucket), and a delete leaves them
//! behind for a file copied in again later. s3s-fs then served the new bytes with the old
//! checksum, and a client that checks checksums, as the AWS SDKs and CLI do by default, refused
//! the download (`ChecksumMismatch`).
//!
//! The attributes are stale when the object's file changed after they were written (its ctime,
//! which nobody can set, is later than their file's modification time) and its MD5 is no longer
//! the recorded ETag. The ctime alone would also count a `chmod`, a hard link or a `mv` of the
//! same bytes; the MD5, computed only then, keeps those objects' attributes. A stale object is
//! served as a file without attributes: its ETag is its MD5, with no checksum, stored headers or
//! metadata. (Long keys keep their attributes elsewhere, checked by size and time:
//! [`super::long_keys`].)

use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use s3s::crypto::{Checksum as _, Md5};

use super::long_keys::hex;
use super::paths;

/// The file in which s3s-fs keeps the ETag and checksums of `key` in `bucket`.
fn internal_info(root: &Path, bucket: &str, key: &str) -> PathBuf {
    attributes_file(root, bucket, key, "internal")
}

/// s3s-fs's attributes file of `kind` for `key` in `bucket`.
fn attributes_file(root: &Path, bucket: &str, key: &str, kind: &str) -> PathBuf {
    root.join(paths::s3s_fs_attributes_name(bucket, key, kind))
}

/// Records `e_tag` and no checksum for `key`, a copy s3s-fs made of an object whose attributes
/// were stale (it copies the source's ETag and checksums). Without `keep_metadata` (a copy
/// that did not replace them) the metadata it copied from the source goes too, as a stale
/// source is served without any.
pub(super) fn record_bare_copy(
    root: &Path,
    bucket: &str,
    key: &str,
    e_tag: &str,
    keep_metadata: bool,
) -> io::Result<()> {
    let info = serde_json::json!({ "e_tag": e_tag });
    std::fs::write(internal_info(root, bucket, key), info.to_string())?;
    if !keep_metadata {
        match std::fs::remove_file(attributes_file(root, bucket, key, "metadata")) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Whether s3s-fs's attributes of the object at `object` were written before its file last
/// changed. An object without attributes (a file dropped in by hand) has none to predate it.
fn changed_since_attributes(info: &Path, object: &Path) -> io::Result<bool> {
    let info = match std::fs::symlink_metadata(info) {
        Ok(info) => info,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    let file = std::fs::symlink_metadata(object)?;
    // File times come from the kernel's coarse clock: a write and the attributes written just
    // after it may share a time, which counts as unchanged.
    Ok((file.ctime(), file.ctime_nsec()) > (info.mtime(), info.mtime_nsec()))
}

/// The ETag s3s-fs recorded in an attributes file, if it can be read.
fn recorded_e_tag(info: &Path) -> Option<String> {
    let text = std::fs::read(info).ok()?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&text).ok()?;
    map.get("e_tag")?.as_str().map(str::to_owned)
}

/// The hex MD5 of the file at `path` (an S3 ETag of an object written in one part).
fn md5_hex(path: &Path) -> io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut md5 = Md5::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex(&md5.finalize()));
        }
        md5.update(&buf[..n]);
    }
}

/// The ETag to serve instead of s3s-fs's attributes, when they are stale.
pub(super) fn fresh_e_tag(
    root: &Path,
    bucket: &str,
    key: &str,
    object: &Path,
) -> io::Result<Option<String>> {
    let info = internal_info(root, bucket, key);
    if !changed_since_attributes(&info, object)? {
        return Ok(None);
    }
    let md5 = md5_hex(object)?;
    Ok((recorded_e_tag(&info).as_deref() != Some(md5.as_str())).then_some(md5))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_attributes_file_is_named_as_s3s_fs_names_it() {
        // Measured: s3s-fs 0.14.1 wrote these for bucket `calls`, key `replaced.wav`.
        assert_eq!(
            internal_info(Path::new("/srv"), "calls", "replaced.wav"),
            Path::new("/srv/.bucket-Y2FsbHM.object-cmVwbGFjZWQud2F2.internal.json")
        );
    }

    #[test]
    fn only_new_bytes_make_attributes_stale() {
        let root = tempfile::tempdir().unwrap();
        let object = root.path().join("calls/a.wav");
        std::fs::create_dir(root.path().join("calls")).unwrap();
        std::fs::write(&object, b"uploaded through S3").unwrap();
        let fresh = || fresh_e_tag(root.path(), "calls", "a.wav", &object).unwrap();
        assert_eq!(fresh(), None, "no attributes: nothing to be stale");
        // Attributes written after the file, as s3s-fs writes them.
        let info = internal_info(root.path(), "calls", "a.wav");
        std::fs::write(&info, r#"{"e_tag":"48a810f86afbdb151699d223c1daabf5"}"#).unwrap();
        let at =
            |secs| std::fs::FileTimes::new().set_modified(UNIX_EPOCH + Duration::from_secs(secs));
        let set_info_time = |secs| {
            let f = std::fs::File::options().write(true).open(&info).unwrap();
            f.set_times(at(secs)).unwrap();
        };
        set_info_time(4_000_000_000);
        assert_eq!(fresh(), None);
        // The file's ctime is now later than the attributes (set back to 1970), but its bytes
        // are the recorded ones: a chmod, a link or a `mv` of the same bytes.
        set_info_time(1);
        assert_eq!(fresh(), None);
        std::fs::write(&object, b"copied over it by hand").unwrap();
        let md5 = md5_hex(&object).unwrap();
        assert_eq!(fresh(), Some(md5));
    }

    #[test]
    fn md5_of_a_file_is_its_single_part_etag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        std::fs::write(&path, b"uploaded through S3").unwrap();
        // `printf 'uploaded through S3' | md5sum`
        assert_eq!(md5_hex(&path).unwrap(), "48a810f86afbdb151699d223c1daabf5");
    }
}
