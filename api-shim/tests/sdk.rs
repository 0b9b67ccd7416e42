//! The public IBM Watson SDK (PyPI `ibm-watson`, installed by setup/sdk.sh) as a real client of
//! the customization API: `tests/sdk/custom_models.py` runs IBM's custom-language-model tutorial
//! through `SpeechToTextV1` against the real `speechbatch` binary (embedded backend) and leaves
//! one trained model; a batch over two clips naming product names then uses that model, and the
//! names must be in the transcripts; finally the script deletes the model, and batches naming it
//! are refused.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Seconds the script waits for each asynchronous step (corpus analysis, words, training).
const STEP_TIMEOUT_S: u64 = 240;
/// The whole script, every step included.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);

/// The SDK venv's Python: `$SPEECHBATCH_SDK_PYTHON` (setup/env.sh sets it), else the one
/// setup/sdk.sh installs under `$SPEECHBATCH_CACHE`. Fails, rather than skips, when it is missing.
fn sdk_python() -> PathBuf {
    let python = match std::env::var_os("SPEECHBATCH_SDK_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("SPEECHBATCH_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
                    .join(".cache/speechbatch")
            })
            .join("sdk-venv/bin/python"),
    };
    assert!(
        python.is_file(),
        "the ibm-watson SDK is not installed ({} is missing): run scripts/setup (setup/sdk.sh \
         installs it), or set SPEECHBATCH_SDK_PYTHON to a Python that has ibm-watson",
        python.display()
    );
    python
}

/// Runs tests/sdk/custom_models.py with `args`; panics with its output unless it exits 0 and
/// its last stdout line is `{"ok": true, ...}`. Returns that line.
async fn run_script(svc: &Service, args: &[String]) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/custom_models.py");
    let mut cmd = tokio::process::Command::new(sdk_python());
    cmd.arg(&script)
        .args(args)
        .env("SPEECHBATCH_API_KEY", API_KEY)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    let out = tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| {
            panic!(
                "custom_models.py {args:?} did not finish in {SCRIPT_TIMEOUT:?}\n--- service log ---\n{}",
                tail(&svc.log(), 40)
            )
        })
        .expect("cannot run the SDK's python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = || {
        format!(
            "custom_models.py {args:?} ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- service log ---\n{}",
            out.status,
            tail(&svc.log(), 40)
        )
    };
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary line; {}", report()));
    assert!(
        out.status.success() && summary["ok"] == true,
        "the SDK flow failed: {}\n{}",
        summary["error"],
        report()
    );
    summary
}

fn transcript(result: &Value) -> String {
    result["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter_map(|r| r["alternatives"][0]["transcript"].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Whether `term`'s words appear in order as whole words in `text`, case ignored (the devset's
/// score_custom.py rule).
fn has_term(text: &str, term: &str) -> bool {
    let words = |s: &str| -> String {
        let w: Vec<String> = s
            .split(|c: char| !c.is_alphanumeric() && c != '\'')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        format!(" {} ", w.join(" "))
    };
    words(text).contains(&words(term))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ibm_watson_sdk_builds_a_custom_model_that_a_batch_uses() {
    // Before anything starts: a missing SDK fails the test at once, saying what to run.
    sdk_python();
    let svc = Service::start(Opts::default()).await;
    let path = |rel: &str| {
        speechbatch_testkit::testdata(rel)
            .to_string_lossy()
            .into_owned()
    };

    // 1. IBM's tutorial through the SDK, under the interface's prefix (as an ICP user configures
    //    the service URL); base models also at the root. It leaves the trained model.
    let created = run_script(
        &svc,
        &[
            "--phase".into(),
            "create".into(),
            "--url".into(),
            svc.url("/speech-to-text/api"),
            "--url".into(),
            svc.url("/"),
            "--corpus".into(),
            path("custom/corpus.txt"),
            "--words".into(),
            path("custom/words.json"),
            "--timeout".into(),
            STEP_TIMEOUT_S.to_string(),
        ],
    )
    .await;
    let id = created["customization_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no customization_id: {created}"))
        .to_string();

    // 2. A batch with the model over two clips whose product names only the model knows.
    let s3 = svc.embedded_s3();
    let clips = [("dev04.flac", "Nimbra"), ("dev05.flac", "Orlessa")];
    s3.fill(
        "custom-audio",
        clips
            .iter()
            .map(|(f, _)| (f.to_string(), read_testdata(&format!("custom/{f}"))))
            .collect(),
    )
    .await;
    let creds = s3.creds_file();
    let job = svc
        .create(
            &format!("function=recognize&language_customization_id={id}"),
            form(&creds, "custom-audio", None),
        )
        .await;
    let batch = job["batch_id"].as_str().unwrap().to_string();
    let (job, seen) = svc.wait_final(&batch, Duration::from_secs(300)).await;
    assert_eq!(job["status"], "completed", "{job} {seen:?}");
    assert_eq!(job["successful_count"], clips.len(), "{job}");
    for (file, term) in clips {
        let out: Value =
            serde_json::from_slice(&s3.read("custom-audio", &format!("{file}.json")).await)
                .unwrap();
        let text = transcript(&out);
        assert!(
            has_term(&text, term),
            "{file}: the custom model's word {term:?} is not in the transcript {text:?}"
        );
    }

    // The model belongs to the broadband base model: a narrowband batch may not use it, and an
    // id no model has is refused.
    let (st, body) = svc
        .create_raw(
            &format!(
                "function=recognize&model=en-US_NarrowbandModel&language_customization_id={id}"
            ),
            form(&creds, "custom-audio", None),
        )
        .await;
    assert_eq!(st, 400, "a broadband model on a narrowband batch: {body}");
    let (st, body) = svc
        .create_raw(
            "function=recognize&language_customization_id=00000000-0000-4000-8000-000000000000",
            form(&creds, "custom-audio", None),
        )
        .await;
    assert_eq!(st, 400, "an unknown customization id: {body}");

    // 3. The SDK deletes the model; it is gone, and a batch naming it is refused.
    let deleted = run_script(
        &svc,
        &[
            "--phase".into(),
            "delete".into(),
            "--url".into(),
            svc.url("/"),
            "--id".into(),
            id.clone(),
        ],
    )
    .await;
    assert_eq!(deleted["deleted"], true, "{deleted}");
    let (st, body) = svc
        .create_raw(
            &format!("function=recognize&language_customization_id={id}"),
            form(&creds, "custom-audio", None),
        )
        .await;
    assert_eq!(st, 400, "a deleted customization id: {body}");
}
