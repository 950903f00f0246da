//! Session descriptions for plain RTP (RFC 4566), as RtpEndpoint reads and
//! writes them: one session connection address, and per media line its
//! port, transport (RTP/AVP, RTP/AVPF, RTP/SAVP, RTP/SAVPF, RFC 3551 / 4585 /
//! 3711 / 5124), payload types with their `rtpmap`/`fmtp`/`rtcp-fb`, the RTCP
//! port (`a=rtcp`, RFC 3605) or `a=rtcp-mux` (RFC 5761), SDES keys
//! (`a=crypto`, RFC 4568), the stream direction and KMS's COMEDIA marker
//! (`a=direction:active`, from RFC 4145's connection-oriented media: the
//! peer sends first and its address is learnt from its packets).
//!
//! Parsing is strict about what it uses (an unreadable `m=`, `c=` or port
//! is an error naming the line) and ignores attributes it does not know.

use std::fmt::Write as _;
use std::net::IpAddr;

/// Why a description cannot be used: the text for KMS's SDP_PARSE_ERROR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SdpError(pub String);

/// The transport of a media line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proto {
    /// `RTP/AVP` (RFC 3551).
    Avp,
    /// `RTP/AVPF` (RFC 4585: early RTCP feedback).
    Avpf,
    /// `RTP/SAVP` (RFC 3711: SRTP).
    Savp,
    /// `RTP/SAVPF` (RFC 5124).
    Savpf,
    /// Anything else (`UDP/TLS/RTP/SAVPF`, `DTLS/SCTP`, ...): not plain RTP.
    Other(String),
}

impl Proto {
    pub fn parse(text: &str) -> Proto {
        match text {
            "RTP/AVP" => Proto::Avp,
            "RTP/AVPF" => Proto::Avpf,
            "RTP/SAVP" => Proto::Savp,
            "RTP/SAVPF" => Proto::Savpf,
            other => Proto::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Proto::Avp => "RTP/AVP",
            Proto::Avpf => "RTP/AVPF",
            Proto::Savp => "RTP/SAVP",
            Proto::Savpf => "RTP/SAVPF",
            Proto::Other(s) => s,
        }
    }

    /// SRTP profiles.
    pub fn is_secure(&self) -> bool {
        matches!(self, Proto::Savp | Proto::Savpf)
    }

    /// Profiles with early RTCP feedback (NACK, PLI, FIR without waiting
    /// for the regular RTCP interval).
    pub fn has_feedback(&self) -> bool {
        matches!(self, Proto::Avpf | Proto::Savpf)
    }

    /// The profile with the given security and feedback.
    pub fn of(secure: bool, feedback: bool) -> Proto {
        match (secure, feedback) {
            (false, false) => Proto::Avp,
            (false, true) => Proto::Avpf,
            (true, false) => Proto::Savp,
            (true, true) => Proto::Savpf,
        }
    }
}

/// The stream direction attribute (RFC 4566 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn parse(text: &str) -> Option<Direction> {
        Some(match text {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The answerer's direction for an offered one.
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }

    /// This side sends media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }
}

/// The COMEDIA role of a line (`a=direction:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComediaRole {
    Active,
    Passive,
}

/// `a=rtpmap:<pt> <encoding>/<clock>[/<channels>]`, or the static payload
/// type it stands for (RFC 3551 §6: 0 PCMU, 8 PCMA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub pt: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

/// `a=crypto:<tag> <suite> inline:<key>[|...]` (RFC 4568 §9.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptoLine {
    pub tag: u32,
    pub suite: String,
    /// The base64 key and salt of the first `inline:` key parameter, without
    /// lifetime or MKI.
    pub key_base64: String,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MediaLine {
    /// `audio`, `video`, `application`, ...
    pub kind: String,
    /// 0 refuses the line.
    pub port: u16,
    pub proto: Option<Proto>,
    /// The format list as written (payload types for RTP).
    pub formats: Vec<String>,
    /// The line's own `c=` address.
    pub connection: Option<IpAddr>,
    pub rtpmaps: Vec<RtpMap>,
    pub fmtps: Vec<(u8, String)>,
    /// `a=rtcp-fb:<pt|*> <value>`.
    pub rtcp_fb: Vec<(String, String)>,
    /// `a=rtcp:<port> [IN IP4 <addr>]`.
    pub rtcp: Option<(u16, Option<IpAddr>)>,
    pub rtcp_mux: bool,
    pub crypto: Vec<CryptoLine>,
    pub direction: Direction,
    /// `a=direction:active|passive` (COMEDIA): the active side sends first,
    /// and the passive side learns its address from those packets.
    pub comedia: Option<ComediaRole>,
    pub mid: Option<String>,
    pub ssrc: Option<u32>,
}

