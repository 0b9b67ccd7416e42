//! Credentials files (`input_credentials_file`, `output_credentials_file`): the S3-compatible
//! and the IBM Cloud format.

use serde_json::Value;
use speechbatch_storage::Credentials;

/// Stands in for every secret, so that an error or a `Debug` that echoes one is caught.
const CANARY: &str = "fuzz-canary-secret-7f3a91";

/// The fields whose values are secrets.
const SECRET_FIELDS: &[&str] = &["access_key", "secret_key", "apikey"];

/// Parses the file as uploaded, then again with every secret replaced by `CANARY`: neither
/// the error nor the parsed value's `Debug` may show it, and what parses survives the round
/// trip through the stored form (`to_json`, written 0600 or into a Secret).
pub fn file(data: &[u8]) {
    check(data);
    if let Ok(Value::Object(mut fields)) = serde_json::from_slice::<Value>(data) {
        let mut replaced = false;
        for name in SECRET_FIELDS {
            if let Some(v @ Value::String(_)) = fields.get_mut(*name) {
                *v = Value::String(CANARY.to_string());
                replaced = true;
            }
        }
        if replaced {
            let with_canary = serde_json::to_vec(&Value::Object(fields)).unwrap();
            match Credentials::from_json(&with_canary) {
                Ok(c) => assert!(!format!("{c:?}").contains(CANARY), "Debug shows a secret"),
                Err(e) => assert!(
                    !e.to_string().contains(CANARY),
                    "the error shows a secret: {e}"
                ),
            }
        }
    }
}

fn check(data: &[u8]) {
    match Credentials::from_json(data) {
        Ok(c) => {
            let again = Credentials::from_json(&c.to_json())
                .unwrap_or_else(|e| panic!("stored credentials do not parse again: {e}"));
            assert_eq!(again, c, "stored credentials changed");
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a message"),
    }
}
