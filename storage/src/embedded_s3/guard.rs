//! The embedded server's S3 implementation: s3s-fs's `FileSystem` behind checks that keep every
//! request inside its bucket's folder and every answer an S3 answer.
//!
//! What s3s-fs 0.14.1 does unguarded (measured): a key `..` panics the connection's task (in
//! `path-absolutize`); `../x` and `a/../../x` are written outside the bucket's folder; a key
//! starting with `/` is taken as an absolute path; a symbolic link in a bucket is followed
//! (its target, anywhere on the machine, is read and written through it); one file whose name
//! has a control character fails every listing of its bucket (XML cannot carry it); past about
//! 160 bytes of key, a PUT writes the object and then fails with an internal error, because the
//! attributes' file name is over the file system's 255 bytes; DeleteBucket removes a bucket's
//! folder with all its objects.
//!
//! The guard therefore:
//! - refuses keys with a [`crate::keys::key_problem`] (empty, a leading `/`, a `.` or `..`
//!   segment, a control character, a backslash, over 1024 bytes, a segment over 255 bytes) and
//!   keys whose path would be over Linux's 4095 bytes: `KeyTooLongError` for lengths,
//!   `InvalidArgument` otherwise, both 400;
//! - checks each component of an object's path with `lstat` first: a symbolic link (the
//!   bucket's folder included) or a special file is never followed, served, written through or
//!   removed; reads of it answer `NoSuchKey` (`NoSuchBucket` for the bucket's folder), writes
//!   are refused, deletes do nothing;
//! - lists buckets itself ([`super::listing`]), leaving out what it cannot serve;
//! - stores keys longer than s3s-fs's attribute files allow itself ([`super::long_keys`]), so
//!   every key up to S3's 1024 bytes whose segments fit in file names works. Copying such a key
//!   and multipart uploads of keys over about 130 bytes are refused instead;
//! - deletes only a bucket with no objects in it, nor links or special files (`BucketNotEmpty`,
//!   409, otherwise, as S3 does: s3s-fs removed the folder with every object in it); empty
//!   folders left by deleted keys do not count;
//! - serves an object whose file was replaced by hand after an S3 write without s3s-fs's stale
//!   ETag, checksums and metadata ([`super::stale`]), and copies it without them;
//! - answers `NoSuchUpload` when parts are listed for an upload id s3s-fs never handed out
//!   (s3s-fs lists them unchecked).
//!
//! The checks and the operation are not atomic: a folder replaced by a link between the two
//! (by someone with write access to the served folder) is not caught. The guard is against
//! what users leave in the folder, not against a concurrent attacker on the same machine.

use std::io;
use std::path::{Path, PathBuf};

use s3s::dto::*;
use s3s::{s3_error, S3Error, S3Request, S3Response, S3Result, S3};
use s3s_fs::FileSystem;

use super::listing::{self, Skipped};
use super::long_keys::LongKeys;
use super::paths::{self, Blocked, OnDisk};
use super::stale;

/// s3s-fs over a folder, guarded.
pub(super) struct Guard {
    fs: FileSystem,
    /// The served folder, canonical (as s3s-fs keeps it).
    root: PathBuf,
    long: LongKeys,
}

/// Runs blocking file-system work off the async threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> S3Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(S3Error::internal_error)?
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied => s3_error!(
                AccessDenied,
                "The embedded S3 server may not read or write its folder there"
            ),
            _ => S3Error::internal_error(e),
        })
}

/// `copy_source`'s bucket and key.
fn copy_source(source: &CopySource) -> S3Result<(String, String)> {
    match source {
        CopySource::Bucket { bucket, key, .. } => Ok((bucket.to_string(), key.to_string())),
        _ => Err(s3_error!(NotImplemented)),
    }
}

impl Guard {
    /// Serves `root` (created if missing).
    pub(super) fn new(root: &Path) -> io::Result<Guard> {
        std::fs::create_dir_all(root)?;
        let fs = FileSystem::new(root)
            .map_err(|e| io::Error::other(format!("cannot serve {}: {e:?}", root.display())))?;
        let root = std::fs::canonicalize(root)?;
        Ok(Guard {
            fs,
            long: LongKeys::new(&root),
            root,
        })
    }

    fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    async fn on_disk(&self, bucket: &str, key: &str) -> S3Result<Result<OnDisk, Blocked>> {
        let (root, bucket, key) = (self.root.clone(), bucket.to_owned(), key.to_owned());
        blocking(move || paths::object_on_disk(&root, &bucket, &key)).await
    }