impl MediaLine {
    /// The rtpmap of `pt`, including the static ones.
    pub fn rtpmap(&self, pt: u8) -> Option<RtpMap> {
        self.rtpmaps.iter().find(|m| m.pt == pt).cloned().or_else(|| static_rtpmap(pt))
    }

    /// The payload types of the format list, in preference order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse().ok())
    }

    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.fmtps.iter().find(|(p, _)| *p == pt).map(|(_, f)| f.as_str())
    }

    /// The `rtcp-fb` values of `pt` (lines for `*` included).
    pub fn feedback(&self, pt: u8) -> impl Iterator<Item = &str> + '_ {
        let pt = pt.to_string();
        self.rtcp_fb.iter().filter(move |(p, _)| *p == pt || p == "*").map(|(_, v)| v.as_str())
    }
}

/// A whole description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionDescription {
    /// `o=` session id and version.
    pub session_id: u64,
    pub session_version: u64,
    /// The address in `o=`.
    pub origin: Option<IpAddr>,
    /// The session-level `c=` address.
    pub connection: Option<IpAddr>,
    pub media: Vec<MediaLine>,
}

fn static_rtpmap(pt: u8) -> Option<RtpMap> {
    let (encoding, clock_rate) = match pt {
        0 => ("PCMU", 8000),
        8 => ("PCMA", 8000),
        _ => return None,
    };
    Some(RtpMap { pt, encoding: encoding.into(), clock_rate, channels: Some(1) })
}

fn parse_addr(value: &str, line: &str) -> Result<Option<IpAddr>, SdpError> {
    // c=IN IP4 <addr>[/ttl]
    let mut parts = value.split_whitespace();
    let (net, family, addr) = (parts.next(), parts.next(), parts.next());
    match (net, family, addr) {
        (Some("IN"), Some("IP4" | "IP6"), Some(addr)) => {
            let addr = addr.split('/').next().unwrap_or(addr);
            addr.parse().map(Some).map_err(|_| SdpError(format!("'{line}': the address is not an IP address")))
        }
        _ => Err(SdpError(format!("'{line}': expected IN IP4|IP6 <address>"))),
    }
}

impl SessionDescription {
    /// Parses `text`. Errors name the first line that cannot be read.
    pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
        let mut sd = SessionDescription::default();
        let mut saw_version = false;
        for raw in text.lines() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() {
                continue;
            }
            let (kind, value) = match line.split_once('=') {
                Some((k, v)) if k.len() == 1 => (k, v),
                _ => return Err(SdpError(format!("'{}' is not an SDP line", truncate(line)))),
            };
            match kind {
                "v" => {
                    if value != "0" {
                        return Err(SdpError(format!("unsupported SDP version '{}'", truncate(value))));
                    }
                    saw_version = true;
                }
                "o" => {
                    let parts: Vec<&str> = value.split_whitespace().collect();
                    if parts.len() == 6 {
                        sd.session_id = parts[1].parse().unwrap_or(0);
                        sd.session_version = parts[2].parse().unwrap_or(0);
                        sd.origin = parts[5].parse().ok();
                    }
                }
                "c" => {
                    let addr = parse_addr(value, line)?;
                    match sd.media.last_mut() {
                        Some(m) => m.connection = addr,
                        None => sd.connection = addr,
                    }
                }
                "m" => sd.media.push(parse_media(value, line)?),
                "a" => {
                    if let Some(m) = sd.media.last_mut() {
                        parse_attribute(m, value)?;
                    }
                }
                _ => {}
            }
        }
        if !saw_version {
            return Err(SdpError("not an SDP: no 'v=0' line".into()));
        }
        Ok(sd)
    }

    /// Where the peer receives `media`'s RTP: its `c=` or the session's.
    pub fn address_of(&self, media: &MediaLine) -> Option<IpAddr> {
        media.connection.or(self.connection)
    }
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(60) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

fn parse_media(value: &str, line: &str) -> Result<MediaLine, SdpError> {
    let mut parts = value.split_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SdpError(format!("'{}': expected m=<media> <port> <proto> <fmt>...", truncate(line))));
    };
    // <port>[/<count>]
    let port = port.split('/').next().and_then(|p| p.parse().ok()).ok_or_else(|| SdpError(format!("'{}': bad port", truncate(line))))?;
    Ok(MediaLine { kind: kind.to_owned(), port, proto: Some(Proto::parse(proto)), formats: parts.map(str::to_owned).collect(), ..Default::default() })
}

