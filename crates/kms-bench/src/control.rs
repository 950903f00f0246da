//! The control-plane benchmark.

use crate::proc_stats::rss_and_threads;
use crate::rpc::Rpc;
use crate::server::start_server;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

/// One cycle: create MediaPipeline, create `element` (WebRtcEndpoint) in it, release the pipeline.
async fn cycle(rpc: &mut Rpc, element: &str) -> Result<Duration, String> {
    let t0 = Instant::now();
    let pipeline = rpc.create(json!({ "type": "MediaPipeline" })).await?;
    rpc.create(json!({ "type": element, "constructorParams": { "mediaPipeline": pipeline } })).await?;
    rpc.call("release", json!({ "object": pipeline })).await?;
    Ok(t0.elapsed())
}

/// What is measured: the server's URL and the element created in each cycle.
pub struct Target {
    pub url: String,
    pub element: String,
}

/// Runs `cycles` cycles spread over `concurrency` connections; returns
/// (wall time, sorted cycle latencies).
pub(crate) async fn run_cycles(target: &Target, cycles: usize, concurrency: usize) -> Result<(Duration, Vec<Duration>), String> {
    let mut clients = Vec::new();
    for _ in 0..concurrency {
        clients.push(Rpc::connect(&target.url).await?);
    }
    let t0 = Instant::now();
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut rpc)| {
            let share = cycles / concurrency + usize::from(i < cycles % concurrency);
            let element = target.element.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(share);
                for _ in 0..share {
                    latencies.push(cycle(&mut rpc, &element).await?);
                }
                Ok::<_, String>(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(cycles);
    for t in tasks {
        all.extend(t.await.map_err(|e| e.to_string())??);
    }
    let wall = t0.elapsed();
    all.sort();
    Ok((wall, all))
}

/// Waits out the request cache, makes the server evict it, and reads (RSS KiB, threads).
async fn settle(pid: u32, target: &Target) -> Result<(u64, u64), String> {
    tokio::time::sleep(Duration::from_secs(21)).await;
    run_cycles(target, 8, 8).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    rss_and_threads(pid).ok_or_else(|| "cannot read server /proc status".into())
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub async fn run(bin: &Path, conf: &Path, element: &str, cycles: usize, leak_cycles: usize) -> Result<(), String> {
    let server = start_server(bin, conf)?;
    let target = Target { url: server.url.clone(), element: element.to_owned() };
    measure(server.pid(), &target, cycles, leak_cycles).await
}

async fn measure(pid: u32, target: &Target, cycles: usize, leak_cycles: usize) -> Result<(), String> {
    println!("control plane: create MediaPipeline + create {} + release, over the Kurento Protocol", target.element);
    // Warm-up to steady state (allocator pages, table capacities, the request
    // cache at its bound), so the leak gate compares like with like.
    run_cycles(target, leak_cycles, 8).await?;
    println!("| concurrency | cycles | cycles/s | ops/s | p50 cycle | p99 cycle |");
    println!("|---|---|---|---|---|---|");
    for concurrency in [1, 8] {
        let (wall, lat) = run_cycles(target, cycles, concurrency).await?;
        let rate = cycles as f64 / wall.as_secs_f64();
        println!(
            "| {concurrency} | {cycles} | {rate:.0} | {:.0} | {:.2} ms | {:.2} ms |",
            rate * 3.0,
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3
        );
    }
    // The leak gate compares two quiet states: after the throughput runs and
    // after `leak_cycles` more, each once the 20 s duplicate-request cache has
    // expired (KMS semantics: it holds every reply of the last 20 s).
    let before = settle(pid, target).await?;
    run_cycles(target, leak_cycles, 8).await?;
    let after = settle(pid, target).await?;
    let growth = (after.0 as f64 - before.0 as f64) / before.0 as f64 * 100.0;
    println!(
        "leak gate: RSS {} KiB -> {} KiB ({growth:+.1} %) and threads {} -> {} after {leak_cycles} more cycles",
        before.0, after.0, before.1, after.1
    );
    if growth > 5.0 || after.1 > before.1 {
        return Err(format!("leak gate failed: RSS grew {growth:.1} % or threads grew"));
    }
    Ok(())
}
