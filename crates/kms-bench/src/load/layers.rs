//! Simulcast figures of a run whose publisher sends three layers (target
//! `ours`, `--source webrtc-simulcast`): which layer the viewers got in the
//! measurement window, and how long a viewer takes to move up once its
//! bandwidth rises, two ways:
//! - its limit: every viewer's endpoint is limited to 200 kbps
//!   (`setMaxVideoSendBandwidth`) until every measured viewer takes the
//!   smallest layer, then the limit is lifted (0: none);
//! - its link (only in a network namespace of the run's own, where `tc` may
//!   shape `lo`): each viewer's datagrams go through an HTB class of its own
//!   at 300 kbit/s (the smallest layer and audio fit, the middle one does
//!   not) until every measured viewer is below the top layer, then they are
//!   removed; the estimate has to grow back.
//!
//! Each time taken is from the lift to a viewer's first frame of the next
//! layer up, and of the top layer (the last time it started: a viewer that
//! reaches a layer, dips and comes back counts from its return). Only viewers that decrypt their media
//! see which layer a frame belongs to (the stamp is in the payload), so
//! those are measured.

use super::kurento::invoke;
use super::media::{ask, Command, Snapshot};
use super::report::median;
use super::socket::peer_ip;
use crate::rpc::Rpc;
use serde_json::json;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// How long the viewers may take to move down, or up, before the run fails.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// How often the viewers' layers are read meanwhile.
const POLL: Duration = Duration::from_millis(100);
/// The limit that puts a viewer on the smallest layer (kbps; the layers
/// are 150, 400 and 1,150 kbit/s, and moving up needs 15 % over a layer).
const LOW_LIMIT_KBPS: u64 = 200;

/// Sets every viewer endpoint's `maxVideoSendBandwidth` (kbps, 0: none);
/// returns when each was set.
pub async fn limit(rpc: &mut Rpc, endpoints: &[String], kbps: u64) -> Result<Vec<Instant>, String> {
    let mut at = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        invoke(rpc, endpoint, "setMaxVideoSendBandwidth", json!({ "maxVideoSendBandwidth": kbps })).await?;
        at.push(Instant::now());
    }
    Ok(at)
}

/// The decrypting viewers of a snapshot: (peer index, stats).
fn measured(snapshot: &Snapshot) -> impl Iterator<Item = &(usize, super::peer::PeerStats)> {
    snapshot.iter().filter(|(_, s)| s.decrypted && s.receives && !s.publishes)
}

/// The frames of each layer the measured viewers received in the window
/// (smallest layer first), for the run's report.
pub fn window_layers(snapshot: &Snapshot) -> String {
    let mut frames = [0u64; 3];
    let mut viewers = 0;
    for (_, s) in measured(snapshot) {
        viewers += 1;
        for (total, n) in frames.iter_mut().zip(s.layer_frames) {
            *total += n;
        }
    }
    format!("simulcast: frames by layer (q/h/f) at {viewers} decrypting viewers: {}/{}/{}", frames[0], frames[1], frames[2])
}

