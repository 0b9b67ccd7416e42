//! `speechbatch-operator`: the SpeechBatch controller (see the `operator` library).

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = operator::Config::parse();
    speechbatch_telemetry::init(&config.log)?;
    tracing::info!(?config, "starting");
    operator::run(config).await?;
    Ok(())
}
