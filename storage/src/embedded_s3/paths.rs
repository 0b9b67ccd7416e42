//! Where an object lives under the served folder, checked one component at a time without
//! following symbolic links, and the limits the file system puts on keys.

use std::fs::FileType;
use std::io;
use std::path::{Path, PathBuf};

use s3s::{s3_error, S3Error};

use crate::keys::{key_problem, KeyProblem};

/// The longest file name of the file systems the server runs on (`NAME_MAX` of ext4, XFS,
/// Btrfs, tmpfs, APFS).
pub(super) const MAX_NAME_BYTES: usize = 255;

/// The longest path Linux opens (`PATH_MAX` less the terminating NUL).
const MAX_PATH_BYTES: usize = 4095;

/// What is on disk where an object would be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OnDisk {
    /// Nothing (folders on the way may be missing too).
    Missing,
    /// A regular file: the object.
    File,
    /// A folder.
    Folder,
    /// A symbolic link, socket, device or pipe: never served, never replaced.
    Special,
}

/// Why no object can live at a key's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Blocked {
    /// The bucket's folder does not exist.
    NoBucket,
    /// The bucket's folder is a symbolic link or not a folder: it is not served.
    BucketNotServed,
    /// A folder on the way (relative to the bucket) is a symbolic link or special file.
    Link(String),
    /// A folder on the way (relative to the bucket) is a file.
    FileInTheWay(String),
}

/// The bucket's folder, if it is a real folder (not a symbolic link) directly in `root`.
pub(super) fn bucket_folder(root: &Path, bucket: &str) -> io::Result<Result<PathBuf, Blocked>> {
    let path = root.join(bucket);
    match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_dir() => Ok(Ok(path)),
        Ok(_) => Ok(Err(Blocked::BucketNotServed)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Err(Blocked::NoBucket)),
        Err(e) => Err(e),
    }
}

