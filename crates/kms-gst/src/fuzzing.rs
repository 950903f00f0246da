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

/// An HTTP POST body into HttpPostEndpoint, as the HTTP side hands it over:
/// the first byte picks `useEncodedMedia` and the piece size, the rest is the
/// body, written in pieces into the upload's GStreamer island (typefind and
/// whatever demuxer and parser it picks), then ended. The element is polled
/// until it reports the end of the upload (or 3 s pass): every frame and
/// event it makes from the body is taken out.
pub fn http_post(data: &[u8]) {
    use kms_media::{Element, ElementOutput};
    use std::time::{Duration, Instant};
    let Some((&control, body)) = data.split_first() else { return };
    if crate::init().is_err() {
        return;
    }
    let waker: crate::Waker = std::sync::Arc::new(|| {});
    let use_encoded = control & 1 == 1;
    let piece = 1 + usize::from(control >> 1) * 64;
    let (mut endpoint, slot) = crate::HttpPostEndpoint::new("/fuzz".into(), Duration::from_secs(60), use_encoded, waker);
    let Ok(writer) = slot.begin() else { return };
    for chunk in body.chunks(piece) {
        if !writer.write(chunk.to_vec()) {
            break;
        }
    }
    drop(writer);
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let mut ended = false;
        while let Some(out) = endpoint.poll_output() {
            ended |= matches!(out, ElementOutput::EndOfStream);
        }
        if ended {
            return;
        }
        endpoint.handle_timeout(Instant::now());
        std::thread::sleep(Duration::from_millis(2));
    }
}
