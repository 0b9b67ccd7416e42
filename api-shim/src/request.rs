//! Reading the multipart form of `POST /v1/batches` into a [`CreateBatch`].

use speechbatch_storage::Credentials;

use crate::backend::{BucketRequest, CreateBatch};
use crate::error::ApiError;
use crds::RecognitionParams;

/// The largest request body accepted (credentials files are a few hundred bytes).
pub const MAX_BODY_BYTES: u64 = 1024 * 1024;

/// The largest audio file `POST /v1/recognize` takes: the engine's limit for one file (100 MB),
/// written here too because the Kubernetes build of the shim links no engine (a test of the
/// embedded build checks that the two agree).
pub const MAX_AUDIO_BODY_BYTES: u64 = 100 * 1024 * 1024;

/// The largest value of one form field.
const MAX_FIELD_BYTES: usize = 64 * 1024;

/// The form fields of the interface's COS parameters.
const FIELDS: [&str; 6] = [
    "input_credentials_file",
    "input_bucket_location",
    "input_bucket_name",
    "output_credentials_file",
    "output_bucket_location",
    "output_bucket_name",
];

/// The raw form: each field at most once.
#[derive(Default)]
struct Form {
    values: [Option<Vec<u8>>; 6],
}

impl Form {
    fn take(&mut self, name: &str) -> Option<Vec<u8>> {
        let i = FIELDS.iter().position(|f| *f == name)?;
        self.values[i].take()
    }
}

/// Whether a Content-Type is `multipart/form-data` (with parameters, any case), and not merely
/// a type that starts with those letters.
pub fn is_multipart_form(content_type: &str) -> bool {
    content_type
        .split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// Reads and validates the form and the query parameters of a create request. `body` is
/// already bounded by [`MAX_BODY_BYTES`]; `content_type` carries the form's boundary.
pub async fn parse_create(
    content_type: &str,
    body: Vec<u8>,
    query: &[(String, String)],
) -> Result<CreateBatch, ApiError> {
    check_function(query)?;
    let (params, language_customization_id) = recognition_query(query)?;
    let malformed =
        |e: multer::Error| ApiError::bad_request(format!("Malformed multipart body: {e}"));
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let body = futures::stream::once(async move {
        Ok::<_, std::convert::Infallible>(bytes::Bytes::from(body))
    });
    let mut parts = multer::Multipart::with_constraints(
        body,
        boundary,
        multer::Constraints::new()
            .size_limit(multer::SizeLimit::new().per_field(MAX_FIELD_BYTES as u64)),
    );
    let mut form = Form::default();
    while let Some(part) = parts.next_field().await.map_err(|e| match e {
        multer::Error::FieldSizeExceeded { field_name, .. } => ApiError::new(
            413,
            format!(
                "Form field '{}' is larger than {MAX_FIELD_BYTES} bytes",
                crate::error::shown(field_name.as_deref().unwrap_or_default())
            ),
        ),
        other => malformed(other),
    })? {
        let name = part.name().unwrap_or_default().to_string();
        let Some(i) = FIELDS.iter().position(|f| *f == name) else {
            return Err(ApiError::bad_request(format!(
                "Unknown form field '{}': the fields are {}",
                crate::error::shown(&name),
                FIELDS.join(", ")
            )));
        };
        let value = part.bytes().await.map_err(|e| match e {
            multer::Error::FieldSizeExceeded { .. } => ApiError::new(
                413,
                format!("Form field '{name}' is larger than {MAX_FIELD_BYTES} bytes"),
            ),
            other => malformed(other),
        })?;
        if form.values[i].replace(value.to_vec()).is_some() {
            return Err(ApiError::bad_request(format!(
                "Form field '{name}' is given more than once"
            )));
        }
    }
    let input = bucket(&mut form, "input")?.ok_or_else(|| {
        ApiError::bad_request(
            "Missing required form fields input_credentials_file, input_bucket_location and input_bucket_name",
        )
    })?;
    let output = bucket(&mut form, "output")?;
    Ok(CreateBatch {
        input,
        output,
        params,
        language_customization_id,
    })
}

/// The recognition options of a query (`POST /v1/batches`, `POST /v1/recognize`) and the
/// custom language model it names.
pub fn recognition_query(
    query: &[(String, String)],
) -> Result<(RecognitionParams, Option<String>), ApiError> {
    let pairs = || query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let params = RecognitionParams::from_query(pairs()).map_err(|e| ApiError::bad_request(e.0))?;
    let id =
        crds::params::language_customization_id(pairs()).map_err(|e| ApiError::bad_request(e.0))?;
    Ok((params, id))
}

/// `function` is required and only `recognize` exists.
fn check_function(query: &[(String, String)]) -> Result<(), ApiError> {
    let functions: Vec<&str> = query
        .iter()
        .filter(|(k, _)| k == "function")
        .map(|(_, v)| v.as_str())
        .collect();
    match functions.as_slice() {
        [] => Err(ApiError::bad_request(
            "Missing required query parameter 'function': use function=recognize",
        )),
        ["recognize"] => Ok(()),
        [one] => Err(ApiError::bad_request(format!(
            "Unsupported function '{}': the only function is recognize",
            crate::error::shown(one)
        ))),
        _ => Err(ApiError::bad_request(
            "Query parameter 'function' is given more than once",
        )),
    }
}

/// The three fields of one bucket: all or none.
fn bucket(form: &mut Form, which: &str) -> Result<Option<BucketRequest>, ApiError> {
    let creds_field = format!("{which}_credentials_file");
    let location_field = format!("{which}_bucket_location");
    let name_field = format!("{which}_bucket_name");
    let creds = form.take(&creds_field);
    let location = form.take(&location_field);
    let name = form.take(&name_field);
    let missing: Vec<&str> = [
        (&creds, creds_field.as_str()),
        (&location, location_field.as_str()),
        (&name, name_field.as_str()),
    ]
    .iter()
    .filter(|(v, _)| v.is_none())
    .map(|(_, f)| *f)
    .collect();
    match missing.len() {
        3 => return Ok(None),
        0 => {}
        _ => {
            return Err(ApiError::bad_request(format!(
                "Incomplete {which} bucket: missing form field(s) {}; give all three of {creds_field}, {location_field} and {name_field}{}",
                missing.join(", "),
                if which == "output" { ", or none of them to write results beside the inputs" } else { "" }
            )))
        }
    }
    let text = |field: &str, v: Vec<u8>| -> Result<String, ApiError> {
        let s = String::from_utf8(v).map_err(|_| {
            ApiError::bad_request(format!("Form field '{field}' is not UTF-8 text"))
        })?;
        let s = s.trim().to_string();
        if s.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Form field '{field}' is empty"
            )));
        }
        Ok(s)
    };
    // Both end up in the S3 client's requests (the location is the signing region, in a
    // header): the storage crate's rules, which `Bucket::connect` applies again. The value is
    // not echoed.
    let name = text(&name_field, name.expect("checked"))?;
    speechbatch_storage::check_bucket_name(&name)
        .map_err(|why| ApiError::bad_request(format!("Form field '{name_field}' {why}")))?;
    let location = text(&location_field, location.expect("checked"))?;
    speechbatch_storage::check_bucket_location(&location)
        .map_err(|why| ApiError::bad_request(format!("Form field '{location_field}' {why}")))?;
    let credentials = Credentials::from_json(&creds.expect("checked"))
        .map_err(|e| ApiError::bad_request(format!("{creds_field}: {e}")))?;
    Ok(Some(BucketRequest {
        name,
        location,
        credentials,
    }))
}

