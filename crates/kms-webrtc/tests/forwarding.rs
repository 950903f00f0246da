//! WebRtcEndpoints in a pipeline with str0m peers as browsers, over an
//! in-memory network on a virtual clock.

mod common;

use common::{vp8_delta, vp8_frame, Net};
use kms_media::{ElementEvent, FlowState, MediaType, StreamDirection};
use kms_webrtc::Bandwidth;
use kms_media::packetize::Mtu;
use kms_webrtc::{WebRtcConfig, WebRtcEndpoint};
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

/// A frame written to a viewer leaves in the pipeline pass that routed it:
/// on the virtual clock the server adds no step of its own. (The
/// publisher's str0m takes its written frame at its next timeout, one
/// 100 µs step after the write; a server that left the viewer's packets
/// to the worker's next timer wake-up would add another.)
#[test]
fn a_forwarded_frame_leaves_in_the_pass_that_routed_it() {
    let (mut net, publisher, viewer) = Net::publisher_and_viewer();
    let t0 = net.now;
    publish(&mut net, publisher);
    let video = net.browsers[viewer].frames(Codec::Vp8);
    assert!(video.len() >= 28);
    for frame in video {
        let sent = t0 + Duration::from_millis(20) * u32::from(frame.data[20]);
        let delay = frame.network_time - sent;
        assert!(delay <= Duration::from_micros(100), "frame {} reached the viewer {delay:?} after it was sent", frame.data[20]);
    }
}

/// BaseRtpEndpoint `mtu`: each viewer's packets are cut for its own MTU
/// (KMS's 1,200 bytes of RTP by default; 600 after setMtu), its datagrams
/// (SRTP) stay within the MTU plus SRTP's 16-byte tag, and frames arrive
/// whole.
#[test]
fn each_viewer_gets_packets_cut_for_its_mtu() {
    let mut net = Net::new();
    let publisher = net.add_browser(Direction::SendOnly);
    let (default, small) = (net.add_browser(Direction::RecvOnly), net.add_browser(Direction::RecvOnly));
    net.pipeline.element_mut::<WebRtcEndpoint>(net.endpoints[small]).unwrap().set_mtu(Mtu::new(600));
    net.connect(publisher, default);
    net.connect(publisher, small);
    net.run_until_connected();
    for i in 0..10u64 {
        let now = net.now;
        net.browsers[publisher].send_video(now, i * 3000, &vp8_frame(i as u8, 2300));
        net.run(Duration::from_millis(33));
    }
    net.run(Duration::from_millis(200));
    let packets = |b: &common::Browser| -> Vec<u64> {
        b.frames(Codec::Vp8).iter().map(|d| **d.seq_range.end() - **d.seq_range.start() + 1).collect()
    };
    // 2,300 bytes fit two 1,164-byte payloads (str0m's own 1,120 would take
    // three), and take five of 564.
    assert_eq!(packets(&net.browsers[default]), vec![2; 10]);
    assert_eq!(packets(&net.browsers[small]), vec![5; 10]);
    for v in [default, small] {
        assert!(net.browsers[v].frames(Codec::Vp8).iter().all(|d| d.data.len() == 2300), "frames arrive whole");
    }
    let (big, little) = (net.browsers[default].largest_rtp_from_server, net.browsers[small].largest_rtp_from_server);
    assert!((1150..=1200 + 16).contains(&big), "largest SRTP datagram at the default MTU: {big}");
    assert!((550..=600 + 16).contains(&little), "largest SRTP datagram at a 600-byte MTU: {little}");
}

