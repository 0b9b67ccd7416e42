//! The two credentials-file formats of the interface: the S3-compatible HMAC format
//! (`end_point`, `access_key`, `secret_key`) and the IBM Cloud IAM format (`apikey`, `end_point`,
//! `resource_instance_id`, `region`).
//!
//! Secrets never leave this module in readable form except through the fields themselves and
//! [`Credentials::to_json`] (for 0600 files and Kubernetes Secrets): `Debug` redacts them, and no
//! `Serialize` is derived, so that a credentials value cannot be logged or put into a CR spec by
//! accident.

use std::fmt;

use serde_json::{Map, Value};

const REDACTED: &str = "***";
const HMAC_FORMAT: &str = "S3-compatible credentials (end_point, access_key, secret_key)";
const IAM_FORMAT: &str = "IBM Cloud credentials (apikey, end_point, resource_instance_id, region)";

/// Bucket credentials as uploaded with a batch request.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Access key and secret key, signed with AWS SigV4 (MinIO, SeaweedFS, AWS, COS HMAC keys).
    Hmac(HmacCredentials),
    /// An IBM Cloud API key, exchanged for bearer tokens at the IAM token endpoint.
    Iam(IamCredentials),
}

/// The S3-compatible (HMAC) credentials format.
#[derive(Clone, PartialEq, Eq)]
pub struct HmacCredentials {
    /// URL of the S3 endpoint, e.g. `https://s3.us-south.cloud-object-storage.appdomain.cloud`.
    pub end_point: String,
    /// The access key id.
    pub access_key: String,
    /// The secret key.
    pub secret_key: String,
}

/// The IBM Cloud Object Storage (IAM) credentials format.
#[derive(Clone, PartialEq, Eq)]
pub struct IamCredentials {
    /// The IBM Cloud API key.
    pub apikey: String,
    /// URL of the S3 endpoint.
    pub end_point: String,
    /// The service instance id (the part of the resource instance CRN between the last single
    /// colon and the trailing `::`; a full CRN is accepted and reduced to it).
    pub resource_instance_id: String,
    /// The region, e.g. `us-south`.
    pub region: String,
}

/// A credentials file that could not be used; the message says which format was expected and
/// which field is wrong, and never contains a secret value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CredentialsError(pub String);

impl fmt::Debug for HmacCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacCredentials")
            .field("end_point", &self.end_point)
            .field("access_key", &REDACTED)
            .field("secret_key", &REDACTED)
            .finish()
    }
}

impl fmt::Debug for IamCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamCredentials")
            .field("apikey", &REDACTED)
            .field("end_point", &self.end_point)
            .field("resource_instance_id", &self.resource_instance_id)
            .field("region", &self.region)
            .finish()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Hmac(c) => f.debug_tuple("Hmac").field(c).finish(),
            Credentials::Iam(c) => f.debug_tuple("Iam").field(c).finish(),
        }
    }
}

