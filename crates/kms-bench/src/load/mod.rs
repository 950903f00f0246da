//! The load client: N WebRTC viewers on one thread and one UDP socket
//! (str0m in RTP mode: no depacketizing, no decoding), against this server
//! (Kurento Protocol) or Janus's streaming plugin (Janus HTTP API), with the
//! server's CPU, memory and threads sampled from `/proc` over a measurement
//! window after every viewer has connected.

mod janus;
pub mod kurento;
mod layers;
mod media;
mod peer;
mod publish;
mod report;
mod socket;
mod workers;

use crate::proc_stats::{rss_and_threads, udp_receive_buffer_errors, CpuSample};
use crate::server::start_server;
pub use media::{ask, Command, Progress};
pub use report::median;
use report::Verdict;
use report::Run;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The source the viewers of this server watch.
pub enum Source {
    /// A PlayerEndpoint playing a pre-encoded file (passed through).
    Player(PathBuf),
    /// A WebRtcEndpoint the load client itself publishes to (synthetic RTP
    /// at the same rates, see `publish`); as three simulcast layers when
    /// `simulcast` (the viewers then have no send limit, and after the
    /// window each is moved down a layer and back up: see `layers`).
    Publisher { simulcast: bool },
    /// An RtpEndpoint fed plain RTP from this file by `bench/janus/feed.py`
    /// (the feed Janus gets), on the load client's core as Janus's is.
    Rtp(PathBuf),
    /// No one-to-many source: one-to-one calls (the viewer count is the
    /// number of calls), both peers of each played by the load client.
    Calls,
}

/// The server under load.
pub enum Target {
    /// This server, started from `bin`.
    Ours { bin: PathBuf, conf: PathBuf, source: Source },
    /// A running Janus (process `pid`) whose streaming mountpoint `mountpoint` is fed.
    Janus { url: String, pid: u32, mountpoint: u64 },
}

impl Target {
    /// One-to-one calls (a publisher per peer) rather than viewers of one source.
    fn is_calls(&self) -> bool {
        matches!(self, Target::Ours { source: Source::Calls, .. })
    }
}

/// How the runs are made.
pub struct Options {
    /// Viewer counts, one series of runs each.
    pub viewers: Vec<usize>,
    /// Runs per viewer count; the medians are reported.
    pub runs: usize,
    /// Wait after every viewer has connected, before measuring.
    pub warmup: Duration,
    /// The measurement window.
    pub window: Duration,
    /// Fail (exit non-zero) unless every median counts (the CI smoke run).
    pub require_ok: bool,
    /// Print every peer's own figures after each run.
    pub per_peer: bool,
    /// Target `ours` with a PlayerEndpoint source: that many pipelines, each
    /// a player of the same file with its share of the viewers (spread over
    /// the media workers by placement).
    pub pipelines: usize,
    /// One viewer in this many decrypts and authenticates its media; the
    /// others count RTP headers (see `peer`). 1: every viewer decrypts.
    pub decrypt_every: usize,
}

/// Longest wait for every viewer to connect.
const CONNECT_LIMIT: Duration = Duration::from_secs(30);

pub async fn run(target: &Target, options: &Options) -> Result<(), String> {
    // Janus keeps running between runs and keeps memory it once used: its
    // growth is measured from its idle RSS before the first run.
    let janus_idle = match target {
        Target::Janus { pid, .. } => Some(rss_and_threads(*pid).ok_or("janus /proc status")?.0),
        Target::Ours { .. } => None,
    };
    for &viewers in &options.viewers {
        let mut runs = Vec::new();
        for i in 0..options.runs {
            let run = one_run(target, viewers, options, janus_idle).await?;
            run.print(&format!("run {}/{}", i + 1, options.runs));
            runs.push(run);
        }
        let counted = runs.iter().filter(|r| r.verdict() == Verdict::Ok).count();
        let median = Run::median_of(&runs);
        let what = if target.is_calls() { "calls" } else { "viewers" };
        median.print(&format!("MEDIAN {what}={viewers} ({counted}/{} runs count)", runs.len()));
        // A majority of the runs must count (all of them when there is one).
        if options.require_ok && counted * 2 <= runs.len() && !(runs.len() == 1 && counted == 1) {
            return Err(format!("{viewers} {what}: {counted} of {} runs count", runs.len()));
        }
    }
    Ok(())
}

