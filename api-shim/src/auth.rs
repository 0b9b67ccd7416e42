//! Basic authentication as the interface uses it: user name `apikey`, password the API key.

use std::sync::Arc;

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::Filter;

use crate::error::Unauthorized;

/// The service's API key, held as a digest so that comparing it takes the same time whatever
/// the length or content of the guess.
#[derive(Clone)]
pub struct ApiKey {
    digest: Arc<[u8; 32]>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl ApiKey {
    /// Wraps the configured key.
    pub fn new(key: &str) -> Self {
        Self {
            digest: Arc::new(Sha256::digest(key.as_bytes()).into()),
        }
    }

    /// Whether an `Authorization` header value carries `apikey:<this key>`.
    pub fn accepts(&self, header: Option<&str>) -> bool {
        let Some(encoded) = header.and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(rest.trim())
        }) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded) else {
            return false;
        };
        let Some(colon) = decoded.iter().position(|&b| b == b':') else {
            return false;
        };
        let (user, key) = (&decoded[..colon], &decoded[colon + 1..]);
        let key_ok = self.matches(key);
        user == b"apikey" && key_ok
    }

    /// Whether `guess` is the key itself (the admin console's sign-in form), compared in
    /// constant time.
    pub fn matches(&self, guess: &[u8]) -> bool {
        let guess: [u8; 32] = Sha256::digest(guess).into();
        guess.ct_eq(&*self.digest).into()
    }
}

/// A filter that rejects with [`Unauthorized`] unless the request carries the API key.
pub fn require(key: ApiKey) -> impl Filter<Extract = (), Error = warp::Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and_then(move |h: Option<String>| {
            let ok = key.accepts(h.as_deref());
            async move {
                if ok {
                    Ok(())
                } else {
                    Err(warp::reject::custom(Unauthorized))
                }
            }
        })
        .untuple_one()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_pass: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    }

    #[test]
    fn only_the_apikey_user_with_the_right_key_is_accepted() {
        let key = ApiKey::new("s3cret:with:colons");
        assert!(key.accepts(Some(&basic("apikey:s3cret:with:colons"))));
        assert!(key.accepts(
            Some(&basic("apikey:s3cret:with:colons"))
                .map(|s| s.replace("Basic", "basic"))
                .as_deref()
        ));
        assert!(!key.accepts(Some(&basic("apikey:s3cret"))));
        assert!(!key.accepts(Some(&basic("admin:s3cret:with:colons"))));
        assert!(!key.accepts(Some("Bearer s3cret:with:colons")));
        assert!(!key.accepts(Some("Basic !!!not-base64")));
        assert!(!key.accepts(None));
        assert!(!format!("{key:?}").contains("s3cret"));
    }
}
