//! SeaweedFS (`weed mini`, installed by setup/seaweedfs.sh) as a second, independent S3 server
//! for tests: started on free loopback ports in a temporary folder, with one key pair, ready for
//! writes, and killed when dropped.

mod binary;
mod process;
mod ready;

pub use binary::weed_binary;

use process::WeedMini;

/// A running SeaweedFS that takes writes; killed (and its folder removed) when dropped.
#[derive(Debug)]
pub struct SeaweedFs {
    process: WeedMini,
    access_key: String,
    secret_key: String,
}

impl SeaweedFs {
    /// Starts `weed mini` whose one identity is `access_key`/`secret_key` (requests signed with
    /// another key pair are rejected) and waits until it takes writes. Panics with the tail of
    /// its log when it does not within 60 s.
    pub async fn start(access_key: &str, secret_key: &str) -> SeaweedFs {
        let weed = SeaweedFs {
            process: WeedMini::spawn(access_key, secret_key),
            access_key: access_key.to_owned(),
            secret_key: secret_key.to_owned(),
        };
        if let Err(e) = ready::wait_for_writes(&weed.client(), ready::READY_WITHIN).await {
            panic!(
                "SeaweedFS did not become ready in {:?}: {e}\n--- log tail ---\n{}",
                ready::READY_WITHIN,
                weed.log_tail(30)
            );
        }
        weed
    }

    /// Kills the server (SIGKILL: an outage or a crash); its ports and data stay for
    /// [`SeaweedFs::restart`].
    pub fn stop(&mut self) {
        self.process.kill();
    }

    /// Starts the stopped server again on the same ports and data and waits until it takes
    /// writes.
    pub async fn restart(&mut self) {
        self.process.run();
        if let Err(e) = ready::wait_for_writes(&self.client(), ready::READY_WITHIN).await {
            panic!(
                "SeaweedFS did not come back in {:?}: {e}\n--- log tail ---\n{}",
                ready::READY_WITHIN,
                self.log_tail(30)
            );
        }
    }

    /// The S3 API's port on 127.0.0.1.
    pub fn s3_port(&self) -> u16 {
        self.process.s3_port
    }

    /// The S3 endpoint URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port())
    }

    /// An SDK client signing with the server's key pair.
    pub fn client(&self) -> aws_sdk_s3::Client {
        super::s3_client(&self.endpoint(), &self.access_key, &self.secret_key)
    }

    /// The last `n` lines of what `weed mini` wrote to stdout and stderr.
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.process.dir().join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}
