//! `kurento-media-server`: a Kurento Media Server replacement.
//!
//! Serves the Kurento Protocol on `ws://0.0.0.0:8888/kurento` (configurable)
//! and runs the media plane on a dedicated worker thread.

mod access;
mod cli;
mod cluster;
mod config;
mod control;
mod http_endpoint;
mod logs;
mod media;
mod metrics;
mod modules;
mod outgoing;
mod scaffold;
mod ws;

use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::net::TcpListener;

/// mimalloc returns freed pages to the OS, so resident memory follows the live
/// set after bursts (e.g. a full duplicate-request cache expiring) instead of
/// staying at the peak as with glibc's arenas.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Command line, with KMS's flags (and their `KURENTO_*` environment forms).
#[derive(Parser, Debug)]
#[command(name = "kurento-media-server", about = "Kurento Media Server replacement", disable_version_flag = true)]
struct Args {
    /// Main configuration file (KMS: -f/--conf-file).
    #[arg(short = 'f', long, env = "KURENTO_CONF_FILE", default_value = "/etc/kurento/kurento.conf.json")]
    conf_file: PathBuf,
    /// Module configuration directory (KMS: -c/--modules-config-path); default `<conf dir>/modules`.
    #[arg(short = 'c', long, env = "KURENTO_MODULES_CONFIG_PATH")]
    modules_config_path: Option<PathBuf>,
    /// Where modules are searched (KMS: -p/--modules-path; `:`-separated
    /// directories, searched recursively for `*.kmd.json`, before KMS's
    /// default directory; see `modules.rs`).
    #[arg(short = 'p', long, env = "KURENTO_MODULES_PATH")]
    modules_path: Option<String>,
    /// WebSocket listen address; overrides mediaServer.net.websocket.address.
    #[arg(long)]
    address: Option<String>,
    /// WebSocket port; overrides mediaServer.net.websocket.port.
    #[arg(long)]
    port: Option<u16>,
    /// Print the factory names and exit (KMS: -l/--list).
    #[arg(short = 'l', long)]
    list: bool,
    /// Print the version and exit (KMS: -v/--version).
    #[arg(short = 'v', long)]
    version: bool,
    /// Also write the log to files in this directory (KMS: -d/--logs-path).
    #[arg(short = 'd', long, env = "KURENTO_LOGS_PATH")]
    logs_path: Option<PathBuf>,
    /// Size in MiB at which a log file is rotated (KMS: -s/--log-file-size, 100).
    #[arg(short = 's', long, env = "KURENTO_LOG_FILE_SIZE", default_value_t = 100)]
    log_file_size: u64,
    /// Rotated log files kept (KMS: -n/--number-log-files, 10).
    #[arg(short = 'n', long, env = "KURENTO_NUMBER_LOG_FILES", default_value_t = 10)]
    number_log_files: usize,
    /// Log line format: `text` or `json` (one object per line; ours).
    #[arg(long, env = "KMS_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn main() -> std::process::ExitCode {
    // `module new NAME [DIR]`: the module scaffold (KMS has no positional arguments).
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("module") {
        return scaffold::run(&argv[2..]);
    }
    // KMS's command line: GStreamer's options applied, unknown ones warned about.
    let sorted = cli::sort::<Args>(std::env::args());
    let args = Args::parse_from(&sorted.ours);
    if args.version {
        println!("kurento-media-server {} (Kurento API {})", env!("CARGO_PKG_VERSION"), control::KMS_API_VERSION);
        return std::process::ExitCode::SUCCESS;
    }
    if args.list {
        modules::load(args.modules_path.as_deref());
        for m in kms_idl::Idl::get().modules() {
            for f in &m.factories {
                println!("{f}");
            }
        }
        return std::process::ExitCode::SUCCESS;
    }
    let no_color = sorted.gst.iter().any(|o| o.name == "gst-debug-no-color");
    let files = args.logs_path.as_deref().map(|dir| logs::Files { dir, size_mib: args.log_file_size, count: args.number_log_files });
    if let Err(e) = logs::init(files, no_color, args.log_format == "json") {
        eprintln!("cannot write logs: {e}");
        return std::process::ExitCode::FAILURE;
    }
    for arg in &sorted.unknown {
        tracing::warn!("unknown argument {arg:?} ignored");
    }
    if let Err(e) = kms_gst::init() {
        tracing::warn!("GStreamer is not available (PlayerEndpoint and RecorderEndpoint will fail): {e}");
    }
    for warning in cli::apply_gst(&sorted.gst) {
        tracing::warn!("{warning}");
    }
    modules::load(args.modules_path.as_deref());
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let env = |k: &str| std::env::var(k).ok();
    let mut config = config::Config::load(&args.conf_file, args.modules_config_path.as_deref(), &env)?;
    if let Some(a) = args.address {
        config.ws_address = Some(a);
    }
    if let Some(p) = args.port {
        config.ws_port = p;
    }
    if config.cluster.role == cluster::Role::Entry {
        return run_entry(config).await;
    }
    for codec in config.codecs.unsupported() {
        tracing::warn!(codec = %codec.name, clock_rate = codec.clock_rate, "SdpEndpoint codec not supported here; skipped");
    }
    let (events_tx, events_rx) = tokio::sync::mpsc::channel(media::EVENT_QUEUE);
    let media = media::MediaHandle::spawn(&config, events_tx)?;
    let listener = bind(&config).await?;
    let server = control::Server::new(config, media);
    tokio::spawn(server.clone().run_event_pump(events_rx));
    tokio::spawn(server.clone().run_gc());
    if server.config.wss_port != 0 {
        tokio::spawn(serve_secure(server.clone()));
    }
    tracing::info!("Kurento Protocol listening on ws://{}/{}", listener.local_addr()?, server.config.ws_path);
    let node = server.config.cluster.role == cluster::Role::Node;
    if node {
        let uri = cluster::node::advertised_uri(&server, listener.local_addr()?);
        tracing::info!(node = %server.config.cluster.node_id, %uri, redis = %server.config.cluster.redis_url, "cluster: running as a media node");
        tokio::spawn(cluster::node::heartbeat(server.clone(), uri));
    }
    let app = match server.config.metrics_address {
        Some(addr) => {
            let metrics = TcpListener::bind(addr).await?;
            tracing::info!("metrics and health on http://{}/metrics", metrics.local_addr()?);
            let router = metrics::router(server.clone());
            tokio::spawn(async move { axum::serve(metrics, router).await });
            ws::router(server.clone())
        }
        None => ws::router(server.clone()).merge(metrics::router(server.clone())),
    };
    axum::serve(listener, app).with_graceful_shutdown(shutdown(server.clone())).await?;
    if node {
        cluster::node::leave(&server).await;
    }
    Ok(())
}

