//! A plain S3 client for test fixtures.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use super::LOCATION;

/// An SDK client for `endpoint` (path-style, region [`LOCATION`]) signing with one key pair.
pub fn s3_client(endpoint: &str, access_key: &str, secret_key: &str) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(LOCATION))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .credentials_provider(Credentials::new(access_key, secret_key, None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}
