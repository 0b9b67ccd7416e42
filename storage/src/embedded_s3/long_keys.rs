//! Objects whose keys are too long for s3s-fs's attribute files.
//!
//! s3s-fs keeps an object's attributes (content type, user metadata such as the batch id, ETag,
//! checksums) in files directly in the served folder, named after the base64 of the bucket and
//! the key: past about 160 bytes of key that name exceeds the 255-byte file-name limit, and
//! s3s-fs writes the object, then fails the PUT with an internal error. For those keys
//! ([`super::paths::is_long`]) the guard writes the object itself and keeps its attributes here,
//! in `.speechbatch-long-keys/<sha256 of bucket and key>.json` under the served folder; reads
//! and deletes still go through s3s-fs, which serves such files without attributes, and the
//! guard adds them back. An attributes file is used only while the object's size and
//! modification time are the ones it recorded, so a file replaced on disk is not served with
//! another object's metadata.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::UNIX_EPOCH;

use futures::StreamExt;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{
    ChecksumAlgorithm, ETag, GetObjectOutput, HeadObjectOutput, Metadata, PutObjectInput,
    PutObjectOutput, Timestamp, TimestampFormat,
};
use s3s::{s3_error, S3Request, S3Response, S3Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// The folder of attribute files, directly in the served folder. Its name is no bucket name
/// (it starts with a dot), so it is never listed or served as a bucket.
const FOLDER: &str = ".speechbatch-long-keys";

/// What s3s-fs would have kept in its attribute files, and what identifies the file it
/// describes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Attributes {
    bucket: String,
    key: String,
    /// The object's size and modification time (ns since the epoch) when written.
    size: u64,
    modified_ns: u64,
    e_tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    website_redirect_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum_crc32: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum_crc32c: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum_sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checksum_crc64nvme: Option<String>,
}

/// The attribute files of long keys under one served folder.
#[derive(Debug)]
pub(super) struct LongKeys {
    root: PathBuf,
    folder: PathBuf,
    counter: AtomicU64,
}

/// Copies the attributes into a GET or HEAD output (the checksums only for the whole object, as
/// S3 does).
macro_rules! fill {
    ($out:expr, $a:expr, $whole:expr) => {{
        let out = $out;
        let a = $a;
        out.e_tag = Some(ETag::Strong(a.e_tag));
        out.content_type = a.content_type;
        out.content_encoding = a.content_encoding;
        out.content_disposition = a.content_disposition;
        out.content_language = a.content_language;
        out.cache_control = a.cache_control;
        out.expires = a.expires.as_deref().and_then(parse_timestamp);
        out.website_redirect_location = a.website_redirect_location;
        out.metadata = a.metadata;
        if $whole {
            out.checksum_crc32 = a.checksum_crc32;
            out.checksum_crc32c = a.checksum_crc32c;
            out.checksum_sha1 = a.checksum_sha1;
            out.checksum_sha256 = a.checksum_sha256;
            out.checksum_crc64nvme = a.checksum_crc64nvme;
        }
    }};
}

/// A temporary file removed on drop unless kept.
struct Temporary(Option<PathBuf>);

