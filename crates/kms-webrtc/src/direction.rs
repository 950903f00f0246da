//! The `recvonly` / `sendonly` constructor flags applied to a remote offer.
//!
//! The answer's direction is the complement of the offer's, so restricting what
//! the offer asks for makes the answer carry the endpoint's flags (RFC 3264 §6.1):
//! a `recvonly` endpoint only lets the peer send, a `sendonly` one only lets it
//! receive.

/// Rewrites each m-line's direction attribute of `offer` for the flags.
pub fn restrict_offer(offer: &str, recvonly: bool, sendonly: bool) -> String {
    if !recvonly && !sendonly {
        return offer.to_owned();
    }
    let mut out = String::with_capacity(offer.len());
    for line in offer.split_inclusive('\n') {
        let (body, ending) = match line.strip_suffix("\r\n") {
            Some(b) => (b, "\r\n"),
            None => line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n")),
        };
        let peer_may_send = matches!(body, "a=sendrecv" | "a=sendonly") && !sendonly;
        let peer_may_receive = matches!(body, "a=sendrecv" | "a=recvonly") && !recvonly;
        let rewritten = match body {
            "a=sendrecv" | "a=sendonly" | "a=recvonly" => match (peer_may_send, peer_may_receive) {
                (true, true) => "a=sendrecv",
                (true, false) => "a=sendonly",
                (false, true) => "a=recvonly",
                (false, false) => "a=inactive",
            },
            other => other,
        };
        out.push_str(rewritten);
        out.push_str(ending);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=sendrecv\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n";

    #[test]
    fn flags_restrict_the_peer() {
        assert_eq!(restrict_offer(OFFER, false, false), OFFER);
        let recv = restrict_offer(OFFER, true, false);
        assert!(recv.contains("a=sendonly\r\nm=video"), "{recv}");
        assert!(recv.ends_with("a=inactive\r\n"), "{recv}");
        let send = restrict_offer(OFFER, false, true);
        assert!(send.contains("a=recvonly\r\nm=video"), "{send}");
        assert!(send.ends_with("a=recvonly\r\n"), "{send}");
    }
}
