//! `transcriber`: the speech engine's command line, for trying the engine on local files and for
//! the engine benchmarks. No buckets and no async runtime: files in, `.json`/`.notice` out.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use crds::customization::Vocabulary;
use crds::SplitChannels;
use transcriber::cli::EngineArgs;
use transcriber::model_name::Weights;
use transcriber::{Engine, ModelName, RecognitionParams};

#[derive(Parser)]
#[command(version, about = "SpeechBatch speech engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    log: speechbatch_telemetry::LogArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Transcribe audio files: writes FILE.json (or FILE.notice for a file that cannot be
    /// processed) next to each input or into --out.
    Recognize(RecognizeArgs),
}

/// Flags of `transcriber recognize`. The recognition options are the batch interface's query
/// parameters, with its defaults (taken from `RecognitionParams::default`).
#[derive(clap::Args)]
struct RecognizeArgs {
    /// Model name of the batch interface.
    #[arg(long, default_value_t = RecognitionParams::default().model.as_str().to_owned())]
    model: String,
    /// Run the model name on other weights (`tiny.en`, `base` or `moonshine-base`), for
    /// benchmarks.
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
    /// Profanity filter: replace profanity with asterisks (on unless set to false).
    #[arg(long, default_value_t = RecognitionParams::default().profanity_filter, action = clap::ArgAction::Set)]
    profanity_filter: bool,
    /// Recognise the channels of a multichannel file one by one, each channel its own speaker:
    /// auto (when they carry separate talkers), true or false.
    #[arg(long, default_value = RecognitionParams::default().split_channels.as_str(), value_parser = parse_split)]
    split_channels: SplitChannels,
    /// A trained custom language model (the `Vocabulary` JSON a training writes), whose words
    /// the decoder favours.
    #[arg(long)]
    vocabulary: Option<PathBuf>,
    /// Weight of the custom model's words, 0.0 to 1.0 (default: the one saved at training, else
    /// 0.3).
    #[arg(long, requires = "vocabulary", value_parser = parse_weight)]
    customization_weight: Option<f64>,
    /// Directory for the outputs (default: beside each input).
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    engine: EngineArgs,
    /// Audio files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

fn parse_split(s: &str) -> Result<SplitChannels, String> {
    RecognitionParams::from_query([("split_channels", s)])
        .map(|p| p.split_channels)
        .map_err(|e| e.0)
}

fn parse_weight(s: &str) -> Result<f64, String> {
    RecognitionParams::from_query([("customization_weight", s)])
        .map(|p| p.customization_weight.unwrap_or_default())
        .map_err(|e| e.0)
}

fn parse_weights(s: &str) -> Result<Weights, String> {
    match s {
        "tiny.en" => Ok(Weights::TinyEn),
        "base" => Ok(Weights::Base),
        "moonshine-base" => Ok(Weights::MoonshineBase),
        _ => Err(format!(
            "unknown weights {s}: use tiny.en, base or moonshine-base"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = speechbatch_telemetry::init(&cli.log) {
        eprintln!("transcriber: {e}");
        return ExitCode::from(2);
    }
    let Command::Recognize(args) = cli.command;
    match recognize(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("transcriber: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn recognize(args: RecognizeArgs) -> anyhow::Result<ExitCode> {
    let model: ModelName = args.model.parse()?;
    let params = RecognitionParams {
        model,
        word_confidence: args.word_confidence,
        smart_formatting: args.smart_formatting,
        redaction: args.redaction,
        profanity_filter: args.profanity_filter,
        customization_weight: args.customization_weight,
        split_channels: args.split_channels,
        // Analytics is a stage of a batch: topics are found across its files.
        speech_analytics: false,
    }
    .resolved();
    let vocabulary: Option<Vocabulary> = match &args.vocabulary {
        Some(path) => Some(
            serde_json::from_slice(
                &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("{} is not a trained vocabulary", path.display()))?,
        ),
        None => None,
    };
    let weights = args.weights.unwrap_or_else(|| Weights::serving(model));
    let engine = Engine::load_weights(
        &args.engine.models_dir(),
        &[(model, weights)],
        args.engine.threads,
    )
    .context("loading the models")?
    .with_baseline_diarization(args.baseline_diarization);
    let out = args.out;
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut failed = 0;
    let (mut audio_s, mut wall_s, mut diarize_s) = (0.0, 0.0, 0.0);
    for file in &args.files {
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
                .recognize_with(bytes, Some(&name), &params, vocabulary.as_ref())
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
        args.files.len(),
        audio_s / wall_s.max(1e-9),
        100.0 * diarize_s / wall_s.max(1e-9)
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
