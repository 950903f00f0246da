//! KMS's command line, as scripts written for KMS call it.
//!
//! The arguments are sorted before clap sees them: GStreamer's own options
//! (`--gst-debug=...`, `--gst-debug-level=N`, `--gst-debug-no-color`,
//! `--gst-plugin-path=...`, every other `--gst-*`) are taken out and applied
//! to GStreamer as `gst_init` would; an argument the server does not know is
//! warned about and dropped, never fatal (KMS's GOption parser would stop; a
//! drop-in must start where KMS's scripts start it).

use clap::CommandFactory;
use gstreamer as gst;

/// One `--gst-*` option: its name without `--` and its value, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GstOption {
    pub name: String,
    pub value: Option<String>,
}

/// The command line sorted: what clap parses, GStreamer's options, and what
/// nobody knows.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sorted {
    pub ours: Vec<String>,
    pub gst: Vec<GstOption>,
    pub unknown: Vec<String>,
}

/// GStreamer options that take a value (`--gst-debug LEVEL` or `--gst-debug=LEVEL`).
const GST_WITH_VALUE: [&str; 5] = ["gst-debug", "gst-debug-level", "gst-plugin-path", "gst-plugin-load", "gst-debug-color-mode"];

/// Sorts `argv` (program name first) by who understands each argument,
/// given the long and short names clap knows for `C` and which take values.
pub fn sort<C: CommandFactory>(argv: impl IntoIterator<Item = String>) -> Sorted {
    let command = C::command();
    let known: Vec<(Option<String>, Option<char>, bool)> = command
        .get_arguments()
        .map(|a| (a.get_long().map(str::to_owned), a.get_short(), a.get_action().takes_values()))
        .collect();
    let takes_value = |arg: &str| -> Option<bool> {
        if let Some(long) = arg.strip_prefix("--") {
            let name = long.split('=').next().unwrap_or(long);
            return known.iter().find(|(l, _, _)| l.as_deref() == Some(name)).map(|(_, _, v)| *v && !long.contains('='));
        }
        let short = arg.strip_prefix('-')?.chars().next()?;
        known.iter().find(|(_, s, _)| *s == Some(short)).map(|(_, _, v)| *v && arg.len() == 2)
    };
    let mut sorted = Sorted::default();
    let mut args = argv.into_iter();
    sorted.ours.extend(args.next());
    while let Some(arg) = args.next() {
        if let Some(gst_arg) = arg.strip_prefix("--gst-").map(|_| &arg[2..]) {
            let (name, value) = match gst_arg.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None if GST_WITH_VALUE.contains(&gst_arg) => (gst_arg.to_owned(), args.next()),
                None => (gst_arg.to_owned(), None),
            };
            sorted.gst.push(GstOption { name, value });
            continue;
        }
        match takes_value(&arg) {
            Some(with_value) => {
                sorted.ours.push(arg);
                if with_value {
                    sorted.ours.extend(args.next());
                }
            }
            None => sorted.unknown.push(arg),
        }
    }
    sorted
}

/// Applies GStreamer's options after `gst::init` (as `gst_init` applies
/// them from argv); returns warnings for those not applied.
pub fn apply_gst(options: &[GstOption]) -> Vec<String> {
    let mut warnings = Vec::new();
    for o in options {
        let value = o.value.as_deref().unwrap_or_default();
        match o.name.as_str() {
            // `--gst-debug=2,rtp*:5`: category thresholds, as GST_DEBUG.
            "gst-debug" => gst::log::set_threshold_from_string(value, false),
            "gst-debug-level" => match value.parse::<u8>().ok().and_then(level) {
                Some(l) => gst::log::set_default_threshold(l),
                None => warnings.push(format!("--gst-debug-level={value}: not a level 0..9")),
            },
            "gst-debug-no-color" => gst::log::set_colored(false),
            "gst-debug-disable" => gst::log::set_active(false),
            "gst-plugin-path" => {
                let registry = gst::Registry::get();
                for dir in std::env::split_paths(value) {
                    if !registry.scan_path(&dir) {
                        tracing::debug!("--gst-plugin-path: no new plugins in {}", dir.display());
                    }
                }
            }
            other => warnings.push(format!("--{other}: accepted, no effect here")),
        }
    }
    warnings
}

fn level(n: u8) -> Option<gst::DebugLevel> {
    Some(match n {
        0 => gst::DebugLevel::None,
        1 => gst::DebugLevel::Error,
        2 => gst::DebugLevel::Warning,
        3 => gst::DebugLevel::Fixme,
        4 => gst::DebugLevel::Info,
        5 => gst::DebugLevel::Debug,
        6 => gst::DebugLevel::Log,
        7 => gst::DebugLevel::Trace,
        9 => gst::DebugLevel::Memdump,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct T {
        #[arg(short = 'f', long)]
        conf_file: Option<String>,
        #[arg(short = 'l', long)]
        list: bool,
    }

    fn argv(args: &[&str]) -> Vec<String> {
        std::iter::once("kms").chain(args.iter().copied()).map(str::to_owned).collect()
    }

    #[test]
    fn sorts_kms_gstreamer_and_unknown_arguments() {
        let sorted = sort::<T>(argv(&["-f", "/etc/k.json", "--gst-debug=3,rtp*:5", "--gst-debug-level", "4", "--gst-debug-no-color", "--list", "--frobnicate", "x"]));
        assert_eq!(sorted.ours, argv(&["-f", "/etc/k.json", "--list"]));
        assert_eq!(
            sorted.gst,
            [
                GstOption { name: "gst-debug".into(), value: Some("3,rtp*:5".into()) },
                GstOption { name: "gst-debug-level".into(), value: Some("4".into()) },
                GstOption { name: "gst-debug-no-color".into(), value: None },
            ]
        );
        assert_eq!(sorted.unknown, ["--frobnicate", "x"]);
        assert_eq!(sort::<T>(argv(&["--conf-file=/a"])).ours, argv(&["--conf-file=/a"]));
    }
}