    /// The bucket's folder, unless it is missing or not served.
    async fn bucket_folder(&self, bucket: &str) -> S3Result<PathBuf> {
        let (root, name) = (self.root.clone(), bucket.to_owned());
        match blocking(move || paths::bucket_folder(&root, &name)).await? {
            Ok(folder) => Ok(folder),
            Err(_) => Err(s3_error!(NoSuchBucket)),
        }
    }

    /// Refuses an upload id s3s-fs did not hand out. Its other multipart operations check the id
    /// themselves; `list_parts` does not: it lists whatever part files share the id as a name
    /// prefix and unwraps their part numbers, so a made-up id got an empty list instead of
    /// `NoSuchUpload`. s3s-fs names an upload's record `.upload-<uuid>.json` in the served folder.
    async fn upload_exists(&self, upload_id: &str) -> S3Result<()> {
        let Ok(id) = uuid::Uuid::parse_str(upload_id) else {
            return Err(s3_error!(NoSuchUpload));
        };
        let record = self.root.join(format!(".upload-{id}.json"));
        let exists =
            blocking(move || Ok(std::fs::symlink_metadata(record).is_ok_and(|m| m.is_file())))
                .await?;
        if exists {
            Ok(())
        } else {
            Err(s3_error!(NoSuchUpload))
        }
    }

    /// The MD5 of an object whose s3s-fs attributes describe an earlier file
    /// ([`super::stale`]), or `None` when they still hold.
    async fn fresh_e_tag(
        &self,
        bucket: &str,
        key: &str,
        path: PathBuf,
    ) -> S3Result<Option<String>> {
        let (root, bucket, key) = (self.root.clone(), bucket.to_owned(), key.to_owned());
        blocking(move || stale::fresh_e_tag(&root, &bucket, &key, &path)).await
    }

    /// Checks a key that is read: it must be a regular file reached through real folders.
    async fn readable(&self, bucket: &str, key: &str) -> S3Result<()> {
        paths::check_key(&self.root, bucket, key)?;
        match self.on_disk(bucket, key).await? {
            Ok(OnDisk::File) => Ok(()),
            Ok(OnDisk::Missing | OnDisk::Folder | OnDisk::Special)
            | Err(Blocked::Link(_) | Blocked::FileInTheWay(_)) => Err(s3_error!(NoSuchKey)),
            Err(Blocked::NoBucket | Blocked::BucketNotServed) => Err(s3_error!(NoSuchBucket)),
        }
    }

    /// Checks a key that is written: nothing on its path may be a link or a file in the way,
    /// and no folder may stand where the object goes (nor a file where a folder marker goes).
    /// A missing bucket folder is created by the write, as s3s-fs does.
    async fn writable(&self, bucket: &str, key: &str) -> S3Result<()> {
        paths::check_key(&self.root, bucket, key)?;
        let marker = key.ends_with('/');
        let shown = key.escape_debug();
        match self.on_disk(bucket, key).await? {
            Ok(OnDisk::Missing) | Err(Blocked::NoBucket) => Ok(()),
            Ok(OnDisk::File) if !marker => Ok(()),
            Ok(OnDisk::Folder) if marker => Ok(()),
            Ok(OnDisk::Folder) => Err(s3_error!(
                InvalidArgument,
                "The key '{shown}' is refused: a folder of that name is in the bucket's folder"
            )),
            Ok(OnDisk::File) => Err(s3_error!(
                InvalidArgument,
                "The key '{shown}' is refused: a file of that name is in the bucket's folder"
            )),
            Ok(OnDisk::Special) => Err(s3_error!(
                InvalidArgument,
                "The key '{shown}' is refused: a symbolic link or special file of that name is in \
                 the bucket's folder, and this server does not replace it"
            )),
            Err(Blocked::BucketNotServed) => Err(s3_error!(
                NoSuchBucket,
                "The bucket's folder is a symbolic link or not a folder, which this server does not serve"
            )),
            Err(Blocked::Link(folder)) => Err(s3_error!(
                InvalidArgument,
                "The key '{shown}' is refused: the folder '{}' is a symbolic link, which this server \
                 does not follow",
                folder.escape_debug()
            )),
            Err(Blocked::FileInTheWay(file)) => Err(s3_error!(
                InvalidArgument,
                "The key '{shown}' is refused: '{}' is a file, so it cannot be a folder",
                file.escape_debug()
            )),
        }
    }

