//! Per-client limits: open connections, and failed authentications per minute.
//!
//! Clients are told apart by address; an IPv6 client by its /64, the block one host is usually
//! given, so that rotating addresses inside it gains nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most client addresses the failure table remembers; past it, the oldest windows go first.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// A client address as the limits count it.
fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The tables hold counters only: a panic elsewhere leaves them usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Open connections per client.
#[derive(Clone)]
pub struct ClientConnections {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One open connection of a client; dropping it frees the place.
pub struct ClientConnection {
    client: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ClientConnections {
    /// At most `max` connections per client.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `ip`, or `None` when it has `max` open.
    pub fn enter(&self, ip: IpAddr) -> Option<ClientConnection> {
        let client = client_of(ip);
        let mut open = locked(&self.open);
        let n = open.entry(client).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(ClientConnection {
            client,
            open: self.open.clone(),
        })
    }
}

impl Drop for ClientConnection {
    fn drop(&mut self) {
        let mut open = locked(&self.open);
        if let Some(n) = open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Failed authentications per client in fixed windows.
pub struct AuthThrottle {
    /// Failures allowed per window; 0 turns the throttle off.
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl AuthThrottle {
    /// At most `max` failures per `window` (0: no limit).
    pub fn new(max: u32, window: Duration) -> Self {
        Self {
            max,
            window,
            failures: Mutex::default(),
        }
    }

    /// How long `ip` must still wait, when it used up its failures in the current window.
    pub fn blocked(&self, ip: IpAddr) -> Option<Duration> {
        if self.max == 0 {
            return None;
        }
        let failures = locked(&self.failures);
        let (start, n) = failures.get(&client_of(ip))?;
        let left = self.window.checked_sub(start.elapsed())?;
        (*n >= self.max).then_some(left)
    }

    /// Counts a failed authentication of `ip`; true when this one used up its allowance (the
    /// moment to log it, once per window).
    pub fn failed(&self, ip: IpAddr) -> bool {
        if self.max == 0 {
            return false;
        }
        let now = Instant::now();
        let mut failures = locked(&self.failures);
        if failures.len() >= MAX_TRACKED_CLIENTS {
            failures.retain(|_, (start, _)| now.duration_since(*start) < self.window);
            if failures.len() >= MAX_TRACKED_CLIENTS {
                // Every window is current: forget the oldest half rather than grow.
                let mut starts: Vec<Instant> = failures.values().map(|(s, _)| *s).collect();
                starts.sort_unstable();
                let cut = starts[starts.len() / 2];
                failures.retain(|_, (start, _)| *start > cut);
            }
        }
        let entry = failures.entry(client_of(ip)).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 == self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_per_client_are_capped_and_freed() {
        let c = ClientConnections::new(2);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = c.enter(ip).unwrap();
        let _b = c.enter(ip).unwrap();
        assert!(c.enter(ip).is_none());
        assert!(c.enter("10.0.0.2".parse().unwrap()).is_some());
        drop(a);
        assert!(c.enter(ip).is_some());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_a_mapped_v4_is_the_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_of(a), client_of(b));
        assert_ne!(client_of(a), client_of("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            client_of("::ffff:10.0.0.1".parse().unwrap()),
            client_of("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn failures_past_the_allowance_block_until_the_window_ends() {
        let t = AuthThrottle::new(3, Duration::from_millis(200));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(!t.failed(ip) && !t.failed(ip));
        assert!(t.blocked(ip).is_none());
        assert!(t.failed(ip), "the third failure uses up the allowance");
        assert!(t.blocked(ip).is_some());
        assert!(t.blocked("10.0.0.2".parse().unwrap()).is_none());
        let deadline = Instant::now() + Duration::from_secs(5);
        while t.blocked(ip).is_some() {
            assert!(Instant::now() < deadline, "the window never ended");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!t.failed(ip), "a new window starts from zero");
        assert!(!AuthThrottle::new(0, Duration::from_secs(60)).failed(ip));
    }
}