/// The load client's media thread: its command channel, its progress
/// counters and its handle.
pub type MediaThread = (Sender<Command>, Arc<Progress>, JoinHandle<()>);

/// The media thread, its command channel and its progress counters; every
/// viewer decrypts its media.
pub fn start_media() -> Result<MediaThread, String> {
    start_media_with(1, media::TICK)
}

/// Like [`start_media`], with one viewer in `decrypt_every` decrypting and
/// the others counting headers (see `peer`), on a `tick` ([`media::TICK`],
/// [`media::PUBLISHERS_TICK`]).
pub fn start_media_with(decrypt_every: usize, tick: Duration) -> Result<MediaThread, String> {
    let socket = socket::PeerSocket::bind(tick).map_err(|e| format!("load client socket: {e}"))?;
    let (tx, rx) = mpsc::channel();
    let progress = Arc::new(Progress::default());
    let p = progress.clone();
    let thread = std::thread::Builder::new().name("load-media".into()).spawn(move || media::run(socket, rx, p, decrypt_every, tick)).map_err(|e| e.to_string())?;
    Ok((tx, progress, thread))
}

async fn one_run(target: &Target, viewers: usize, options: &Options, janus_idle: Option<u64>) -> Result<Run, String> {
    let tick = if target.is_calls() { media::PUBLISHERS_TICK } else { media::TICK };
    let (tx, progress, media_thread) = start_media_with(options.decrypt_every, tick)?;
    let result = match target {
        Target::Ours { bin, conf, source: Source::Calls } => {
            let server = start_server(bin, conf)?;
            let mut rpc = crate::rpc::Rpc::connect(&server.url).await?;
            let before = rss_and_threads(server.pid()).ok_or("server /proc status")?.0;
            kurento::create_calls(&mut rpc, viewers, &tx).await?;
            let measured = measure(server.pid(), before, 2 * viewers, 2 * viewers, &tx, &progress.connected, options).await;
            measured.map(|(run, peers)| (Run { calls: viewers, ..run }, peers))
        }
        Target::Ours { bin, conf, source } => {
            let server = start_server(bin, conf)?;
            let mut feed = None;
            // The publisher is peer `viewers`, after the viewers 0..viewers.
            let mut rpc = crate::rpc::Rpc::connect(&server.url).await?;
            // With several pipelines, memory is counted from before the first
            // (the sources' own memory then counts towards the viewers').
            let several = matches!(source, Source::Player(_)) && options.pipelines > 1;
            let at_start = rss_and_threads(server.pid()).ok_or("server /proc status")?.0;
            let simulcast = matches!(source, Source::Publisher { simulcast: true });
            let (pipeline, element, peers) = match source {
                Source::Player(media) if options.pipelines > 1 => {
                    // The other pipelines, each with its share of the viewers;
                    // the last one is set up below like a single pipeline.
                    let share = viewers / options.pipelines;
                    for k in 0..options.pipelines - 1 {
                        let (pipeline, player) = kurento::start_source(&mut rpc, media).await?;
                        kurento::add_viewers(&mut rpc, &pipeline, &player, k * share, share, &tx).await?;
                    }
                    let (pipeline, player) = kurento::start_source(&mut rpc, media).await?;
                    (pipeline, player, viewers)
                }
                Source::Player(media) => {
                    let (pipeline, player) = kurento::start_source(&mut rpc, media).await?;
                    (pipeline, player, viewers)
                }
                Source::Publisher { simulcast } => {
                    let (pipeline, endpoint) = kurento::create_publisher(&mut rpc, viewers, *simulcast, &tx).await?;
                    (pipeline, endpoint, viewers + 1)
                }
                Source::Rtp(media) => {
                    let (pipeline, endpoint, audio, video) = kurento::create_rtp_source(&mut rpc).await?;
                    feed = Some(start_feed(media, audio, video)?);
                    (pipeline, endpoint, viewers)
                }
                Source::Calls => return Err("calls have their own arm above".into()),
            };
            let before = if several { at_start } else { rss_and_threads(server.pid()).ok_or("server /proc status")?.0 };
            // With several pipelines the first viewers are already placed.
            let placed = if several { viewers / options.pipelines * (options.pipelines - 1) } else { 0 };
            let endpoints = kurento::add_viewers(&mut rpc, &pipeline, &element, placed, viewers - placed, &tx).await?;
            if simulcast {
                layers::limit(&mut rpc, &endpoints, 0).await?;
                layers::wait_for_top(&tx).await?;
            }
            let measured = measure(server.pid(), before, viewers, peers, &tx, &progress.connected, options).await;
            if let (true, Ok((_, snapshot))) = (simulcast, &measured) {
                println!("{}", layers::window_layers(snapshot));
                layers::move_up(&mut rpc, &endpoints, &tx).await?;
            }
            let measured = measured.map(|(run, peers)| (Run { layered: simulcast, ..run }, peers));
            if several {
                match workers::scrape(&server.url).await {
                    Ok(figures) => println!("{figures}"),
                    Err(e) => println!("media workers: cannot read /metrics: {e}"),
                }
            }
            if let Some(mut feed) = feed {
                let _ = feed.kill();
                let _ = feed.wait();
            }
            measured
        }
        Target::Janus { url, pid, mountpoint } => {
            let before = janus_idle.unwrap_or_default();
            let (url, mountpoint, media) = (url.clone(), *mountpoint, tx.clone());
            let janus = tokio::task::spawn_blocking(move || {
                let mut janus = janus::Janus::connect(&url)?;
                janus.add_viewers(mountpoint, 0, viewers, &media).map(|()| janus)
            })
            .await
            .map_err(|e| e.to_string())??;
            let measured = measure(*pid, before, viewers, viewers, &tx, &progress.connected, options).await;
            let _ = tokio::task::spawn_blocking(move || janus.destroy()).await;
            measured
        }
    };
    let _ = tx.send(Command::Stop);
    media_thread.join().map_err(|_| "media thread panicked")?;
    let (run, peers) = result?;
    if options.per_peer {
        for (i, s) in &peers {
            println!("  peer {i}{}: {s}", if s.publishes { " (publisher)" } else { "" });
        }
    }
    Ok(run.with_peers(peers.into_iter().map(|(_, s)| s).collect()))
}