fn parse_attribute(m: &mut MediaLine, value: &str) -> Result<(), SdpError> {
    let (name, rest) = value.split_once(':').unwrap_or((value, ""));
    match name {
        "rtpmap" => {
            let mut parts = rest.split_whitespace();
            let (Some(pt), Some(enc)) = (parts.next().and_then(|p| p.parse().ok()), parts.next()) else { return Ok(()) };
            let mut enc = enc.split('/');
            let (Some(encoding), Some(clock_rate)) = (enc.next(), enc.next().and_then(|c| c.parse().ok())) else { return Ok(()) };
            let channels = enc.next().and_then(|c| c.parse().ok());
            m.rtpmaps.push(RtpMap { pt, encoding: encoding.to_owned(), clock_rate, channels });
        }
        "fmtp" => {
            if let Some((pt, params)) = rest.split_once(' ') {
                if let Ok(pt) = pt.parse() {
                    m.fmtps.push((pt, params.trim().to_owned()));
                }
            }
        }
        "rtcp-fb" => {
            if let Some((pt, fb)) = rest.split_once(' ') {
                m.rtcp_fb.push((pt.to_owned(), fb.trim().to_owned()));
            }
        }
        "rtcp" => {
            let mut parts = rest.split_whitespace();
            let port = parts.next().and_then(|p| p.parse().ok()).ok_or_else(|| SdpError(format!("'a={}': bad RTCP port", truncate(value))))?;
            let rest: Vec<&str> = parts.collect();
            let addr = if rest.len() == 3 { parse_addr(&rest.join(" "), value)? } else { None };
            m.rtcp = Some((port, addr));
        }
        "rtcp-mux" => m.rtcp_mux = true,
        "crypto" => {
            let mut parts = rest.split_whitespace();
            let (Some(tag), Some(suite), Some(params)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(SdpError(format!("'a={}': expected a=crypto:<tag> <suite> inline:<key>", truncate(value))));
            };
            let tag = tag.parse().map_err(|_| SdpError(format!("'a={}': bad crypto tag", truncate(value))))?;
            let key = params.strip_prefix("inline:").ok_or_else(|| SdpError(format!("'a={}': only inline keys are supported", truncate(value))))?;
            let key_base64 = key.split('|').next().unwrap_or_default().to_owned();
            m.crypto.push(CryptoLine { tag, suite: suite.to_owned(), key_base64 });
        }
        "direction" => {
            m.comedia = match rest.trim() {
                "active" => Some(ComediaRole::Active),
                "passive" => Some(ComediaRole::Passive),
                _ => None,
            }
        }
        "mid" => m.mid = Some(rest.trim().to_owned()),
        "ssrc" => {
            if m.ssrc.is_none() {
                m.ssrc = rest.split_whitespace().next().and_then(|s| s.parse().ok());
            }
        }
        other => {
            if let Some(d) = Direction::parse(other) {
                m.direction = d;
            }
        }
    }
    Ok(())
}