impl Temporary {
    fn path(&self) -> &Path {
        self.0.as_deref().expect("the path is taken only by keep")
    }

    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl LongKeys {
    /// The store under `root` (the canonical served folder); nothing is created before the
    /// first long key is written.
    pub(super) fn new(root: &Path) -> LongKeys {
        LongKeys {
            root: root.to_owned(),
            folder: root.join(FOLDER),
            counter: AtomicU64::new(0),
        }
    }

    fn attributes_path(&self, bucket: &str, key: &str) -> PathBuf {
        let mut hasher = Sha256::new();
        hasher.update(bucket.as_bytes());
        hasher.update([0u8]);
        hasher.update(key.as_bytes());
        let name: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.folder.join(format!("{name}.json"))
    }

    /// A fresh temporary path in `dir`. In the served folder it has s3s-fs's pattern for
    /// temporary files (`.tmp.*.internal.part`), which s3s-fs removes when it starts.
    fn temporary(&self, dir: &Path) -> Temporary {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        Temporary(Some(
            dir.join(format!(".tmp.speechbatch-{pid}-{n}.internal.part")),
        ))
    }

    /// Writes the object of a PUT whose key [`super::paths::is_long`] (not a folder marker), at
    /// `object_path` (checked by the guard: no link on the way, no folder there), then its
    /// attributes; verifies Content-MD5 and the checksums s3s-fs verifies. Conditional writes
    /// (If-Match, If-None-Match) are not supported for such keys.
    pub(super) async fn put(
        &self,
        req: S3Request<PutObjectInput>,
        object_path: &Path,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let input = req.input;
        if input.if_match.is_some() || input.if_none_match.is_some() {
            return Err(s3_error!(
                NotImplemented,
                "Conditional writes are not supported for keys this long on the embedded server"
            ));
        }
        if let Some(class) = &input.storage_class {
            if !["STANDARD", "REDUCED_REDUNDANCY"].contains(&class.as_str()) {
                return Err(s3_error!(InvalidStorageClass));
            }
        }
        let mut checksums = ChecksumHasher::default();
        if input.checksum_crc32.is_some() {
            checksums.crc32 = Some(Default::default());
        }
        if input.checksum_crc32c.is_some() {
            checksums.crc32c = Some(Default::default());
        }
        if input.checksum_sha1.is_some() {
            checksums.sha1 = Some(Default::default());
        }
        if input.checksum_sha256.is_some() {
            checksums.sha256 = Some(Default::default());
        }
        if input.checksum_crc64nvme.is_some() {
            checksums.crc64nvme = Some(Default::default());
        }
        if let Some(alg) = &input.checksum_algorithm {
            match alg.as_str() {
                ChecksumAlgorithm::CRC32 => checksums.crc32 = Some(Default::default()),
                ChecksumAlgorithm::CRC32C => checksums.crc32c = Some(Default::default()),
                ChecksumAlgorithm::SHA1 => checksums.sha1 = Some(Default::default()),
                ChecksumAlgorithm::SHA256 => checksums.sha256 = Some(Default::default()),
                ChecksumAlgorithm::CRC64NVME => checksums.crc64nvme = Some(Default::default()),
                _ => return Err(s3_error!(NotImplemented, "Unsupported checksum algorithm")),
            }
        }
        let Some(mut body) = input.body else {
            return Err(s3_error!(IncompleteBody));
        };

        let tmp = self.temporary(&self.root);
        let mut file = tokio::fs::File::create(tmp.path())
            .await
            .map_err(internal)?;
        let mut md5 = Md5::new();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| s3_error!(IncompleteBody, "reading the body failed: {e}"))?;
            md5.update(&chunk);
            checksums.update(&chunk);
            file.write_all(&chunk).await.map_err(internal)?;
        }
        file.flush().await.map_err(internal)?;
        file.sync_all().await.map_err(internal)?;
        drop(file);
        let md5 = md5.finalize();
        if let Some(expected) = &input.content_md5 {
            if expected.trim() != base64(&md5) {
                return Err(s3_error!(BadDigest, "content_md5 mismatch"));
            }
        }
        let mut claimed = [
            input.checksum_crc32,
            input.checksum_crc32c,
            input.checksum_sha1,
            input.checksum_sha256,
            input.checksum_crc64nvme,
        ];
        if let Some(trailers) = req.trailing_headers.and_then(|t| t.take()) {
            for (i, name) in [
                "x-amz-checksum-crc32",
                "x-amz-checksum-crc32c",
                "x-amz-checksum-sha1",
                "x-amz-checksum-sha256",
                "x-amz-checksum-crc64nvme",
            ]
            .into_iter()
            .enumerate()
            {
                if let Some(v) = trailers.get(name) {
                    claimed[i] = Some(
                        v.to_str()
                            .map_err(|_| s3_error!(InvalidArgument))?
                            .to_owned(),
                    );
                }
            }
        }
        let computed = checksums.finalize();
        let computed_list = [
            &computed.checksum_crc32,
            &computed.checksum_crc32c,
            &computed.checksum_sha1,
            &computed.checksum_sha256,
            &computed.checksum_crc64nvme,
        ];
        if claimed
            .iter()
            .zip(computed_list)
            .any(|(claimed, computed)| claimed != computed)
        {
            return Err(s3_error!(BadDigest, "checksum mismatch"));
        }

