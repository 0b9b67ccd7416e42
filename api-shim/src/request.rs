//! Reading the multipart form of `POST /v1/batches` into a [`CreateBatch`].

use bytes::Buf;
use futures::TryStreamExt;
use speechbatch_storage::Credentials;
use warp::multipart::{FormData, Part};

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

async fn read_part(part: Part) -> Result<(String, Vec<u8>), ApiError> {
    let name = part.name().to_string();
    let mut value = Vec::new();
    let mut stream = part.stream();
    while let Some(mut chunk) = stream
        .try_next()
        .await
        .map_err(|e| ApiError::bad_request(format!("Malformed multipart body: {e}")))?
    {
        if value.len() + chunk.remaining() > MAX_FIELD_BYTES {
            return Err(ApiError::new(
                413,
                format!("Form field '{name}' is larger than {MAX_FIELD_BYTES} bytes"),
            ));
        }
        while chunk.has_remaining() {
            let c = chunk.chunk();
            value.extend_from_slice(c);
            let n = c.len();
            chunk.advance(n);
        }
    }
    Ok((name, value))
}

/// Reads and validates the form and the query parameters of a create request.
pub async fn parse_create(
    form: FormData,
    query: &[(String, String)],
) -> Result<CreateBatch, ApiError> {
    check_function(query)?;
    let (params, language_customization_id) = recognition_query(query)?;
    let mut parts = Box::pin(form.map_err(|e| {
        let text = e.to_string();
        if text.contains("too large") || text.contains("length limit") {
            ApiError::new(
                413,
                format!("Request body is larger than {MAX_BODY_BYTES} bytes"),
            )
        } else {
            ApiError::bad_request(format!("Malformed multipart body: {text}"))
        }
    }));
    let mut form = Form::default();
    while let Some(part) = parts.try_next().await? {
        let (name, value) = read_part(part).await?;
        let Some(i) = FIELDS.iter().position(|f| *f == name) else {
            return Err(ApiError::bad_request(format!(
                "Unknown form field '{name}': the fields are {}",
                FIELDS.join(", ")
            )));
        };
        if form.values[i].replace(value).is_some() {
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
            "Unsupported function '{one}': the only function is recognize"
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
    let name = text(&name_field, name.expect("checked"))?;
    if name.contains('/') || name.len() > 255 {
        return Err(ApiError::bad_request(format!(
            "Form field '{name_field}' is not a bucket name: '{name}'"
        )));
    }
    let location = text(&location_field, location.expect("checked"))?;
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
