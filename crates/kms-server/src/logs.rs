//! Logging as KMS operators know it: to standard error (colours only on a
//! terminal, never with `--gst-debug-no-color`), and with `--logs-path`
//! also to `<dir>/media-server.log`, rotated at `--log-file-size` MiB into
//! `media-server.log.1` ... keeping `--number-log-files` of them.
//!
//! Levels: `RUST_LOG` (a tracing filter), or else a `GST_DEBUG`-style level
//! (`0`..`9`; `category:level` pairs after it are left to GStreamer).

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// `--logs-path`, `--log-file-size`, `--number-log-files`.
pub struct Files<'a> {
    pub dir: &'a Path,
    pub size_mib: u64,
    pub count: usize,
}

/// The log file's name in `--logs-path`.
pub const LOG_FILE: &str = "media-server.log";

/// A tracing filter from `RUST_LOG`, or else from a `GST_DEBUG`-style level.
fn filter() -> EnvFilter {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        return filter;
    }
    let level = std::env::var("GST_DEBUG").ok().and_then(|v| v.split(',').next()?.trim().parse::<u8>().ok());
    EnvFilter::new(match level {
        Some(0) => "off",
        Some(1) => "error",
        Some(2) => "warn",
        Some(3 | 4) | None => "info",
        Some(5) => "debug",
        Some(_) => "trace",
    })
}

/// Installs the global subscriber. Errors: the log directory cannot be made.
pub fn init(files: Option<Files>, no_color: bool) -> std::io::Result<()> {
    let ansi = std::io::stderr().is_terminal() && !no_color;
    let stderr = fmt::layer().with_ansi(ansi).with_writer(std::io::stderr).with_filter(filter());
    let file = match files {
        Some(f) => {
            std::fs::create_dir_all(f.dir)?;
            let limit = ContentLimit::Bytes(usize::try_from(f.size_mib.max(1).saturating_mul(1 << 20)).unwrap_or(usize::MAX));
            let writer = FileRotate::new(f.dir.join(LOG_FILE), AppendCount::new(f.count.max(1)), limit, Compression::None, None);
            Some(fmt::layer().with_ansi(false).with_writer(Mutex::new(writer)).with_filter(filter()))
        }
        None => None,
    };
    tracing_subscriber::registry().with(stderr).with(file).init();
    Ok(())
}
