//! The GStreamer transcoder on garbage: corrupt frames cost keyframe
//! requests, never an error, a panic or a stuck thread.

use kms_gst::GstTranscoderFactory;
use kms_media::{Codec, ElementId, MediaFrame, MediaType, TargetFormat, TranscoderFactory, TranscoderOutput};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Deterministic bytes (xorshift), first byte a VP8 keyframe tag.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    out[0] &= 0xfe;
    out
}

#[test]
fn corrupt_vp8_is_survived_with_keyframe_requests_and_no_error() {
    kms_gst::init().unwrap();
    let factory = GstTranscoderFactory::new(|_| Arc::new(|| {}));
    assert!(factory.can_decode(Codec::Vp8) && factory.can_encode(Codec::H264));
    let mut t = factory.create(ElementId(1), MediaType::Video, Codec::Vp8).unwrap();
    t.set_targets(&[TargetFormat::codec(Codec::H264)]);
    let start = Instant::now();
    let mut outputs = Vec::new();
    for i in 0..90u64 {
        let frame = MediaFrame {
            codec: Codec::Vp8,
            clock_rate: 90_000,
            rtp_time: i * 3000,
            network_time: Instant::now(),
            contiguous: i % 10 != 5,
            data: Arc::from(garbage(i + 1, 200 + (i as usize * 37) % 3000)),
            raw_caps: None,
            metadata: None,
            rtp: Default::default(),
            layer: None,
            spatial: None,
        };
        t.handle_media(Instant::now(), &frame);
        std::thread::sleep(Duration::from_millis(5));
        outputs.extend(std::iter::from_fn(|| t.poll_output()));
    }
    std::thread::sleep(Duration::from_millis(300));
    outputs.extend(std::iter::from_fn(|| t.poll_output()));
    let errors: Vec<_> = outputs.iter().filter(|o| matches!(o, TranscoderOutput::Error(_))).collect();
    assert!(errors.is_empty(), "garbage must not fail the transcoder: {errors:?}");
    assert!(outputs.iter().any(|o| matches!(o, TranscoderOutput::KeyframeRequest)), "it asks the source for a keyframe");
    t.set_targets(&[]);
    drop(t);
    assert!(start.elapsed() < Duration::from_secs(10));
}
