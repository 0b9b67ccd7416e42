//! Sign-in sessions of the admin console and the token that guards its actions.
//!
//! A browser signs in once with the API key and then holds only a random session token, in an
//! `HttpOnly`, `SameSite=Strict` cookie: no script can read it, and no other site's page can make
//! the browser send it. The key itself is never stored in the page. Each session also has a CSRF
//! token the page sends back in a header with every action: a cross-site form cannot set a
//! header, and a cross-origin script that tries needs a CORS preflight the service never grants.
//!
//! Sessions live in memory: a restart signs everyone out, which costs one sign-in and keeps no
//! bearer secret on disk.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "speechbatch_console";
/// A session unused for this long ends.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);
/// A session ends this long after sign-in, used or not.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The most sessions held at once; signing in beyond it ends the oldest.
const MAX_SESSIONS: usize = 10_000;

/// A signed-in browser.
#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    created: Instant,
    last_used: Instant,
}

/// The sessions of this process, keyed by the SHA-256 of their token, so that the table itself
/// holds nothing a reader of memory dumps could replay and lookups do not compare secrets.
#[derive(Debug, Default)]
pub struct Sessions {
    table: Mutex<HashMap<[u8; 32], Session>>,
}

/// A new session: the cookie token and the CSRF token the page is given.
#[derive(Debug)]
pub struct NewSession {
    /// Goes into the cookie.
    pub token: String,
    /// Goes to the page (`GET /console/api/session`).
    pub csrf: String,
}

/// 256 random bits, hex: two version-4 UUIDs hold 244 random bits from the operating system's
/// generator, which is what `uuid` already draws on; no separate RNG crate is needed for this.
fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// Starts a session (after the key was checked).
    pub fn start(&self) -> NewSession {
        let now = Instant::now();
        let new = NewSession {
            token: random_token(),
            csrf: random_token(),
        };
        let mut table = self.table.lock().expect("session table lock");
        table.retain(|_, s| alive(s, now));
        if table.len() >= MAX_SESSIONS {
            if let Some(oldest) = table.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| *k) {
                table.remove(&oldest);
            }
        }
        table.insert(
            digest(&new.token),
            Session {
                csrf: new.csrf.clone(),
                created: now,
                last_used: now,
            },
        );
        new
    }

    /// The CSRF token of the live session `token` names (and marks it used), or `None`.
    pub fn csrf_of(&self, token: &str) -> Option<String> {
        let now = Instant::now();
        let mut table = self.table.lock().expect("session table lock");
        let key = digest(token);
        match table.get_mut(&key) {
            Some(s) if alive(s, now) => {
                s.last_used = now;
                Some(s.csrf.clone())
            }
            Some(_) => {
                table.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends the session `token` names.
    pub fn end(&self, token: &str) {
        self.table
            .lock()
            .expect("session table lock")
            .remove(&digest(token));
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.last_used) < IDLE_TIMEOUT && now.duration_since(s.created) < MAX_AGE
}

/// Whether `sent` is `expected`, in constant time.
pub fn same_token(sent: &str, expected: &str) -> bool {
    sent.len() == expected.len() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

/// The `Set-Cookie` value that stores `token` (`secure` when the browser reached the service
/// over HTTPS, directly or through a proxy that says so).
pub fn cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        MAX_AGE.as_secs(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn expired_cookie() -> String {
    format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_gives_its_csrf_token_until_it_ends() {
        let sessions = Sessions::default();
        let s = sessions.start();
        assert_eq!(sessions.csrf_of(&s.token).as_deref(), Some(s.csrf.as_str()));
        assert_eq!(
            sessions.csrf_of(&s.csrf),
            None,
            "the CSRF token is not a session"
        );
        assert_eq!(sessions.csrf_of("not-a-session"), None);
        sessions.end(&s.token);
        assert_eq!(sessions.csrf_of(&s.token), None);
    }

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let sessions = Sessions::default();
        let a = sessions.start();
        let b = sessions.start();
        assert_eq!(a.token.len(), 64);
        assert_ne!(a.token, b.token);
        assert_ne!(a.csrf, b.csrf);
        assert!(same_token(&a.csrf, &a.csrf.clone()));
        assert!(!same_token(&a.csrf, &b.csrf));
        assert!(!same_token(&a.csrf, &a.csrf[1..]));
    }

    #[test]
    fn the_cookie_is_out_of_reach_of_scripts_and_other_sites() {
        let c = cookie("abc", false);
        assert!(c.starts_with("speechbatch_console=abc;"));
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict"));
        assert!(c.contains("Path=/console") && !c.contains("Secure"));
        assert!(cookie("abc", true).ends_with("; Secure"));
        assert!(expired_cookie().contains("Max-Age=0"));
    }
}
