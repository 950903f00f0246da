//! getStats of a WebRtcEndpoint: per RTP stream counters from str0m's
//! ingress/egress stats, and the size of the egress (NACK) caches.

use super::peer::{EGRESS_CACHE_AGE, EGRESS_CACHE_PACKETS};
use super::WebRtcEndpoint;
use crate::stats::{InboundCounts, RtpStreamStats, StreamDirection};
use kms_media::MediaType;
use std::time::{Duration, Instant};
use std::collections::HashMap;
use str0m::media::{Mid, Rid};
use str0m::stats::{MediaEgressStats, MediaIngressStats};

/// RTP clock rate used to express jitter in seconds: 90 kHz for video; 48 kHz
/// for audio (Opus, the WebRTC default; G.711 streams would read 6x high).
fn clock_rate(media_type: MediaType) -> u32 {
    match media_type {
        MediaType::Video => 90_000,
        _ => 48_000,
    }
}

/// str0m's latest figures per m-line, and what we count ourselves of each
/// inbound stream (per m-line and simulcast layer).
pub(super) struct StreamCounters {
    pub(super) ingress: HashMap<Mid, MediaIngressStats>,
    pub(super) egress: HashMap<Mid, MediaEgressStats>,
    pub(super) inbound: HashMap<(Mid, Option<Rid>), InboundCounts>,
}

impl WebRtcEndpoint {
    /// getStats: the latest counters of every RTP stream, inbound then outbound.
    pub fn stats(&mut self) -> Vec<RtpStreamStats> {
        type Row = (Mid, StreamDirection, [u64; 5], Option<u32>, Option<f32>, Option<u64>, Option<Duration>, Instant);
        let inbound = self.counters.ingress.values().map(|s| {
            let streams = self.counters.inbound.iter().filter(|((mid, _), _)| *mid == s.mid);
            let lost = streams.map(|(_, counts)| counts.lost()).reduce(u64::saturating_add);
            (s.mid, StreamDirection::Inbound, [s.packets, s.bytes, s.firs, s.plis, s.nacks], Some(s.jitter), s.loss, lost, s.rtt, s.timestamp)
        });
        let outbound = self.counters.egress.values().map(|s| {
            let lost = s.remote.as_ref().map(|r| r.packets_lost);
            (s.mid, StreamDirection::Outbound, [s.packets, s.bytes, s.firs, s.plis, s.nacks], None, s.loss, lost, s.rtt, s.timestamp)
        });
        let rows: Vec<Row> = inbound.chain(outbound).collect();
        let (remb_received, remb_sent) = self.remb.figures();
        let (forwarded, estimate) = self.forwarded_layer();
        let mut out = Vec::with_capacity(rows.len());
        for (mid, direction, [packets, bytes, fir_count, pli_count, nack_count], jitter, fraction_lost, packets_lost, round_trip_time, timestamp) in rows {
            let Some(&media_type) = self.sdp.mid_types.get(&mid) else { continue };
            let remb = match (media_type, direction) {
                (MediaType::Video, StreamDirection::Inbound) => remb_sent,
                (MediaType::Video, StreamDirection::Outbound) => remb_received,
                _ => None,
            };
            let mut api = self.rtc.direct_api();
            let ssrc = match direction {
                StreamDirection::Inbound => api.stream_rx_by_mid(mid, None).map(|r| *r.ssrc()),
                StreamDirection::Outbound => api.stream_tx_by_mid(mid, None).map(|t| *t.ssrc()),
            };
            let outbound_video = (media_type, direction) == (MediaType::Video, StreamDirection::Outbound);
            let jitter = jitter.map(|j| f64::from(j) / f64::from(clock_rate(media_type)));
            out.push(RtpStreamStats {
                media_type,
                direction,
                ssrc,
                packets,
                bytes,
                fir_count,
                pli_count,
                nack_count,
                jitter,
                fraction_lost,
                packets_lost,
                remb,
                round_trip_time,
                simulcast_layer: forwarded.filter(|_| outbound_video).map(|(layer, _)| layer),
                available_bitrate: estimate.filter(|_| outbound_video),
                timestamp,
            });
        }
        out
    }

    /// Sizes the NACK cache of every send stream ([`EGRESS_CACHE_AGE`]); the
    /// streams exist once the session is negotiated, before media flows.
    pub(super) fn size_egress_caches(&mut self) {
        for &(mid, _) in &self.sdp.send_mids {
            if let Some(tx) = self.rtc.direct_api().stream_tx_by_mid(mid, None) {
                tx.set_rtx_cache(EGRESS_CACHE_PACKETS, EGRESS_CACHE_AGE, Some(0.15));
            }
        }
    }
}
