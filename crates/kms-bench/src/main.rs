//! `kms-bench`: benchmarks that print figures (never pass/fail timing tests).
//!
//! `kms-bench control` starts the server binary on 127.0.0.1, then measures
//! create MediaPipeline + create WebRtcEndpoint + release over the Kurento
//! Protocol: cycles/s and p50/p99 cycle latency at concurrency 1 and 8, and the
//! server's resident memory and thread count before and after a bounded number
//! of cycles (the leak gate), from a warmed-up baseline.

mod control;
mod proc_stats;
mod rpc;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "kms-bench", about = "Media server benchmarks")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Control plane: create/release cycles per second and the leak gate.
    Control {
        /// The kurento-media-server binary to start.
        #[arg(long)]
        server: PathBuf,
        /// kurento.conf.json for the server (KMS defaults when it does not exist).
        #[arg(long, default_value = "/nonexistent/kurento.conf.json")]
        conf: PathBuf,
        /// The element created in each cycle besides the pipeline.
        #[arg(long, default_value = "WebRtcEndpoint")]
        element: String,
        /// Cycles per throughput run.
        #[arg(long, default_value_t = 2000)]
        cycles: usize,
        /// Cycles of the leak gate.
        #[arg(long, default_value_t = 10_000)]
        leak_cycles: usize,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Control { server, conf, element, cycles, leak_cycles } => control::run(&server, &conf, &element, cycles, leak_cycles).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kms-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
