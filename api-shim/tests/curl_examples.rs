//! The interface's curl examples, run as written (only the host, API key, credentials path and
//! batch ids replaced) against the real `speechbatch` binary and its embedded S3, under the
//! `/speech-to-text/api/v1/batches` prefix the examples use and under `/v1/batches`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// The examples of the batch-processing interface (seeds/batch-interface.md), verbatim:
/// separate output bucket, same bucket with smart formatting and redaction, minimal same bucket,
/// list, get, cancel, delete.
const CREATE_SEPARATE: &str = r#"curl -X POST -u "apikey:{apikey}"
--header "Content-Type: multipart/form-data"
--form input_credentials_file=@{path}my_cos_credentials.json
--form input_bucket_location=us-geo
--form input_bucket_name=my_cos_input_bucket
--form output_credentials_file=@{path}my_cos_credentials.json'
--form output_bucket_location=us-geo
--form output_bucket_name=my_cos_output_bucket
"https://{icp_cluster_host}{:port}/speech-to-text/api/v1/batches?function=recognize""#;

const CREATE_SAME_FORMATTED: &str = r#"curl -X POST -u "apikey:{apikey}"
--header "Content-Type: multipart/form-data"
--form input_credentials_file=@{path}my_cos_credentials.json
--form input_bucket_location=us-geo
--form input_bucket_name=my_cos_bucket
"https://{icp_cluster_host}{:port}/speech-to-text/api/v1/batches?function=recognize&smart_formatting=true&redaction=true""#;

const CREATE_SAME: &str = r#"curl -X POST -u "apikey:{apikey}"
--header "Content-Type: multipart/form-data"
--form input_credentials_file=@{path}my_cos_credentials.json
--form input_bucket_location=us-geo
--form input_bucket_name=my_cos_bucket
"https://{icp_cluster_host}{:port}/speech-to-text/api/v1/batches?function=recognize""#;

const LIST: &str = r#"curl -X GET -u "apikey:{apikey}"
"https://{icp_cluster_host}{:port}/speech-to-text/api/v1/batches""#;

const GET: &str = r#"curl -X GET -u "apikey:{apikey}"
"https://{icp_cluster_host}{:port}/speech-to-text/api/v1/batches/65698e79-d601-4d8f-b46d-dd1369020b58""#;

const CANCEL: &str = r#"curl -X PUT -u "apikey:{apikey}"
"https://{icp_cluster_host}{:port}/speech-to-text/api/v1/batches/6829a370-c214-b219-8223-890a109a7644?action=cancel""#;

const DELETE: &str = r#"curl -X DELETE -u "apikey:{apikey}"
"https://{icp_cluster_host}{:port}/speech-to-text/api/v1/batches/6829a370-c214-b219-8223-890a109a7644""#;

struct Curl<'a> {
    svc: &'a Service,
    dir: &'a std::path::Path,
    /// Replace `/speech-to-text/api` by nothing (the unprefixed routes).
    unprefixed: bool,
}

impl Curl<'_> {
    /// Runs an example through bash: its lines joined with continuations, the placeholders
    /// replaced, `id` standing for the example's batch id. Returns the HTTP status and body.
    fn run(&self, example: &str, id: Option<&str>) -> (u16, Value) {
        let mut text = example
            .replace("{apikey}", API_KEY)
            .replace("{path}", &format!("{}/", self.dir.display()))
            .replace(
                "https://{icp_cluster_host}{:port}",
                &format!("http://127.0.0.1:{}", self.svc.api_port),
            )
            // The interface's first example has a stray quote after the file name, which no
            // shell accepts; it is the only change to the command lines themselves.
            .replace("my_cos_credentials.json'", "my_cos_credentials.json")
            // S3 bucket names have no underscores (S3 and s3s refuse them): the examples'
            // buckets are named with hyphens here.
            .replace("my_cos_input_bucket", "my-cos-input-bucket")
            .replace("my_cos_output_bucket", "my-cos-output-bucket")
            .replace("my_cos_bucket", "my-cos-bucket");
        if let Some(id) = id {
            text = text
                .replace("65698e79-d601-4d8f-b46d-dd1369020b58", id)
                .replace("6829a370-c214-b219-8223-890a109a7644", id);
        }
        if self.unprefixed {
            text = text.replace("/speech-to-text/api/v1/", "/v1/");
        }
        let script = format!(
            "{} --silent --show-error --write-out '\\n%{{http_code}}'",
            text.lines().collect::<Vec<_>>().join(" \\\n")
        );
        let out = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            out.status.success(),
            "curl failed: {}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (body, code) = stdout.rsplit_once('\n').unwrap();
        let code: u16 = code.trim().parse().unwrap();
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
        };
        (code, body)
    }
}

