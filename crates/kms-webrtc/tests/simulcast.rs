//! Simulcast forwarding on the virtual network: one publisher sending three
//! layers, viewers each getting the layer their link carries (estimated
//! with transport-wide CC), switching without sequence gaps.

mod common;

use common::*;
use kms_webrtc::{Bandwidth, WebRtcConfig, WebRtcEndpoint};
use std::time::Duration;
use str0m::media::{Direction, MediaData};

const FRAME: Duration = Duration::from_millis(33);

/// (rid, fill byte, frame bytes): about 150 kbps, 500 kbps and 1.5 Mbit/s at 30 fps.
const LAYERS: [(&str, u8, usize); 3] = [("l", 0x10, 625), ("m", 0x20, 2083), ("h", 0x30, 6250)];

/// Simulcast on, no send ceiling (KMS's 500 kbps default would keep every
/// viewer off the top layer).
fn config() -> WebRtcConfig {
    WebRtcConfig { simulcast: true, bandwidth: Bandwidth { max_send_kbps: 0, ..Bandwidth::default() }, ..WebRtcConfig::default() }
}

struct Session {
    net: Net,
    publisher: usize,
    viewers: Vec<usize>,
    frame: u64,
    keyframe_requests: usize,
}

impl Session {
    fn new(viewers: usize) -> Session {
        let mut net = Net::new();
        net.next_simulcast = Some(LAYERS.iter().map(|l| l.0).collect());
        let publisher = net.add_browser_with(Direction::SendOnly, config());
        let viewers: Vec<usize> = (0..viewers).map(|_| net.add_browser_with(Direction::RecvOnly, config())).collect();
        for &v in &viewers {
            net.connect(publisher, v);
        }
        net.run_until_connected();
        Session { net, publisher, viewers, frame: 0, keyframe_requests: 0 }
    }

    /// Publishes `duration` of video: every layer each frame, keyframes
    /// every 3 s and when the server asks (PLI).
    fn publish(&mut self, duration: Duration) {
        let frames = (duration.as_millis() / FRAME.as_millis()) as u64;
        for _ in 0..frames {
            let asked = self.net.browsers[self.publisher].keyframe_requests;
            let key = self.frame.is_multiple_of(90) || asked > self.keyframe_requests;
            self.keyframe_requests = asked;
            let now = self.net.now;
            for (rid, fill, len) in LAYERS {
                let data = if key { vp8_frame(fill, len) } else { vp8_delta(fill, len) };
                self.net.browsers[self.publisher].send_video_layer(rid, now, self.frame * 3000, &data);
            }
            self.frame += 1;
            self.net.run(FRAME);
        }
    }

    /// The layer (its fill byte's index in [`LAYERS`]) of each frame viewer
    /// `v` received from index `from` on.
    fn layers_received(&self, v: usize, from: usize) -> Vec<usize> {
        let received = &self.net.browsers[self.viewers[v]].received;
        received[from.min(received.len())..].iter().filter_map(layer_of).collect()
    }

    fn received(&self, v: usize) -> usize {
        self.net.browsers[self.viewers[v]].received.len()
    }
}

fn layer_of(d: &MediaData) -> Option<usize> {
    let fill = *d.data.last()?;
    LAYERS.iter().position(|l| l.1 == fill)
}

/// Each frame's first sequence number follows the previous frame's last.
fn sequence_gaps(frames: &[MediaData]) -> usize {
    frames.windows(2).filter(|w| **w[1].seq_range.start() != **w[0].seq_range.end() + 1).count()
}

#[test]
fn each_viewer_gets_the_layer_its_link_carries_and_moves_up_when_it_widens() {
    let mut s = Session::new(3);
    let capped = 2;
    s.net.cap = Some((s.viewers[capped], 400_000));
    s.publish(Duration::from_secs(12));
    for v in 0..3 {
        let tail = s.layers_received(v, s.received(v).saturating_sub(60));
        assert!(tail.len() >= 50, "viewer {v} keeps receiving: {} frames in the last 2 s", tail.len());
        let expected = if v == capped { 0 } else { 2 };
        assert!(tail.iter().all(|l| *l == expected), "viewer {v} settled on layer {expected}: {tail:?}");
    }
    for v in 0..2 {
        let frames = &s.net.browsers[s.viewers[v]].received;
        assert_eq!(sequence_gaps(frames), 0, "viewer {v}: one gap-free stream across its switches");
        let ids = s.net.browsers[s.viewers[v]].vp8_picture_ids();
        // str0m extends the 15-bit picture id past its wrap (32767 then 32768).
        assert!(ids.windows(2).all(|w| w[1] == w[0].map(|p| p + 1)), "viewer {v}: VP8 picture ids continue: {ids:?}");
    }
    // The cap is lifted: the viewer's estimate grows and it moves up.
    s.net.cap = None;
    let before = s.received(capped);
    let mut reached = None;
    for second in 1..=10 {
        s.publish(Duration::from_secs(1));
        if s.layers_received(capped, s.received(capped).saturating_sub(10)).iter().all(|l| *l == 2) {
            reached = Some(second);
            break;
        }
    }
    let reached = reached.unwrap_or_else(|| panic!("the freed viewer reached the top layer: {:?}", s.layers_received(capped, before)));
    assert!(reached <= 6, "within a few seconds: {reached} s");
    let frames = &s.net.browsers[s.viewers[capped]].received[before..];
    assert_eq!(sequence_gaps(frames), 0, "no sequence gap at the switches up");
}

