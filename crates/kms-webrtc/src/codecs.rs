//! The codecs an endpoint negotiates, from KMS's `SdpEndpoint.conf.json`.
//!
//! KMS lists `audioCodecs` and `videoCodecs` as `name/clock-rate[/channels]`
//! strings (`opus/48000/2`, `PCMU/8000`, `VP8/90000`, ...). The lists decide
//! which codecs an endpoint accepts in an offer and puts in its own offers,
//! and in which order. A name str0m cannot packetize here (KMS's default list
//! has `AMR/8000`) is skipped, and reported once at start-up, as KMS skips
//! codecs GStreamer lacks.

use str0m::format::{CodecConfig, PayloadParams};

/// One configured codec: `name/clock[/channels]`, matched case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecName {
    /// Encoding name as in an `a=rtpmap` line (`opus`, `VP8`, `H264`).
    pub name: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels; `None` matches any.
    pub channels: Option<u8>,
}

impl CodecName {
    /// Parses `name/clock[/channels]`; `None` when it is not of that shape.
    pub fn parse(text: &str) -> Option<CodecName> {
        let mut parts = text.trim().split('/');
        let name = parts.next().filter(|n| !n.is_empty())?.to_owned();
        let clock_rate = parts.next()?.parse().ok()?;
        let channels = match parts.next() {
            Some(c) => Some(c.parse().ok()?),
            None => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(CodecName { name, clock_rate, channels })
    }

    fn matches(&self, p: &PayloadParams) -> bool {
        let spec = p.spec();
        spec.codec.to_string().eq_ignore_ascii_case(&self.name)
            && spec.clock_rate.get() == self.clock_rate
            && (self.channels.is_none() || spec.channels.is_none() || spec.channels == self.channels)
    }
}

/// The ordered codec lists of `SdpEndpoint.conf.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecList {
    pub audio: Vec<CodecName>,
    pub video: Vec<CodecName>,
}

impl Default for CodecList {
    /// KMS's shipped `SdpEndpoint.conf.json`.
    fn default() -> Self {
        let parse = |names: &[&str]| names.iter().filter_map(|n| CodecName::parse(n)).collect();
        CodecList {
            audio: parse(&["opus/48000/2", "PCMU/8000", "PCMA/8000", "AMR/8000"]),
            video: parse(&["H265/90000", "AV1/90000", "VP9/90000", "VP8/90000", "H264/90000"]),
        }
    }
}

/// Every codec the router forwards: str0m's defaults plus G.711, which it
/// leaves off, minus H.265, which str0m does not packetize yet; with `red`,
/// Opus carries an RFC 2198 RED payload type (negotiated when the peer
/// offers `red/48000/2`; str0m unwraps it on receive and wraps on send).
fn supported(red: bool) -> CodecConfig {
    let mut all = CodecConfig::new_with_defaults();
    all.enable_opus(true, red);
    all.enable_pcmu(true, false);
    all.enable_pcma(true, false);
    all.enable_h265(false);
    all
}

impl CodecList {
    /// The payload types for str0m, in the configured order (audio first).
    /// Every payload type of a listed codec is kept (H.264 has one per
    /// profile); `red` adds Opus RED (see `supported`).
    pub fn payload_params(&self, red: bool) -> Vec<PayloadParams> {
        let supported = supported(red);
        let mut params = Vec::new();
        for wanted in self.audio.iter().chain(&self.video) {
            for p in supported.params().iter().filter(|p| wanted.matches(p)) {
                // A codec listed twice keeps its first place.
                if !params.iter().any(|q: &PayloadParams| q.pt() == p.pt()) {
                    params.push(*p);
                }
            }
        }
        params
    }

    /// The same codecs, each list reordered by where the codec first appears
    /// in `sdp`'s `a=rtpmap` lines; codecs the SDP lacks keep their order, last.
    pub fn in_offer_order(&self, sdp: &str) -> CodecList {
        let offered: Vec<String> = sdp
            .lines()
            .filter_map(|l| l.strip_prefix("a=rtpmap:"))
            .filter_map(|l| l.split_whitespace().nth(1))
            .filter_map(|enc| enc.split('/').next())
            .map(str::to_ascii_lowercase)
            .collect();
        let rank = |c: &CodecName| offered.iter().position(|o| *o == c.name.to_ascii_lowercase()).unwrap_or(usize::MAX);
        let sorted = |list: &[CodecName]| {
            let mut list = list.to_vec();
            list.sort_by_key(rank);
            list
        };
        CodecList { audio: sorted(&self.audio), video: sorted(&self.video) }
    }

    /// The listed codecs that are skipped because nothing here forwards them,
    /// for a warning at start-up.
    pub fn unsupported(&self) -> Vec<&CodecName> {
        let supported = supported(false);
        self.audio.iter().chain(&self.video).filter(|c| !supported.params().iter().any(|p| c.matches(p))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::format::Codec;

    #[test]
    fn parses_kms_names() {
        assert_eq!(CodecName::parse("opus/48000/2"), Some(CodecName { name: "opus".into(), clock_rate: 48000, channels: Some(2) }));
        assert_eq!(CodecName::parse(" VP8/90000 ").unwrap().clock_rate, 90000);
        for bad in ["", "VP8", "VP8/x", "opus/48000/2/1", "/8000"] {
            assert_eq!(CodecName::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn keeps_listed_codecs_in_order() {
        let list = CodecList {
            audio: vec![CodecName::parse("PCMA/8000").unwrap(), CodecName::parse("AMR/8000").unwrap()],
            video: vec![CodecName::parse("vp8/90000").unwrap(), CodecName::parse("H264/90000").unwrap()],
        };
        let codecs: Vec<Codec> = list.payload_params(false).iter().map(|p| p.spec().codec).collect();
        assert_eq!(codecs[0], Codec::PCMA);
        assert_eq!(codecs[1], Codec::Vp8);
        assert!(codecs[2..].iter().all(|c| *c == Codec::H264) && codecs.len() > 2);
        assert_eq!(list.unsupported(), [&list.audio[1]]);
    }

    #[test]
    fn follows_the_offers_order() {
        let offer = "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=rtpmap:98 AV1/90000\r\n";
        let ordered = CodecList::default().in_offer_order(offer);
        let names: Vec<&str> = ordered.video.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["VP8", "AV1", "H265", "VP9", "H264"]);
        assert_eq!(ordered.audio, CodecList::default().audio);
    }

    #[test]
    fn default_list_is_kms_shipped_one() {
        let codecs: Vec<Codec> = CodecList::default().payload_params(false).iter().map(|p| p.spec().codec).collect();
        for c in [Codec::Opus, Codec::PCMU, Codec::PCMA, Codec::Vp8, Codec::Vp9, Codec::H264] {
            assert!(codecs.contains(&c), "{c}");
        }
    }
}