    /// Checks a key that is deleted: whether s3s-fs should delete it (`false`: there is nothing
    /// this server serves under that key, so the delete succeeds without touching anything).
    async fn deletable(&self, bucket: &str, key: &str) -> S3Result<bool> {
        paths::check_key(&self.root, bucket, key)?;
        let marker = key.ends_with('/');
        match self.on_disk(bucket, key).await? {
            Ok(OnDisk::File) => Ok(!marker),
            Ok(OnDisk::Folder) => Ok(marker),
            Ok(OnDisk::Missing) => Ok(true),
            Ok(OnDisk::Special) | Err(Blocked::Link(_) | Blocked::FileInTheWay(_)) => Ok(false),
            Err(Blocked::NoBucket | Blocked::BucketNotServed) => Err(s3_error!(NoSuchBucket)),
        }
    }
}

/// Logs, once per listing, the entries a listing left out.
fn warn_skipped(bucket: &str, skipped: &[Skipped]) {
    const SHOWN: usize = 5;
    let mut entries: Vec<String> = skipped
        .iter()
        .take(SHOWN)
        .map(|s| format!("'{}' ({})", s.key.escape_debug(), s.why))
        .collect();
    if skipped.len() > SHOWN {
        entries.push(format!("and {} more", skipped.len() - SHOWN));
    }
    tracing::warn!(
        bucket,
        skipped = skipped.len(),
        entries = %entries.join("; "),
        "embedded S3: a listing leaves out entries of the bucket's folder that it cannot serve; \
         rename them, or replace links with the files"
    );
}

