//! `speechbatch-shard`: one completion index of a SpeechBatch's Indexed Job (see
//! `speechbatch_worker::shard`).

use std::process::ExitCode;

use clap::Parser;
use speechbatch_worker::shard::{self, ShardArgs};

fn main() -> ExitCode {
    let args = ShardArgs::parse();
    if let Err(e) = speechbatch_telemetry::init(&args.log) {
        eprintln!("speechbatch-shard: {e}");
        return ExitCode::from(crds::shard::ShardExit::Usage.code());
    }
    ExitCode::from(shard::run(args).code())
}
