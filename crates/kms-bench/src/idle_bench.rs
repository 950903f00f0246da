//! Idle cost: the server's CPU and memory with N idle pipelines, each holding
//! a WebRtcEndpoint that generated an offer and gathered its candidates and
//! then hears nothing (no answer, no peer): what an application that leaves
//! rooms open costs. The goal is no measurable CPU.

use crate::proc_stats::{rss_and_threads, CpuSample};
use crate::rpc::Rpc;
use crate::server::start_server;
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// Connections the pipelines are created over (concurrently).
const CONNECTIONS: usize = 8;

/// Creates `pipelines` idle pipelines, then measures the server's CPU over
/// `window`, beside the same server's CPU before (no pipelines). Fails when
/// the idle pipelines add more than `max_percent` of one core.
pub async fn run(bin: &Path, conf: &Path, pipelines: usize, window: Duration, max_percent: f64) -> Result<(), String> {
    let server = start_server(bin, conf)?;
    let pid = server.pid();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let empty_rss = rss_and_threads(pid).ok_or("server /proc status")?.0;
    let sample = CpuSample::take(pid)?;
    tokio::time::sleep(window).await;
    let (empty_cpu, _) = sample.percent()?;

    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(Rpc::connect(&server.url).await?);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut rpc)| {
            let share = pipelines / CONNECTIONS + usize::from(i < pipelines % CONNECTIONS);
            tokio::spawn(async move {
                for _ in 0..share {
                    let pipeline = rpc.create(json!({ "type": "MediaPipeline" })).await?;
                    let endpoint = rpc.create(json!({ "type": "WebRtcEndpoint", "constructorParams": { "mediaPipeline": pipeline } })).await?;
                    for operation in ["generateOffer", "gatherCandidates"] {
                        rpc.call("invoke", json!({ "object": endpoint, "operation": operation, "operationParams": {} })).await?;
                    }
                }
                // Kept open: closing the session would not release the objects,
                // but the bench keeps its sessions as an application would.
                Ok::<_, String>(rpc)
            })
        })
        .collect();
    let mut open = Vec::new();
    for t in tasks {
        open.push(t.await.map_err(|e| e.to_string())??);
    }
    // Gathering and the first ICE timers settle.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let sample = CpuSample::take(pid)?;
    tokio::time::sleep(window).await;
    let (idle_cpu, seconds) = sample.percent()?;
    let rss = rss_and_threads(pid).ok_or("server /proc status")?.0;
    drop(open);
    let added = idle_cpu - empty_cpu;
    println!("idle cost: {pipelines} pipelines, each a WebRtcEndpoint that generated an offer and gathered (no peer)");
    println!("| pipelines | server CPU (% of one core) | RSS (KiB) | window |");
    println!("|---|---|---|---|");
    println!("| 0 | {empty_cpu:.2} | {empty_rss} | {:.0} s |", window.as_secs_f64());
    println!("| {pipelines} | {idle_cpu:.2} | {rss} | {seconds:.0} s |");
    let per = (rss.saturating_sub(empty_rss)) as f64 / pipelines.max(1) as f64;
    println!("added by the idle pipelines: {added:.2} % of one core, {per:.1} KiB each (goal: at most {max_percent} % of one core)");
    if added > max_percent {
        return Err(format!("idle pipelines cost {added:.2} % of one core, more than {max_percent} %"));
    }
    Ok(())
}
