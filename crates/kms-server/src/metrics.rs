//! Operations endpoints on the Kurento port (or `metrics_address`):
//! Prometheus metrics (text exposition format 0.0.4) at `/metrics`,
//! liveness at `/health/live` and readiness at `/health/ready` (the media
//! worker answers within [`READY_WAIT`] and the server is not draining; 503
//! otherwise). KMS's own health behaviour on the WebSocket path stays.
//!
//! Everything is read when scraped: the registry (sessions, objects by
//! class), the media worker (endpoint states, RTP counters of the live
//! endpoints, transcoders, its load) and `/proc/self` (CPU, memory,
//! threads, descriptors).

use crate::control::Server;
use crate::media::WorkerLoad;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kms_gst::RtpEndpoint;
use kms_media::{RtpStreamStats, StreamDirection};
use kms_webrtc::WebRtcEndpoint;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

/// How long readiness waits for the media worker.
pub const READY_WAIT: Duration = Duration::from_millis(500);

/// The routes, to merge into the Kurento port's router.
pub fn router(server: Arc<Server>) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/health/live", axum::routing::get(|| async { "alive\n" }))
        .route("/health/ready", axum::routing::get(ready))
        .with_state(server)
}

async fn ready(State(server): State<Arc<Server>>) -> Response {
    if server.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining: the server is stopping\n").into_response();
    }
    match tokio::time::timeout(READY_WAIT, server.media.call_all(|_, _| ())).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready\n").into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "the media worker does not answer\n").into_response(),
    }
}

async fn metrics(State(server): State<Arc<Server>>) -> Response {
    match render(&server).await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

/// Text exposition: `# HELP`, `# TYPE`, then one line per label set.
#[derive(Default)]
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str, samples: impl IntoIterator<Item = (String, f64)>) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(self.0, "{name}{labels} {value}");
        }
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help, [(String::new(), value)]);
    }
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))).collect();
    format!("{{{}}}", inner.join(","))
}

/// What the media worker reports for a scrape.
#[derive(Default)]
struct MediaFigures {
    /// (ICE state, DTLS state) -> WebRtcEndpoints.
    webrtc_states: BTreeMap<(String, String), u64>,
    streams: Vec<RtpStreamStats>,
    transcoders: u64,
}

async fn render(server: &Server) -> Result<String, String> {
    let (sessions, by_class, endpoints, pipelines) = {
        let state = server.lock();
        let mut by_class: BTreeMap<String, u64> = BTreeMap::new();
        let mut endpoints = Vec::new();
        let mut pipelines = Vec::new();
        for o in state.registry.objects() {
            *by_class.entry(o.class.name.clone()).or_default() += 1;
            match o.backing {
                crate::control::Backing::Element { pipeline, element } if matches!(o.class.name.as_str(), "WebRtcEndpoint" | "RtpEndpoint") => {
                    endpoints.push((pipeline, element))
                }
                crate::control::Backing::Pipeline(p) => pipelines.push(p),
                _ => {}
            }
        }
        (state.sessions.ids().len(), by_class, endpoints, pipelines)
    };
    let (endpoints, pipelines) = (Arc::new(endpoints), Arc::new(pipelines));
    let per_worker = server
        .media
        .call_all(move |worker, _| {
            let mut f = MediaFigures::default();
            let index = worker.index();
            let own = move |p: &crate::media::PipelineHandle| p.worker() == index;
            for &(pipeline, element) in endpoints.iter().filter(|(p, _)| own(p)) {
                let Some(p) = worker.pipeline(pipeline) else { continue };
                if let Some(w) = p.element_mut::<WebRtcEndpoint>(element) {
                    let (ice, dtls) = w.connection_states();
                    *f.webrtc_states.entry((ice.as_str().to_owned(), dtls.as_str().to_owned())).or_default() += 1;
                    f.streams.extend(w.stats());
                } else if let Some(r) = p.element_mut::<RtpEndpoint>(element) {
                    f.streams.extend(r.stats());
                }
            }
            for &pipeline in pipelines.iter().filter(|p| own(p)) {
                f.transcoders += worker.pipeline(pipeline).map_or(0, |p| p.transcoders().len() as u64);
            }
            f
        })
        .await
        .map_err(|_| "the media worker is gone".to_owned())?;
    let mut figures = MediaFigures::default();
    for f in per_worker {
        for (states, n) in f.webrtc_states {
            *figures.webrtc_states.entry(states).or_default() += n;
        }
        figures.streams.extend(f.streams);
        figures.transcoders += f.transcoders;
    }
    let mut out = Exposition::default();
    out.one("kms_sessions", "gauge", "Kurento sessions.", sessions as f64);
    out.one("kms_pipelines", "gauge", "MediaPipelines.", by_class.get("MediaPipeline").copied().unwrap_or(0) as f64);
    out.family(
        "kms_objects",
        "gauge",
        "Media objects by class (elements, hubs, hub ports).",
        by_class.iter().filter(|(c, _)| *c != "ServerManager").map(|(c, n)| (labels(&[("type", c)]), *n as f64)),
    );
    out.one("kms_hub_ports", "gauge", "HubPorts.", by_class.get("HubPort").copied().unwrap_or(0) as f64);
    out.one("kms_transcoders", "gauge", "Transcoders the pipelines run (one per source and media type).", figures.transcoders as f64);
    out.family(
        "kms_webrtc_endpoints",
        "gauge",
        "WebRtcEndpoints by ICE and DTLS state.",
        figures.webrtc_states.iter().map(|((ice, dtls), n)| (labels(&[("ice_state", ice), ("dtls_state", dtls)]), *n as f64)),
    );
    rtp_families(&mut out, &figures.streams);
    load_families(&mut out, &server.media.loads());
    process_families(&mut out);
    Ok(out.0)
}