/// The cluster entry: no media of its own; applications' requests go to the
/// media nodes registered in Redis (see `cluster::entry`).
async fn run_entry(config: config::Config) -> Result<(), Box<dyn std::error::Error>> {
    let listener = bind(&config).await?;
    let entry = cluster::entry::Entry::new(config);
    tokio::spawn(entry.clone().watch_nodes());
    tracing::info!(redis = %entry.config.cluster.redis_url, "cluster entry: Kurento Protocol listening on ws://{}/{}", listener.local_addr()?, entry.config.ws_path);
    let app = ws::router(entry.clone()).merge(cluster::entry::health_router(entry));
    axum::serve(listener, app).with_graceful_shutdown(stop_signal()).await?;
    tracing::info!("shutting down");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// `wss://` on `secure.port` with the PEM `secure.certificate` (chain + key in
/// one file, as KMS takes it). A failure is logged and `ws://` keeps serving.
async fn serve_secure(server: std::sync::Arc<control::Server>) {
    let config = &server.config;
    let Some(path) = config.wss_certificate.clone() else { return };
    let pem = match tokio::fs::read(&path).await {
        Ok(pem) => pem,
        Err(e) => return tracing::error!("wss disabled: cannot read {}: {e}", path.display()),
    };
    let tls = match axum_server::tls_rustls::RustlsConfig::from_pem(pem.clone(), pem).await {
        Ok(tls) => tls,
        Err(e) => return tracing::error!("wss disabled: {} is not a usable PEM certificate + key: {e}", path.display()),
    };
    let ip: std::net::IpAddr = config.ws_address.as_deref().and_then(|a| a.parse().ok()).unwrap_or([0, 0, 0, 0].into());
    let addr = SocketAddr::new(ip, config.wss_port);
    tracing::info!("Kurento Protocol listening on wss://{addr}/{}", config.ws_path);
    let router = ws::router(server.clone());
    if let Err(e) = axum_server::bind_rustls(addr, tls).serve(router.into_make_service()).await {
        tracing::error!("wss server stopped: {e}");
    }
}

/// Binds the configured address, or `[::]` (dual stack) falling back to `0.0.0.0`.
async fn bind(config: &config::Config) -> std::io::Result<TcpListener> {
    let port = config.ws_port;
    match &config.ws_address {
        Some(a) => {
            let ip: std::net::IpAddr = a.parse().map_err(|e| std::io::Error::other(format!("bad websocket address '{a}': {e}")))?;
            TcpListener::bind(SocketAddr::new(ip, port)).await
        }
        None => match TcpListener::bind(("::", port)).await {
            Ok(l) => Ok(l),
            Err(_) => TcpListener::bind(("0.0.0.0", port)).await,
        },
    }
}

/// Waits for SIGTERM or SIGINT, then drains: readiness answers 503 for
/// `drainPeriod` while everything keeps serving, then the server stops. A
/// cluster node also stops once a drain asked with SIGUSR1 is complete.
async fn shutdown(server: std::sync::Arc<control::Server>) {
    if server.config.cluster.role == cluster::Role::Node {
        tokio::select! {
            () = stop_signal() => {}
            () = cluster::node::drained(server.clone()) => return tracing::info!("cluster: drained; shutting down"),
        }
    } else {
        stop_signal().await;
    }
    server.draining.store(true, std::sync::atomic::Ordering::Relaxed);
    let drain = server.config.drain_period;
    if !drain.is_zero() {
        tracing::info!("draining for {} s (readiness answers 503)", drain.as_secs());
        tokio::time::sleep(drain).await;
    }
    tracing::info!("shutting down");
}
