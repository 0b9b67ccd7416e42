//! The one logging set-up of every SpeechBatch binary (`speechbatch`, `speechbatch-operator`,
//! `speechbatch-shard`, `transcriber`): events at `info` and above unless `RUST_LOG` says
//! otherwise, the chattiest dependencies held at `warn`, written to stderr as text or, with
//! `--log-format json`, as one JSON object per line with the current spans (a reconcile's
//! batch, a file's key) so that a log pipeline can index them.

use std::io;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// What is logged when `RUST_LOG` is not set: our own `info` events; the HTTP, S3 and
/// Kubernetes client libraries only when something goes wrong (their `info` lines are one per
/// request, which a polling client turns into a flood).
pub const DEFAULT_FILTER: &str =
    "info,warp=warn,hyper=warn,aws_config=warn,aws_smithy_runtime=warn,aws_sdk_s3=warn,kube_client=warn,tower=warn";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, with the event's fields and its spans.
    Json,
}

/// The logging flags every binary flattens into its own.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct LogArgs {
    /// Log line format on stderr. The level comes from RUST_LOG (default: info).
    #[arg(
        long,
        env = "SPEECHBATCH_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// The set-up failed.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` is not a valid filter.
    #[error("RUST_LOG is not a valid log filter: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// A global subscriber was already installed.
    #[error("logging was already set up: {0}")]
    AlreadySet(#[from] tracing_subscriber::util::TryInitError),
}

/// The filter: `RUST_LOG` when set, else [`DEFAULT_FILTER`].
pub fn filter() -> Result<EnvFilter, TelemetryError> {
    match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => Ok(EnvFilter::try_new(spec)?),
        _ => Ok(EnvFilter::new(DEFAULT_FILTER)),
    }
}

/// Installs the process's subscriber, writing to stderr.
pub fn init(args: &LogArgs) -> Result<(), TelemetryError> {
    init_with(args, filter()?, io::stderr)
}

/// Installs the subscriber with an explicit filter and writer (tests capture the lines).
pub fn init_with<W>(args: &LogArgs, filter: EnvFilter, writer: W) -> Result<(), TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::util::SubscriberInitExt;
    // Colours only for a person at a terminal: a log file or collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(io::IsTerminal::is_terminal(&io::stderr()))
        .with_writer(writer);
    match args.log_format {
        LogFormat::Text => builder.finish().try_init()?,
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .finish()
            .try_init()?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Lines {
        type Writer = Lines;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    /// One test only: a process has one global subscriber.
    #[test]
    fn json_lines_carry_the_event_its_fields_and_its_spans_at_info_by_default() {
        let lines = Lines::default();
        let args = LogArgs {
            log_format: LogFormat::Json,
        };
        init_with(&args, EnvFilter::new(DEFAULT_FILTER), lines.clone()).unwrap();
        let span = tracing::info_span!("file", key = "calls/a.wav");
        span.in_scope(|| {
            tracing::info!(outcome = "succeeded", "file finished");
            tracing::debug!("not at the default level");
        });
        tracing::info!(target: "aws_smithy_runtime", "one line per request");
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let events: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 1, "{text}");
        let e = &events[0];
        assert_eq!(e["level"], "INFO");
        assert_eq!(e["fields"]["message"], "file finished");
        assert_eq!(e["fields"]["outcome"], "succeeded");
        assert_eq!(e["span"]["name"], "file");
        assert_eq!(e["span"]["key"], "calls/a.wav");
        assert!(init(&args).is_err(), "a second set-up is refused");
    }
}
