//! `kms-bench`: benchmarks that print figures (never pass/fail timing tests).
//!
//! `kms-bench control` starts the server binary on 127.0.0.1, then measures
//! create MediaPipeline + create WebRtcEndpoint + release over the Kurento
//! Protocol: cycles/s and p50/p99 cycle latency at concurrency 1 and 8, and the
//! server's resident memory and thread count before and after a bounded number
//! of cycles (the leak gate), from a warmed-up baseline.
//!
//! `kms-bench idle` measures the server's CPU with thousands of idle pipelines.
//!
//! `kms-bench viewers` is the load client: N WebRTC viewers of one source on
//! one thread and one UDP socket, against this server or Janus (see `load`).

mod cluster_bench;
mod control;
mod filter_bench;
mod hub_bench;
mod idle_bench;
mod load;
mod measure;
mod media_leak;
mod soak;
mod proc_stats;
mod rpc;
mod server;
mod transcode_bench;
mod uri_bench;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "kms-bench", about = "Media server benchmarks")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The server a benchmark starts.
#[derive(clap::Args)]
struct ServerArgs {
    /// The kurento-media-server binary to start.
    #[arg(long)]
    server: PathBuf,
    /// kurento.conf.json for the server (KMS defaults when it does not exist).
    #[arg(long, default_value = "/nonexistent/kurento.conf.json")]
    conf: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Control plane: create/release cycles per second and the leak gate.
    Control {
        #[command(flatten)]
        start: ServerArgs,
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
    /// The cluster: control-plane cycles through the entry beside a node
    /// directly, and the placement of 1,000 pipelines over two nodes.
    Cluster {
        #[command(flatten)]
        start: ServerArgs,
        /// Cycles per throughput run.
        #[arg(long, default_value_t = 1000)]
        cycles: usize,
        /// Fail when the entry's rate at concurrency 8 is below this share of a node's.
        #[arg(long, default_value_t = 0.3)]
        min_ratio: f64,
    },
    /// Idle cost: server CPU and memory with N idle pipelines (a WebRtcEndpoint
    /// each that generated an offer and gathered, no peer).
    Idle {
        #[command(flatten)]
        start: ServerArgs,
        #[arg(long, default_value_t = 2000)]
        pipelines: usize,
        /// Seconds measured (with no pipelines, then with them).
        #[arg(long, default_value_t = 10)]
        window: u64,
        /// Fail when the pipelines add more than this share of one core (%).
        #[arg(long, default_value_t = 1.0)]
        max_percent: f64,
    },
    /// Media leak gate: cycles of create, negotiate, stream, release with a
    /// load-client peer; RSS, threads and fds compared between quiet states.
    MediaLeak {
        #[command(flatten)]
        start: ServerArgs,
        /// A WebM (VP8 + Opus) file the PlayerEndpoint of each cycle plays.
        #[arg(long)]
        media: PathBuf,
        #[arg(long, default_value_t = 1000)]
        cycles: usize,
        /// Cycles running at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// The soak: applications (processes, each a call with media) come and
    /// go for a while, some killed with SIGKILL mid-call; pipelines, RSS,
    /// threads and fds over time, and a verdict on the quiet states.
    Soak {
        /// The kurento-media-server binary to start.
        #[arg(long)]
        server: PathBuf,
        /// A WebM (VP8 + Opus) file each call's PlayerEndpoint plays.
        #[arg(long)]
        media: PathBuf,
        /// How long the applications come and go (minutes).
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Applications alive at once.
        #[arg(long, default_value_t = 6)]
        clients: usize,
        /// Share of the applications killed with SIGKILL mid-call (%).
        #[arg(long, default_value_t = 25)]
        kill_percent: u64,
        /// Seconds between two printed samples.
        #[arg(long, default_value_t = 30)]
        sample_seconds: u64,
    },
    /// One application of the soak (started by `soak`, not by hand).
    #[command(hide = true)]
    SoakApp {
        #[arg(long)]
        url: String,
        #[arg(long)]
        media: PathBuf,
        #[arg(long)]
        seconds: u64,
    },
    /// One source to N WebRTC viewers: server CPU, memory and threads per viewer, loss, jitter.
    Viewers {
        /// `ours` (starts --server, a PlayerEndpoint plays --media) or `janus` (a running Janus).
        #[arg(long, default_value = "ours")]
        target: String,
        /// The kurento-media-server binary (target `ours`).
        #[arg(long)]
        server: Option<PathBuf>,
        #[arg(long, default_value = "/nonexistent/kurento.conf.json")]
        conf: PathBuf,
        /// The pre-encoded VP8 + Opus WebM the PlayerEndpoint plays (target `ours`).
        #[arg(long)]
        media: Option<PathBuf>,
        /// Target `ours`: the viewers watch a PlayerEndpoint (`player`, needs
        /// --media), a WebRtcEndpoint the load client publishes to (`webrtc`;
        /// `webrtc-simulcast`: three simulcast layers, the viewers without a
        /// send limit, then moved down a layer and back up, timed),
        /// or an RtpEndpoint fed plain RTP of --media by bench/janus/feed.py (`rtp`);
        /// `calls`: no one-to-many source but --viewers one-to-one calls, the
        /// load client playing both peers of each, both directions.
        #[arg(long, default_value = "player")]
        source: String,
        /// Janus HTTP API (target `janus`).
        #[arg(long, default_value = "http://127.0.0.1:8088/janus")]
        janus_url: String,
        /// Janus's process id, for its CPU and memory (target `janus`).
        #[arg(long)]
        janus_pid: Option<u32>,
        /// Janus streaming mountpoint id.
        #[arg(long, default_value_t = 1)]
        mountpoint: u64,
        /// Viewer counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10")]
        viewers: Vec<usize>,
        /// Runs per viewer count (medians reported).
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Seconds after all viewers connected before measuring.
        #[arg(long, default_value_t = 3)]
        warmup: u64,
        /// Seconds measured.
        #[arg(long, default_value_t = 10)]
        window: u64,
        /// Exit non-zero unless every median run counts (smoke test).
        #[arg(long)]
        require_ok: bool,
        /// Print every peer's packets, loss, bitrate, jitter, connect time and undelivered SRTP.
        #[arg(long)]
        per_peer: bool,
        /// Target `ours`, `--source player`: that many pipelines (a player
        /// each, the viewers shared out), spread over the media workers.
        #[arg(long, default_value_t = 1)]
        pipelines: usize,
        /// One viewer in this many decrypts and authenticates its SRTP; the
        /// others count the RTP headers SRTP leaves in the clear (a
        /// thousand decrypting viewers would bound the load client). 1: all.
        #[arg(long, default_value_t = 10)]
        decrypt_every: usize,
    },
    /// PlayerEndpoint start latency: play() to the first RTP packet at a connected viewer.
    PlayerStart {
        #[command(flatten)]
        start: ServerArgs,
        /// A WebM (VP8 + Opus) file.
        #[arg(long)]
        media: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Server CPU per recorded stream: one PlayerEndpoint into N RecorderEndpoints (WEBM, no transcoding).
    Recorders {
        #[command(flatten)]
        start: ServerArgs,
        /// A WebM (VP8 + Opus) file.
        #[arg(long)]
        media: PathBuf,
        /// Recorder counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
        counts: Vec<usize>,
        /// Seconds measured.
        #[arg(long, default_value_t = 10)]
        window: u64,
    },
    /// CPU per filtered 640x360 stream (GStreamerFilter videoflip, FaceOverlayFilter),
    /// beside the same elements in bare gst-launch-1.0.
    Filters {
        #[command(flatten)]
        start: ServerArgs,
        /// A video-only WebM (VP8) file.
        #[arg(long)]
        vp8: PathBuf,
        /// The picture FaceOverlayFilter draws.
        #[arg(long)]
        image: PathBuf,
        #[command(flatten)]
        side: SideBySide,
        /// Exit non-zero when a filter misses the 1.2x goal.
        #[arg(long)]
        require_goal: bool,
    },
    /// CPU of one Composite of N 640x360 VP8 + Opus inputs, recorded, beside a
    /// bare gst-launch-1.0 compositor + audiomixer doing the same.
    Hubs {
        #[command(flatten)]
        start: ServerArgs,
        /// A VP8 + Opus WebM file.
        #[arg(long)]
        media: PathBuf,
        #[command(flatten)]
        side: SideBySide,
        /// Exit non-zero when the largest count misses the 1.2x goal.
        #[arg(long)]
        require_goal: bool,
    },
    /// CPU and memory per transcoded 640x360 stream (VP8 -> H.264, H.264 -> VP8),
    /// beside the same decode + encode in bare gst-launch-1.0.
    Transcode {
        #[command(flatten)]
        start: ServerArgs,
        /// A video-only WebM (VP8) file.
        #[arg(long)]
        vp8: PathBuf,
        /// A video-only MP4 (H.264) file.
        #[arg(long)]
        h264: PathBuf,
        #[command(flatten)]
        side: SideBySide,
        /// Exit non-zero when a direction misses the 1.2x goal.
        #[arg(long)]
        require_goal: bool,
    },
}

/// A side-by-side run's result: an error when it missed its goal and the
/// goal is required.
fn verdict(result: Result<bool, String>, require_goal: bool) -> Result<(), String> {
    match result {
        Ok(false) if require_goal => Err("the run missed its goal".to_owned()),
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A side-by-side run: stream counts, the measured window and how the bare
/// gst-launch-1.0 processes are started.
#[derive(clap::Args)]
struct SideBySide {
    /// Stream counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4")]
    counts: Vec<usize>,
    /// Seconds measured.
    #[arg(long, default_value_t = 10)]
    window: u64,
    /// Command prefix for the bare gst-launch-1.0 processes (e.g. "taskset -c 0").
    #[arg(long, default_value = "")]
    bare_prefix: String,
}

impl SideBySide {
    fn window(&self) -> Duration {
        Duration::from_secs(self.window)
    }

    fn prefix(&self) -> Vec<String> {
        self.bare_prefix.split_whitespace().map(str::to_owned).collect()
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let result = match args.command {
        Command::Control { start, element, cycles, leak_cycles } => control::run(&start.server, &start.conf, &element, cycles, leak_cycles).await,
        Command::Cluster { start, cycles, min_ratio } => cluster_bench::run(&start.server, &start.conf, cycles, min_ratio).await,
        Command::Soak { server, media, minutes, clients, kill_percent, sample_seconds } => {
            let soak = soak::Soak { duration: Duration::from_secs_f64(minutes.max(0.0) * 60.0), clients: clients.max(1), kill_percent, sample: Duration::from_secs(sample_seconds.max(1)) };
            soak::run(&server, &media, soak).await
        }
        Command::SoakApp { url, media, seconds } => soak::app(&url, &media, seconds).await,
        Command::MediaLeak { start, media, cycles, concurrency } => {
            media_leak::run(&start.server, &start.conf, &media, cycles, concurrency.max(1)).await
        }
        Command::Idle { start, pipelines, window, max_percent } => {
            idle_bench::run(&start.server, &start.conf, pipelines, Duration::from_secs(window), max_percent).await
        }
        Command::PlayerStart { start, media, runs } => uri_bench::player_start(&start.server, &start.conf, &media, runs).await,
        Command::Recorders { start, media, counts, window } => {
            uri_bench::recorders(&start.server, &start.conf, &media, &counts, Duration::from_secs(window)).await
        }
        Command::Filters { start, vp8, image, side, require_goal } => {
            verdict(filter_bench::run(&start.server, &start.conf, &vp8, &image, &side.counts, side.window(), &side.prefix()).await, require_goal)
        }
        Command::Hubs { start, media, side, require_goal } => {
            verdict(hub_bench::run(&start.server, &start.conf, &media, &side.counts, side.window(), &side.prefix()).await, require_goal)
        }
        Command::Transcode { start, vp8, h264, side, require_goal } => {
            verdict(transcode_bench::run(&start.server, &start.conf, &vp8, &h264, &side.counts, side.window(), &side.prefix()).await, require_goal)
        }
        Command::Viewers { target, server, conf, media, source, janus_url, janus_pid, mountpoint, viewers, runs, warmup, window, require_ok, per_peer, pipelines, decrypt_every } => {
            let options = load::Options { viewers, runs, warmup: Duration::from_secs(warmup), window: Duration::from_secs(window), require_ok, per_peer, pipelines: pipelines.max(1), decrypt_every };
            let target = match target.as_str() {
                "ours" => match (server, source.as_str(), media) {
                    (Some(bin), "player", Some(media)) => Ok(load::Target::Ours { bin, conf, source: load::Source::Player(media) }),
                    (Some(bin), "webrtc", _) => Ok(load::Target::Ours { bin, conf, source: load::Source::Publisher { simulcast: false } }),
                    (Some(bin), "webrtc-simulcast", _) => Ok(load::Target::Ours { bin, conf, source: load::Source::Publisher { simulcast: true } }),
                    (Some(bin), "rtp", Some(media)) => Ok(load::Target::Ours { bin, conf, source: load::Source::Rtp(media) }),
                    (Some(bin), "calls", _) => Ok(load::Target::Ours { bin, conf, source: load::Source::Calls }),
                    _ => Err("target ours needs --server, and --media with --source player or rtp".to_owned()),
                },
                "janus" => janus_pid.map(|pid| load::Target::Janus { url: janus_url, pid, mountpoint }).ok_or("--janus-pid is needed".to_owned()),
                other => Err(format!("unknown target '{other}': ours or janus")),
            };
            match target {
                Ok(t) => load::run(&t, &options).await,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kms-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