#[cfg(all(test, feature = "embedded"))]
mod tests {
    #[test]
    fn the_recognize_body_limit_is_the_engines_file_limit() {
        assert_eq!(
            super::MAX_AUDIO_BODY_BYTES,
            transcriber::MAX_AUDIO_BYTES as u64
        );
    }
}

#[cfg(test)]
mod bucket_tests {
    use super::*;

    const CREDS: &str =
        r#"{"end_point": "https://s3.example", "access_key": "AKIA", "secret_key": "secret"}"#;

    fn form(location: &str, name: &str, creds: &str) -> Form {
        let mut form = Form::default();
        for (field, value) in [
            ("input_credentials_file", creds),
            ("input_bucket_location", location),
            ("input_bucket_name", name),
        ] {
            let i = FIELDS.iter().position(|f| *f == field).unwrap();
            form.values[i] = Some(value.as_bytes().to_vec());
        }
        form
    }

    fn refusal(location: &str, name: &str, creds: &str) -> ApiError {
        match bucket(&mut form(location, name, creds), "input") {
            Ok(b) => panic!("accepted {location:?} {name:?}: {:?}", b.map(|b| b.name)),
            Err(e) => e,
        }
    }

    /// The status and message, for assertions.
    fn text(e: &ApiError) -> String {
        format!("{} {}", e.status, e.message)
    }

    #[test]
    fn plain_locations_and_bucket_names_are_accepted_and_trimmed() {
        let b = bucket(&mut form(" us-geo\r\n", "my_cos_bucket\n", CREDS), "input")
            .unwrap()
            .unwrap();
        assert_eq!(
            (b.location.as_str(), b.name.as_str()),
            ("us-geo", "my_cos_bucket")
        );
    }

    #[test]
    fn locations_that_are_not_region_names_are_400s() {
        for location in [
            "us-geo\r\nX-Injected: 1",
            "us\ngeo",
            "us geo",
            "us/geo",
            "üs-geo",
            &"a".repeat(speechbatch_storage::MAX_LOCATION_LEN + 1),
        ] {
            let e = refusal(location, "inputs", CREDS);
            let t = text(&e);
            assert!(
                t.contains("400") && t.contains("input_bucket_location") && t.contains("location"),
                "{location:?}: {t}"
            );
            assert!(!t.contains("Injected"), "{t}");
        }
    }

    #[test]
    fn bucket_names_outside_s3s_rules_are_400s() {
        for name in [
            "ab",
            "in\rputs",
            "a/b",
            "in puts",
            "bücket",
            &"b".repeat(256),
        ] {
            let t = text(&refusal("us-geo", name, CREDS));
            assert!(
                t.contains("400") && t.contains("input_bucket_name") && t.contains("bucket name"),
                "{name:?}: {t}"
            );
        }
    }

    #[test]
    fn credentials_with_a_line_break_in_a_field_are_400s_without_the_value() {
        let creds = CREDS.replace("AKIA", "AK\\r\\nX-Injected: 1");
        let t = text(&refusal("us-geo", "inputs", &creds));
        assert!(
            t.contains("400") && t.contains("'access_key'") && !t.contains("Injected"),
            "{t}"
        );
    }
}