/// The RTP counters of the live endpoints' streams, summed per direction
/// and media type (they drop when an endpoint goes: gauges, not counters).
fn rtp_families(out: &mut Exposition, streams: &[RtpStreamStats]) {
    type Key = (&'static str, &'static str);
    let mut sums: BTreeMap<Key, [u64; 5]> = BTreeMap::new();
    for s in streams {
        let direction = if s.direction == StreamDirection::Inbound { "in" } else { "out" };
        let media = if s.media_type == kms_media::MediaType::Audio { "audio" } else { "video" };
        let sum = sums.entry((direction, media)).or_default();
        sum[0] += s.packets;
        sum[1] += s.bytes;
        sum[2] += s.nack_count;
        sum[3] += s.pli_count + s.fir_count;
        sum[4] += s.remb.unwrap_or(0);
    }
    let family = |i: usize| sums.iter().map(move |((d, m), v)| (labels(&[("direction", d), ("media", m)]), v[i] as f64)).collect::<Vec<_>>();
    out.family("kms_rtp_packets", "gauge", "RTP packets of the live endpoints' streams (in: received, out: sent).", family(0));
    out.family("kms_rtp_bytes", "gauge", "RTP payload bytes of the live endpoints' streams.", family(1));
    out.family("kms_rtcp_nacks", "gauge", "NACKs: sent for inbound streams, received for outbound ones.", family(2));
    out.family("kms_rtcp_keyframe_requests", "gauge", "PLI and FIR: sent for inbound streams, received for outbound ones.", family(3));
    out.family("kms_remb_bitrate", "gauge", "Sum of the latest REMB per stream, bits/s: sent for inbound, received for outbound.", family(4));
}

/// Per-worker figures, labelled `worker="<index>"`.
fn load_families(out: &mut Exposition, loads: &[Arc<WorkerLoad>]) {
    let scrapes: Vec<_> = loads.iter().map(|l| l.scrape()).collect();
    let worker = |i: usize| labels(&[("worker", &i.to_string())]);
    let per_worker = |value: &dyn Fn(usize) -> f64| (0..loads.len()).map(|i| (worker(i), value(i))).collect::<Vec<_>>();
    out.family("kms_media_worker_busy_seconds_total", "counter", "Time each media worker spent working.", per_worker(&|i| scrapes[i].0.as_secs_f64()));
    out.family("kms_media_worker_wakeups_total", "counter", "Media worker wake-ups (commands, datagrams, islands, timers).", per_worker(&|i| scrapes[i].1 as f64));
    out.family("kms_media_worker_busy_ratio", "gauge", "Busy share of each media worker since the previous scrape (0..1).", per_worker(&|i| scrapes[i].2));
    out.family("kms_media_worker_wakeup_lag_seconds", "gauge", "Largest lateness of a timer wake-up since the previous scrape.", per_worker(&|i| scrapes[i].3.as_secs_f64()));
    out.family("kms_media_worker_pipelines", "gauge", "MediaPipelines placed on each media worker.", per_worker(&|i| loads[i].pipelines() as f64));
    let unmatched = loads.iter().enumerate().flat_map(|(i, l)| {
        let u = l.unmatched();
        [("scanned", u.scanned), ("cached", u.cached), ("limited", u.limited)]
            .map(|(outcome, n)| (labels(&[("worker", &i.to_string()), ("outcome", outcome)]), n as f64))
    });
    out.family(
        "kms_media_unmatched_datagrams_total",
        "counter",
        "Datagrams no route claimed: scanned for an endpoint, dropped by the negative route cache (cached), dropped by the scan budget (limited).",
        unmatched.collect::<Vec<_>>(),
    );
}

/// CPU, memory, threads and descriptors of this process (`/proc/self`).
fn process_families(out: &mut Exposition) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 14th, stime the 15th.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or(Vec::new(), |(_, rest)| rest.split_whitespace().collect());
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    out.one("process_cpu_seconds_total", "counter", "User and system CPU time.", (ticks(11) + ticks(12)) / hz);
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok()).unwrap_or(0.0);
    out.one("process_resident_memory_bytes", "gauge", "Resident memory.", field("VmRSS:") * 1024.0);
    out.one("process_threads", "gauge", "Threads.", field("Threads:"));
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    out.one("process_open_fds", "gauge", "Open file descriptors.", fds as f64);
}