impl Credentials {
    /// Parses a credentials file. The format is chosen by its fields: `apikey` means the IBM
    /// Cloud format, `access_key`/`secret_key` the S3-compatible one. The error text says which
    /// format was expected and which field is missing, empty, not a string or not a URL; it
    /// never echoes a value.
    pub fn from_json(bytes: &[u8]) -> Result<Credentials, CredentialsError> {
        // Parse into a generic value first: serde's typed errors would quote the offending
        // value, which may be a secret. Syntax errors only carry a position.
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            CredentialsError(format!(
                "The credentials file is not valid JSON (line {}, column {}): expected {HMAC_FORMAT} or {IAM_FORMAT}",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(obj) = value else {
            return Err(CredentialsError(format!(
                "The credentials file must be a JSON object: expected {HMAC_FORMAT} or {IAM_FORMAT}"
            )));
        };
        if obj.contains_key("apikey") {
            let end_point = url_field(&obj, "end_point", IAM_FORMAT)?;
            let apikey = field(&obj, "apikey", IAM_FORMAT)?;
            let resource_instance_id =
                instance_id(&field(&obj, "resource_instance_id", IAM_FORMAT)?);
            let region = field(&obj, "region", IAM_FORMAT)?;
            Ok(Credentials::Iam(IamCredentials {
                apikey,
                end_point,
                resource_instance_id,
                region,
            }))
        } else if obj.contains_key("access_key") || obj.contains_key("secret_key") {
            let end_point = url_field(&obj, "end_point", HMAC_FORMAT)?;
            let access_key = field(&obj, "access_key", HMAC_FORMAT)?;
            let secret_key = field(&obj, "secret_key", HMAC_FORMAT)?;
            Ok(Credentials::Hmac(HmacCredentials {
                end_point,
                access_key,
                secret_key,
            }))
        } else {
            Err(CredentialsError(format!(
                "The credentials file has neither 'access_key' nor 'apikey': expected {HMAC_FORMAT} or {IAM_FORMAT}"
            )))
        }
    }

    /// The credentials in their file format; [`Credentials::from_json`] reads it back. Contains
    /// the secrets: write it only to a 0600 file or a Kubernetes Secret.
    pub fn to_json(&self) -> Vec<u8> {
        let value = match self {
            Credentials::Hmac(c) => serde_json::json!({
                "end_point": c.end_point,
                "access_key": c.access_key,
                "secret_key": c.secret_key,
            }),
            Credentials::Iam(c) => serde_json::json!({
                "apikey": c.apikey,
                "end_point": c.end_point,
                "resource_instance_id": c.resource_instance_id,
                "region": c.region,
            }),
        };
        serde_json::to_vec_pretty(&value).expect("a JSON object of strings serialises")
    }

    /// The S3 endpoint URL.
    pub fn end_point(&self) -> &str {
        match self {
            Credentials::Hmac(c) => &c.end_point,
            Credentials::Iam(c) => &c.end_point,
        }
    }

    /// Checks every field as [`Credentials::from_json`] does: credentials built in code, or read
    /// by an older version, must not reach the S3 client with a value it cannot put into a
    /// header or URL (a line break in a header value panics inside the SDK).
    pub fn check(&self) -> Result<(), CredentialsError> {
        let (format, fields): (&str, Vec<(&str, &str)>) = match self {
            Credentials::Hmac(c) => (
                HMAC_FORMAT,
                vec![
                    ("end_point", &c.end_point),
                    ("access_key", &c.access_key),
                    ("secret_key", &c.secret_key),
                ],
            ),
            Credentials::Iam(c) => (
                IAM_FORMAT,
                vec![
                    ("apikey", &c.apikey),
                    ("end_point", &c.end_point),
                    ("resource_instance_id", &c.resource_instance_id),
                    ("region", &c.region),
                ],
            ),
        };
        for (name, value) in fields {
            if value.trim().is_empty() {
                return Err(CredentialsError(format!(
                    "The field '{name}' of the credentials file is empty: expected {format}"
                )));
            }
            check_text(name, value, format)?;
        }
        check_url(self.end_point(), "end_point", format)
    }

    /// The secret strings of these credentials, for scrubbing server-provided text before it
    /// goes into an error message.
    pub(crate) fn secrets(&self) -> Vec<String> {
        match self {
            Credentials::Hmac(c) => vec![c.access_key.clone(), c.secret_key.clone()],
            Credentials::Iam(c) => vec![c.apikey.clone()],
        }
    }
}

fn field(obj: &Map<String, Value>, name: &str, format: &str) -> Result<String, CredentialsError> {
    match obj.get(name) {
        None | Some(Value::Null) => Err(CredentialsError(format!(
            "The credentials file lacks the field '{name}': expected {format}"
        ))),
        Some(Value::String(s)) if s.trim().is_empty() => Err(CredentialsError(format!(
            "The field '{name}' of the credentials file is empty: expected {format}"
        ))),
        Some(Value::String(s)) => {
            let s = s.trim();
            check_text(name, s, format)?;
            Ok(s.to_owned())
        }
        Some(_) => Err(CredentialsError(format!(
            "The field '{name}' of the credentials file must be a string: expected {format}"
        ))),
    }
}

/// Every field goes into an HTTP header or URL: a control character (a line break, a tab, a
/// NUL) is refused, by the field's name and never with its value.
fn check_text(name: &str, value: &str, format: &str) -> Result<(), CredentialsError> {
    if value.chars().any(char::is_control) {
        return Err(CredentialsError(format!(
            "The field '{name}' of the credentials file contains a control character (such as a \
             line break or tab): remove it; expected {format}"
        )));
    }
    Ok(())
}

fn url_field(
    obj: &Map<String, Value>,
    name: &str,
    format: &str,
) -> Result<String, CredentialsError> {
    let s = field(obj, name, format)?;
    check_url(&s, name, format)?;
    // The SDK appends the bucket to the path; a trailing slash would double it.
    Ok(s.trim_end_matches('/').to_owned())
}

/// An absolute http(s) URL with a host, without user name, password, query or fragment, in
/// ASCII without spaces or control characters (the URL parser would drop a line break that
/// the S3 client then sees).
fn check_url(s: &str, name: &str, format: &str) -> Result<(), CredentialsError> {
    let not_url = |why: &str| {
        CredentialsError(format!(
            "The field '{name}' of the credentials file is not a URL ({why}): expected an http:// or https:// URL such as https://s3.us-south.cloud-object-storage.appdomain.cloud in {format}"
        ))
    };
    check_text(name, s, format)?;
    if !s.is_ascii() {
        return Err(not_url(
            "it must be ASCII: write an international domain name in its xn-- form",
        ));
    }
    if s.contains(' ') {
        return Err(not_url("it must not contain spaces"));
    }
    // Parse errors are described without the text: a pasted secret in the wrong field must not
    // come back in a message.
    let url = reqwest::Url::parse(s).map_err(|e| not_url(&e.to_string()))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(not_url("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(not_url("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(not_url("it must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(not_url("it must not have a query or fragment"));
    }
    Ok(())
}

/// The instance id of a resource instance id: users often paste the whole CRN
/// (`crn:v1:bluemix:public:cloud-object-storage:global:a/<account>:<instance>::`), whose
/// instance part is what the `ibm-service-instance-id` header wants.
fn instance_id(s: &str) -> String {
    if s.starts_with("crn:") {
        let trimmed = s.trim_end_matches(':');
        if let Some(last) = trimmed.rsplit(':').next() {
            if !last.is_empty() {
                return last.to_owned();
            }
        }
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "83949c7aed5b693641eb76a8985cd99062381425367018b5";
    const APIKEY: &str = "Huw5KLD1Qlg6a8ftrk8MGhSpLfd73gqcOYb3Dpi6fWzF";

    fn hmac_json() -> String {
        format!(
            r#"{{"end_point": "https://us-geo.objectstorage.softlayer.net", "access_key": "946355e2771903728f16934b6ca9ff31", "secret_key": "{SECRET}"}}"#
        )
    }

    #[test]
    fn parses_the_documented_hmac_example() {
        let c = Credentials::from_json(hmac_json().as_bytes()).unwrap();
        let Credentials::Hmac(h) = &c else {
            panic!("not HMAC: {c:?}")
        };
        assert_eq!(h.end_point, "https://us-geo.objectstorage.softlayer.net");
        assert_eq!(h.access_key, "946355e2771903728f16934b6ca9ff31");
        assert_eq!(h.secret_key, SECRET);
        assert_eq!(c.end_point(), "https://us-geo.objectstorage.softlayer.net");
        assert_eq!(Credentials::from_json(&c.to_json()).unwrap(), c);
    }

    #[test]
    fn parses_the_documented_iam_example_and_a_full_crn() {
        let json = format!(
            r#"{{"apikey": "{APIKEY}", "end_point": "https://s3.us-south.objectstorage.softlayer.net/", "resource_instance_id": "ec21da8a-b15c-42bd-8ca7-a9d4230107c9", "region": "us-south"}}"#
        );
        let c = Credentials::from_json(json.as_bytes()).unwrap();
        let Credentials::Iam(i) = &c else {
            panic!("not IAM: {c:?}")
        };
        assert_eq!(i.apikey, APIKEY);
        assert_eq!(
            i.end_point,
            "https://s3.us-south.objectstorage.softlayer.net"
        );
        assert_eq!(
            i.resource_instance_id,
            "ec21da8a-b15c-42bd-8ca7-a9d4230107c9"
        );
        assert_eq!(i.region, "us-south");
        assert_eq!(Credentials::from_json(&c.to_json()).unwrap(), c);

        let crn = json.replace(
            "ec21da8a-b15c-42bd-8ca7-a9d4230107c9",
            "crn:v1:bluemix:public:cloud-object-storage:global:a/5b8a4a9c3308b0d2f73f5e8e468f0a11:ec21da8a-b15c-42bd-8ca7-a9d4230107c9::",
        );
        let Credentials::Iam(i) = Credentials::from_json(crn.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(
            i.resource_instance_id,
            "ec21da8a-b15c-42bd-8ca7-a9d4230107c9"
        );
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = Credentials::from_json(hmac_json().as_bytes()).unwrap();
        let d = format!("{c:?} {c:#?}");
        assert!(
            !d.contains(SECRET) && !d.contains("946355e2771903728f16934b6ca9ff31"),
            "{d}"
        );
        assert!(d.contains("***"), "{d}");
        let json = format!(
            r#"{{"apikey": "{APIKEY}", "end_point": "https://x.example", "resource_instance_id": "i", "region": "r"}}"#
        );
        let c = Credentials::from_json(json.as_bytes()).unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains(APIKEY) && d.contains("***"), "{d}");
    }

    fn err(json: &str) -> String {
        Credentials::from_json(json.as_bytes()).unwrap_err().0
    }

    #[test]
    fn errors_name_the_format_and_field_without_values() {
        let e = err(r#"{"end_point": "https://x.example", "access_key": "a", "secret_key": ""}"#);
        assert!(
            e.contains("'secret_key'")
                && e.contains("empty")
                && e.contains("access_key, secret_key"),
            "{e}"
        );
        let e = err(&format!(
            r#"{{"end_point": "https://x.example", "secret_key": "{SECRET}"}}"#
        ));
        assert!(e.contains("lacks the field 'access_key'"), "{e}");
        let e = err(&format!(
            r#"{{"end_point": "{SECRET}", "access_key": "a", "secret_key": "b"}}"#
        ));
        assert!(
            e.contains("'end_point'") && e.contains("not a URL") && !e.contains(SECRET),
            "{e}"
        );
        let e = err(r#"{"end_point": "ftp://x", "access_key": "a", "secret_key": "b"}"#);
        assert!(e.contains("http or https"), "{e}");
        let e = err(&format!(
            r#"{{"end_point": "https://u:{SECRET}@x", "access_key": "a", "secret_key": "b"}}"#
        ));
        assert!(
            e.contains("user name or password") && !e.contains(SECRET),
            "{e}"
        );
        let e = err(&format!(
            r#"{{"apikey": "{APIKEY}", "end_point": "https://x.example", "region": "r"}}"#
        ));
        assert!(
            e.contains("'resource_instance_id'")
                && e.contains("apikey, end_point")
                && !e.contains(APIKEY),
            "{e}"
        );
        let e = err(
            r#"{"apikey": 42, "end_point": "https://x.example", "resource_instance_id": "i", "region": "r"}"#,
        );
        assert!(
            e.contains("'apikey'") && e.contains("must be a string"),
            "{e}"
        );
        let e = err(r#"{"user": "x"}"#);
        assert!(e.contains("neither"), "{e}");
        let e = err(&format!(r#"{{"secret_key": "{SECRET}" "#));
        assert!(e.contains("not valid JSON") && !e.contains(SECRET), "{e}");
        let e = err(&format!(r#"["{SECRET}"]"#));
        assert!(e.contains("JSON object") && !e.contains(SECRET), "{e}");
    }

    #[test]
    fn control_characters_are_refused_in_every_field_without_echoing_it() {
        let hmac = |end_point: &str, access_key: &str, secret_key: &str| {
            serde_json::json!({
                "end_point": end_point, "access_key": access_key, "secret_key": secret_key
            })
            .to_string()
        };
        let iam = |apikey: &str, id: &str, region: &str| {
            serde_json::json!({
                "apikey": apikey, "end_point": "https://x.example",
                "resource_instance_id": id, "region": region
            })
            .to_string()
        };
        let ep = "https://x.example";
        for bad in ["\r", "\n", "\r\n", "\t", "\0", "\u{7f}", "\u{85}"] {
            let secret_with = format!("{SECRET}{bad}x");
            let cases = [
                (
                    "access_key",
                    hmac(ep, &format!("AKIA{bad}INJECTED"), SECRET),
                ),
                ("secret_key", hmac(ep, "AKIA", &secret_with)),
                (
                    "end_point",
                    hmac(&format!("https://x.exa{bad}mple"), "a", "b"),
                ),
                (
                    "end_point",
                    hmac(&format!("https://x.example/p{bad}ath"), "a", "b"),
                ),
                ("apikey", iam(&format!("{APIKEY}{bad}x"), "i", "r")),
                (
                    "resource_instance_id",
                    iam(APIKEY, &format!("id{bad}x"), "r"),
                ),
                ("region", iam(APIKEY, "i", &format!("us{bad}south"))),
            ];
            for (field, json) in cases {
                let e = err(&json);
                assert!(
                    e.contains(&format!("'{field}'"))
                        && (e.contains("control character") || e.contains("not a URL")),
                    "{field} {bad:?}: {e}"
                );
                assert!(
                    !e.contains(SECRET) && !e.contains(APIKEY) && !e.contains("INJECTED"),
                    "{e}"
                );
            }
        }
        // Leading and trailing white space (a pasted line break) is trimmed, as before.
        let c = Credentials::from_json(hmac(ep, "AKIA\n", &format!("{SECRET}\r\n")).as_bytes())
            .unwrap();
        let Credentials::Hmac(h) = c else { panic!() };
        assert_eq!(
            (h.access_key.as_str(), h.secret_key.as_str()),
            ("AKIA", SECRET)
        );
    }

    #[test]
    fn end_points_must_be_plain_absolute_http_urls() {
        for (end_point, why) in [
            ("https://x.example path", "spaces"),
            ("https://bücher.example", "ASCII"),
            ("http://user@x.example", "user name or password"),
            ("https://x.example/?a=b", "query"),
            ("https://x.example/#f", "query or fragment"),
            ("file:///etc/passwd", "http or https"),
            ("//x.example", "not a URL"),
            ("x.example", "not a URL"),
            ("http://", "not a URL"),
        ] {
            let json = serde_json::json!({
                "end_point": end_point, "access_key": "a", "secret_key": "b"
            });
            let e = err(&json.to_string());
            assert!(
                e.contains("'end_point'") && e.contains(why),
                "{end_point}: {e}"
            );
        }
        for ok in [
            "http://127.0.0.1:9000",
            "https://[2001:db8::1]:8443/",
            "https://xn--bcher-kva.example",
            "https://s3.example/prefix",
        ] {
            let json = serde_json::json!({"end_point": ok, "access_key": "a", "secret_key": "b"});
            Credentials::from_json(json.to_string().as_bytes()).unwrap();
        }
    }

    #[test]
    fn check_refuses_what_from_json_refuses_in_credentials_built_otherwise() {
        let good = HmacCredentials {
            end_point: "http://127.0.0.1:9000".into(),
            access_key: "AKIA".into(),
            secret_key: SECRET.into(),
        };
        Credentials::Hmac(good.clone()).check().unwrap();
        let bad = Credentials::Hmac(HmacCredentials {
            access_key: "AKIA\r\nX-Injected: 1".into(),
            ..good.clone()
        });
        let e = bad.check().unwrap_err().0;
        assert!(e.contains("'access_key'") && !e.contains("Injected"), "{e}");
        let bad = Credentials::Hmac(HmacCredentials {
            end_point: "http://127.0.0.1:9000\n".into(),
            ..good.clone()
        });
        assert!(bad.check().unwrap_err().0.contains("'end_point'"));
        let bad = Credentials::Hmac(HmacCredentials {
            secret_key: " ".into(),
            ..good
        });
        assert!(bad.check().unwrap_err().0.contains("empty"));
        let iam = IamCredentials {
            apikey: APIKEY.into(),
            end_point: "https://x.example".into(),
            resource_instance_id: "i".into(),
            region: "us-south".into(),
        };
        Credentials::Iam(iam.clone()).check().unwrap();
        let bad = Credentials::Iam(IamCredentials {
            resource_instance_id: "i\r\n".into(),
            ..iam
        });
        let e = bad.check().unwrap_err().0;
        assert!(
            e.contains("'resource_instance_id'") && !e.contains(APIKEY),
            "{e}"
        );
    }
}