/// Whether anything but folders is under `folder`: an object, or a link or special file that
/// the listings skip but that is still there. Empty folders, which deleted keys leave behind
/// and which list as nothing, do not count. Links are not followed.
pub(super) fn holds_more_than_folders(folder: &Path) -> io::Result<bool> {
    // Hand-written (no walkdir in the build): a loop over folders, not recursion, so a deep
    // tree cannot exhaust the stack.
    let mut folders = vec![folder.to_path_buf()];
    while let Some(dir) = folders.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                folders.push(entry.path());
            } else {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// What is at `key`'s path in `bucket`, each component checked with `lstat`. A key ending in
/// `/` (a folder marker) names its folder; empty segments are folded, as s3s-fs's paths fold
/// them.
pub(super) fn object_on_disk(
    root: &Path,
    bucket: &str,
    key: &str,
) -> io::Result<Result<OnDisk, Blocked>> {
    let mut path = match bucket_folder(root, bucket)? {
        Ok(p) => p,
        Err(b) => return Ok(Err(b)),
    };
    let segments: Vec<&str> = key.split('/').filter(|s| !s.is_empty()).collect();
    let Some((last, folders)) = segments.split_last() else {
        return Ok(Ok(OnDisk::Folder));
    };
    let mut relative = String::new();
    for folder in folders {
        path.push(folder);
        relative.push_str(folder);
        match lstat(&path)? {
            None => return Ok(Ok(OnDisk::Missing)),
            Some(t) if t.is_dir() => relative.push('/'),
            Some(t) if t.is_file() => return Ok(Err(Blocked::FileInTheWay(relative))),
            Some(_) => return Ok(Err(Blocked::Link(relative))),
        }
    }
    path.push(last);
    Ok(Ok(match lstat(&path)? {
        None => OnDisk::Missing,
        Some(t) if t.is_file() => OnDisk::File,
        Some(t) if t.is_dir() => OnDisk::Folder,
        Some(_) => OnDisk::Special,
    }))
}

/// The file type of `path` itself (a link is not followed); `None` when nothing is there.
fn lstat(path: &Path) -> io::Result<Option<FileType>> {
    match std::fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m.file_type())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Refuses a key the server does not serve: the keys of [`key_problem`] (a segment longer than
/// a file name, [`MAX_NAME_BYTES`], included), and keys whose path under `root` would be longer
/// than Linux opens.
pub(super) fn check_key(root: &Path, bucket: &str, key: &str) -> Result<(), S3Error> {
    let shown = key.escape_debug();
    match key_problem(key) {
        None => {}
        Some(p @ (KeyProblem::TooLong | KeyProblem::SegmentTooLong)) => {
            return Err(s3_error!(
                KeyTooLongError,
                "The key '{shown}' is refused: it {}",
                p.describe()
            ));
        }
        Some(p) => {
            return Err(s3_error!(
                InvalidArgument,
                "The key '{shown}' is refused: it {}",
                p.describe()
            ));
        }
    }
    if root.as_os_str().len() + bucket.len() + key.len() + 2 > MAX_PATH_BYTES {
        return Err(s3_error!(
            KeyTooLongError,
            "The key '{shown}' is refused: its path in the server's folder would be longer than \
             {MAX_PATH_BYTES} bytes"
        ));
    }
    Ok(())
}

/// The name of the file in which s3s-fs keeps an object's attributes of `kind` (`internal`:
/// ETag and checksums; `metadata`: headers and user metadata), directly in the served folder:
/// `.bucket-<base64 bucket>.object-<base64 key>.<kind>.json`.
pub(super) fn s3s_fs_attributes_name(bucket: &str, key: &str, kind: &str) -> String {
    let b64 = |s: &str| base64_simd::URL_SAFE_NO_PAD.encode_to_string(s);
    format!(".bucket-{}.object-{}.{kind}.json", b64(bucket), b64(key))
}

/// The length of the name of an object's attributes file ([`s3s_fs_attributes_name`];
/// `metadata` and `internal` are as long), with `.upload-<uuid>` more during a multipart upload.
fn s3s_fs_sidecar_name_len(bucket: &str, key: &str, upload: bool) -> usize {
    let upload = if upload { ".upload-".len() + 36 } else { 0 };
    s3s_fs_attributes_name(bucket, key, "metadata").len() + upload
}

/// Whether s3s-fs cannot keep the attributes of `key` in `bucket` (their file's name would be
/// longer than [`MAX_NAME_BYTES`]): such keys are stored by [`super::long_keys`]. With a bucket
/// name of 5 bytes that is keys over 163 bytes (over 130 during a multipart upload).
pub(super) fn is_long(bucket: &str, key: &str) -> bool {
    s3s_fs_sidecar_name_len(bucket, key, false) > MAX_NAME_BYTES
}

/// Whether a multipart upload of `key` cannot keep its attributes in s3s-fs.
pub(super) fn is_long_for_upload(bucket: &str, key: &str) -> bool {
    s3s_fs_sidecar_name_len(bucket, key, true) > MAX_NAME_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecar_limit_is_what_s3s_fs_measured() {
        // Measured: in bucket "inputs", PUT of a 162-byte key succeeds and of a 163-byte one
        // fails (s3s-fs wrote the object, then failed on its attributes' file name).
        assert!(!is_long("inputs", &"k".repeat(162)));
        assert!(is_long("inputs", &"k".repeat(163)));
        assert!(!is_long("calls", &"k".repeat(163)) && is_long("calls", &"k".repeat(164)));
        assert!(is_long_for_upload("calls", &"k".repeat(136)));
        assert!(!is_long_for_upload("calls", &"k".repeat(130)));
    }

    #[test]
    fn components_are_checked_without_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.join("b/real/sub")).unwrap();
        std::fs::write(root.join("b/real/file.wav"), b"x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("b/link")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("linked-bucket")).unwrap();
        let at = |bucket: &str, key: &str| object_on_disk(root, bucket, key).unwrap();
        assert_eq!(at("b", "real/file.wav"), Ok(OnDisk::File));
        assert_eq!(at("b", "real/sub"), Ok(OnDisk::Folder));
        assert_eq!(at("b", "real/sub/"), Ok(OnDisk::Folder));
        assert_eq!(at("b", "real//file.wav"), Ok(OnDisk::File));
        assert_eq!(at("b", "real/missing/x.wav"), Ok(OnDisk::Missing));
        assert_eq!(at("b", "link"), Ok(OnDisk::Special));
        assert_eq!(at("b", "link/x"), Err(Blocked::Link("link".into())));
        assert_eq!(
            at("b", "real/file.wav/x"),
            Err(Blocked::FileInTheWay("real/file.wav".into()))
        );
        assert_eq!(at("nobucket", "x"), Err(Blocked::NoBucket));
        assert_eq!(at("linked-bucket", "x"), Err(Blocked::BucketNotServed));
    }

    #[test]
    fn refused_keys_get_s3_codes() {
        let root = Path::new("/srv/s3");
        let code = |key: &str| check_key(root, "b", key).err().map(|e| e.code().clone());
        assert_eq!(code("a/b.wav"), None);
        assert_eq!(code(".."), Some(s3s::S3ErrorCode::InvalidArgument));
        assert_eq!(code("a\\b"), Some(s3s::S3ErrorCode::InvalidArgument));
        assert_eq!(
            code(&"k".repeat(256)),
            Some(s3s::S3ErrorCode::KeyTooLongError)
        );
        let deep = "d/".repeat(512);
        assert_eq!(code(&deep), None);
        let long_root = PathBuf::from(format!("/{}", "r/".repeat(1600)));
        assert_eq!(
            check_key(&long_root, "b", &deep)
                .err()
                .map(|e| e.code().clone()),
            Some(s3s::S3ErrorCode::KeyTooLongError)
        );
    }
}
