//! The media-node role: the server as usual, plus its record in Redis
//! (`records`), refreshed every third of the TTL with its load; removed on a
//! clean stop. SIGUSR1 drains the node: its record says so (the entry places
//! no new pipeline on it) and it stops once it holds no pipeline.

use super::records::{self, NodeRecord};
use crate::control::Server;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// This node's `ws://` URI for the entry: `advertisedUri`, or the WebSocket
/// listener's address (127.0.0.1 for a wildcard one), port and path.
pub fn advertised_uri(server: &Server, listening: std::net::SocketAddr) -> String {
    if let Some(uri) = &server.config.cluster.advertised_uri {
        return uri.clone();
    }
    let ip = if listening.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { listening.ip() };
    format!("ws://{}/{}", std::net::SocketAddr::new(ip, listening.port()), server.config.ws_path)
}

/// The record of this node now; `cpu` is measured since the last call.
fn record(server: &Server, uri: &str, cpu: &mut (Instant, std::time::Duration)) -> NodeRecord {
    let (pipelines, objects) = {
        let state = server.lock();
        (state.registry.pipelines().len(), state.registry.objects().count())
    };
    let (now, used) = (Instant::now(), crate::control::cpu_time());
    let wall = now.saturating_duration_since(cpu.0).as_secs_f64().max(1e-3);
    let percent = 100.0 * used.saturating_sub(cpu.1).as_secs_f64() / wall;
    *cpu = (now, used);
    let public = ["externalIPv4", "externalIPv6"].iter().filter_map(|k| server.config.webrtc.get(*k)).filter(|a| !a.is_empty() && *a != "auto");
    NodeRecord {
        id: server.config.cluster.node_id.clone(),
        uri: uri.to_owned(),
        public_addresses: public.cloned().collect(),
        pipelines,
        objects,
        cpu: (percent * 10.0).round() / 10.0,
        draining: server.draining.load(Ordering::Relaxed),
    }
}

/// Keeps this node's record in Redis until the process stops. Redis being
/// down (at start or later) is logged and retried every heartbeat; the
/// record is written again as soon as Redis is back (a Redis restart loses
/// no node and no pipeline: pipelines live on the nodes).
pub async fn heartbeat(server: Arc<Server>, uri: String) {
    let cluster = &server.config.cluster;
    let mut tick = tokio::time::interval(cluster.ttl / 3);
    let mut redis = records::Redis::new(&cluster.redis_url);
    let mut cpu = (Instant::now(), crate::control::cpu_time());
    // Logged once per change between registered and failing.
    let mut failing = true;
    loop {
        tick.tick().await;
        let Some(c) = redis.get().await else { continue };
        let rec = record(&server, &uri, &mut cpu);
        match records::publish(c, &rec, cluster.ttl).await {
            Ok(()) if failing => {
                tracing::info!(node = %rec.id, %uri, "cluster: node registered in Redis");
                failing = false;
            }
            Ok(()) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!("cluster: cannot refresh this node's record (retrying): {e}");
                }
                failing = true;
            }
        }
    }
}

/// Removes this node's record (a clean stop: the entry forgets it at once).
pub async fn leave(server: &Server) {
    let cluster = &server.config.cluster;
    match records::connect(&cluster.redis_url).await {
        Ok(mut c) => match records::remove(&mut c, &cluster.node_id).await {
            Ok(()) => tracing::info!(node = %cluster.node_id, "cluster: node left"),
            Err(e) => tracing::warn!("cluster: cannot remove this node's record: {e}"),
        },
        Err(e) => tracing::warn!("cluster: cannot reach Redis to leave: {e}"),
    }
}

/// Resolves once SIGUSR1 asked for a drain and the node holds no pipeline.
pub async fn drained(server: Arc<Server>) {
    let Ok(mut usr1) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()) else {
        return std::future::pending().await;
    };
    usr1.recv().await;
    server.draining.store(true, Ordering::Relaxed);
    tracing::info!("cluster: draining: no new pipelines; stopping once the last one is released");
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        if server.lock().registry.pipelines().is_empty() {
            return;
        }
    }
}
