//! RtpEndpoint's SDP handling for the fuzzers, with port binding and SSRCs
//! stood in for (see `crate::fuzzing`).

use super::negotiation::{self, apply_answer, codecs_from_config, LinePorts, LocalSide};
use super::sdes::{CryptoSuite, SrtpKey};
use super::sdp::SessionDescription;
use kms_media::MediaType;

fn with_local<T>(crypto: Option<&SrtpKey>, f: impl FnOnce(&mut LocalSide) -> T) -> T {
    let mut next = 40_000u16;
    let mut bind = |_: MediaType, mux: bool| {
        next = next.wrapping_add(2);
        Ok(LinePorts { rtp: next, rtcp: (!mux).then_some(next.wrapping_add(1)) })
    };
    let mut ssrc = || 1234;
    let codecs = codecs_from_config([("opus", 48_000), ("PCMU", 8000), ("PCMA", 8000), ("VP8", 90_000), ("VP9", 90_000), ("H264", 90_000)]);
    let mut local = LocalSide { address: std::net::IpAddr::from([127, 0, 0, 1]), codecs: &codecs, crypto, bind: &mut bind, ssrc: &mut ssrc };
    f(&mut local)
}

/// Parses an offer and answers it, with and without SDES; renders what it made.
pub fn offer(text: &str) {
    let Ok(sd) = SessionDescription::parse(text) else { return };
    let Ok(key) = SrtpKey::new(CryptoSuite::Aes128CmHmacSha1_80, vec![7; 30]) else { return };
    for crypto in [None, Some(&key)] {
        if let Ok((answer, _)) = with_local(crypto, |l| negotiation::answer(&sd, l)) {
            let _ = answer.to_string();
        }
    }
}

/// Applies `text` as the answer to our offer of audio and video.
pub fn answer(text: &str) {
    let Ok(sd) = SessionDescription::parse(text) else { return };
    with_local(None, |l| {
        let codecs = l.codecs.to_vec();
        if let Ok(pending) = negotiation::offer(l, &[(MediaType::Audio, true), (MediaType::Video, true)]) {
            let _ = apply_answer(&pending, &sd, &codecs, None);
        }
    });
}