impl std::fmt::Display for SessionDescription {
    /// The description as CRLF-terminated lines, in RFC 4566's order.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let family = |a: &IpAddr| if a.is_ipv4() { "IP4" } else { "IP6" };
        let origin = self.origin.unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let mut s = String::new();
        let _ = write!(s, "v=0\r\no=- {} {} IN {} {origin}\r\ns=Kurento Media Server\r\n", self.session_id, self.session_version, family(&origin));
        if let Some(c) = &self.connection {
            let _ = write!(s, "c=IN {} {c}\r\n", family(c));
        }
        s.push_str("t=0 0\r\n");
        for m in &self.media {
            let proto = m.proto.as_ref().map_or("RTP/AVP", Proto::as_str);
            let _ = write!(s, "m={} {} {proto} {}\r\n", m.kind, m.port, m.formats.join(" "));
            if let Some(c) = &m.connection {
                let _ = write!(s, "c=IN {} {c}\r\n", family(c));
            }
            if m.port == 0 {
                continue;
            }
            if let Some((port, _)) = m.rtcp {
                let _ = write!(s, "a=rtcp:{port}\r\n");
            }
            if m.rtcp_mux {
                s.push_str("a=rtcp-mux\r\n");
            }
            for map in &m.rtpmaps {
                let _ = write!(s, "a=rtpmap:{} {}/{}", map.pt, map.encoding, map.clock_rate);
                if let Some(ch) = map.channels.filter(|&c| c > 1) {
                    let _ = write!(s, "/{ch}");
                }
                s.push_str("\r\n");
                if let Some(fmtp) = m.fmtp(map.pt) {
                    let _ = write!(s, "a=fmtp:{} {fmtp}\r\n", map.pt);
                }
                for fb in m.feedback(map.pt) {
                    let _ = write!(s, "a=rtcp-fb:{} {fb}\r\n", map.pt);
                }
            }
            for c in &m.crypto {
                let _ = write!(s, "a=crypto:{} {} inline:{}\r\n", c.tag, c.suite, c.key_base64);
            }
            if let Some(mid) = &m.mid {
                let _ = write!(s, "a=mid:{mid}\r\n");
            }
            match m.comedia {
                Some(ComediaRole::Active) => s.push_str("a=direction:active\r\n"),
                Some(ComediaRole::Passive) => s.push_str("a=direction:passive\r\n"),
                None => {}
            }
            let _ = write!(s, "a={}\r\n", m.direction.as_str());
            if let Some(ssrc) = m.ssrc {
                let _ = write!(s, "a=ssrc:{ssrc} cname:kurento\r\n");
            }
        }
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GST_SENDER: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 5006 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\na=sendonly\r\n\
        m=video 5004 RTP/AVPF 103 0\r\na=rtpmap:103 VP8/90000\r\na=rtcp-fb:103 nack pli\r\na=rtcp-fb:* ccm fir\r\n\
        a=rtcp:5010\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj|2^20|1:32\r\n\
        a=direction:active\r\na=ssrc:445566 cname:x\r\n";

    #[test]
    fn reads_what_rtp_endpoint_uses() {
        let sd = SessionDescription::parse(GST_SENDER).unwrap();
        assert_eq!(sd.connection, Some("127.0.0.1".parse().unwrap()));
        let (audio, video) = (&sd.media[0], &sd.media[1]);
        assert_eq!((audio.kind.as_str(), audio.port, audio.proto.clone()), ("audio", 5006, Some(Proto::Avp)));
        assert_eq!(audio.direction, Direction::SendOnly);
        assert_eq!(audio.rtpmap(96).unwrap().channels, Some(2));
        assert_eq!(video.payload_types().collect::<Vec<_>>(), [103, 0]);
        assert_eq!(video.rtpmap(0).unwrap().encoding, "PCMU", "static payload types need no rtpmap");
        assert_eq!(video.feedback(103).collect::<Vec<_>>(), ["nack pli", "ccm fir"]);
        assert_eq!(video.rtcp, Some((5010, None)));
        assert_eq!(video.crypto[0].key_base64, "d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj");
        assert_eq!((video.comedia, audio.comedia), (Some(ComediaRole::Active), None));
        assert_eq!(video.ssrc, Some(445566));
    }

    #[test]
    fn round_trips_through_text() {
        let sd = SessionDescription::parse(GST_SENDER).unwrap();
        let again = SessionDescription::parse(&sd.to_string()).unwrap();
        assert_eq!(again.media[1].crypto, sd.media[1].crypto);
        assert_eq!(again.media[1].rtpmaps, sd.media[1].rtpmaps);
        assert_eq!(again.media[0].direction, Direction::SendOnly);
        let with_mid = SessionDescription::parse("v=0\r\nm=audio 5000 RTP/AVP 0\r\na=mid:a0\r\n").unwrap();
        assert!(with_mid.to_string().contains("a=mid:a0\r\n"), "an offered mid is answered");
    }

    #[test]
    fn bad_input_is_an_error_naming_the_line() {
        for bad in ["", "hello", "v=0\r\nm=video\r\n", "v=0\r\nm=video x RTP/AVP 96\r\n", "v=0\r\nc=IN IP4 example\r\n", "v=1\r\n", "\u{0}\u{1}binary"] {
            assert!(SessionDescription::parse(bad).is_err(), "{bad:?}");
        }
        let e = SessionDescription::parse("v=0\r\nm=audio 5000 RTP/AVP 0\r\na=crypto:x AES inline:k\r\n").unwrap_err();
        assert!(e.0.contains("crypto tag"), "{e}");
        // Unknown transports are read, to be refused per line.
        let sd = SessionDescription::parse("v=0\r\nm=application 9 DTLS/SCTP 5000\r\n").unwrap();
        assert_eq!(sd.media[0].proto, Some(Proto::Other("DTLS/SCTP".into())));
    }
}
