//! Kurento events: names, `data` payloads, and their JSON shapes.
//!
//! Every event's `data` carries the RaiseBase fields `source` (object id),
//! `timestampMillis` (a string of epoch milliseconds), `timestamp` (seconds,
//! string) and `tags` (empty unless the source has `sendTagsInEvents`), plus
//! `type` = the event name and the event's own fields (KMS `event_class_cpp.ftl`).

use super::registry::MediaObject;
use kms_media::{ElementEvent, FlowState};
use serde_json::{json, Map, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// A register value (`__module__` + `__type__` + fields) as the wire carries it.
pub fn register(type_name: &str, fields: Value) -> Value {
    let mut v = fields;
    v["__module__"] = json!("kurento");
    v["__type__"] = json!(type_name);
    v
}

/// The MediaObject's tags as `Tag` registers.
pub fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(tags.iter().map(|(k, v)| register("Tag", json!({ "key": k, "value": v }))).collect())
}

/// The `data` of an event raised by `source`.
pub fn event_data(source: &MediaObject, event_type: &str, fields: Map<String, Value>) -> Value {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let tags = if source.send_tags_in_events { tags_json(&source.tags) } else { json!([]) };
    let mut data = fields;
    data.insert("source".into(), json!(source.id.as_str()));
    // Error carries its error name in `type`; every other event its own name.
    data.entry("type").or_insert_with(|| json!(event_type));
    data.insert("tags".into(), tags);
    data.insert("timestamp".into(), json!((millis / 1000).to_string()));
    data.insert("timestampMillis".into(), json!(millis.to_string()));
    Value::Object(data)
}

fn flow(state: FlowState) -> &'static str {
    match state {
        FlowState::Flowing => "FLOWING",
        FlowState::NotFlowing => "NOT_FLOWING",
    }
}

/// An IceCandidatePair register (event field and ICECandidatePairs entry).
pub fn candidate_pair(local: &str, remote: &str) -> Value {
    register("IceCandidatePair", json!({ "streamId": "1", "componentId": 1, "localCandidate": local, "remoteCandidate": remote }))
}

/// `oldState`/`newState` of MediaStateChanged and ConnectionStateChanged.
fn transition(connected: bool) -> Value {
    let (old, new) = if connected { ("DISCONNECTED", "CONNECTED") } else { ("CONNECTED", "DISCONNECTED") };
    json!({ "oldState": old, "newState": new })
}

/// The Error event raised on a MediaPipeline its worker dropped after a
/// panic (a bug): KMS's type for errors it cannot name,
/// `UNEXPECTED_ELEMENT_ERROR`, and its error code when there is none (0).
pub fn pipeline_failed(panic: &str) -> (&'static str, Map<String, Value>) {
    let description = format!("the media pipeline failed and its elements were dropped: {panic}");
    from_element_event(&ElementEvent::Error { error_type: "UNEXPECTED_ELEMENT_ERROR", description, code: 0 })
}

/// The Kurento event name and own fields for a media-plane event.
pub fn from_element_event(event: &ElementEvent) -> (&'static str, Map<String, Value>) {
    let (name, fields) = match event {
        ElementEvent::IceCandidateFound { candidate, sdp_mid, sdp_m_line_index } => (
            "IceCandidateFound",
            json!({ "candidate": register("IceCandidate", json!({
                "candidate": candidate, "sdpMid": sdp_mid, "sdpMLineIndex": sdp_m_line_index })) }),
        ),
        ElementEvent::IceGatheringDone => ("IceGatheringDone", json!({})),
        ElementEvent::IceComponentStateChanged { state } => {
            ("IceComponentStateChanged", json!({ "streamId": 1, "componentId": 1, "state": state }))
        }
        ElementEvent::NewCandidatePairSelected { local, remote } => {
            ("NewCandidatePairSelected", json!({ "candidatePair": candidate_pair(local, remote) }))
        }
        ElementEvent::DtlsConnectionState { state } => (
            "DtlsConnectionStateChange",
            json!({ "streamId": "1", "componentId": "1", "connectionId": "1", "state": state }),
        ),
        ElementEvent::MediaFlowIn { media_type, state } => (
            "MediaFlowInStateChanged",
            json!({ "state": flow(*state), "padName": "default", "mediaType": media_type.as_str() }),
        ),
        ElementEvent::MediaFlowOut { media_type, state } => (
            "MediaFlowOutStateChanged",
            json!({ "state": flow(*state), "padName": "default", "mediaType": media_type.as_str() }),
        ),
        ElementEvent::MediaState { connected } => ("MediaStateChanged", transition(*connected)),
        ElementEvent::ConnectionState { connected } => ("ConnectionStateChanged", transition(*connected)),
        ElementEvent::DataChannelOpened { channel_id } => ("DataChannelOpened", json!({ "channelId": channel_id })),
        ElementEvent::DataChannelClosed { channel_id } => ("DataChannelClosed", json!({ "channelId": channel_id })),
        ElementEvent::Media { name } => (*name, json!({})),
        ElementEvent::UriEndpointState { state } => ("UriEndpointStateChanged", json!({ "state": state })),
        ElementEvent::CodeFound { code_type, value } => ("CodeFound", json!({ "codeType": code_type, "value": value })),
        ElementEvent::MediaTranscoding { media_type, transcoding, bin_name } => (
            "MediaTranscodingStateChanged",
            json!({ "state": if *transcoding { "TRANSCODING" } else { "NOT_TRANSCODING" }, "binName": bin_name, "mediaType": media_type.as_str() }),
        ),
        ElementEvent::KeySoftLimit { media_type } => ("OnKeySoftLimit", json!({ "mediaType": media_type.as_str() })),
        ElementEvent::Module { name, fields } => (*name, Value::Object(fields.clone())),
        ElementEvent::Error { error_type, description, code } => {
            ("Error", json!({ "type": error_type, "description": description, "errorCode": code }))
        }
    };
    let Value::Object(map) = fields else { unreachable!("every arm builds an object") };
    (name, map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_pipeline_raises_kms_s_unnamed_error() {
        let (name, fields) = pipeline_failed("index out of bounds");
        assert_eq!(name, "Error");
        assert_eq!(fields["type"], "UNEXPECTED_ELEMENT_ERROR");
        assert_eq!(fields["errorCode"], 0);
        assert!(fields["description"].as_str().unwrap().ends_with("dropped: index out of bounds"));
    }
}
