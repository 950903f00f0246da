//! getStats results in KMS's shapes (`MediaElementImpl::fillStatsReport`,
//! `BaseRtpEndpointImpl`, `WebRtcEndpointImpl`): a map of stats id -> Stats
//! register. `timestampMillis` is an int64 number here (unlike in events).

use super::events::register;
use kms_media::MediaType;
use kms_webrtc::{DataChannelStats, RtpStreamStats, StreamDirection};
use serde_json::{json, Map, Value};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Epoch milliseconds of a monotonic instant.
fn epoch_millis(at: Instant, now: Instant) -> i64 {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    now_ms - now.saturating_duration_since(at).as_millis() as i64
}

/// `MediaLatencyStat` registers from (media type, average ns) pairs; `name`
/// is the sink pad KMS measures on (`sink_video_default`).
fn latency_stats(latency: &[(MediaType, f64)]) -> Value {
    let stat = |(t, avg): &(MediaType, f64)| {
        let name = format!("sink_{}_default", t.as_str().to_lowercase());
        register("MediaLatencyStat", json!({ "name": name, "type": t.as_str(), "avg": avg }))
    };
    Value::Array(latency.iter().map(stat).collect())
}

/// The stats map of an element that is not an RTP endpoint: one
/// `ElementStats` keyed by the element id, with its `inputLatency`.
pub fn element_stats(element_id: &str, latency: &[(MediaType, f64)]) -> Value {
    let now = Instant::now();
    let entry = json!({ "id": element_id, "type": "element", "timestampMillis": epoch_millis(now, now), "inputLatency": latency_stats(latency) });
    json!({ element_id: register("ElementStats", entry) })
}

/// The stats map of an RTP endpoint (RtpEndpoint): one `EndpointStats`
/// keyed by the element id (its `E2ELatency` from `latency`, average ns per
/// media type, as KMS leaves `inputLatency` empty for endpoints) and one
/// inbound/outbound RTP entry per stream of the requested `media_type`
/// (all when `None`).
pub fn rtp_endpoint_stats(element_id: &str, streams: &[RtpStreamStats], latency: &[(MediaType, f64)], media_type: Option<MediaType>) -> Map<String, Value> {
    let now = Instant::now();
    let now_ms = epoch_millis(now, now);
    let mut map = Map::new();
    let endpoint = json!({ "id": element_id, "type": "endpoint", "timestampMillis": now_ms, "inputLatency": [], "E2ELatency": latency_stats(latency) });
    map.insert(element_id.to_owned(), register("EndpointStats", endpoint));
    for s in streams.iter().filter(|s| media_type.is_none_or(|t| t == s.media_type)) {
        let (kind, type_name) = match s.direction {
            StreamDirection::Inbound => ("inboundrtp", "RTCInboundRTPStreamStats"),
            StreamDirection::Outbound => ("outboundrtp", "RTCOutboundRTPStreamStats"),
        };
        let ssrc = s.ssrc.map(|v| v.to_string()).unwrap_or_default();
        let id = format!("{kind}_{}_{ssrc}", s.media_type.as_str().to_lowercase());
        let mut entry = json!({
            "id": id,
            "type": kind,
            "timestampMillis": epoch_millis(s.timestamp, now),
            "ssrc": ssrc,
            "isRemote": false,
            "firCount": s.fir_count,
            "pliCount": s.pli_count,
            "nackCount": s.nack_count,
            "fractionLost": s.fraction_lost.unwrap_or(0.0),
            "packetsLost": s.packets_lost.unwrap_or(0),
            "remb": s.remb.unwrap_or(0),
        });
        match s.direction {
            StreamDirection::Inbound => {
                entry["packetsReceived"] = json!(s.packets);
                entry["bytesReceived"] = json!(s.bytes);
                entry["jitter"] = json!(s.jitter.unwrap_or(0.0));
            }
            StreamDirection::Outbound => {
                entry["packetsSent"] = json!(s.packets);
                entry["bytesSent"] = json!(s.bytes);
                entry["roundTripTime"] = json!(s.round_trip_time.map_or(0.0, |d| d.as_secs_f64()));
                if let Some(layer) = s.simulcast_layer {
                    entry["simulcastLayer"] = json!(layer);
                }
                if let Some(bitrate) = s.available_bitrate {
                    entry["availableOutgoingBitrate"] = json!(bitrate);
                }
            }
        }
        map.insert(id, register(type_name, entry));
    }
    map
}

