//! Leader election with a `coordination.k8s.io/v1` Lease, written with `Api<Lease>`: only the
//! holder runs the controller. Updates carry the read `resourceVersion`, so two replicas that
//! race for an expired Lease cannot both win. A leader that cannot renew within the lease
//! duration stops (the process exits and restarts as a candidate), so two leaders never act at
//! once for longer than the clock skew.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff;
use kube::api::{ObjectMeta, PostParams};
use kube::Api;

/// Why the leader stopped leading.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// Another replica holds the Lease now, or it could not be renewed in time.
    #[error("lost the leader Lease {0}")]
    Lost(String),
}

/// What to do with the Lease as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseDecision {
    /// No Lease yet: create it.
    Create,
    /// Ours: renew it.
    Renew,
    /// Someone else's, expired (or released): take it over.
    TakeOver,
    /// Someone else's and fresh: wait.
    Wait,
}

/// Pure: the decision for `identity` given the Lease and the time.
pub fn decide_lease(lease: Option<&Lease>, identity: &str, now: jiff::Timestamp) -> LeaseDecision {
    let Some(lease) = lease else {
        return LeaseDecision::Create;
    };
    let spec = lease.spec.clone().unwrap_or_default();
    match spec.holder_identity.as_deref() {
        Some(h) if h == identity => LeaseDecision::Renew,
        None | Some("") => LeaseDecision::TakeOver,
        Some(_) => {
            let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
            let renewed = spec
                .renew_time
                .map(|t| t.0)
                .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
            if now.as_second() - renewed.as_second() > duration {
                LeaseDecision::TakeOver
            } else {
                LeaseDecision::Wait
            }
        }
    }
}

/// One replica's claim on a Lease.
#[derive(Clone)]
pub struct LeaseLock {
    /// The Leases of the lock's namespace.
    pub api: Api<Lease>,
    /// The Lease's name.
    pub name: String,
    /// This replica.
    pub identity: String,
    /// How long a holder's claim lasts without renewal.
    pub duration: Duration,
}

impl LeaseLock {
    /// Tries once to hold the Lease; `Ok(true)` when this replica holds it afterwards.
    pub async fn try_acquire(&self) -> Result<bool, kube::Error> {
        let now = jiff::Timestamp::now();
        let current = self.api.get_opt(&self.name).await?;
        let decision = decide_lease(current.as_ref(), &self.identity, now);
        let spec = |prev: Option<&LeaseSpec>, take: bool| LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(self.duration.as_secs() as i32),
            acquire_time: if take {
                Some(MicroTime(now))
            } else {
                prev.and_then(|p| p.acquire_time.clone())
            },
            renew_time: Some(MicroTime(now)),
            lease_transitions: Some(
                prev.and_then(|p| p.lease_transitions).unwrap_or(0)
                    + i32::from(take && prev.is_some()),
            ),
            ..Default::default()
        };
        let result = match (decision, current) {
            (LeaseDecision::Wait, _) => return Ok(false),
            (LeaseDecision::Create, _) | (_, None) => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..Default::default()
                    },
                    spec: Some(spec(None, true)),
                };
                self.api.create(&PostParams::default(), &lease).await
            }
            (d, Some(mut lease)) => {
                lease.spec = Some(spec(lease.spec.as_ref(), d == LeaseDecision::TakeOver));
                self.api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
            }
        };
        match result {
            Ok(_) => Ok(true),
            // Someone else wrote first.
            Err(kube::Error::Api(s)) if s.is_conflict() || s.is_already_exists() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the Lease up (on shutdown), so that another replica takes over at once.
    pub async fn release(&self) {
        if let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await {
            if let Some(spec) = lease
                .spec
                .as_mut()
                .filter(|s| s.holder_identity.as_deref() == Some(&self.identity))
            {
                spec.holder_identity = None;
                let _ = self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await;
            }
        }
    }

    /// Waits until leader, then runs `work` while renewing; returns when `work` ends (then
    /// releases the Lease) or with an error when leadership is lost.
    pub async fn run<F: Future<Output = ()>>(&self, work: F) -> Result<(), LeaderError> {
        let retry = self.duration / 3;
        loop {
            match self.try_acquire().await {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => tracing::warn!("leader election: {e}"),
            }
            tokio::time::sleep(retry).await;
        }
        tracing::info!(identity = %self.identity, "leading with Lease {}", self.name);
        let renew = async {
            let mut last = tokio::time::Instant::now();
            loop {
                tokio::time::sleep(retry).await;
                match self.try_acquire().await {
                    Ok(true) => last = tokio::time::Instant::now(),
                    Ok(false) => return LeaderError::Lost(self.name.clone()),
                    Err(e) => tracing::warn!("cannot renew the leader Lease: {e}"),
                }
                if last.elapsed() >= self.duration {
                    return LeaderError::Lost(self.name.clone());
                }
            }
        };
        tokio::select! {
            () = work => {
                self.release().await;
                Ok(())
            }
            e = renew => Err(e),
        }
    }
}
