//! Offers with media lines a WebRtcEndpoint cannot serve, answered the way
//! KMS answers them (RFC 3264 §6): each such line is refused in place with
//! port 0 and the rest is negotiated; only an offer with nothing usable is
//! an error.
//!
//! Served: audio/video over DTLS-SRTP (`UDP/TLS/RTP/SAVPF`, `UDP/TLS/RTP/SAVP`,
//! `TCP/TLS/RTP/SAVPF`, and `RTP/SAVPF` with a DTLS fingerprint), data
//! channels (`UDP/DTLS/SCTP`, `DTLS/SCTP`). Refused: plain RTP (`RTP/AVP`,
//! `RTP/AVPF`, SDES `RTP/SAVP`), other transports and media kinds, and lines
//! the offerer already disabled with port 0.

/// An offer split into what str0m negotiates and the refused lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitOffer {
    /// The offer without the refused sections (BUNDLE group trimmed).
    pub usable: String,
    /// Refused sections: (index among all m-lines, the answer's `m=` line
    /// and `a=mid` if the offer had one).
    pub refused: Vec<(usize, String)>,
}

fn servable(section: &str, has_fingerprint: bool) -> bool {
    let mut parts = section.lines().next().unwrap_or_default().trim_start_matches("m=").split_whitespace();
    let (kind, port, proto) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    if port.split('/').next() == Some("0") {
        return false;
    }
    match kind {
        "audio" | "video" => {
            matches!(proto, "UDP/TLS/RTP/SAVPF" | "UDP/TLS/RTP/SAVP" | "TCP/TLS/RTP/SAVPF" | "TCP/TLS/RTP/SAVP") || (proto == "RTP/SAVPF" && has_fingerprint)
        }
        "application" => matches!(proto, "UDP/DTLS/SCTP" | "DTLS/SCTP" | "TCP/DTLS/SCTP"),
        _ => false,
    }
}

/// The refused line of an answer for an offered section.
fn refusal(section: &str) -> String {
    let first = section.lines().next().unwrap_or_default().trim_end();
    let mut parts = first.trim_start_matches("m=").split_whitespace();
    let kind = parts.next().unwrap_or("audio");
    let _port = parts.next();
    let rest: Vec<&str> = parts.collect();
    let mut out = format!("m={kind} 0 {}\r\n", rest.join(" "));
    if let Some(mid) = section.lines().find_map(|l| l.trim().strip_prefix("a=mid:")) {
        out.push_str(&format!("a=mid:{}\r\n", mid.trim()));
    }
    out
}

fn mid_of(section: &str) -> Option<&str> {
    section.lines().find_map(|l| l.trim().strip_prefix("a=mid:")).map(str::trim)
}

/// Splits `offer`. Errors when no line can be served (the text for 40205).
pub fn split_offer(offer: &str) -> Result<SplitOffer, String> {
    let mut sections: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, _) in offer.match_indices("m=") {
        if i == 0 || offer[..i].ends_with('\n') {
            sections.push(&offer[start..i]);
            start = i;
        }
    }
    sections.push(&offer[start..]);
    let (session, media) = sections.split_first().map(|(s, m)| (*s, m.to_vec())).unwrap_or_default();
    let has_fingerprint = offer.contains("a=fingerprint:");
    let mut usable_media = Vec::new();
    let mut refused = Vec::new();
    let mut refused_mids = Vec::new();
    for (index, section) in media.iter().enumerate() {
        if servable(section, has_fingerprint) {
            usable_media.push(*section);
        } else {
            refused.push((index, refusal(section)));
            refused_mids.extend(mid_of(section));
        }
    }
    if refused.is_empty() {
        return Ok(SplitOffer { usable: offer.to_owned(), refused });
    }
    if usable_media.is_empty() {
        return Err(if media.is_empty() { "the offer has no media".into() } else { "no media line of the offer can be served (WebRTC needs ICE and DTLS-SRTP)".into() });
    }
    let session: String = session
        .split_inclusive('\n')
        .map(|line| match line.trim_end().strip_prefix("a=group:BUNDLE ") {
            Some(mids) => {
                let kept: Vec<&str> = mids.split_whitespace().filter(|m| !refused_mids.contains(m)).collect();
                format!("a=group:BUNDLE {}\r\n", kept.join(" "))
            }
            None => line.to_owned(),
        })
        .collect();
    Ok(SplitOffer { usable: session + &usable_media.concat(), refused })
}

/// Puts the refused lines back into `answer` at their offered positions.
pub fn merge_answer(answer: &str, refused: &[(usize, String)]) -> String {
    if refused.is_empty() {
        return answer.to_owned();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut start = 0;
    for (i, _) in answer.match_indices("m=") {
        if i == 0 || answer[..i].ends_with('\n') {
            parts.push(answer[start..i].to_owned());
            start = i;
        }
    }
    parts.push(answer[start..].to_owned());
    let session = parts.remove(0);
    let mut media = parts;
    for (index, line) in refused {
        let at = (*index).min(media.len());
        media.insert(at, line.clone());
    }
    session + &media.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\na=fingerprint:sha-256 AA\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n\
        m=video 5004 RTP/AVP 96\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=rtpmap:96 VP8/90000\r\n\
        m=text 9 RTP/AVP 98\r\n";

    #[test]
    fn refuses_plain_rtp_and_unknown_lines_in_place() {
        let split = split_offer(OFFER).unwrap();
        assert!(split.usable.contains("a=group:BUNDLE 0 2\r\n"), "{}", split.usable);
        assert!(!split.usable.contains("RTP/AVP ") && !split.usable.contains("m=text"));
        assert_eq!(split.refused, [(1, "m=video 0 RTP/AVP 96\r\na=mid:1\r\n".to_owned()), (3, "m=text 0 RTP/AVP 98\r\n".to_owned())]);
        let answer = "v=0\r\ns=-\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\n";
        let merged = merge_answer(answer, &split.refused);
        let lines: Vec<&str> = merged.lines().filter(|l| l.starts_with("m=")).collect();
        assert_eq!(lines, ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=video 0 RTP/AVP 96", "m=video 9 UDP/TLS/RTP/SAVPF 96", "m=text 0 RTP/AVP 98"]);
    }

    #[test]
    fn keeps_a_servable_offer_and_refuses_an_unusable_one() {
        let ok = "v=0\r\na=fingerprint:x\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
        assert_eq!(split_offer(ok).unwrap(), SplitOffer { usable: ok.into(), refused: vec![] });
        assert!(split_offer("v=0\r\nm=audio 5000 RTP/AVP 0\r\n").is_err());
        assert!(split_offer("v=0\r\ns=-\r\n").is_ok(), "no media at all is left to str0m's own error");
        assert!(split_offer("v=0\r\nm=audio 0 UDP/TLS/RTP/SAVPF 111\r\n").is_err(), "a line disabled by the offerer");
    }
}
