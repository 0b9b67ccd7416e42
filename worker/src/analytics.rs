//! The batch-wide speech analytics stage (`speech_analytics=true`), run once every file of the
//! batch is recognised: the embedded service runs it in-process, the operator as the batch's
//! final Job (`speechbatch-shard --analytics`).
//!
//! It reads every `.json` this batch wrote, analyses them together (topics are found across the
//! batch, so no file's analytics is final before all are known), rewrites each `.json` in place
//! with its analytics, and writes `Conversation.zip` and `Speaker.zip` at the root of the output
//! bucket. It is a pure function of the recognition results: a stage interrupted and run again
//! strips what it had added and writes the same files, so nothing is lost or doubled.
//!
//! Counting rule: the stage changes no count. A file whose analytics failed (its `.json` cannot
//! be read back, or analytics as a whole failed) keeps its `.json`, gains a `.notice` saying
//! why, and stays counted once, as succeeded, as the interface's "both files for one input"
//! case says.

use crds::analytics::AnalyticsSummary;
use crds::ErrorBody;
use speechbatch_analytics::{archive, with_analytics, without_analytics, Analyzer, Document};
use speechbatch_storage::{is_output_key, output_key, OutputKind, StorageError, StorageErrorKind};

use crate::BatchFiles;

/// Largest `.json` read back (a result of a 12-hour call is a few MB).
const MAX_RESULT_BYTES: u64 = 64 << 20;

/// What the stage did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AnalyticsReport {
    /// Files analysed (their `.json` rewritten).
    pub analysed: u64,
    /// Files that kept their `.json` and gained a `.notice`.
    pub failed: u64,
    /// The analytics in brief, for the job's record or status: `None` when analytics as a
    /// whole failed (every file got a `.notice`), so that there is nothing to summarise.
    pub summary: Option<AnalyticsSummary>,
}

/// The input keys whose `.json` this batch wrote, in key order.
async fn recognised_inputs(files: &BatchFiles) -> Result<Vec<String>, StorageError> {
    let mut keys = Vec::new();
    for key in files.output.list_keys("").await? {
        let Some(input) = key.strip_suffix(".json") else {
            continue;
        };
        // A `.json` input of another batch's output, or a file of ours: only ours count.
        if !is_output_key(&key)
            || files.output.output_batch_id(&key).await?.as_deref() != Some(files.batch_id.as_str())
        {
            continue;
        }
        keys.push(input.to_owned());
    }
    keys.sort();
    Ok(keys)
}

/// Runs the stage over every file the batch recognised. A bucket error that may pass is
/// returned (run the stage again); problems with files or with the analytics become notices.
pub async fn run_analytics(
    files: &BatchFiles,
    analyzer: Option<&std::sync::Arc<Analyzer>>,
) -> Result<AnalyticsReport, StorageError> {
    let mut report = AnalyticsReport::default();
    let mut documents = Vec::new();
    for input in recognised_inputs(files).await? {
        let key = output_key(&input, OutputKind::Json);
        let read = match files.output.get(&key, MAX_RESULT_BYTES).await {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes)
                .map_err(|e| format!("its result JSON cannot be read back ({e})")),
            Err(e) if e.kind == StorageErrorKind::TooLarge => Err(e.message),
            Err(e) if e.kind == StorageErrorKind::NotFound => {
                Err("its result was removed before analytics could read it".to_owned())
            }
            Err(e) => return Err(e),
        };
        match read {
            Ok(result) => documents.push(Document {
                id: input,
                result: without_analytics(&result),
            }),
            Err(why) => {
                analytics_notice(files, &input, &why).await?;
                report.failed += 1;
            }
        }
    }
    // Kept for the notices, should analytics fail (even by a panic that loses the documents).
    let ids: Vec<String> = documents.iter().map(|d| d.id.clone()).collect();
    let analysed = match analyzer {
        None => Err("the analytics models are not loaded (run scripts/setup)".to_owned()),
        Some(analyzer) => {
            // The documents go to the blocking thread and come back: no copy of every result.
            let analyzer = analyzer.clone();
            let (docs, analysed) = tokio::task::spawn_blocking(move || {
                let analysed = analyzer.analyse(&documents);
                (documents, analysed)
            })
            .await
            .map_err(|e| format!("analytics failed unexpectedly (internal error: {e})"))
            .map(|(docs, r)| (docs, r.map_err(|e| e.to_string())))
            .unwrap_or_else(|e| (Vec::new(), Err(e)));
            documents = docs;
            analysed
        }
    };
    let batch = match analysed {
        Ok(batch) => batch,
        Err(why) => {
            tracing::error!(batch_id = %files.batch_id, %why, "speech analytics failed");
            for id in &ids {
                analytics_notice(files, id, &why).await?;
                report.failed += 1;
            }
            return Ok(report);
        }
    };
    for (d, a) in documents.iter().zip(&batch.files) {
        let body = serde_json::to_vec(&with_analytics(&d.result, a)).expect("serializes");
        files
            .output
            .put_output(
                &output_key(&d.id, OutputKind::Json),
                body,
                files.batch_id.as_str(),
            )
            .await?;
        // A notice beside a `.json` of ours is an earlier run's analytics failure: gone now.
        let notice = output_key(&d.id, OutputKind::Notice);
        if files.output.output_batch_id(&notice).await?.as_deref() == Some(files.batch_id.as_str())
        {
            files.output.delete(&notice).await?;
        }
        report.analysed += 1;
    }
    let zips = {
        let batch = batch.clone();
        tokio::task::spawn_blocking(move || {
            (
                archive::conversation_zip(&batch),
                archive::speaker_zip(&batch),
            )
        })
        .await
        .expect("writing archives in memory does not panic")
    };
    for (name, body) in [
        (archive::CONVERSATION_ZIP, zips.0),
        (archive::SPEAKER_ZIP, zips.1),
    ] {
        files
            .output
            .put_output_as(name, body, "application/zip", files.batch_id.as_str())
            .await?;
    }
    report.summary = Some(batch.summary());
    tracing::info!(batch_id = %files.batch_id, analysed = report.analysed, failed = report.failed, "speech analytics written");
    Ok(report)
}

async fn analytics_notice(files: &BatchFiles, input: &str, why: &str) -> Result<(), StorageError> {
    let body = ErrorBody::new(
        500,
        format!("Speech analytics failed for this file, whose transcript is in its .json: {why}"),
    );
    files
        .output
        .put_output(
            &output_key(input, OutputKind::Notice),
            body.to_json_pretty().into_bytes(),
            files.batch_id.as_str(),
        )
        .await
}