fn transcript(result: &Value) -> String {
    result["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["alternatives"][0]["transcript"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interface_curl_examples_work_as_written() {
    let svc = Service::start(Opts {
        max_running_jobs: 2,
        ..Opts::default()
    })
    .await;
    let s3 = svc.embedded_s3();
    let dir = tempfile::tempdir().unwrap();
    // The embedded S3 writes a credentials file in the interface's format: use it as is.
    std::fs::copy(
        svc.data.path().join("s3-credentials.json"),
        dir.path().join("my_cos_credentials.json"),
    )
    .unwrap();
    let clip = read_testdata("asr/clip14.flac");
    s3.fill(
        "my-cos-bucket",
        vec![("audio-file.flac".into(), clip.clone())],
    )
    .await;
    s3.fill(
        "my-cos-input-bucket",
        vec![("calls/monday/audio-file.flac".into(), clip.clone())],
    )
    .await;
    s3.fill("my-cos-output-bucket", vec![]).await;

    for unprefixed in [false, true] {
        let curl = Curl {
            svc: &svc,
            dir: dir.path(),
            unprefixed,
        };
        let tag = if unprefixed {
            "/v1/batches"
        } else {
            "/speech-to-text/api/v1/batches"
        };

        // Example 1: separate input and output buckets.
        let (code, job) = curl.run(CREATE_SEPARATE, None);
        assert_eq!(code, 200, "[{tag}] {job}");
        validate(Op::Create, reqwest::StatusCode::OK, &job);
        assert_eq!(job["status"], "initializing");
        assert_eq!(job["input_bucket_name"], "my-cos-input-bucket");
        assert_eq!(job["output_bucket_name"], "my-cos-output-bucket");
        assert_eq!(job["input_bucket_location"], "us-geo");
        assert_eq!(job["output_bucket_location"], "us-geo");
        let separate = job["batch_id"].as_str().unwrap().to_string();

        // Example 2: same bucket, smart formatting and redaction.
        let (code, job) = curl.run(CREATE_SAME_FORMATTED, None);
        assert_eq!(code, 200, "[{tag}] {job}");
        validate(Op::Create, reqwest::StatusCode::OK, &job);
        assert_eq!(job["output_bucket_name"], "my-cos-bucket");
        let formatted = job["batch_id"].as_str().unwrap().to_string();

        // List: both, newest first.
        let (code, list) = curl.run(LIST, None);
        assert_eq!(code, 200, "[{tag}] {list}");
        validate(Op::List, reqwest::StatusCode::OK, &list);
        let ids: Vec<&str> = list["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["batch_id"].as_str().unwrap())
            .collect();
        assert_eq!(
            &ids[..2],
            [formatted.as_str(), separate.as_str()],
            "[{tag}]"
        );

        // Get each until completed.
        for id in [&separate, &formatted] {
            let deadline = std::time::Instant::now() + Duration::from_secs(90);
            let job = loop {
                let (code, job) = curl.run(GET, Some(id));
                assert_eq!(code, 200, "[{tag}] {job}");
                validate(Op::Job, reqwest::StatusCode::OK, &job);
                assert_eq!(job["batch_id"], id.as_str());
                if job["status"] == "completed" {
                    break job;
                }
                assert!(std::time::Instant::now() < deadline, "[{tag}] {job}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            };
            assert_eq!(job["total_count"], 1, "{job}");
            assert_eq!(job["successful_count"], 1, "{job}");
            assert_eq!(job["progress"], 1.0);
        }
        // Results: the same relative path in the output bucket; beside the input otherwise.
        let out = s3
            .read("my-cos-output-bucket", "calls/monday/audio-file.flac.json")
            .await;
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            s3.batch_of("my-cos-output-bucket", "calls/monday/audio-file.flac.json")
                .await
                .as_deref(),
            Some(separate.as_str())
        );
        assert!(
            !s3.keys("my-cos-input-bucket")
                .await
                .iter()
                .any(|k| k.ends_with(".json")),
            "nothing written to the input bucket"
        );
        let plain = transcript(&out);
        // Timestamps and speaker labels are always on, with the labels copied into timestamps.
        assert!(
            out["speaker_labels"]
                .as_array()
                .is_some_and(|l| !l.is_empty()),
            "{out}"
        );
        let ts = &out["results"][0]["alternatives"][0]["timestamps"][0];
        assert!(ts[1].is_number() && ts[2].is_number(), "{out}");
        let fmt = s3.read("my-cos-bucket", "audio-file.flac.json").await;
        let fmt: Value = serde_json::from_slice(&fmt).unwrap();
        let fmt_text = transcript(&fmt);
        eprintln!("[{tag}] plain: {plain:?}\n[{tag}] smart_formatting+redaction: {fmt_text:?}");
        assert!(plain.to_lowercase().contains("thirty"), "{plain}");
        assert!(
            !plain.chars().any(|c| c.is_ascii_digit()),
            "no smart formatting by default: {plain}"
        );
        assert!(
            fmt_text.contains("30"),
            "smart_formatting=true gives digits: {fmt_text}"
        );

        // Example 3 (minimal, same bucket), then cancel and delete as written.
        let (code, job) = curl.run(CREATE_SAME, None);
        assert_eq!(code, 200, "[{tag}] {job}");
        let minimal = job["batch_id"].as_str().unwrap().to_string();
        let (code, job) = curl.run(CANCEL, Some(&minimal));
        assert_eq!(code, 200, "[{tag}] {job}");
        validate(Op::Job, reqwest::StatusCode::OK, &job);
        assert!(
            ["canceled", "completed"].contains(&job["status"].as_str().unwrap()),
            "{job}"
        );
        let (code, body) = curl.run(DELETE, Some(&minimal));
        assert_eq!(code, 204, "[{tag}] {body}");
        assert_eq!(body, Value::Null, "204 has no body");
        let (code, body) = curl.run(GET, Some(&minimal));
        assert_eq!(code, 404, "[{tag}] {body}");
        validate(Op::Job, reqwest::StatusCode::NOT_FOUND, &body);
        // Cancel of a completed job leaves it as it was; delete of it works too.
        let before = svc.get(&formatted).await;
        let (code, job) = curl.run(CANCEL, Some(&formatted));
        assert_eq!(code, 200);
        assert_eq!(job, before, "[{tag}] cancel changed a completed job");
        for id in [&separate, &formatted] {
            let (code, _) = curl.run(DELETE, Some(id));
            assert_eq!(code, 204);
        }
        let (code, list) = curl.run(LIST, None);
        assert_eq!(code, 200);
        assert_eq!(list["jobs"], serde_json::json!([]), "[{tag}]");
        // Outputs stay after delete.
        assert!(s3
            .keys("my-cos-bucket")
            .await
            .contains(&"audio-file.flac.json".to_string()));
    }
}
