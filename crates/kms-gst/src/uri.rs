//! URIs of UriEndpoints: what GStreamer element reads or writes them.

use gstreamer as gst;

/// Why a URI cannot be used: the `INVALID_URI` Error event (KMS).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid URI '{uri}': {reason}")]
pub struct UriError {
    pub uri: String,
    pub reason: String,
}

fn invalid(uri: &str, reason: &str) -> UriError {
    UriError { uri: uri.into(), reason: reason.into() }
}

/// The sink a recorder writes `uri` with: (element factory, `location`).
/// `file://` is written with filesink; `http(s)://` is uploaded as it is
/// written, in one chunked HTTP POST (curlhttpsink), as KMS uploads recordings.
pub fn sink_for(uri: &str) -> Result<(&'static str, String), UriError> {
    match scheme(uri)?.as_str() {
        "file" => {
            let (path, _host) = gst::glib::filename_from_uri(uri).map_err(|e| invalid(uri, &e.to_string()))?;
            Ok(("filesink", path.to_string_lossy().into_owned()))
        }
        "http" | "https" => Ok(("curlhttpsink", uri.to_owned())),
        other => Err(invalid(uri, &format!("scheme '{other}' cannot be recorded to; use file:// or http(s)://"))),
    }
}

/// Checks that a player can read `uri`: `file://`, `http(s)://` or `rtsp://`.
pub fn check_source(uri: &str) -> Result<(), UriError> {
    match scheme(uri)?.as_str() {
        "file" => gst::glib::filename_from_uri(uri).map(|_| ()).map_err(|e| invalid(uri, &e.to_string())),
        "http" | "https" | "rtsp" | "rtsps" => Ok(()),
        other => Err(invalid(uri, &format!("scheme '{other}' cannot be played; use file://, http(s):// or rtsp://"))),
    }
}

/// The URI a UriEndpoint uses for the `uri` it was given (KMS's
/// UriEndpointImpl::checkUri): one without a `scheme:` is relative to
/// `default_path` (`UriEndpoint.conf.ini` `defaultPath`, a URI such as
/// `file:///var/lib/kurento/`), and runs of `/` in the path collapse to one
/// (`file:` keeps its `file:///`). The query part is left as given.
pub fn resolve(uri: &str, default_path: &str) -> String {
    let has_scheme = uri.split_once(':').is_some_and(|(s, _)| {
        s.starts_with(|c: char| c.is_ascii_alphabetic()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c))
    });
    let absolute = if has_scheme { uri.to_owned() } else { format!("{default_path}/{uri}") };
    let Some((scheme, rest)) = absolute.split_once("://") else { return absolute };
    let (path, query) = rest.find('?').map_or((rest, ""), |i| rest.split_at(i));
    let mut collapsed = String::with_capacity(path.len());
    for c in path.trim_start_matches('/').chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    let slashes = if scheme.eq_ignore_ascii_case("file") { ":///" } else { "://" };
    format!("{scheme}{slashes}{collapsed}{query}")
}

fn scheme(uri: &str) -> Result<String, UriError> {
    let (scheme, rest) = uri.split_once("://").ok_or_else(|| invalid(uri, "not an absolute URI"))?;
    if scheme.is_empty() || rest.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) {
        return Err(invalid(uri, "not an absolute URI"));
    }
    Ok(scheme.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_schemes() {
        assert_eq!(sink_for("file:///tmp/a%20b.webm").unwrap(), ("filesink", "/tmp/a b.webm".into()));
        assert_eq!(sink_for("http://127.0.0.1:8080/up").unwrap().0, "curlhttpsink");
        assert!(sink_for("rtsp://x/y").is_err());
        assert!(sink_for("no uri").is_err());
        assert!(check_source("rtsp://127.0.0.1:8554/test").is_ok());
        assert!(check_source("ftp://x/y").is_err());
        assert!(check_source("file://relative").is_err());
    }

    #[test]
    fn resolves_relative_uris_against_default_path() {
        assert_eq!(resolve("rec/a.webm", "file:///var/lib/kurento/"), "file:///var/lib/kurento/rec/a.webm");
        assert_eq!(resolve("file:///tmp//x///y.mp4", "file:///d"), "file:///tmp/x/y.mp4");
        assert_eq!(resolve("http://h:80//up//a.webm?next=//x", "file:///d"), "http://h:80/up/a.webm?next=//x");
        assert_eq!(resolve("not a uri", "file:///d"), "file:///d/not a uri");
        assert_eq!(resolve("rtsp://127.0.0.1:8554/test", "file:///d"), "rtsp://127.0.0.1:8554/test");
    }
}
