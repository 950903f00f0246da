//! Entry points for the fuzzers (`fuzz/`) and the corpus replay test
//! (`crates/kms-fuzz`): each takes arbitrary bytes and must return without
//! panicking or hanging, whatever they are. Not an API.

use crate::rtp::fuzzing as rtp;

/// A plain-RTP SDP offer into RtpEndpoint's negotiation (no sockets bound).
pub fn rtp_offer(data: &[u8]) {
    rtp::offer(&String::from_utf8_lossy(data));
}

/// A plain-RTP SDP answer to RtpEndpoint's generated offer.
pub fn rtp_answer(data: &[u8]) {
    rtp::answer(&String::from_utf8_lossy(data));
}