/// Polls the viewers until `done` holds for every measured one (or the
/// limit passes); returns the last snapshot.
async fn settle(media: &Sender<Command>, done: impl Fn(&super::peer::PeerStats) -> bool) -> Result<Snapshot, String> {
    let deadline = Instant::now() + SETTLE_LIMIT;
    loop {
        let snapshot = tokio::task::block_in_place(|| ask(media, Command::Snapshot))?;
        if measured(&snapshot).all(|(_, s)| done(s)) || Instant::now() >= deadline {
            return Ok(snapshot);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits (at most [`SETTLE_LIMIT`]) until every measured viewer takes the
/// top layer, so the window measures viewers that get what the other
/// targets' viewers get (their estimates start at 300 kbps and grow);
/// prints how long that took.
pub async fn wait_for_top(media: &Sender<Command>) -> Result<(), String> {
    let start = Instant::now();
    let snapshot = settle(media, |s| s.layer == Some(2)).await?;
    let (top, total) = (measured(&snapshot).filter(|(_, s)| s.layer == Some(2)).count(), measured(&snapshot).count());
    println!("simulcast: {top} of {total} decrypting viewers on the top layer {:.1} s after they were added", start.elapsed().as_secs_f64());
    Ok(())
}

/// Moves every viewer down and back up, by its limit then by its link (see
/// the module doc); prints the times and fails when a measured viewer did
/// not move down, or did not reach the top layer again within
/// [`SETTLE_LIMIT`]. `endpoints[i]` is peer `i`'s endpoint.
pub async fn move_up(rpc: &mut Rpc, endpoints: &[String], media: &Sender<Command>) -> Result<(), String> {
    let lowered = Instant::now();
    limit(rpc, endpoints, LOW_LIMIT_KBPS).await?;
    let down = settle(media, |s| s.layer == Some(0)).await?;
    let total = measured(&down).count();
    let low = measured(&down).filter(|(_, s)| s.layer == Some(0)).count();
    if total == 0 || low < total {
        return Err(format!("simulcast: {low} of {total} decrypting viewers moved down to the smallest layer under {LOW_LIMIT_KBPS} kbps"));
    }
    println!("simulcast: all {total} decrypting viewers on the smallest layer {:.1} s after a {LOW_LIMIT_KBPS} kbps limit", lowered.elapsed().as_secs_f64());
    let raised = limit(rpc, endpoints, 0).await?;
    back_up(rpc, endpoints, media, "the limit was lifted", &raised).await?;
    if !own_network_namespace() {
        println!("simulcast: link bottleneck skipped (needs a network namespace of the run's own, where tc may shape lo)");
        return Ok(());
    }
    let shaped = Instant::now();
    let bottleneck = Bottleneck::add(endpoints.len())?;
    let down = settle(media, |s| s.layer.is_some_and(|l| l < 2)).await?;
    let below = measured(&down).filter(|(_, s)| s.layer.is_some_and(|l| l < 2)).count();
    let layers: Vec<String> = measured(&down).map(|(_, s)| s.layer.map_or("-".into(), |l| l.to_string())).collect();
    if below < total {
        return Err(format!("simulcast: {below} of {total} decrypting viewers below the top layer behind a {BOTTLENECK_KBITS} kbit/s bottleneck each (layers {})", layers.join(",")));
    }
    println!(
        "simulcast: all {total} decrypting viewers below the top layer {:.1} s after a {BOTTLENECK_KBITS} kbit/s bottleneck each (layers {})",
        shaped.elapsed().as_secs_f64(),
        layers.join(",")
    );
    drop(bottleneck);
    let lifted = vec![Instant::now(); endpoints.len()];
    back_up(rpc, endpoints, media, "the bottleneck was lifted", &lifted).await
}

/// Waits for every measured viewer to take the top layer again after
/// `raised[peer]`; prints how long each took to the next layer up and to
/// the top; fails when one did not get there within [`SETTLE_LIMIT`].
async fn back_up(rpc: &mut Rpc, endpoints: &[String], media: &Sender<Command>, what: &str, raised: &[Instant]) -> Result<(), String> {
    let up = settle(media, |s| s.layer == Some(2)).await?;
    let total = measured(&up).count();
    let after = |peer: usize, at: Option<Instant>| Some(at?.checked_duration_since(*raised.get(peer)?)?.as_secs_f64());
    let (mut next, mut top) = (Vec::new(), Vec::new());
    for (peer, s) in measured(&up) {
        // The next layer up: the first of layers 1 and 2 that started after the lift.
        let started: Vec<f64> = s.layer_started[1..].iter().filter_map(|t| after(*peer, *t)).collect();
        next.extend(started.iter().copied().reduce(f64::min));
        top.extend(after(*peer, s.layer_started[2]).filter(|_| s.layer == Some(2)));
    }
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    println!(
        "simulcast: moving up after {what}: next layer p50 {:.1} s max {:.1} s ({} viewers), top layer p50 {:.1} s max {:.1} s ({} of {total} viewers)",
        median(next.clone()),
        max(&next),
        next.len(),
        median(top.clone()),
        max(&top),
        top.len()
    );
    if top.len() < total {
        let (peer, _) = measured(&up).find(|(_, s)| s.layer != Some(2)).or_else(|| measured(&up).next()).ok_or("no viewer")?;
        let stats = endpoint_layer(rpc, &endpoints[*peer]).await?;
        return Err(format!("simulcast: {} of {total} decrypting viewers back on the top layer within {} s after {what} (viewer {peer}'s endpoint: {stats})", top.len(), SETTLE_LIMIT.as_secs()));
    }
    Ok(())
}

/// What an endpoint's getStats says of the layer it forwards and its
/// estimate (`simulcastLayer`, `availableOutgoingBitrate`), for a failure.
async fn endpoint_layer(rpc: &mut Rpc, endpoint: &str) -> Result<String, String> {
    let stats = invoke(rpc, endpoint, "getStats", json!({ "mediaType": "VIDEO" })).await?;
    let outbound = stats.as_object().and_then(|all| all.values().find(|s| s["type"] == "outboundrtp"));
    Ok(outbound.map_or("no outboundrtp entry".to_owned(), |s| format!("simulcastLayer={} availableOutgoingBitrate={}", s["simulcastLayer"], s["availableOutgoingBitrate"])))
}

/// True inside a network namespace of the run's own (`unshare -n`, as
/// scripts/test.sh runs the smoke benchmark): `lo` is its only link, so
/// shaping it touches nothing else.
fn own_network_namespace() -> bool {
    let out = std::process::Command::new("ip").args(["-o", "link"]).output();
    out.is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).lines().all(|l| l.contains(" lo:")))
}

/// HTB bottlenecks on `lo`, one per viewer (its datagrams, by its address:
/// [`peer_ip`]), removed when dropped.
struct Bottleneck;

/// Per viewer: the smallest layer (150 kbit/s) and audio (64) fit, the
/// middle layer (400) does not.
const BOTTLENECK_KBITS: u64 = 300;

impl Bottleneck {
    /// Shapes the datagrams to viewers `0..viewers`.
    fn add(viewers: usize) -> Result<Bottleneck, String> {
        let mut batch = String::from("qdisc add dev lo root handle 1: htb default 1\nclass add dev lo parent 1: classid 1:1 htb rate 10gbit\n");
        for i in 0..viewers {
            let class = format!("1:{:x}", 0x10 + i);
            batch += &format!("class add dev lo parent 1: classid {class} htb rate {BOTTLENECK_KBITS}kbit ceil {BOTTLENECK_KBITS}kbit\n");
            batch += &format!("qdisc add dev lo parent {class} pfifo limit 30\n");
            batch += &format!("filter add dev lo parent 1: protocol ip prio 1 u32 match ip dst {}/32 flowid {class}\n", peer_ip(i));
        }
        let bottleneck = Bottleneck;
        tc_batch(&batch)?;
        Ok(bottleneck)
    }
}

impl Drop for Bottleneck {
    fn drop(&mut self) {
        if let Err(e) = tc_batch("qdisc del dev lo root\n") {
            eprintln!("simulcast: removing the bottleneck: {e}");
        }
    }
}

/// Runs `tc -batch -` (iproute2) on `commands`, one per line.
fn tc_batch(commands: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new("tc")
        .args(["-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("tc: {e}"))?;
    child.stdin.take().ok_or("tc: no stdin")?.write_all(commands.as_bytes()).map_err(|e| format!("tc: {e}"))?;
    let out = child.wait_with_output().map_err(|e| format!("tc: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("tc: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}
