//! Counters of one RTP stream, as every RTP endpoint reports them for
//! getStats (KMS `inboundrtp` / `outboundrtp` entries).

use crate::media::MediaType;
use std::time::{Duration, Instant};

/// Which way an RTP stream flows, seen from the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamDirection {
    /// Received from the peer (KMS `inboundrtp`).
    Inbound,
    /// Sent to the peer (KMS `outboundrtp`).
    Outbound,
}

/// Counters of one RTP stream (one m-line, one direction).
#[derive(Debug, Clone, PartialEq)]
pub struct RtpStreamStats {
    pub media_type: MediaType,
    pub direction: StreamDirection,
    /// The stream's SSRC, when the stream exists.
    pub ssrc: Option<u32>,
    /// RTP packets and bytes, retransmissions included.
    pub packets: u64,
    pub bytes: u64,
    /// FIR / PLI / NACK packets: sent by us for inbound streams, received from
    /// the peer for outbound ones.
    pub fir_count: u64,
    pub pli_count: u64,
    pub nack_count: u64,
    /// Interarrival jitter in seconds (inbound only).
    pub jitter: Option<f64>,
    /// Fraction of packets lost (0..1) from the latest RTCP reports.
    pub fraction_lost: Option<f32>,
    /// Cumulative packets lost: counted from sequence numbers for inbound
    /// streams, from the peer's receiver reports for outbound ones.
    pub packets_lost: Option<u64>,
    /// REMB in bits/s (video): sent to the peer for inbound streams, received
    /// from it for outbound ones.
    pub remb: Option<u64>,
    pub round_trip_time: Option<Duration>,
    /// Outbound video of a WebRtcEndpoint with simulcast forwarding: the
    /// simulcast layer forwarded (its number at the publisher; getStats
    /// `simulcastLayer`, ours).
    pub simulcast_layer: Option<u8>,
    /// Outbound video: the estimate of what the peer can receive, bits/s,
    /// bounded by the send bandwidth (getStats `availableOutgoingBitrate`,
    /// the W3C name).
    pub available_bitrate: Option<u64>,
    /// When the figures were read (str0m's periodic report, GStreamer's
    /// session stats).
    pub timestamp: Instant,
}
