//! SeaweedFS (`weed mini`, installed by setup/seaweedfs.sh) as a second, independent S3 server
//! for tests: started on free loopback ports in a temporary folder, with one key pair, ready for
//! writes, and killed when dropped.

mod binary;
mod process;
mod ready;

pub use binary::weed_binary;

use process::WeedMini;

/// How many times [`SeaweedFs::start`] tries a fresh `weed mini` before it gives up.
const START_ATTEMPTS: u32 = 3;

/// A running SeaweedFS that takes writes; killed (and its folder removed) when dropped.
#[derive(Debug)]
pub struct SeaweedFs {
    process: WeedMini,
    access_key: String,
    secret_key: String,
}

impl SeaweedFs {
    /// Starts `weed mini` whose one identity is `access_key`/`secret_key` (requests signed with
    /// another key pair are rejected) and waits until it takes writes.
    ///
    /// A start that does not take writes within [`ready::READY_WITHIN`] is killed and tried
    /// again in a fresh folder on fresh ports, [`START_ATTEMPTS`] times in all: the ports come
    /// from [`crate::testing::free_ports`], which releases them before `weed` binds them, so a
    /// busy machine can hand one of them to another process in between (one CI run saw a volume
    /// server that never registered). Panics with each attempt's log when none worked.
    pub async fn start(access_key: &str, secret_key: &str) -> SeaweedFs {
        let mut failures = Vec::new();
        for attempt in 1..=START_ATTEMPTS {
            let weed = SeaweedFs {
                process: WeedMini::spawn(access_key, secret_key),
                access_key: access_key.to_owned(),
                secret_key: secret_key.to_owned(),
            };
            match ready::wait_for_writes(&weed.client(), ready::READY_WITHIN).await {
                Ok(()) => return weed,
                Err(e) => failures.push(format!(
                    "attempt {attempt}: not ready in {:?}: {e}\n--- log ---\n{}",
                    ready::READY_WITHIN,
                    weed.log_tail(40)
                )),
            }
        }
        panic!("SeaweedFS did not start:\n{}", failures.join("\n"));
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
        // It cannot move to other ports (the service under test knows these), so it gets the
        // time of every fresh start together.
        let within = ready::READY_WITHIN * START_ATTEMPTS;
        if let Err(e) = ready::wait_for_writes(&self.client(), within).await {
            panic!(
                "SeaweedFS did not come back in {within:?}: {e}\n--- log tail ---\n{}",
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

    /// The last `n` lines of what `weed mini` wrote to stdout and stderr, leaving out the admin
    /// worker's retries (`weed mini` runs a worker whose admin server is off, and it says so
    /// every five seconds).
    pub fn log_tail(&self, n: usize) -> String {
        let log = std::fs::read_to_string(self.process.dir().join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| !line.contains("worker.go") && !line.contains("client.go"))
            .collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}
