//! WebRtcEndpoints in a pipeline with str0m peers as browsers, over an
//! in-memory network on a virtual clock.

mod common;

use common::{vp8_frame, Net};
use kms_webrtc::WebRtcConfig;
use std::time::Duration;
use str0m::format::Codec;
use str0m::media::Direction;

/// Sends 30 video frames and 50 audio packets from browser `from`, 20 ms apart.
fn publish(net: &mut Net, from: usize) {
    for i in 0..50u64 {
        let now = net.now;
        if i < 30 {
            net.browsers[from].send_video(now, i * 3000, &vp8_frame(i as u8, 2500));
        }
        net.browsers[from].send_audio(now, i * 960, &[0xfc, i as u8, 1, 2, 3]);
        net.run(Duration::from_millis(20));
    }
    net.run(Duration::from_millis(200));
}

#[test]
fn loopback_returns_the_browsers_own_media() {
    let mut net = Net::new();
    let b = net.add_browser(Direction::SendRecv);
    net.connect(b, b);
    net.run_until_connected();
    publish(&mut net, b);
    let video = net.browsers[b].frames(Codec::Vp8);
    assert!(video.len() >= 28, "video frames back: {}", video.len());
    // Payloads arrive intact (multi-packet frames reassembled, 2500 bytes each).
    assert!(video.iter().all(|d| d.data.len() == 2500));
    assert_eq!(video[5].data[20], 5);
    assert!(net.browsers[b].frames(Codec::Opus).len() >= 48);
}

#[test]
fn one_publisher_fans_out_to_three_viewers() {
    let mut net = Net::new();
    let publisher = net.add_browser(Direction::SendOnly);
    let viewers: Vec<usize> = (0..3).map(|_| net.add_browser(Direction::RecvOnly)).collect();
    for &v in &viewers {
        net.connect(publisher, v);
    }
    net.run_until_connected();
    publish(&mut net, publisher);
    for &v in &viewers {
        let video = net.browsers[v].frames(Codec::Vp8);
        assert!(video.len() >= 28, "viewer {v} got {} video frames", video.len());
        assert!(net.browsers[v].frames(Codec::Opus).len() >= 48);
    }
    assert!(net.browsers[publisher].received.is_empty(), "nothing goes back to a sendonly publisher");
}

#[test]
fn a_viewers_pli_reaches_the_publisher_throttled() {
    let mut net = Net::new();
    let publisher = net.add_browser(Direction::SendOnly);
    let viewer = net.add_browser(Direction::RecvOnly);
    net.connect(publisher, viewer);
    net.run_until_connected();
    publish(&mut net, publisher);
    net.run(Duration::from_secs(2));
    let before = net.browsers[publisher].keyframe_requests;
    // A burst of PLIs from the viewer within the throttle window reaches the
    // publisher as one request; a later one gets through again.
    for _ in 0..3 {
        net.browsers[viewer].request_keyframe();
        net.run(Duration::from_millis(50));
    }
    let after_burst = net.browsers[publisher].keyframe_requests;
    assert_eq!(after_burst, before + 1, "one PLI forwarded for the burst");
    net.run(Duration::from_secs(1));
    net.browsers[viewer].request_keyframe();
    net.run(Duration::from_millis(100));
    assert_eq!(net.browsers[publisher].keyframe_requests, after_burst + 1);
}

#[test]
fn recvonly_and_sendonly_endpoints_limit_the_direction() {
    let mut net = Net::new();
    let receiving = net.add_browser_with(Direction::SendRecv, WebRtcConfig { recvonly: true, ..Default::default() });
    let sending = net.add_browser_with(Direction::SendRecv, WebRtcConfig { sendonly: true, ..Default::default() });
    let witness = net.add_browser(Direction::RecvOnly);
    net.connect(receiving, receiving); // loopback into a recvonly endpoint: nothing may come back
    net.connect(receiving, witness); // ...but what it receives is forwarded
    net.connect(sending, witness); // replaces the source: the sendonly endpoint forwards nothing
    net.run_until_connected();
    publish(&mut net, receiving);
    publish(&mut net, sending);
    assert!(net.browsers[receiving].received.is_empty(), "recvonly endpoint sent media");
    assert!(net.browsers[witness].frames(Codec::Vp8).is_empty(), "sendonly endpoint forwarded its peer's media");
}
