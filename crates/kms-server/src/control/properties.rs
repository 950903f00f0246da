//! Property values: initial values (constructor parameters, IDL defaults and
//! KMS's documented defaults) and the generic `get<Prop>` / `set<Prop>`.
//!
//! Properties whose value is live media state (`mediaState`, `videoInfo`,
//! `ICECandidatePairs`, ...) are not stored; until their element computes
//! them, their getters answer 40006.

use super::Server;
use crate::config::Config;
use kms_idl::{Class, Idl};
use kms_webrtc::Bandwidth;
use kms_protocol::{KurentoError, ObjectId};
use serde_json::{json, Map, Value};

/// KMS's defaults for properties the IDL gives none for:
/// (declaring class, property, value). Sources: the kmd docs and module configs.
fn kms_default(config: &Config, class: &str, property: &str) -> Option<Value> {
    Some(match (class, property) {
        ("SdpEndpoint", "maxAudioRecvBandwidth") => json!(0),
        ("SdpEndpoint", "maxVideoRecvBandwidth") => json!(Bandwidth::default().recv.video_kbps),
        ("BaseRtpEndpoint", "minVideoRecvBandwidth") => json!(Bandwidth::default().min_recv_kbps),
        ("BaseRtpEndpoint", "minVideoSendBandwidth") => json!(Bandwidth::default().min_send_kbps),
        ("BaseRtpEndpoint", "maxVideoSendBandwidth") => json!(Bandwidth::default().max_send_kbps),
        ("BaseRtpEndpoint", "mtu") => json!(config.mtu),
        ("MediaElement", "encoderBitrate") => json!(300_000),
        ("MediaElement", "minEncoderBitrate" | "maxEncoderBitrate") => json!(0),
        ("WebRtcEndpoint", "iceTcp") => json!(config.webrtc.get("iceTcp").is_none_or(|v| v.trim() != "0")),
        ("WebRtcEndpoint", "stunServerPort") => json!(config.webrtc.get("stunServerPort").and_then(|p| p.parse::<u16>().ok()).unwrap_or(3478)),
        ("WebRtcEndpoint", "networkInterfaces") if !config.network_interfaces.is_empty() => {
            json!(config.network_interfaces.join(","))
        }
        // The property is `turnUrl`; the config key is `turnURL` (KMS). Unset: "" (KMS).
        ("WebRtcEndpoint", "turnUrl") => json!(config.webrtc.get("turnURL").cloned().unwrap_or_default()),
        ("WebRtcEndpoint", "stunServerAddress" | "externalIPv4" | "externalIPv6") => json!(config.webrtc.get(property).cloned().unwrap_or_default()),
        ("UriEndpoint", "state") => json!("STOP"),
        ("BaseRtpEndpoint", "rembParams") => super::sdp::remb_params_register(&kms_media::remb::RembParams::default()),
        _ => return None,
    })
}

/// Adds the default of every property of `class` (and ancestors) not set by
/// the constructor. MediaObject's own members live in the registry entry.
pub fn fill_defaults(idl: &Idl, class: &Class, config: &Config, properties: &mut Map<String, Value>) {
    for c in idl.lineage(class).filter(|c| c.name != "MediaObject") {
        for p in &c.properties {
            if properties.contains_key(&p.name) {
                continue;
            }
            let default = p.default.clone().or_else(|| kms_default(config, &c.name, &p.name));
            if let Some(value) = default {
                // IDL defaults are sometimes strings for numbers ("320"): store the typed value.
                let value = match (&value, p.type_name.as_str()) {
                    (Value::String(s), "int" | "int64") => s.parse::<i64>().map(Value::from).unwrap_or(value),
                    _ => value,
                };
                properties.insert(p.name.clone(), value);
            }
        }
    }
}

/// `get<Prop>` of a stored property: its value, `None` when it is not
/// stored (a live media state no handler computes yet).
pub fn get(server: &Server, object: &ObjectId, property: &str) -> Result<Option<Value>, KurentoError> {
    server.lookup(object, |o| o.properties.get(property).cloned())
}

/// `set<Prop>`: stores `value` (already checked against the property's
/// type when the request was decoded; `None` stores nothing).
pub fn store(server: &Server, object: &ObjectId, property: &str, value: Option<&Value>) -> Result<(), KurentoError> {
    let mut state = server.lock();
    let o = state.registry.get_mut(object).ok_or_else(|| KurentoError::object_not_found(object.as_str()))?;
    if let Some(value) = value {
        o.properties.insert(property.to_owned(), value.clone());
    }
    Ok(())
}