/// What str0m cuts itself (VP9 here) follows the MTU the viewer's
/// endpoint was created with: its peer connection is built for it.
#[test]
fn str0m_s_own_packetizer_follows_the_endpoint_s_mtu() {
    let mut net = Net::new();
    let publisher = net.add_browser(Direction::SendOnly);
    let viewer = net.add_browser_with(Direction::RecvOnly, WebRtcConfig { mtu: Mtu::new(600), ..WebRtcConfig::default() });
    net.connect(publisher, viewer);
    net.run_until_connected();
    for i in 0..10u64 {
        let now = net.now;
        // A VP9 key frame header (frame marker, profile 0, key frame, sync code) and filler.
        let mut frame = vec![0x82, 0x49, 0x83, 0x42, 0x00, 0x13, 0xf0, 0x0b, 0x38];
        frame.resize(2300, i as u8);
        net.browsers[publisher].send_video_as(Codec::Vp9, now, i * 3000, &frame);
        net.run(Duration::from_millis(33));
    }
    net.run(Duration::from_millis(200));
    let frames = net.browsers[viewer].frames(Codec::Vp9);
    assert!(frames.len() >= 8, "VP9 frames arrive: {}", frames.len());
    let largest = net.browsers[viewer].largest_rtp_from_server;
    assert!((500..=600 + 16).contains(&largest), "largest SRTP datagram at a 600-byte MTU: {largest}");
}

