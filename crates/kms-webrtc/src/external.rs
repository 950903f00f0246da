//! `externalIPv4` / `externalIPv6` (WebRtcEndpoint config and properties): the
//! addresses of local host candidates are replaced by the external ones in
//! everything the peer sees (SDP and trickled candidates), as KMS does for a
//! server behind 1:1 NAT. Locally nothing changes: the peer's packets to the
//! external address arrive at our socket through the NAT.

use std::net::IpAddr;

/// The external addresses to announce.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExternalAddrs {
    pub ipv4: Option<IpAddr>,
    pub ipv6: Option<IpAddr>,
}

impl ExternalAddrs {
    fn for_addr(&self, addr: &IpAddr) -> Option<IpAddr> {
        if addr.is_ipv4() {
            self.ipv4
        } else {
            self.ipv6
        }
    }

    /// Rewrites the address of a host candidate (`candidate:<f> <c> <proto> <prio> <addr> <port> typ host ...`).
    pub fn candidate(&self, candidate: &str) -> String {
        let fields: Vec<&str> = candidate.split(' ').collect();
        let is_host = fields.windows(2).any(|w| w == ["typ", "host"]);
        let replacement = fields.get(4).and_then(|a| a.parse::<IpAddr>().ok()).and_then(|a| self.for_addr(&a));
        match replacement {
            Some(external) if is_host => {
                let mut out: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
                out[4] = external.to_string();
                out.join(" ")
            }
            _ => candidate.to_owned(),
        }
    }

    /// Rewrites every `a=candidate:` line of an SDP, and `c=` lines naming `local`.
    pub fn sdp(&self, sdp: &str, local: &[IpAddr]) -> String {
        if self.ipv4.is_none() && self.ipv6.is_none() {
            return sdp.to_owned();
        }
        let mut out = String::with_capacity(sdp.len());
        for line in sdp.split_inclusive('\n') {
            let body = line.trim_end_matches(['\r', '\n']);
            let ending = &line[body.len()..];
            if let Some(c) = body.strip_prefix("a=") {
                if c.starts_with("candidate:") {
                    out.push_str("a=");
                    out.push_str(&self.candidate(c));
                    out.push_str(ending);
                    continue;
                }
            }
            let connection = body.strip_prefix("c=IN IP4 ").or_else(|| body.strip_prefix("c=IN IP6 "));
            let replaced = connection
                .and_then(|a| a.parse::<IpAddr>().ok())
                .filter(|a| local.contains(a))
                .and_then(|a| self.for_addr(&a))
                .map(|e| format!("c=IN {} {e}", if e.is_ipv4() { "IP4" } else { "IP6" }));
            out.push_str(replaced.as_deref().unwrap_or(body));
            out.push_str(ending);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_candidates_and_connection_lines_announce_the_external_address() {
        let ext = ExternalAddrs { ipv4: Some("127.0.0.7".parse().unwrap()), ipv6: None };
        let host = "candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host";
        assert_eq!(ext.candidate(host), "candidate:1 1 udp 2130706175 127.0.0.7 40000 typ host");
        let srflx = "candidate:2 1 udp 1 10.0.0.1 40000 typ srflx raddr 127.0.0.1 rport 40000";
        assert_eq!(ext.candidate(srflx), srflx, "only host candidates");
        let v6 = "candidate:3 1 udp 1 ::1 40000 typ host";
        assert_eq!(ext.candidate(v6), v6, "no externalIPv6 configured");
        let sdp = "v=0\r\nc=IN IP4 127.0.0.1\r\na=candidate:1 1 udp 2130706175 127.0.0.1 40000 typ host\r\n";
        let local = ["127.0.0.1".parse().unwrap()];
        assert_eq!(ext.sdp(sdp, &local), "v=0\r\nc=IN IP4 127.0.0.7\r\na=candidate:1 1 udp 2130706175 127.0.0.7 40000 typ host\r\n");
        assert_eq!(ExternalAddrs::default().sdp(sdp, &local), sdp);
    }
}
