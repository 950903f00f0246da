//! UriEndpoint benchmarks: PlayerEndpoint start latency (play() to the first
//! RTP packet at a connected WebRTC viewer) and server CPU per recorded
//! stream (one PlayerEndpoint into N RecorderEndpoints, no transcoding).

use crate::load::{self, kurento, median, Command};
use crate::proc_stats::{rss_and_threads, CpuSample};
use crate::rpc::Rpc;
use crate::server::start_server;
use serde_json::json;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Longest wait for a viewer to connect or for media to arrive.
const LIMIT: Duration = Duration::from_secs(15);

async fn wait_for(what: &str, done: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + LIMIT;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("{what} within {LIMIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
}

/// `runs` times: a fresh pipeline, a PlayerEndpoint of `media` and one
/// connected viewer; the time from play() to the viewer's first RTP packet.
pub async fn player_start(bin: &Path, conf: &Path, media: &Path, runs: usize) -> Result<(), String> {
    let server = start_server(bin, conf)?;
    let mut rpc = Rpc::connect(&server.url).await?;
    let mut latencies = Vec::new();
    for run in 0..runs {
        let (tx, progress, thread) = load::start_media()?;
        let (pipeline, player) = kurento::create_source(&mut rpc, media).await?;
        kurento::add_viewers(&mut rpc, &pipeline, &player, 0, 1, &tx).await?;
        wait_for("no viewer connected", || progress.connected.load(Ordering::Relaxed) == 1).await?;
        let t0 = Instant::now();
        kurento::invoke(&mut rpc, &player, "play", json!({})).await?;
        wait_for("no media after play()", || progress.receiving.load(Ordering::Relaxed) == 1).await?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        println!("run {}/{runs}: play() to first RTP packet at the viewer: {ms:.1} ms", run + 1);
        latencies.push(ms);
        rpc.call("release", json!({ "object": pipeline })).await?;
        let _ = tx.send(Command::Stop);
        let _ = thread.join();
    }
    let (min, max) = latencies.iter().fold((f64::MAX, 0f64), |(lo, hi), &l| (lo.min(l), hi.max(l)));
    println!("MEDIAN player start latency: {:.1} ms (min {min:.1}, max {max:.1})", median(latencies));
    Ok(())
}

/// Server CPU (% of one core) of `pid` over `window`.
async fn cpu_over(pid: u32, window: Duration) -> Result<f64, String> {
    let start = CpuSample::take(pid)?;
    tokio::time::sleep(window).await;
    Ok(start.percent()?.0)
}

/// For each count N: one PlayerEndpoint of `media` (WebM VP8 + Opus) into N
/// RecorderEndpoints (WEBM, no transcoding); the server CPU above the
/// player alone, per recorded stream, and the files' sizes.
pub async fn recorders(bin: &Path, conf: &Path, media: &Path, counts: &[usize], window: Duration) -> Result<(), String> {
    let server = start_server(bin, conf)?;
    let (pid, url) = (server.pid(), server.url.clone());
    let dir = std::env::temp_dir().join(format!("kms-bench-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let result = async {
        for &count in counts {
            let mut rpc = Rpc::connect(&url).await?;
            let (pipeline, player) = kurento::start_source(&mut rpc, media).await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
            let base = cpu_over(pid, window).await?;
            let rss_before = rss_and_threads(pid).ok_or("server /proc status")?.0;
            let mut recorders = Vec::new();
            for i in 0..count {
                let uri = format!("file://{}/{count}-{i}.webm", dir.display());
                let r = rpc.create(json!({ "type": "RecorderEndpoint", "constructorParams": { "mediaPipeline": pipeline, "uri": uri, "mediaProfile": "WEBM" } })).await?;
                kurento::invoke(&mut rpc, &player, "connect", json!({ "sink": r })).await?;
                kurento::invoke(&mut rpc, &r, "record", json!({})).await?;
                recorders.push(r);
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
            let cpu = cpu_over(pid, window).await?;
            let (rss, threads) = rss_and_threads(pid).ok_or("server /proc status")?;
            for r in &recorders {
                kurento::invoke(&mut rpc, r, "stopAndWait", json!({})).await?;
            }
            let bytes: u64 = (0..count).filter_map(|i| std::fs::metadata(dir.join(format!("{count}-{i}.webm"))).ok()).map(|m| m.len()).sum();
            println!(
                "recorders={count}: server CPU {cpu:.1}% (player alone {base:.1}%) -> {:.2}% of one core per recorded stream; RSS +{} KiB ({:.0} KiB per recorder), threads {threads}; {:.1} MB written",
                (cpu - base) / count as f64,
                rss.saturating_sub(rss_before),
                rss.saturating_sub(rss_before) as f64 / count as f64,
                bytes as f64 / 1e6
            );
            if bytes == 0 {
                return Err("the recorders wrote nothing".into());
            }
            rpc.call("release", json!({ "object": pipeline })).await?;
        }
        Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
