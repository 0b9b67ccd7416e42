//! Waiting until SeaweedFS takes writes.

use std::time::{Duration, Instant};

/// How long a fresh `weed mini` may take to take writes (it takes about 1 s here; a loaded
/// 2-core machine running other tests needs more).
pub(super) const READY_WITHIN: Duration = Duration::from_secs(40);

/// SeaweedFS answers S3 before its volume server takes writes: waits until a write to the bucket
/// `ready-probe` works. Returns the last error when that did not happen within `within`.
pub(super) async fn wait_for_writes(
    client: &aws_sdk_s3::Client,
    within: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    let mut last_err = String::new();
    while Instant::now() < deadline {
        // Fails once the bucket exists; the write below tells whether the server is ready.
        let _ = client.create_bucket().bucket("ready-probe").send().await;
        let put = client
            .put_object()
            .bucket("ready-probe")
            .key("probe")
            .body(b"x".to_vec().into())
            .send()
            .await;
        match put {
            Ok(_) => return Ok(()),
            Err(e) => last_err = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&e)),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last_err)
}
