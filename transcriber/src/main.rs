//! `transcriber`: the speech engine's command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use speechbatch_textfmt::FormatOptions;
use transcriber::model_name::Weights;
use transcriber::{Engine, ModelName, RecognizeOptions};

#[derive(Parser)]
#[command(version, about = "SpeechBatch speech engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Transcribe audio files: writes FILE.json (or FILE.notice for a file that cannot be
    /// processed) next to each input or into --out.
    Recognize(RecognizeArgs),
    /// Run one completion index of a SpeechBatch's Kubernetes Job (configured by the
    /// environment the operator sets).
    Shard(shard_cmd::ShardArgs),
}

mod shard_cmd;

/// Flags of `transcriber recognize`.
#[derive(clap::Args)]
struct RecognizeArgs {
    /// Model name of the batch interface.
    #[arg(
        long,
        env = "SPEECHBATCH_MODEL",
        default_value = "en-US_BroadbandModel"
    )]
    model: String,
    /// Run the model name on other Whisper weights (`tiny.en` or `base`), for benchmarks.
    #[arg(long, value_parser = parse_weights)]
    weights: Option<Weights>,
    /// Label speakers with the naive baseline instead of clustering, for benchmarks.
    #[arg(long, hide = true)]
    baseline_diarization: bool,
    /// Include word_confidence in the results.
    #[arg(long)]
    word_confidence: bool,
    /// Smart formatting: dates, times, numbers, currency, phone numbers as digits and symbols.
    #[arg(long)]
    smart_formatting: bool,
    /// Numeric redaction: every digit of a number of three or more digits becomes X (turns
    /// smart formatting on).
    #[arg(long)]
    redaction: bool,
    /// Profanity filter: replace profanity with asterisks (on by default, as in the service).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    profanity_filter: bool,
    /// Directory for the outputs (default: beside each input).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Folder of the converted models (default: set-up's cache).
    #[arg(long, env = "SPEECHBATCH_MODELS")]
    models: Option<PathBuf>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, env = "SPEECHBATCH_THREADS", default_value_t = default_threads())]
    threads: usize,
    /// Audio files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn parse_weights(s: &str) -> Result<Weights, String> {
    match s {
        "tiny.en" => Ok(Weights::TinyEn),
        "base" => Ok(Weights::Base),
        _ => Err(format!("unknown weights {s}: use tiny.en or base")),
    }
}

pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("transcriber: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let args = match cli.command {
        Command::Shard(args) => return Ok(shard_cmd::run(args)),
        Command::Recognize(args) => args,
    };
    let RecognizeArgs {
        model,
        weights,
        baseline_diarization,
        word_confidence,
        smart_formatting,
        redaction,
        profanity_filter,
        out,
        models,
        threads,
        files,
    } = args;
    let model: ModelName = model.parse()?;
    let models = models.unwrap_or_else(transcriber::runtime::models_dir);
    let weights = weights.unwrap_or_else(|| Weights::serving(model));
    let engine = Engine::load_weights(&models, &[(model, weights)], threads)
        .context("loading the models")?
        .with_baseline_diarization(baseline_diarization);
    let format = FormatOptions {
        smart_formatting,
        redaction,
        profanity_filter,
    };
    let opts = RecognizeOptions {
        model,
        word_confidence,
        format,
    };
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut failed = 0;
    let (mut audio_s, mut wall_s, mut diarize_s) = (0.0, 0.0, 0.0);
    for file in &files {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let target = |ext: &str| -> PathBuf {
            let dir = out
                .clone()
                .unwrap_or_else(|| file.parent().unwrap_or(Path::new(".")).to_path_buf());
            dir.join(format!("{name}.{ext}"))
        };
        let started = std::time::Instant::now();
        let outcome = match std::fs::read(file) {
            Ok(bytes) => engine
                .recognize(bytes, Some(&name), &opts)
                .map_err(|e| e.to_error_body()),
            Err(e) => Err(crds::ErrorBody::new(
                400,
                format!("cannot read {}: {e}", file.display()),
            )),
        };
        match outcome {
            Ok(results) => {
                wall_s += started.elapsed().as_secs_f64();
                audio_s += results.audio_seconds;
                diarize_s += results.diarize_seconds;
                let path = target("json");
                std::fs::write(&path, serde_json::to_vec_pretty(&results)?)
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!(
                    "{}: ok in {:.2}s -> {}",
                    file.display(),
                    started.elapsed().as_secs_f64(),
                    path.display()
                );
            }
            Err(e) => {
                failed += 1;
                let path = target("notice");
                std::fs::write(&path, e.to_json_pretty())
                    .with_context(|| format!("writing {}", path.display()))?;
                eprintln!("{}: {} -> {}", file.display(), e.error, path.display());
            }
        }
    }
    // One line that benchmarks read: model loading excluded, as in bench/faster_whisper_baseline.py.
    eprintln!(
        "files {} audio_s {audio_s:.1} wall_s {wall_s:.2} speed {:.1} diarization {:.1}% of wall",
        files.len(),
        audio_s / wall_s.max(1e-9),
        100.0 * diarize_s / wall_s.max(1e-9)
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