#[async_trait::async_trait]
impl S3 for Guard {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        // A link or file of that name counts as taken (s3s-fs follows a link to decide).
        let path = self.root.join(&req.input.bucket);
        if blocking(move || Ok(std::fs::symlink_metadata(path).is_ok())).await? {
            return Err(s3_error!(BucketAlreadyExists));
        }
        self.fs.create_bucket(req).await
    }

    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let folder = self.bucket_folder(&req.input.bucket).await?;
        // s3s-fs removes the bucket's folder with everything in it; S3 deletes only an empty
        // bucket, and a client that sends DeleteBucket to the wrong bucket must lose nothing.
        if blocking(move || paths::holds_more_than_folders(&folder)).await? {
            return Err(s3_error!(BucketNotEmpty));
        }
        self.fs.delete_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.bucket_folder(&req.input.bucket).await?;
        self.fs.head_bucket(req).await
    }

    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        self.bucket_folder(&req.input.bucket).await?;
        self.fs.get_bucket_location(req).await
    }

    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        // s3s-fs lists only real folders with valid bucket names: links are not among them.
        self.fs.list_buckets(req).await
    }

    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let v2 = self.list_objects_v2(req.map_input(Into::into)).await?;
        Ok(S3Response::new(ListObjectsOutput {
            contents: v2.output.contents,
            common_prefixes: v2.output.common_prefixes,
            delimiter: v2.output.delimiter,
            encoding_type: v2.output.encoding_type,
            name: v2.output.name,
            prefix: v2.output.prefix,
            max_keys: v2.output.max_keys,
            is_truncated: v2.output.is_truncated,
            next_marker: v2.output.next_continuation_token,
            marker: v2.output.start_after,
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let folder = self.bucket_folder(&req.input.bucket).await?;
        let bucket = req.input.bucket.clone();
        let input = req.input;
        let page = blocking(move || listing::list(&folder, input)).await?;
        if !page.skipped.is_empty() {
            warn_skipped(&bucket, &page.skipped);
        }
        Ok(S3Response::new(page.output))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.readable(&bucket, &key).await?;
        let mut resp = self.fs.get_object(req).await?;
        let path = self.object_path(&bucket, &key);
        if paths::is_long(&bucket, &key) {
            self.long
                .complete_get(&bucket, &key, &path, &mut resp.output)
                .await;
        } else if let Some(e_tag) = self.fresh_e_tag(&bucket, &key, path).await? {
            LongKeys::bare_get(&mut resp.output, e_tag);
        }
        Ok(resp)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.readable(&bucket, &key).await?;
        let mut resp = self.fs.head_object(req).await?;
        let path = self.object_path(&bucket, &key);
        if paths::is_long(&bucket, &key) {
            self.long
                .complete_head(&bucket, &key, &path, &mut resp.output)
                .await;
        } else if let Some(e_tag) = self.fresh_e_tag(&bucket, &key, path).await? {
            LongKeys::bare_head(&mut resp.output, e_tag);
        }
        Ok(resp)
    }

    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.writable(&bucket, &key).await?;
        // Folder markers have no attributes: s3s-fs only creates the folder.
        if !key.ends_with('/') && paths::is_long(&bucket, &key) {
            let path = self.object_path(&bucket, &key);
            return self.long.put(req, &path).await;
        }
        self.fs.put_object(req).await
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        if !self.deletable(&bucket, &key).await? {
            return Ok(S3Response::new(DeleteObjectOutput::default()));
        }
        let resp = self.fs.delete_object(req).await?;
        if paths::is_long(&bucket, &key) {
            self.long.forget(&bucket, &key).await;
        }
        Ok(resp)
    }

    async fn delete_objects(
        &self,
        mut req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let bucket = req.input.bucket.clone();
        let mut kept = Vec::new();
        let mut nothing = Vec::new();
        let mut refused = Vec::new();
        for object in std::mem::take(&mut req.input.delete.objects) {
            match self.deletable(&bucket, &object.key).await {
                Ok(true) => kept.push(object),
                Ok(false) => nothing.push(object),
                Err(e) => refused.push((object, e)),
            }
        }
        let long: Vec<String> = kept
            .iter()
            .filter(|o| paths::is_long(&bucket, &o.key))
            .map(|o| o.key.clone())
            .collect();
        req.input.delete.objects = kept;
        let mut resp = self.fs.delete_objects(req).await?;
        for key in long {
            self.long.forget(&bucket, &key).await;
        }
        let deleted = resp.output.deleted.get_or_insert_with(Vec::new);
        deleted.extend(nothing.into_iter().map(|o| DeletedObject {
            key: Some(o.key),
            version_id: o.version_id,
            ..Default::default()
        }));
        if !refused.is_empty() {
            let errors = resp.output.errors.get_or_insert_with(Vec::new);
            errors.extend(refused.into_iter().map(|(o, e)| Error {
                code: Some(e.code().as_str().to_owned()),
                key: Some(o.key),
                message: e.message().map(str::to_owned),
                version_id: o.version_id,
            }));
        }
        Ok(resp)
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let (src_bucket, src_key) = copy_source(&req.input.copy_source)?;
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.readable(&src_bucket, &src_key).await?;
        self.writable(&bucket, &key).await?;
        if key.ends_with('/') {
            return Err(s3_error!(
                InvalidArgument,
                "An object cannot be copied onto a folder marker"
            ));
        }
        if paths::is_long(&src_bucket, &src_key) || paths::is_long(&bucket, &key) {
            return Err(s3_error!(
                NotImplemented,
                "The embedded S3 server does not copy objects whose keys are this long"
            ));
        }
        let source = self.object_path(&src_bucket, &src_key);
        let stale_source = self.fresh_e_tag(&src_bucket, &src_key, source).await?;
        let keep_metadata = req
            .input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let mut resp = self.fs.copy_object(req).await?;
        if let Some(e_tag) = stale_source {
            // s3s-fs gave the copy the source's stale ETag and checksums: it gets its bytes' own.
            let (root, tag) = (self.root.clone(), e_tag.clone());
            blocking(move || stale::record_bare_copy(&root, &bucket, &key, &tag, keep_metadata))
                .await?;
            resp.output.copy_object_result = Some(CopyObjectResult {
                e_tag: Some(ETag::Strong(e_tag)),
                last_modified: resp.output.copy_object_result.and_then(|r| r.last_modified),
                ..CopyObjectResult::default()
            });
        }
        Ok(resp)
    }

    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.writable(&bucket, &key).await?;
        if key.ends_with('/') {
            return Err(s3_error!(
                InvalidArgument,
                "A folder marker cannot be uploaded in parts"
            ));
        }
        if paths::is_long_for_upload(&bucket, &key) {
            return Err(s3_error!(
                KeyTooLongError,
                "The embedded S3 server takes multipart uploads of keys up to about 130 bytes \
                 (depending on the bucket name); upload this object with a single PUT"
            ));
        }
        self.fs.create_multipart_upload(req).await
    }

    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        paths::check_key(&self.root, &req.input.bucket, &req.input.key)?;
        self.fs.upload_part(req).await
    }

    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let (src_bucket, src_key) = copy_source(&req.input.copy_source)?;
        self.readable(&src_bucket, &src_key).await?;
        paths::check_key(&self.root, &req.input.bucket, &req.input.key)?;
        self.fs.upload_part_copy(req).await
    }

    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        paths::check_key(&self.root, &req.input.bucket, &req.input.key)?;
        self.upload_exists(&req.input.upload_id).await?;
        self.fs.list_parts(req).await
    }

    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let (bucket, key) = (req.input.bucket.clone(), req.input.key.clone());
        self.writable(&bucket, &key).await?;
        if key.ends_with('/') || paths::is_long(&bucket, &key) {
            return Err(s3_error!(
                InvalidArgument,
                "This key cannot be the target of a multipart upload on the embedded S3 server"
            ));
        }
        self.fs.complete_multipart_upload(req).await
    }

    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        paths::check_key(&self.root, &req.input.bucket, &req.input.key)?;
        self.fs.abort_multipart_upload(req).await
    }
}
