//! WebRtcEndpoint on str0m.
//!
//! [`WebRtcEndpoint`] wraps one str0m `Rtc` (full ICE, DTLS 1.2, SRTP) as a
//! pipeline [`Element`](kms_media::Element): datagrams and timeouts go in,
//! datagrams, depacketized media frames, keyframe requests and Kurento events
//! come out. Sans-IO like str0m itself: the media worker owns the sockets.
//!
//! Negotiation follows KMS's `SdpEndpoint`: one offer/answer exchange per
//! endpoint; the answer carries the host candidates, and `gatherCandidates`
//! trickles them as IceCandidateFound followed by IceGatheringDone.

mod codecs;
mod datachannel;
mod direction;
mod endpoint;
#[doc(hidden)]
pub mod fuzzing;
mod external;
pub mod framing;
mod gather;
mod mlines;
mod nat;
pub mod simulcast;
mod stats;

pub use kms_media::bandwidth::{Bandwidth, REMB_INTERVAL};
pub use kms_media::remb::RembParams;
pub use codecs::{CodecList, CodecName};
pub use datachannel::DataChannelStats;
pub use endpoint::{DtlsState, IceState, WebRtcConfig, ICE_FAILED_AFTER, WebRtcEndpoint, WebRtcError};
pub use external::ExternalAddrs;
pub use gather::NatConfig;
pub use nat::TurnServer;
pub use stats::{RtpStreamStats, StreamDirection, STATS_INTERVAL};
