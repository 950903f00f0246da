//! The receive limits an SDP endpoint signals in its own descriptions:
//! `b=AS` lines (RFC 8866 §5.8, application-specific maximum in kbit/s).

/// `maxAudioRecvBandwidth` and `maxVideoRecvBandwidth` of an SDP endpoint,
/// in kbit/s; 0 is unlimited (KMS's default for both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecvLimits {
    pub audio_kbps: u32,
    pub video_kbps: u32,
}

impl RecvLimits {
    /// `sdp` (an offer or answer of ours) with a `b=AS:<kbps>` line in each
    /// audio and video m-section we receive on (`a=sendrecv`, `a=recvonly`
    /// or no direction; refused lines, port 0, are left alone) whose limit
    /// is set, as KMS's SdpEndpoint adds one per m-line to its offers and
    /// answers (`kms_base_sdp_endpoint_add_handler`: "AS" with
    /// `max-audio-recv-bandwidth` / `max-video-recv-bandwidth` when
    /// non-zero). The line goes where RFC 8866 §5 orders it: after the
    /// section's `i=` and `c=` lines, before its `b=`, `k=` and `a=` lines.
    /// A section that has a `b=AS` line already keeps it. Line endings
    /// (CRLF or LF) follow the m-line's.
    pub fn signal(self, sdp: &str) -> String {
        let mut out = String::with_capacity(sdp.len() + 32);
        let mut section: Vec<&str> = Vec::new();
        for line in sdp.split_inclusive('\n') {
            if line.starts_with("m=") {
                self.write_section(&section, &mut out);
                section.clear();
            }
            section.push(line);
        }
        self.write_section(&section, &mut out);
        out
    }

    /// Writes one section (or the session part before the first m-line) to
    /// `out`, with its `b=AS` line when it takes one.
    fn write_section(self, section: &[&str], out: &mut String) {
        let Some(line) = self.line_for(section) else {
            section.iter().for_each(|l| out.push_str(l));
            return;
        };
        let at = 1 + section[1..].iter().take_while(|l| l.starts_with("i=") || l.starts_with("c=")).count();
        let (head, tail) = section.split_at(at);
        head.iter().for_each(|l| out.push_str(l));
        if !out.ends_with('\n') {
            out.push_str(eol(section[0]));
        }
        out.push_str(&line);
        tail.iter().for_each(|l| out.push_str(l));
    }

    /// The `b=AS` line `section` takes (its first line an m-line), if any.
    fn line_for(self, section: &[&str]) -> Option<String> {
        let m = section.first()?.strip_prefix("m=")?;
        let mut fields = m.split_whitespace();
        let kbps = match fields.next()? {
            "audio" => self.audio_kbps,
            "video" => self.video_kbps,
            _ => return None,
        };
        let refused = fields.next()? == "0";
        let attribute = |name: &str| section.iter().any(|l| l.trim_end() == name);
        let receives = !attribute("a=sendonly") && !attribute("a=inactive");
        let has_as = section.iter().any(|l| l.starts_with("b=AS:"));
        (kbps > 0 && !refused && receives && !has_as).then(|| format!("b=AS:{kbps}{}", eol(section[0])))
    }
}

/// The line ending `line` uses.
fn eol(line: &str) -> &'static str {
    if line.ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=recvonly\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\na=sendonly\r\n\
        m=video 0 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:3\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:4\r\n";

    /// The lines of the m-section whose `a=mid` is `mid`.
    fn section<'a>(sdp: &'a str, mid: &str) -> Vec<&'a str> {
        let sections: Vec<Vec<&str>> = sdp.split("m=").skip(1).map(|s| s.lines().collect()).collect();
        sections.into_iter().find(|s| s.contains(&format!("a=mid:{mid}").as_str())).unwrap()
    }

    #[test]
    fn each_receiving_m_line_gets_its_limit_after_its_connection_line() {
        let sdp = RecvLimits { audio_kbps: 32, video_kbps: 500 }.signal(SDP);
        assert_eq!(section(&sdp, "0")[1..3], ["c=IN IP4 0.0.0.0", "b=AS:32"], "{sdp}");
        assert_eq!(section(&sdp, "1")[1..3], ["c=IN IP4 0.0.0.0", "b=AS:500"], "{sdp}");
        for mid in ["2", "3", "4"] {
            assert!(!section(&sdp, mid).iter().any(|l| l.starts_with("b=")), "sendonly, refused, data: no limit\n{sdp}");
        }
        assert_eq!(sdp.lines().count(), SDP.lines().count() + 2);
        assert!(sdp.split_inclusive('\n').all(|l| l.ends_with("\r\n")), "CRLF kept");
    }

    #[test]
    fn unset_limits_and_existing_lines_leave_the_sdp_as_it_was() {
        assert_eq!(RecvLimits::default().signal(SDP), SDP);
        let once = RecvLimits { audio_kbps: 0, video_kbps: 300 }.signal(SDP);
        assert_eq!(RecvLimits { audio_kbps: 0, video_kbps: 800 }.signal(&once), once, "a b=AS line is kept, not doubled");
        assert!(!section(&once, "0").iter().any(|l| l.starts_with("b=")), "audio unlimited");
    }

    #[test]
    fn an_m_line_without_a_connection_line_and_lf_endings() {
        let sdp = RecvLimits { audio_kbps: 24, video_kbps: 0 }.signal("v=0\nm=audio 9 RTP/AVP 0\na=rtpmap:0 PCMU/8000");
        assert_eq!(sdp, "v=0\nm=audio 9 RTP/AVP 0\nb=AS:24\na=rtpmap:0 PCMU/8000");
        let bare = RecvLimits { audio_kbps: 24, video_kbps: 0 }.signal("v=0\nm=audio 9 RTP/AVP 0");
        assert_eq!(bare, "v=0\nm=audio 9 RTP/AVP 0\nb=AS:24\n");
    }
}
