//! Configuration, read the way KMS reads it.
//!
//! - `kurento.conf.json` (`-f/--conf-file`, `KURENTO_CONF_FILE`; default
//!   `/etc/kurento/kurento.conf.json`, built-in defaults when absent): the
//!   `mediaServer.resources.*` and `mediaServer.net.websocket.*` keys.
//! - module files `<dir>/kurento/<Class>.conf.ini` (`-c/--modules-config-path`,
//!   `KURENTO_MODULES_CONFIG_PATH`; default `<conf dir>/modules`):
//!   `BaseRtpEndpoint.minPort/maxPort`, `WebRtcEndpoint.networkInterfaces`, ...
//! - the Docker image's `KMS_*` variables, which override the module files
//!   (`KMS_MIN_PORT`, `KMS_MAX_PORT`, `KMS_NETWORK_INTERFACES`).
//! - our own flags `--address`/`--port`, which override the file.

use kms_webrtc::{CodecList, CodecName};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything the server needs from configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `mediaServer.net.websocket.address`; `None` listens on all addresses.
    pub ws_address: Option<String>,
    /// `mediaServer.net.websocket.port` (8888 in KMS's shipped file).
    pub ws_port: u16,
    /// `mediaServer.net.websocket.secure.port`; 0 disables `wss://`.
    pub wss_port: u16,
    /// `mediaServer.net.websocket.secure.certificate`: PEM with the certificate
    /// chain and the private key, resolved against the config file's directory.
    pub wss_certificate: Option<PathBuf>,
    /// `mediaServer.net.websocket.secure.password`: encrypted keys are not
    /// supported; a non-empty password is a configuration error.
    pub wss_password: Option<String>,
    /// `mediaServer.net.websocket.path` without the leading `/` (`kurento`).
    pub ws_path: String,
    /// `mediaServer.resources.garbageCollectorPeriod` (240 s).
    pub gc_period: Duration,
    /// `mediaServer.resources.disableRequestCache` (false).
    pub disable_request_cache: bool,
    /// The top-level `metadata` node, returned by ServerManager.getMetadata.
    pub metadata: Option<Value>,
    /// `BaseRtpEndpoint.minPort` / `maxPort` (1024..65535).
    pub min_port: u16,
    pub max_port: u16,
    /// `BaseRtpEndpoint.mtu` in bytes (1200; at least [`MIN_RTP_MTU`]): an
    /// RtpEndpoint's payloaders take it as is, a WebRtcEndpoint within
    /// 600..=1500 ([`kms_media::packetize::Mtu`]).
    pub mtu: u16,
    /// `WebRtcEndpoint.networkInterfaces`: names; empty means all.
    pub network_interfaces: Vec<String>,
    /// The other `WebRtcEndpoint.conf.ini` keys, by their ini names
    /// (`stunServerAddress`, `stunServerPort`, `turnURL`, `externalIPv4`,
    /// `externalIPv6`, `iceTcp`, `pemCertificateRSA`, ...), as written.
    pub webrtc: HashMap<String, String>,
    /// `SdpEndpoint.conf.json` `audioCodecs` / `videoCodecs`: the codecs every
    /// SDP endpoint negotiates, in order (KMS's shipped list when absent).
    pub codecs: CodecList,
    /// `UriEndpoint.conf.ini` `defaultPath`: the base of Player/Recorder URIs
    /// given without a scheme (KMS's built-in default `file:///var/kurento`).
    pub default_path: String,
    /// `mediaServer.net.metrics.{address,port}` (ours; `KMS_METRICS_ADDRESS`
    /// as `ip:port`): `/metrics` and `/health/*` on an address of their own
    /// instead of the Kurento port.
    pub metrics_address: Option<std::net::SocketAddr>,
    /// `mediaServer.resources.drainPeriod` (ours, seconds; `KMS_DRAIN_PERIOD`;
    /// 0): after SIGTERM/SIGINT the server answers readiness 503 and keeps
    /// serving this long before it stops, so a load balancer can move away.
    pub drain_period: Duration,
    /// `mediaServer.cluster` (ours): standalone, media node or entry.
    pub cluster: crate::cluster::ClusterConfig,
    /// `HttpEndpoint.conf.ini`: where HttpPostEndpoint URLs are served.
    pub http_endpoint: HttpEndpointConfig,
    /// `mediaServer.net.websocket.token` (ours; `KMS_ACCESS_TOKEN`): the
    /// secret a WebSocket client must present (see `access`); `None`: open.
    pub access_token: Option<String>,
    /// `mediaServer.resources.uriAllowList` (`KMS_URI_ALLOW`, comma-separated):
    /// URI prefixes PlayerEndpoint/RecorderEndpoint may use; empty: any.
    pub uri_allow: Vec<String>,
    /// `mediaServer.resources.filterAllowList` (`KMS_FILTER_ALLOW`): the
    /// element factories a GStreamerFilter may run; empty: any.
    pub filter_allow: Vec<String>,
    /// Limits (ours; KMS has none, so none by default): `mediaServer.resources`
    /// `maxSessions`, `maxPipelines`, `maxObjectsPerSession` (`KMS_MAX_SESSIONS`,
    /// `KMS_MAX_PIPELINES`, `KMS_MAX_OBJECTS_PER_SESSION`). Past one, the
    /// request answers 40009 NOT_ENOUGH_RESOURCES.
    pub limits: Limits,
    /// `mediaServer.net.websocket.outgoingQueueBytes` (ours;
    /// `KMS_WS_OUTGOING_QUEUE_BYTES`; 16 MiB): replies and events queued for
    /// one connection at most; a client that stops reading past it is
    /// disconnected (see `outgoing`).
    pub outgoing_queue_bytes: usize,
    /// `mediaServer.net.websocket.maxRequestBytes` (ours;
    /// `KMS_WS_MAX_REQUEST_BYTES`; 1 MiB): a larger request is answered
    /// -32600 (Invalid Request) and the connection stays open.
    pub max_request_bytes: usize,
    /// `mediaServer.resources.mediaWorkers` (ours; `KMS_MEDIA_WORKERS`):
    /// media worker threads; 0 (the default) is one per core. See
    /// [`Config::media_workers`].
    pub media_workers: usize,
    /// `WebRtcEndpoint.conf.ini` `simulcast` (ours; `KMS_SIMULCAST`):
    /// simulcast and SVC forwarding with a transport-wide CC estimate per
    /// viewer and Opus RED; on by default. `false` (or `0`, `no`, `off`)
    /// makes every WebRtcEndpoint negotiate as KMS's (see
    /// [`kms_webrtc::WebRtcConfig::simulcast`]) and saves each viewer its
    /// estimator and pacer, about half its CPU (README, Simulcast). Any
    /// other value than these and `true`, `1`, `yes`, `on` is refused at
    /// start-up.
    pub simulcast: bool,
    /// `Composite.conf.ini` `width`, `height`, `framerate` (800, 600, 15):
    /// what a Composite constructed with 0 for them gets.
    pub composite: kms_gst::VideoSettings,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ws_address: None,
            ws_port: 8888,
            ws_path: "kurento".into(),
            wss_port: 0,
            wss_certificate: None,
            wss_password: None,
            gc_period: Duration::from_secs(240),
            disable_request_cache: false,
            metadata: None,
            min_port: 1024,
            max_port: 65535,
            mtu: 1200,
            network_interfaces: Vec::new(),
            webrtc: HashMap::new(),
            codecs: CodecList::default(),
            default_path: "file:///var/kurento".into(),
            composite: kms_gst::VideoSettings { width: 800, height: 600, framerate: 15 },
            http_endpoint: HttpEndpointConfig::default(),
            metrics_address: None,
            drain_period: Duration::ZERO,
            cluster: crate::cluster::ClusterConfig::default(),
            access_token: None,
            uri_allow: Vec::new(),
            filter_allow: Vec::new(),
            limits: Limits::default(),
            media_workers: 0,
            outgoing_queue_bytes: crate::outgoing::DEFAULT_LIMIT,
            max_request_bytes: 1 << 20,
            simulcast: true,
        }
    }
}