#[test]
fn a_viewers_pli_reaches_the_publisher_throttled() {
    let (mut net, publisher, viewer) = Net::publisher_and_viewer();
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

/// Two sendonly publishers and a viewer of the first, which has published:
/// (net, first, second, viewer), ready for a switch to the second.
fn before_a_switch() -> (Net, usize, usize, usize) {
    let mut net = Net::new();
    let first = net.add_browser(Direction::SendOnly);
    let second = net.add_browser(Direction::SendOnly);
    let viewer = net.add_browser(Direction::RecvOnly);
    net.connect(first, viewer);
    net.run_until_connected();
    publish(&mut net, first);
    (net, first, second, viewer)
}

#[test]
fn a_source_switch_continues_the_stream_from_a_keyframe_without_seq_gaps() {
    let (mut net, _, second, viewer) = before_a_switch();
    let requests_before = net.browsers[second].keyframe_requests;
    net.connect(second, viewer);
    // The new source's timestamps start far from the old ones, with two delta
    // frames before its keyframe: those cannot decode at the viewer.
    for i in 0..20u64 {
        let now = net.now;
        let data = if i < 2 { vp8_delta(0xd0, 800) } else { vp8_frame(0xe0 + i as u8, 800) };
        net.browsers[second].send_video(now, 7_000_000 + i * 3000, &data);
        net.browsers[second].send_audio(now, 9_000_000 + i * 960, &[0xfc, 0xee, i as u8]);
        net.run(Duration::from_millis(20));
    }
    net.run(Duration::from_millis(200));
    assert!(net.browsers[second].keyframe_requests > requests_before, "the new source was asked for a keyframe");

    let video = net.browsers[viewer].frames(Codec::Vp8);
    let switch = video.iter().position(|d| d.data[20] >= 0xe0).expect("the new source's frames arrive");
    assert!(video.iter().all(|d| d.data[20] != 0xd0), "delta frames before the new keyframe are dropped");
    assert_eq!(video[switch].data[0] & 1, 0, "the first frame after the switch is a keyframe");
    assert_eq!(video.len() - switch, 18);
    for pair in video.windows(2) {
        assert_eq!(**pair[1].seq_range.start(), **pair[0].seq_range.end() + 1, "no sequence gap");
        assert!(pair[1].contiguous);
        assert_eq!(pair[1].time.numer() - pair[0].time.numer(), 3000, "timeline continues frame by frame");
    }
    let audio = net.browsers[viewer].frames(Codec::Opus);
    assert!(audio.windows(2).all(|p| p[1].time.numer() > p[0].time.numer() && p[1].time.numer() - p[0].time.numer() <= 960));
    // Audio sequence numbers continue across the switch too (one packet
    // per Opus frame).
    assert!(audio.windows(2).all(|p| **p[1].seq_range.start() == **p[0].seq_range.end() + 1), "audio sequence gap");
    // The viewer's VP8 picture ids are the endpoint's own: one per frame,
    // continuing across the switch (RFC 7741 §4.2, 15 bits).
    let ids = net.browsers[viewer].vp8_picture_ids();
    assert!(ids.iter().all(Option::is_some), "every frame carries a picture id: {ids:?}");
    for pair in ids.windows(2) {
        assert_eq!(pair[1].unwrap(), pair[0].unwrap() + 1, "picture ids continue: {ids:?}");
    }
}

#[test]
fn nacks_after_a_source_switch_are_answered_from_the_viewers_cache() {
    let (mut net, first, second, viewer) = before_a_switch();
    let before = net.browsers[viewer].frames(Codec::Vp8).len();
    net.connect(second, viewer);
    net.loss = Some((viewer, 10, 7));
    publish(&mut net, second);
    // Three more frames without loss, so a loss in the last frame shows as a
    // sequence gap too.
    net.loss = None;
    for i in 30..33u64 {
        let now = net.now;
        net.browsers[second].send_video(now, i * 3000, &vp8_frame(i as u8, 2500));
        net.run(Duration::from_millis(20));
    }
    net.run(Duration::from_secs(1));
    let video = net.browsers[viewer].frames(Codec::Vp8);
    assert_eq!(video.len() - before, 33, "every frame of the new source recovered");
    assert!(video.iter().all(|d| d.data.len() == 2500 && d.contiguous));
    let outbound = net.video_stats(viewer, StreamDirection::Outbound);
    assert!(outbound.nack_count > 0, "the viewer NACKed: {outbound:?}");
    for publisher in [first, second] {
        assert_eq!(net.video_stats(publisher, StreamDirection::Inbound).nack_count, 0, "no NACK went upstream");
    }
}

#[test]
fn h264_access_units_arrive_whole_through_the_shared_packetizer() {
    let (mut net, publisher, viewer) = Net::publisher_and_viewer();
    // SPS, PPS and an IDR slice larger than two packets, then delta slices.
    let unit = |i: u8, idr: bool| {
        let mut v = vec![0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80];
        v.extend_from_slice(&[0, 0, 0, 1, if idr { 0x65 } else { 0x41 }, i]);
        v.resize(if idr { 3000 } else { 900 }, i);
        v
    };
    for i in 0..20u8 {
        let now = net.now;
        net.browsers[publisher].send_video_as(Codec::H264, now, u64::from(i) * 3000, &unit(i + 1, i % 10 == 0));
        net.run(Duration::from_millis(33));
    }
    net.run(Duration::from_millis(200));
    let sent: Vec<Vec<u8>> = (0..20u8).map(|i| unit(i + 1, i % 10 == 0)).collect();
    let got = net.browsers[viewer].frames(Codec::H264);
    assert_eq!(got.len(), 20, "every access unit arrives");
    for (g, s) in got.iter().zip(&sent) {
        // Start codes may come back as 3 or 4 bytes: compare the NAL units.
        let units = |d: &[u8]| d.windows(3).filter(|w| *w == [0, 0, 1]).count();
        assert_eq!(units(&g.data), units(s), "the same NAL units");
        assert_eq!(g.data[g.data.len() - 800..], s[s.len() - 800..], "the slice data intact");
    }
}

#[test]
fn the_publisher_gets_the_minimum_viewer_remb_within_the_bandwidth_bounds() {
    let mut net = Net::new();
    let publisher = net.add_browser(Direction::SendOnly);
    let viewers: Vec<usize> = (0..2).map(|_| net.add_browser(Direction::RecvOnly)).collect();
    for &v in &viewers {
        net.connect(publisher, v);
    }
    net.run_until_connected();
    // About 1 Mbit/s for 600 ms: the publisher's own estimate (KMS's local
    // one, see remb.rs) stays above the viewers' 500 kbps bound below.
    publish(&mut net, publisher);
    // A viewer's first REMBs count as rembOnConnect (300 kbps) while they
    // rise below it (KMS's KmsRembRemote).
    net.browsers[viewers[0]].send_remb(250_000);
    net.browsers[viewers[1]].send_remb(400_000);
    net.run(Duration::from_millis(300));
    assert_eq!(net.browsers[publisher].remb.last(), Some(&300_000), "rembOnConnect for a first REMB under it");
    // Once one falls it counts as it is. The lower estimate first: the
    // later, higher one must not win.
    net.browsers[viewers[0]].send_remb(240_000);
    net.browsers[viewers[1]].send_remb(400_000);
    net.run(Duration::from_millis(300));
    assert_eq!(net.browsers[publisher].remb.last(), Some(&240_000), "minimum of the viewers");

    // Viewers' estimates are bounded by their maxVideoSendBandwidth (500 kbps
    // by default), then by the publisher's maxVideoRecvBandwidth. A higher
    // minimum is sent with the next periodic REMB.
    let settle = kms_webrtc::REMB_INTERVAL + Duration::from_millis(300);
    net.browsers[viewers[0]].send_remb(3_000_000);
    net.browsers[viewers[1]].send_remb(2_000_000);
    net.run(settle);
    assert_eq!(net.browsers[publisher].remb.last(), Some(&500_000));
    let bandwidth = Bandwidth { recv: kms_media::RecvLimits { audio_kbps: 0, video_kbps: 450 }, ..Bandwidth::default() };
    net.pipeline.element_mut::<kms_webrtc::WebRtcEndpoint>(net.endpoints[publisher]).unwrap().set_bandwidth(bandwidth);
    net.run(settle);
    assert_eq!(net.browsers[publisher].remb.last(), Some(&450_000), "maxVideoRecvBandwidth");

    // The REMB is repeated every second, not once per viewer report.
    let count = net.browsers[publisher].remb.len();
    for _ in 0..4 {
        for &v in &viewers {
            net.browsers[v].send_remb(2_000_000);
        }
        net.run(kms_webrtc::REMB_INTERVAL / 2);
    }
    let sent = net.browsers[publisher].remb.len() - count;
    assert!((2..=3).contains(&sent), "{sent} REMBs in 2 s: periodic, not one per viewer report");
}

#[test]
fn a_vanished_peer_ends_disconnected_then_failed_and_frees_its_connection() {
    let mut net = Net::new();
    let stays = net.add_browser(Direction::SendRecv);
    let leaves = net.add_browser(Direction::SendRecv);
    net.connect(stays, leaves);
    net.connect(leaves, stays);
    net.run_until_connected();
    publish(&mut net, leaves);
    let gone_at = net.now;
    net.browsers[leaves].vanished = true;
    net.run(Duration::from_secs(45));

    let id = net.endpoints[leaves];
    let events: Vec<(Duration, &ElementEvent)> =
        net.events.iter().filter(|(at, e, _)| *e == id && *at > gone_at).map(|(at, _, ev)| (*at - gone_at, ev)).collect();
    let state_at = |wanted: &ElementEvent| events.iter().find(|(_, e)| *e == wanted).map(|(at, _)| *at);
    let disconnected = state_at(&ElementEvent::IceComponentStateChanged { state: "DISCONNECTED" }).expect("DISCONNECTED raised");
    let failed = state_at(&ElementEvent::IceComponentStateChanged { state: "FAILED" }).expect("FAILED raised");
    assert!(failed >= disconnected + kms_webrtc::ICE_FAILED_AFTER);
    assert!(state_at(&ElementEvent::MediaState { connected: false }).is_some());
    assert!(state_at(&ElementEvent::MediaFlowIn { media_type: MediaType::Video, state: FlowState::NotFlowing }).is_some());
    // Freed: no more timers on the gone endpoint; the other peer is unharmed.
    assert_eq!(net.pipeline.element(id).unwrap().poll_timeout(), None);
    assert!(net.browsers[stays].connected);
    publish(&mut net, stays);
}

#[test]
fn a_stun_server_yields_a_server_reflexive_candidate_before_gathering_ends() {
    let mut net = Net::new();
    let nat = kms_webrtc::NatConfig { stun_server: Some(common::STUN_SERVER.parse().unwrap()), turn: None };
    let b = net.add_browser_with(Direction::SendRecv, WebRtcConfig { nat, ..Default::default() });
    let id = net.endpoints[b];
    net.pipeline.element_mut::<kms_webrtc::WebRtcEndpoint>(id).unwrap().gather_candidates();
    net.connect(b, b);
    net.run_until_connected();
    let candidates: Vec<&ElementEvent> =
        net.events.iter().filter(|(_, e, ev)| *e == id && matches!(ev, ElementEvent::IceCandidateFound { .. } | ElementEvent::IceGatheringDone)).map(|(_, _, ev)| ev).collect();
    let srflx = candidates.iter().position(|ev| matches!(ev, ElementEvent::IceCandidateFound { candidate, .. } if candidate.contains("typ srflx") && candidate.contains(&format!("{} 40000", common::PUBLIC_IP))));
    assert!(srflx.is_some(), "server-reflexive candidate found: {candidates:?}");
    assert_eq!(candidates.last(), Some(&&ElementEvent::IceGatheringDone));
    assert_eq!(candidates.iter().filter(|ev| ***ev == ElementEvent::IceGatheringDone).count(), 1);
}

#[test]
fn a_viewers_nacks_are_answered_from_the_egress_cache_under_seeded_loss() {
    let (mut net, publisher, viewer) = Net::publisher_and_viewer();
    net.loss = Some((viewer, 10, 42)); // 10 % of the server's packets to the viewer vanish
    publish(&mut net, publisher);
    net.run(Duration::from_secs(1));
    net.loss = None;

    // Every frame arrives complete: lost packets were retransmitted by the
    // server (the publisher never saw a NACK, it was not the one losing).
    let video = net.browsers[viewer].frames(Codec::Vp8);
    assert_eq!(video.len(), 30, "all frames recovered");
    assert!(video.iter().all(|d| d.data.len() == 2500));
    let outbound = net.video_stats(viewer, StreamDirection::Outbound);
    assert!(outbound.nack_count > 0, "the viewer NACKed: {outbound:?}");
    assert_eq!(net.video_stats(publisher, StreamDirection::Inbound).nack_count, 0, "no NACK went upstream");
}

#[test]
fn a_forged_dtls_fingerprint_fails_that_peer_only() {
    let mut net = Net::new();
    let good = net.add_browser(Direction::SendRecv);
    net.forge_next_fingerprint = true;
    let forged = net.add_browser(Direction::SendRecv);
    net.connect(good, good);
    net.connect(forged, forged);
    net.run(Duration::from_secs(3));
    let id = net.endpoints[forged];
    let failed = net.events.iter().any(|(_, e, ev)| *e == id && *ev == ElementEvent::DtlsConnectionState { state: "FAILED" });
    assert!(failed, "DTLS FAILED for the forged fingerprint");
    assert!(!net.pipeline.element_mut::<kms_webrtc::WebRtcEndpoint>(id).unwrap().is_connected());
    assert!(net.browsers[good].connected);
    publish(&mut net, good);
    assert!(net.browsers[good].frames(Codec::Vp8).len() >= 28, "the other peer is unharmed");
    assert!(net.browsers[forged].received.is_empty(), "no media to an unauthenticated peer");
}

#[test]
fn replayed_srtp_is_dropped() {
    let (mut net, publisher, viewer) = Net::publisher_and_viewer();
    net.recorded = Some(Vec::new());
    publish(&mut net, publisher);
    let recorded = net.recorded.take().unwrap();
    let (video, audio) = (net.browsers[viewer].frames(Codec::Vp8).len(), net.browsers[viewer].frames(Codec::Opus).len());
    assert!(video >= 28);
    net.replay(recorded);
    net.run(Duration::from_millis(500));
    assert_eq!(net.browsers[viewer].frames(Codec::Vp8).len(), video, "replayed video not forwarded again");
    assert_eq!(net.browsers[viewer].frames(Codec::Opus).len(), audio, "replayed audio not forwarded again");
    // The call goes on.
    net.browsers[publisher].send_video(net.now, 200 * 3000, &vp8_frame(9, 500));
    net.run(Duration::from_millis(200));
    assert_eq!(net.browsers[viewer].frames(Codec::Vp8).len(), video + 1);
}
