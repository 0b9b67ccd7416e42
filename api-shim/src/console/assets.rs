//! The console's page, style sheet and script, compiled into the binary (no CDN, no files to
//! deploy beside it), and the security headers every console response carries.

use warp::http::header::{self, HeaderMap, HeaderValue};

/// One embedded file.
pub struct Asset {
    /// The name under `/console/assets/`.
    pub name: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static str,
}

/// The single page (the script draws every view into it).
pub const INDEX_HTML: &str = include_str!("../../console/index.html");

/// The files under `/console/assets/`.
pub const ASSETS: [Asset; 2] = [
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../console/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../console/console.js"),
    },
];

/// The embedded file called `name`.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// Scripts and styles from this origin only, no inline script, no framing, requests to this
/// origin only, forms posting nowhere else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// The headers of every console response: the policy above, no MIME sniffing, no framing, no
/// referrer leaving the page, no caching of job data, and isolation from other origins' windows.
pub fn security_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let mut set = |name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CACHE_CONTROL, "no-store");
    set(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    );
    h
}