/// `HttpEndpoint.conf.ini` (KMS `HttpEndPointServer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpEndpointConfig {
    /// `serverAddress`: the address listened on; `None` (or empty) is every
    /// interface. `localhost` is taken as 127.0.0.1.
    pub server_address: Option<String>,
    /// `serverPort` (KMS reads this key; its shipped file writes `port`, also
    /// read): 9091, 0 for any free port.
    pub server_port: u16,
    /// `announcedAddress`: the host put in URLs, when the listening address
    /// is not the one clients reach.
    pub announced_address: Option<String>,
}

impl Default for HttpEndpointConfig {
    fn default() -> Self {
        HttpEndpointConfig { server_address: None, server_port: 9091, announced_address: None }
    }
}

/// Resource limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    pub sessions: Option<usize>,
    pub pipelines: Option<usize>,
    pub objects_per_session: Option<usize>,
}

/// A configuration error: the file exists but cannot be used.
/// The smallest `mtu` accepted at start-up (bytes): the RTP header and
/// then some, the floor of GStreamer's payloaders' `mtu` (28), which an
/// RtpEndpoint hands it to (a value below it is refused there). WebRTC acts
/// on 600..=1500 ([`kms_media::packetize::Mtu`]).
pub const MIN_RTP_MTU: u16 = 28;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Loads the main file (when it exists) and the module files below
    /// `modules_dir` (default: `modules` beside the main file).
    pub fn load(conf_file: &Path, modules_dir: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let main: Option<Value> = if conf_file.exists() {
            let text = std::fs::read_to_string(conf_file).map_err(|source| ConfigError::Read { path: conf_file.into(), source })?;
            let json: Value = serde_json::from_str(&text).map_err(|source| ConfigError::Json { path: conf_file.into(), source })?;
            config.apply_main(&json, conf_file.parent().unwrap_or(Path::new(".")));
            Some(json)
        } else {
            None
        };
        let default_modules = conf_file.parent().unwrap_or(Path::new(".")).join("modules");
        let modules_dir = modules_dir.map(Path::to_path_buf).unwrap_or(default_modules);
        for dir in std::env::split_paths(&modules_dir) {
            config.apply_modules(&dir.join("kurento"))?;
        }
        config.apply_env(env);
        let cluster = &mut config.cluster;
        main.map_or(Ok(()), |json| cluster.apply_main(&json["mediaServer"]["cluster"]))
            .and_then(|()| cluster.apply_env(env))
            .map_err(|message| ConfigError::Invalid { path: conf_file.into(), message })?;
        if config.wss_port != 0 && config.wss_certificate.is_none() {
            return Err(ConfigError::Invalid { path: conf_file.into(), message: "secure.port is set but secure.certificate is not".into() });
        }
        if config.wss_password.is_some() {
            return Err(ConfigError::Invalid {
                path: conf_file.into(),
                message: "secure.password: encrypted private keys are not supported; decrypt the key (openssl pkey) instead".into(),
            });
        }
        if let Some(value) = config.webrtc.get("simulcast") {
            config.simulcast = parse_switch(value).ok_or_else(|| ConfigError::Invalid {
                path: modules_dir.clone(),
                message: format!("kurento/WebRtcEndpoint.conf.ini simulcast={value} (or KMS_SIMULCAST): expected true or false"),
            })?;
        }
        if config.mtu < MIN_RTP_MTU {
            return Err(ConfigError::Invalid {
                path: modules_dir,
                message: format!("kurento/BaseRtpEndpoint.conf.ini mtu={} (or KMS_MTU): an RTP packet needs at least {MIN_RTP_MTU} bytes", config.mtu),
            });
        }
        if config.min_port > config.max_port {
            return Err(ConfigError::Invalid { path: modules_dir, message: format!("minPort {} > maxPort {}", config.min_port, config.max_port) });
        }
        Ok(config)
    }

    /// The media worker threads to run: `mediaWorkers`, or one per core
    /// (`std::thread::available_parallelism`) when it is 0; at most 256.
    pub fn media_workers(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        if self.media_workers == 0 { cores } else { self.media_workers }.min(256)
    }

    fn apply_main(&mut self, json: &Value, config_dir: &Path) {
        let ms = &json["mediaServer"];
        let ws = &ms["net"]["websocket"];
        let secure = &ws["secure"];
        if let Some(p) = secure["port"].as_u64().and_then(|p| u16::try_from(p).ok()) {
            self.wss_port = p;
        }
        if let Some(c) = secure["certificate"].as_str() {
            self.wss_certificate = Some(config_dir.join(c));
        }
        self.wss_password = secure["password"].as_str().filter(|p| !p.is_empty()).map(str::to_owned);
        if let Some(a) = ws["address"].as_str() {
            self.ws_address = Some(a.to_owned());
        }
        if let Some(p) = ws["port"].as_u64().and_then(|p| u16::try_from(p).ok()) {
            self.ws_port = p;
        }
        if let Some(p) = ws["path"].as_str() {
            self.ws_path = p.trim_start_matches('/').to_owned();
        }
        let metrics = &ms["net"]["metrics"];
        if let Some(port) = metrics["port"].as_u64().and_then(|p| u16::try_from(p).ok()) {
            let ip = metrics["address"].as_str().and_then(|a| a.parse().ok()).unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
            self.metrics_address = Some(std::net::SocketAddr::new(ip, port));
        }
        if let Some(n) = ws["maxRequestBytes"].as_u64().and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0) {
            self.max_request_bytes = n;
        }
        if let Some(n) = ws["outgoingQueueBytes"].as_u64().and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0) {
            self.outgoing_queue_bytes = n;
        }
        self.access_token = ms["net"]["websocket"]["token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
        let res = &ms["resources"];
        let strings = |v: &Value| v.as_array().map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect::<Vec<_>>());
        if let Some(list) = strings(&res["uriAllowList"]) {
            self.uri_allow = list;
        }
        if let Some(list) = strings(&res["filterAllowList"]) {
            self.filter_allow = list;
        }
        let limit = |key: &str| res[key].as_u64().and_then(|v| usize::try_from(v).ok());
        let l = &mut self.limits;
        for (key, slot) in [("maxSessions", &mut l.sessions), ("maxPipelines", &mut l.pipelines), ("maxObjectsPerSession", &mut l.objects_per_session)] {
            if let Some(v) = limit(key) {
                *slot = Some(v);
            }
        }
        if let Some(n) = res["mediaWorkers"].as_u64().and_then(|n| usize::try_from(n).ok()) {
            self.media_workers = n;
        }
        if let Some(s) = res["drainPeriod"].as_u64() {
            self.drain_period = Duration::from_secs(s);
        }
        if let Some(s) = res["garbageCollectorPeriod"].as_u64().filter(|s| *s > 0) {
            self.gc_period = Duration::from_secs(s);
        }
        if let Some(b) = res["disableRequestCache"].as_bool() {
            self.disable_request_cache = b;
        }
        if !json["metadata"].is_null() {
            self.metadata = Some(json["metadata"].clone());
        }
    }

    fn apply_modules(&mut self, dir: &Path) -> Result<(), ConfigError> {
        let rtp = read_ini(&dir.join("BaseRtpEndpoint.conf.ini"))?;
        if let Some(p) = rtp.get("minPort").and_then(|v| v.parse().ok()) {
            self.min_port = p;
        }
        if let Some(p) = rtp.get("maxPort").and_then(|v| v.parse().ok()) {
            self.max_port = p;
        }
        if let Some(m) = rtp.get("mtu").and_then(|v| v.parse().ok()) {
            self.mtu = m;
        }
        let webrtc = read_ini(&dir.join("WebRtcEndpoint.conf.ini"))?;
        if let Some(list) = webrtc.get("networkInterfaces") {
            self.network_interfaces = split_list(list);
        }
        self.webrtc.extend(webrtc);
        if let Some(path) = read_ini(&dir.join("UriEndpoint.conf.ini"))?.remove("defaultPath") {
            self.default_path = path;
        }
        let mut http = read_ini(&dir.join("HttpEndpoint.conf.ini"))?;
        let http_config = &mut self.http_endpoint;
        if let Some(a) = http.remove("serverAddress") {
            http_config.server_address = Some(a).filter(|a| !a.trim().is_empty());
        }
        if let Some(p) = http.get("serverPort").or_else(|| http.get("port")).and_then(|p| p.trim().parse().ok()) {
            http_config.server_port = p;
        }
        if let Some(a) = http.remove("announcedAddress") {
            http_config.announced_address = Some(a).filter(|a| !a.trim().is_empty());
        }
        let composite = read_ini(&dir.join("Composite.conf.ini"))?;
        let positive = |key: &str| composite.get(key).and_then(|v| v.parse::<i32>().ok()).filter(|v| *v > 0);
        let c = &mut self.composite;
        for (key, value) in [("width", &mut c.width), ("height", &mut c.height), ("framerate", &mut c.framerate)] {
            if let Some(v) = positive(key) {
                *value = v;
            }
        }
        self.apply_sdp(&dir.join("SdpEndpoint.conf.json"))
    }

    /// `SdpEndpoint.conf.json`: a list present in the file replaces the
    /// default one; an entry without a valid `name` is a configuration error.
    fn apply_sdp(&mut self, path: &Path) -> Result<(), ConfigError> {
        if !path.exists() {
            return Ok(());
        }
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let json: Value = serde_json::from_str(&text).map_err(|source| ConfigError::Json { path: path.into(), source })?;
        for (key, list) in [("audioCodecs", &mut self.codecs.audio), ("videoCodecs", &mut self.codecs.video)] {
            let Some(entries) = json[key].as_array() else { continue };
            *list = entries
                .iter()
                .map(|e| {
                    e["name"].as_str().and_then(CodecName::parse).ok_or_else(|| ConfigError::Invalid {
                        path: path.into(),
                        message: format!("{key}: {e} has no name of the form codec/clock-rate[/channels]"),
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        if let Some(a) = env("KMS_METRICS_ADDRESS").and_then(|v| v.parse().ok()) {
            self.metrics_address = Some(a);
        }
        if let Some(n) = env("KMS_WS_MAX_REQUEST_BYTES").and_then(|v| v.parse().ok()).filter(|n: &usize| *n > 0) {
            self.max_request_bytes = n;
        }
        if let Some(n) = env("KMS_WS_OUTGOING_QUEUE_BYTES").and_then(|v| v.parse().ok()).filter(|n: &usize| *n > 0) {
            self.outgoing_queue_bytes = n;
        }
        if let Some(n) = env("KMS_MEDIA_WORKERS").and_then(|v| v.parse().ok()) {
            self.media_workers = n;
        }
        if let Some(s) = env("KMS_DRAIN_PERIOD").and_then(|v| v.parse().ok()) {
            self.drain_period = Duration::from_secs(s);
        }
        if let Some(t) = env("KMS_ACCESS_TOKEN").filter(|t| !t.is_empty()) {
            self.access_token = Some(t);
        }
        let l = &mut self.limits;
        for (var, slot) in [("KMS_MAX_SESSIONS", &mut l.sessions), ("KMS_MAX_PIPELINES", &mut l.pipelines), ("KMS_MAX_OBJECTS_PER_SESSION", &mut l.objects_per_session)] {
            if let Some(v) = env(var).and_then(|v| v.parse().ok()) {
                *slot = Some(v);
            }
        }
        if let Some(list) = env("KMS_URI_ALLOW") {
            self.uri_allow = split_list(&list);
        }
        if let Some(list) = env("KMS_FILTER_ALLOW") {
            self.filter_allow = split_list(&list);
        }
        if let Some(p) = env("KMS_MIN_PORT").and_then(|v| v.parse().ok()) {
            self.min_port = p;
        }
        if let Some(p) = env("KMS_MAX_PORT").and_then(|v| v.parse().ok()) {
            self.max_port = p;
        }
        if let Some(m) = env("KMS_MTU").and_then(|v| v.parse().ok()) {
            self.mtu = m;
        }
        if let Some(list) = env("KMS_NETWORK_INTERFACES") {
            self.network_interfaces = split_list(&list);
        }
        // The Docker entrypoint's variables, written to WebRtcEndpoint.conf.ini there.
        for (var, key) in [
            ("KMS_EXTERNAL_IPV4", "externalIPv4"),
            ("KMS_EXTERNAL_IPV6", "externalIPv6"),
            ("KMS_ICE_TCP", "iceTcp"),
            ("KMS_SIMULCAST", "simulcast"),
            ("KMS_TURN_URL", "turnURL"),
            ("KMS_PEM_CERTIFICATE_RSA", "pemCertificateRSA"),
            ("KMS_PEM_CERTIFICATE_ECDSA", "pemCertificateECDSA"),
        ] {
            if let Some(v) = env(var) {
                self.webrtc.insert(key.into(), v);
            }
        }
        // KMS_STUN_IP and KMS_STUN_PORT count only together, as in the entrypoint.
        if let (Some(ip), Some(port)) = (env("KMS_STUN_IP"), env("KMS_STUN_PORT")) {
            self.webrtc.insert("stunServerAddress".into(), ip);
            self.webrtc.insert("stunServerPort".into(), port);
        }
    }
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// An ini switch: `true`, `1`, `yes`, `on` or `false`, `0`, `no`, `off`
/// (any case, surrounding blanks ignored); `None` for anything else.
fn parse_switch(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Reads the global section of an `.ini` module file; a missing file is empty.
fn read_ini(path: &Path) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    if !path.exists() {
        return Ok(Default::default());
    }
    let ini = ini::Ini::load_from_file(path).map_err(|e| ConfigError::Invalid { path: path.into(), message: e.to_string() })?;
    Ok(ini.general_section().iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulcast_is_on_unless_turned_off_and_a_bad_value_is_refused() {
        let load = |value: Option<&str>| {
            let value = value.map(str::to_owned);
            Config::load(Path::new("/nonexistent/kurento.conf.json"), Some(Path::new("/nonexistent/modules")), &|k| (k == "KMS_SIMULCAST").then(|| value.clone()).flatten())
        };
        assert!(load(None).unwrap().simulcast, "on by default");
        assert!(load(Some(" On ")).unwrap().simulcast);
        assert!(!load(Some("false")).unwrap().simulcast);
        assert!(!load(Some("0")).unwrap().simulcast);
        let err = load(Some("maybe")).unwrap_err().to_string();
        assert!(err.contains("simulcast=maybe"), "{err}");
    }

    #[test]
    fn an_mtu_no_rtp_packet_fits_is_refused_at_start_up() {
        let load = |value: &str| {
            let value = value.to_owned();
            Config::load(Path::new("/nonexistent/kurento.conf.json"), Some(Path::new("/nonexistent/modules")), &|k| (k == "KMS_MTU").then(|| value.clone()))
        };
        assert_eq!(load("1400").unwrap().mtu, 1400);
        assert_eq!(load("28").unwrap().mtu, 28);
        let err = load("10").unwrap_err().to_string();
        assert!(err.contains("mtu=10"), "{err}");
    }

    #[test]
    fn reads_kms_files_and_env() {
        let dir = std::env::temp_dir().join(format!("kms-config-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("modules/kurento")).unwrap();
        let conf = dir.join("kurento.conf.json");
        std::fs::write(
            &conf,
            r#"{"mediaServer":{"resources":{"//":"x","//":"y","garbageCollectorPeriod":10,"mediaWorkers":3},
                "net":{"websocket":{"port":9999,"path":"/kurento"}}},"metadata":{"a":1}}"#,
        )
        .unwrap();
        std::fs::write(dir.join("modules/kurento/BaseRtpEndpoint.conf.ini"), ";minPort=1\nminPort=40000\nmaxPort=40100\n").unwrap();
        std::fs::write(dir.join("modules/kurento/WebRtcEndpoint.conf.ini"), "networkInterfaces=lo, eth0\nstunServerAddress=127.0.0.1\n").unwrap();
        std::fs::write(dir.join("modules/kurento/Composite.conf.ini"), "width=640\nheight=-1\n; framerate=30\n").unwrap();
        std::fs::write(
            dir.join("modules/kurento/SdpEndpoint.conf.json"),
            r#"{"audioCodecs":[{"name":"PCMU/8000","//":"x"},{"name":"opus/48000/2"}],"videoCodecs":[{"name":"VP8/90000"}]}"#,
        )
        .unwrap();
        let env = |k: &str| match k {
            "KMS_MAX_PORT" => Some("40200".to_owned()),
            "KMS_TURN_URL" => Some("u:p@127.0.0.1:3478".to_owned()),
            "KMS_STUN_PORT" => Some("9999".to_owned()), // ignored without KMS_STUN_IP
            _ => None,
        };
        let c = Config::load(&conf, None, &env).unwrap();
        assert_eq!(c.ws_port, 9999);
        assert_eq!(c.ws_path, "kurento");
        assert_eq!(c.gc_period, Duration::from_secs(10));
        assert_eq!(c.media_workers(), 3);
        assert_eq!((c.min_port, c.max_port), (40000, 40200));
        assert_eq!(c.network_interfaces, ["lo", "eth0"]);
        assert_eq!(c.webrtc["stunServerAddress"], "127.0.0.1");
        assert_eq!(c.webrtc["turnURL"], "u:p@127.0.0.1:3478");
        assert!(!c.webrtc.contains_key("stunServerPort"));
        assert_eq!(c.metadata.unwrap()["a"], 1);
        assert_eq!(c.codecs.audio[0].name, "PCMU");
        assert_eq!(c.codecs.video.len(), 1);
        let k = c.composite;
        assert_eq!((k.width, k.height, k.framerate), (640, 600, 15), "a bad or missing value keeps the default");
        std::fs::write(dir.join("modules/kurento/SdpEndpoint.conf.json"), r#"{"videoCodecs":[{"nam":"VP8/90000"}]}"#).unwrap();
        assert!(matches!(Config::load(&conf, None, &env), Err(ConfigError::Invalid { .. })));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn missing_file_gives_kms_defaults() {
        let c = Config::load(Path::new("/nonexistent/kurento.conf.json"), None, &|_| None).unwrap();
        assert_eq!((c.ws_port, c.min_port, c.max_port), (8888, 1024, 65535));
        assert_eq!(c.gc_period, Duration::from_secs(240));
    }
}
