//! Logging as KMS operators know it: to standard error (colours only on a
//! terminal, never with `--gst-debug-no-color`), and with `--logs-path`
//! also to `<dir>/media-server.log`, rotated at `--log-file-size` MiB into
//! `media-server.log.1` ... keeping `--number-log-files` of them.
//!
//! Levels: `RUST_LOG` (a tracing filter), or else `GST_DEBUG` as KMS takes
//! it: a default level and `category:level` pairs, where a category names a
//! tracing target (a crate: `kms_webrtc`, `kms_gst`, `kurento_media_server`).
//! `--log-format json` (`KMS_LOG_FORMAT=json`) writes JSON lines.

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

/// A tracing filter from `RUST_LOG`, or else from `GST_DEBUG` (see [`gst_debug_filter`]).
fn filter() -> EnvFilter {
    let rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    if let Some(filter) = rust_log.and_then(|v| EnvFilter::try_new(v).ok()) {
        return filter;
    }
    EnvFilter::new(gst_debug_filter(&std::env::var("GST_DEBUG").unwrap_or_default()))
}

/// GStreamer's debug levels as tracing levels.
fn level_name(level: u8) -> &'static str {
    match level {
        0 => "off",
        1 => "error",
        2 => "warn",
        3 | 4 => "info",
        5 => "debug",
        _ => "trace",
    }
}

/// KMS's own debug categories, as its suggested `GST_DEBUG` (and its Docker
/// image's default) names them, and the tracing targets that carry those
/// logs here: `Kurento*:4` shows the server's own info lines, as in KMS.
const KMS_CATEGORIES: &[(&str, &[&str])] = &[
    ("Kurento*", &["kurento_media_server"]),
    ("kms*", &["kms_media", "kms_webrtc", "kms_gst"]),
    ("webrtc*", &["kms_webrtc"]),
    ("*rtpendpoint", &["kms_webrtc", "kms_gst"]),
];

/// A `GST_DEBUG` list (`3,kms_webrtc:5,rtp*:6`) as a tracing filter: the bare
/// level is the default, each `category:level` without a wildcard sets that
/// target (`kms_webrtc=debug`), KMS's category families set their targets
/// (see [`KMS_CATEGORIES`]); other wildcard categories are GStreamer's own,
/// which GStreamer applies itself.
pub fn gst_debug_filter(spec: &str) -> String {
    let mut default = "info";
    let mut targets = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        match item.rsplit_once(':') {
            None => {
                if let Ok(n) = item.parse::<u8>() {
                    default = level_name(n);
                }
            }
            Some((category, level)) => {
                let Ok(n) = level.parse::<u8>() else { continue };
                if let Some((_, kms)) = KMS_CATEGORIES.iter().find(|(c, _)| *c == category) {
                    targets.extend(kms.iter().map(|t| format!("{t}={}", level_name(n))));
                } else if !(category.contains('*') || category.is_empty()) {
                    targets.push(format!("{category}={}", level_name(n)));
                }
            }
        }
    }
    std::iter::once(default.to_owned()).chain(targets).collect::<Vec<_>>().join(",")
}

/// One output: text (colours when `ansi`) or JSON lines.
fn layer<S, W>(writer: W, ansi: bool, json: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    if json {
        fmt::layer().json().with_writer(writer).with_filter(filter()).boxed()
    } else {
        fmt::layer().with_ansi(ansi).with_writer(writer).with_filter(filter()).boxed()
    }
}

/// Installs the global subscriber (`json`: one JSON object per line).
/// Errors: the log directory cannot be made.
pub fn init(files: Option<Files>, no_color: bool, json: bool) -> std::io::Result<()> {
    let ansi = std::io::stderr().is_terminal() && !no_color;
    let file = match files {
        Some(f) => {
            std::fs::create_dir_all(f.dir)?;
            let limit = ContentLimit::Bytes(usize::try_from(f.size_mib.max(1).saturating_mul(1 << 20)).unwrap_or(usize::MAX));
            let writer = FileRotate::new(f.dir.join(LOG_FILE), AppendCount::new(f.count.max(1)), limit, Compression::None, None);
            Some(layer(Mutex::new(writer), false, json))
        }
        None => None,
    };
    tracing_subscriber::registry().with(layer(std::io::stderr, ansi, json)).with(file).init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gst_debug_lists_become_tracing_filters() {
        assert_eq!(gst_debug_filter(""), "info");
        assert_eq!(gst_debug_filter("5"), "debug");
        assert_eq!(gst_debug_filter("2,kms_webrtc:6,rtp*:5,kurento_media_server:1"), "warn,kms_webrtc=trace,kurento_media_server=error");
        assert_eq!(gst_debug_filter("x,:4,a:b"), "info");
        // KMS's image default: its own categories at info, the rest at warnings.
        assert_eq!(
            gst_debug_filter("2,Kurento*:4,kms*:4,sdp*:4,webrtc*:4,*rtpendpoint:4,rtp*handler:4"),
            "warn,kurento_media_server=info,kms_media=info,kms_webrtc=info,kms_gst=info,kms_webrtc=info,kms_webrtc=info,kms_gst=info"
        );
    }
}
