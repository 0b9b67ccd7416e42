//! `speechbatch-operator`: the SpeechBatch controller (see the `operator` library).

use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = operator::Config::parse();
    tracing::info!(?config, "starting");
    operator::run(config).await?;
    Ok(())
}