        if let Some(parent) = object_path.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(internal)?;
        }
        tokio::fs::rename(tmp.path(), object_path)
            .await
            .map_err(internal)?;
        tmp.keep();
        let e_tag = hex(&md5);
        let written = tokio::fs::symlink_metadata(object_path)
            .await
            .map_err(internal)?;
        let attributes = Attributes {
            bucket: input.bucket,
            key: input.key,
            size: written.len(),
            modified_ns: modified_ns(&written),
            e_tag: e_tag.clone(),
            content_type: input.content_type,
            content_encoding: input.content_encoding,
            content_disposition: input.content_disposition,
            content_language: input.content_language,
            cache_control: input.cache_control,
            expires: input.expires.and_then(|t| format_timestamp(&t)),
            website_redirect_location: input.website_redirect_location,
            metadata: input.metadata,
            checksum_crc32: computed.checksum_crc32.clone(),
            checksum_crc32c: computed.checksum_crc32c.clone(),
            checksum_sha1: computed.checksum_sha1.clone(),
            checksum_sha256: computed.checksum_sha256.clone(),
            checksum_crc64nvme: computed.checksum_crc64nvme.clone(),
        };
        self.save(&attributes).await.map_err(internal)?;
        Ok(S3Response::new(PutObjectOutput {
            e_tag: Some(ETag::Strong(e_tag)),
            checksum_crc32: computed.checksum_crc32,
            checksum_crc32c: computed.checksum_crc32c,
            checksum_sha1: computed.checksum_sha1,
            checksum_sha256: computed.checksum_sha256,
            checksum_crc64nvme: computed.checksum_crc64nvme,
            ..Default::default()
        }))
    }

    async fn save(&self, attributes: &Attributes) -> io::Result<()> {
        tokio::fs::create_dir_all(&self.folder).await?;
        let path = self.attributes_path(&attributes.bucket, &attributes.key);
        let tmp = self.temporary(&self.folder);
        tokio::fs::write(tmp.path(), serde_json::to_vec(attributes)?).await?;
        tokio::fs::rename(tmp.path(), &path).await?;
        tmp.keep();
        Ok(())
    }

    /// The attributes of the object at `object_path`, if they were written for the file that
    /// is there now.
    async fn load(&self, bucket: &str, key: &str, object_path: &Path) -> Option<Attributes> {
        let bytes = tokio::fs::read(self.attributes_path(bucket, key))
            .await
            .ok()?;
        let attributes: Attributes = serde_json::from_slice(&bytes).ok()?;
        let now = tokio::fs::symlink_metadata(object_path).await.ok()?;
        (attributes.bucket == bucket
            && attributes.key == key
            && attributes.size == now.len()
            && attributes.modified_ns == modified_ns(&now))
        .then_some(attributes)
    }

    /// Forgets the attributes of a deleted object.
    pub(super) async fn forget(&self, bucket: &str, key: &str) {
        let _ = tokio::fs::remove_file(self.attributes_path(bucket, key)).await;
    }

    /// Adds the attributes of a long key to what s3s-fs read (the object, without them).
    pub(super) async fn complete_get(
        &self,
        bucket: &str,
        key: &str,
        object_path: &Path,
        out: &mut GetObjectOutput,
    ) {
        let Some(a) = self.load(bucket, key, object_path).await else {
            return;
        };
        let whole = out.content_range.is_none();
        fill!(out, a, whole);
    }

    /// Serves what s3s-fs read as a file without attributes, with ETag `e_tag`: its stored ones
    /// describe an earlier object ([`super::stale`]).
    pub(super) fn bare_get(out: &mut GetObjectOutput, e_tag: String) {
        let whole = out.content_range.is_none();
        fill!(
            out,
            Attributes {
                e_tag,
                ..Attributes::default()
            },
            whole
        );
    }

    /// [`Self::bare_get`] for a HEAD.
    pub(super) fn bare_head(out: &mut HeadObjectOutput, e_tag: String) {
        fill!(
            out,
            Attributes {
                e_tag,
                ..Attributes::default()
            },
            true
        );
    }

    /// Adds the attributes of a long key to what s3s-fs's HEAD found.
    pub(super) async fn complete_head(
        &self,
        bucket: &str,
        key: &str,
        object_path: &Path,
        out: &mut HeadObjectOutput,
    ) {
        let Some(a) = self.load(bucket, key, object_path).await else {
            return;
        };
        fill!(out, a, true);
    }
}

fn internal(e: impl std::error::Error + Send + Sync + 'static) -> s3s::S3Error {
    s3s::S3Error::internal_error(e)
}

fn modified_ns(m: &std::fs::Metadata) -> u64 {
    m.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

fn format_timestamp(t: &Timestamp) -> Option<String> {
    let mut buf = Vec::new();
    t.format(TimestampFormat::DateTime, &mut buf).ok()?;
    String::from_utf8(buf).ok()
}

fn parse_timestamp(s: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::DateTime, s).ok()
}

/// Lower-case hex, as ETags are written.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding (Content-MD5's encoding).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }
}
