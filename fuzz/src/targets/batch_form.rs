//! `POST /v1/batches`: the query string and the multipart form (its two credentials files,
//! bucket names and locations).

use api_shim::request::parse_create;

/// The input is the Content-Type, a newline, the query string, a newline, and the body. Bad
/// input must be a 4xx with a message of bounded length (echoed values are cut), never a 5xx.
pub fn create_request(data: &[u8]) {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let content_type = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let query: Vec<(String, String)> = form_urlencoded::parse(lines.next().unwrap_or_default())
        .into_owned()
        .collect();
    let body = lines.next().unwrap_or_default().to_vec();
    let result = futures::executor::block_on(parse_create(&content_type, body, &query));
    if let Err(e) = result {
        assert!(
            (400..500).contains(&e.status),
            "bad input answered {}: {}",
            e.status,
            e.message
        );
        assert!(
            e.message.len() <= 1024,
            "a {}-byte error message: {}",
            e.message.len(),
            e.message
        );
    }
}