/// Starts `bench/janus/feed.py` sending `media` to our RTP ports, on the
/// load client's core (it inherits our affinity; Janus's feed runs there too).
fn start_feed(media: &std::path::Path, audio: u16, video: u16) -> Result<std::process::Child, String> {
    std::process::Command::new("/usr/bin/python3")
        .arg("bench/janus/feed.py")
        .arg(media)
        .args([audio.to_string(), video.to_string()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("bench/janus/feed.py: {e}"))
}

/// Waits for the `peers` (viewers and publisher) to connect, warms up, then
/// samples the server, the load client and every peer over the window.
async fn measure(
    pid: u32,
    rss_before: u64,
    viewers: usize,
    peers: usize,
    media: &Sender<Command>,
    connected: &AtomicUsize,
    options: &Options,
) -> Result<(Run, media::Snapshot), String> {
    let deadline = Instant::now() + CONNECT_LIMIT;
    while connected.load(Ordering::Relaxed) < peers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(options.warmup).await;
    media.send(Command::StartWindow).map_err(|_| "media thread gone")?;
    let drops = udp_receive_buffer_errors();
    let (server, client) = (CpuSample::take(pid)?, CpuSample::take(std::process::id())?);
    tokio::time::sleep(options.window).await;
    let (server_cpu, seconds) = server.percent()?;
    let (client_cpu, _) = client.percent()?;
    // The peers' counters over the same window as the CPU figures.
    let snapshot = tokio::task::block_in_place(|| media::ask(media, Command::Snapshot))?;
    let socket_drops = udp_receive_buffer_errors().zip(drops).map_or(0, |(after, before)| after.saturating_sub(before));
    let (rss, threads) = rss_and_threads(pid).ok_or("server /proc status")?;
    let run = Run { viewers, server_cpu, client_cpu, seconds, socket_drops, rss_kib: rss, rss_growth_kib: rss as f64 - rss_before as f64, threads, ..Run::default() };
    Ok((run, snapshot))
}