#[test]
fn with_simulcast_off_the_answer_refuses_the_layers_and_one_stream_flows() {
    let mut net = Net::new();
    net.next_simulcast = Some(LAYERS.iter().map(|l| l.0).collect());
    let publisher = net.add_browser(Direction::SendOnly);
    let viewer = net.add_browser(Direction::RecvOnly);
    net.connect(publisher, viewer);
    net.run_until_connected();
    let id = net.endpoints[publisher];
    let answer = net.pipeline.element_mut::<WebRtcEndpoint>(id).unwrap().local_sdp().unwrap().to_owned();
    assert!(!answer.contains("a=simulcast") && !answer.contains("a=rid"), "no layers accepted, as KMS: {answer}");
    for i in 0..60u64 {
        let now = net.now;
        let data = if i % 30 == 0 { vp8_frame(0x10, 625) } else { vp8_delta(0x10, 625) };
        net.browsers[publisher].send_video(now, i * 3000, &data);
        net.run(FRAME);
    }
    assert!(net.browsers[viewer].frames(str0m::format::Codec::Vp8).len() >= 55, "the single stream reaches the viewer");
}

#[test]
fn the_publisher_is_asked_only_for_the_layers_its_viewers_take() {
    let mut s = Session::new(1);
    s.net.cap = Some((s.viewers[0], 400_000));
    s.publish(Duration::from_secs(8));
    let remb = &s.net.browsers[s.publisher].remb;
    let last = *remb.last().expect("the publisher gets REMB");
    // The only viewer takes the low layer (150 kbit/s): that, with headroom, not all three (2.15 Mbit/s).
    assert!((150_000..=250_000).contains(&last), "REMB to the publisher: {last} (all: {remb:?})");
    s.net.cap = None;
    s.publish(Duration::from_secs(8));
    let last = *s.net.browsers[s.publisher].remb.last().unwrap();
    assert!(last >= 2_000_000, "the top layer watched: room for every layer, {last}");
}

#[test]
fn opus_red_is_negotiated_when_offered_and_audio_flows() {
    let mut net = Net::new();
    net.next_offers_red = true;
    let publisher = net.add_browser_with(Direction::SendOnly, config());
    net.next_offers_red = true;
    let viewer = net.add_browser_with(Direction::RecvOnly, config());
    net.next_offers_red = true;
    let kms_like = net.add_browser(Direction::RecvOnly);
    net.connect(publisher, viewer);
    net.connect(publisher, kms_like);
    net.run_until_connected();
    let answer = |net: &mut Net, i: usize| net.pipeline.element_mut::<WebRtcEndpoint>(net.endpoints[i]).unwrap().local_sdp().unwrap().to_owned();
    assert!(answer(&mut net, publisher).contains("red/48000/2"), "RED accepted with simulcast forwarding on");
    assert!(!answer(&mut net, kms_like).contains("red/"), "not with it off, as KMS");
    for i in 0..100u64 {
        let now = net.now;
        net.browsers[publisher].send_audio(now, i * 960, &[0xfc, i as u8, 0x55, 0x66]);
        net.run(Duration::from_millis(20));
    }
    for v in [viewer, kms_like] {
        let audio = net.browsers[v].frames(str0m::format::Codec::Opus);
        assert!(audio.len() >= 95, "viewer {v} gets the audio: {} packets", audio.len());
        assert!(audio.iter().all(|d| d.data.len() == 4 && d.data[2] == 0x55), "the primary Opus payload, unwrapped");
    }
}

/// A viewer's `maxVideoSendBandwidth` bounds what its publisher is asked
/// for at once, both ways: str0m reports an estimate only when it changes,
/// so a steady estimate must not keep the publisher on the old limit.
#[test]
fn a_new_send_limit_reaches_the_publisher_without_waiting_for_a_new_estimate() {
    let mut s = Session::new(1);
    s.publish(Duration::from_secs(6));
    let viewer = s.net.endpoints[s.viewers[0]];
    let limit = |s: &mut Session, kbps: u32| {
        let ep = s.net.pipeline.element_mut::<WebRtcEndpoint>(viewer).unwrap();
        ep.set_bandwidth(Bandwidth { max_send_kbps: kbps, ..Bandwidth::default() });
    };
    limit(&mut s, 200);
    s.publish(Duration::from_secs(2));
    let low = *s.net.browsers[s.publisher].remb.last().unwrap();
    assert!(low <= 300_000, "the publisher asked for the low layer only: {low}");
    limit(&mut s, 0);
    s.publish(Duration::from_millis(1500));
    let high = *s.net.browsers[s.publisher].remb.last().unwrap();
    assert!(high >= 2_000_000, "lifted: room for every layer within 1.5 s, {high}");
}

/// With simulcast on, str0m's pacer lets one packet out per timeout and
/// then asks for a timeout at once (a microsecond on) before it picks the
/// next. The endpoint gives it that timeout in the same drain instead of
/// leaving it to the server's next timer pass, which cost every paced packet
/// a worker wake-up and two deadline-queue updates: 828 drains in these 2 s
/// left a deadline less than 100 µs away without it, about 40 with it.
#[test]
fn a_paced_viewer_leaves_almost_nothing_due_after_a_drain() {
    let mut s = Session::new(2);
    s.publish(Duration::from_secs(3));
    let (before, received) = (s.net.due_after_drain, s.received(0));
    s.publish(Duration::from_secs(2));
    assert!(s.received(0) - received >= 55, "the viewer keeps receiving");
    let due = s.net.due_after_drain - before;
    assert!(due < 100, "{due} drains in 2 s left a deadline less than {SOON:?} away");
}
