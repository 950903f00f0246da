//! The cluster benchmark: control-plane cycles through the entry beside the
//! same cycles on a node directly, and how 1,000 pipelines spread over two
//! nodes. Starts its own Redis (redis-server), two media nodes and the entry
//! on loopback.

use crate::control::{percentile, run_cycles, Target};
use crate::rpc::Rpc;
use crate::server::{start_redis, start_server_with};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

/// Pipelines of the placement check.
const PLACED: usize = 1000;

pub async fn run(bin: &Path, conf: &Path, cycles: usize, min_ratio: f64) -> Result<(), String> {
    let redis = start_redis()?;
    let common = [("KMS_CLUSTER_REDIS_URL", redis.url.as_str()), ("KMS_CLUSTER_TTL", "2")];
    let node = |id: &'static str| {
        let mut env = common.to_vec();
        env.extend([("KMS_CLUSTER_ROLE", "node"), ("KMS_CLUSTER_NODE_ID", id)]);
        start_server_with(bin, conf, &env)
    };
    let (a, _b) = (node("node-a")?, node("node-b")?);
    let mut env = common.to_vec();
    env.push(("KMS_CLUSTER_ROLE", "entry"));
    let entry = start_server_with(bin, conf, &env)?;
    // The entry reads the nodes every third of the TTL.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    println!("cluster: create MediaPipeline + create WebRtcEndpoint + release, on a node directly and through the entry (2 nodes, Redis, all on loopback)");
    println!("| via | concurrency | cycles | cycles/s | ops/s | p50 cycle | p99 cycle |");
    println!("|---|---|---|---|---|---|---|");
    let mut rates = HashMap::new();
    for (via, url) in [("node", &a.url), ("entry", &entry.url)] {
        let target = Target { url: url.clone(), element: "WebRtcEndpoint".into() };
        run_cycles(&target, cycles / 4, 8).await?;
        for concurrency in [1, 8] {
            let (wall, lat) = run_cycles(&target, cycles, concurrency).await?;
            let rate = cycles as f64 / wall.as_secs_f64();
            rates.insert((via, concurrency), rate);
            println!(
                "| {via} | {concurrency} | {cycles} | {rate:.0} | {:.0} | {:.2} ms | {:.2} ms |",
                rate * 3.0,
                percentile(&lat, 0.50).as_secs_f64() * 1e3,
                percentile(&lat, 0.99).as_secs_f64() * 1e3
            );
        }
    }

    // Placement: PLACED pipelines through the entry, eight clients at a time.
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(Rpc::connect(&entry.url).await?);
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .map(|mut rpc| {
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for _ in 0..PLACED / 8 {
                    ids.push(rpc.create(json!({ "type": "MediaPipeline" })).await?);
                }
                for id in &ids {
                    rpc.call("release", json!({ "object": id })).await?;
                }
                Ok::<_, String>(ids)
            })
        })
        .collect();
    let mut per_node: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        for id in t.await.map_err(|e| e.to_string())?? {
            let node = id.split('~').next().unwrap_or_default().to_owned();
            *per_node.entry(node).or_default() += 1;
        }
    }
    let mut placed: Vec<_> = per_node.into_iter().collect();
    placed.sort();
    println!("placement of {PLACED} pipelines through the entry: {placed:?}");

    let (lo, hi) = (placed.iter().map(|p| p.1).min().unwrap_or(0), placed.iter().map(|p| p.1).max().unwrap_or(0));
    let ratio = rates[&("entry", 8)] / rates[&("node", 8)];
    println!("verdict: entry/node cycles at concurrency 8 = {ratio:.2} (fails below {min_ratio}); placement {lo}..{hi} (fails beyond 45..55 %)");
    if placed.len() != 2 || (hi as f64) > PLACED as f64 * 0.55 {
        return Err(format!("placement unbalanced: {placed:?}"));
    }
    if ratio < min_ratio {
        return Err(format!("the entry carries {ratio:.2} of a node's control-plane rate (below {min_ratio})"));
    }
    Ok(())
}