/// The stats map of a WebRtcEndpoint: [`rtp_endpoint_stats`], plus one
/// `RTCPeerConnectionStats` ("session", with the `data` channels'
/// opened/closed totals) and one `RTCDataChannelStats` per data channel.
pub fn webrtc_stats(
    element_id: &str,
    streams: &[RtpStreamStats],
    data: &(Vec<DataChannelStats>, (u64, u64)),
    latency: &[(MediaType, f64)],
    media_type: Option<MediaType>,
) -> Value {
    let now = Instant::now();
    let now_ms = epoch_millis(now, now);
    let mut map = rtp_endpoint_stats(element_id, streams, latency, media_type);
    let session_id = format!("{element_id}_session");
    map.insert(
        session_id.clone(),
        register(
            "RTCPeerConnectionStats",
            json!({ "id": session_id, "type": "session", "timestampMillis": now_ms, "dataChannelsOpened": data.1.0, "dataChannelsClosed": data.1.1 }),
        ),
    );
    for c in data.0.iter().filter(|_| media_type.is_none_or(|t| t == MediaType::Data)) {
        let id = format!("datachannel_{}", c.stream_id);
        let entry = json!({
            "id": id, "type": "datachannel", "timestampMillis": now_ms,
            "label": c.label, "protocol": c.protocol, "datachannelid": c.stream_id, "state": c.state,
            "messagesSent": c.messages_sent, "bytesSent": c.bytes_sent,
            "messagesReceived": c.messages_received, "bytesReceived": c.bytes_received,
        });
        map.insert(id, register("RTCDataChannelStats", entry));
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_shapes_and_media_type_filter() {
        let now = Instant::now();
        let stream = |media_type, direction, ssrc| RtpStreamStats {
            media_type,
            direction,
            ssrc: Some(ssrc),
            packets: 10,
            bytes: 1000,
            fir_count: 0,
            pli_count: 2,
            nack_count: 1,
            jitter: Some(0.01),
            fraction_lost: None,
            packets_lost: Some(3),
            remb: Some(300_000),
            round_trip_time: None,
            simulcast_layer: None,
            available_bitrate: None,
            timestamp: now,
        };
        let streams = [stream(MediaType::Video, StreamDirection::Inbound, 1), stream(MediaType::Audio, StreamDirection::Outbound, 2)];
        let channel = DataChannelStats {
            stream_id: 1,
            label: "chat".into(),
            protocol: String::new(),
            state: "open",
            messages_sent: 1,
            bytes_sent: 2,
            messages_received: 3,
            bytes_received: 4,
        };
        let data = (vec![channel], (1, 0));
        let all = webrtc_stats("e", &streams, &data, &[(MediaType::Video, 1.5e6)], None);
        let all = all.as_object().unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(all["datachannel_1"]["__type__"], "RTCDataChannelStats");
        assert_eq!(all["datachannel_1"]["bytesReceived"], 4);
        assert_eq!(all["e_session"]["dataChannelsOpened"], 1);
        assert_eq!(all["e"]["type"], "endpoint");
        assert_eq!(all["e"]["E2ELatency"][0]["avg"], 1.5e6);
        assert_eq!(all["e"]["E2ELatency"][0]["type"], "VIDEO");
        let inbound = all.values().find(|v| v["type"] == "inboundrtp").unwrap();
        assert_eq!(inbound["__type__"], "RTCInboundRTPStreamStats");
        assert_eq!(inbound["ssrc"], "1");
        assert_eq!(inbound["packetsReceived"], 10);
        assert_eq!(inbound["pliCount"], 2);
        assert_eq!(inbound["packetsLost"], 3);
        assert_eq!(inbound["remb"], 300_000);
        assert!(inbound["timestampMillis"].is_i64());
        let video_only = webrtc_stats("e", &streams, &data, &[], Some(MediaType::Video));
        assert!(video_only.as_object().unwrap().values().all(|v| v["type"] != "outboundrtp" && v["type"] != "datachannel"));
        let element = element_stats("p", &[(MediaType::Audio, 2.0)]);
        assert_eq!(element["p"]["__type__"], "ElementStats");
        assert_eq!(element["p"]["inputLatency"][0]["name"], "sink_audio_default");
    }
}
