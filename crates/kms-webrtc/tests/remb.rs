//! The REMB a WebRtcEndpoint sends its publisher from what it receives
//! (KMS's `KmsRembLocal`, tuned by `rembParams`), on the in-memory network.

mod common;

use common::{vp8_frame, Net};
use kms_media::StreamDirection;
use kms_webrtc::{Bandwidth, RembParams, WebRtcConfig, WebRtcEndpoint};
use std::time::Duration;
use str0m::media::Direction;

/// 2,500 bytes of VP8 every 50 ms: 400 kbit/s of payload.
const FRAME_BYTES: usize = 2500;
const FRAME_INTERVAL: Duration = Duration::from_millis(50);
const SENT_BPS: u64 = 400_000;

/// A publisher with no viewers: only its endpoint's own estimate bounds the
/// REMB it gets.
fn publishing(params: RembParams) -> (Net, usize) {
    let mut net = Net::new();
    let publisher = net.add_browser_with(Direction::SendOnly, WebRtcConfig { remb_params: params, ..Default::default() });
    net.run_until_connected();
    (net, publisher)
}

/// Sends the publisher's video for `duration`; returns the REMBs it got meanwhile.
fn send(net: &mut Net, publisher: usize, duration: Duration, frame: &mut u64) -> Vec<u64> {
    let before = net.browsers[publisher].remb.len();
    let frames = duration.as_millis() / FRAME_INTERVAL.as_millis();
    for _ in 0..frames {
        let now = net.now;
        net.browsers[publisher].send_video(now, *frame * 4500, &vp8_frame(*frame as u8, FRAME_BYTES));
        *frame += 1;
        net.run(FRAME_INTERVAL);
    }
    net.browsers[publisher].remb[before..].to_vec()
}

#[test]
fn the_remb_starts_at_what_the_publisher_sends_and_grows_up_to_twice_that() {
    let (mut net, publisher) = publishing(RembParams::default());
    let mut frame = 0;
    let first = send(&mut net, publisher, Duration::from_secs(3), &mut frame);
    assert!(!first.is_empty(), "a REMB once media arrives");
    assert!(first[0] <= SENT_BPS * 11 / 10, "it starts at the bitrate received: {first:?}");
    // 4 % per 500 ms update: about 8 % a second, never more.
    for pair in first.windows(2) {
        assert!(pair[1] >= pair[0] && pair[1] <= pair[0] * 109 / 100, "growth of at most 2 updates a REMB: {first:?}");
    }
    let later = send(&mut net, publisher, Duration::from_secs(15), &mut frame);
    assert_eq!(later.last(), Some(&(2 * SENT_BPS)), "at most twice the bitrate received: {later:?}");
}

#[test]
fn losses_past_up_losses_halve_the_remb_at_once() {
    let (mut net, publisher) = publishing(RembParams::default());
    let mut frame = 0;
    let grown = *send(&mut net, publisher, Duration::from_secs(12), &mut frame).last().unwrap();
    assert!(grown > SENT_BPS * 3 / 2, "{grown}");
    // 2 % of the publisher's datagrams lost: NACKs bring them back (the
    // browser retransmits), nothing is lost for good, the REMB stays. (The
    // loss is seeded: with this seed no retransmission is lost as well.)
    net.loss_from = Some((publisher, 2, 11));
    let kept = send(&mut net, publisher, Duration::from_secs(3), &mut frame);
    assert!(kept.iter().all(|r| *r == grown), "repaired losses do not count: {kept:?}");
    // 20 %: too many lost for good; the REMB is halved (decrementFactor 0.5).
    net.loss_from = Some((publisher, 20, 11));
    let after = send(&mut net, publisher, Duration::from_millis(1200), &mut frame);
    assert!(after.contains(&(grown / 2)), "halved: {after:?}");
}

#[test]
fn remb_params_set_the_growth_and_the_losses_taken() {
    // exponentialFactor 0.2: 20 % an update where KMS's default grows 4 %.
    let fast = RembParams { exponential_factor: 0.2, ..RembParams::default() };
    let (mut net, publisher) = publishing(fast);
    let mut frame = 0;
    let rembs = send(&mut net, publisher, Duration::from_secs(4), &mut frame);
    assert_eq!(rembs.last(), Some(&(2 * SENT_BPS)), "twice the bitrate received within 4 s: {rembs:?}");

    // upLosses 255 takes 20 % loss as assumable; set on the live endpoint.
    let (mut net, publisher) = publishing(RembParams::default());
    let endpoint = net.endpoints[publisher];
    net.pipeline.element_mut::<WebRtcEndpoint>(endpoint).unwrap().set_remb_params(RembParams { up_losses: 255, ..RembParams::default() });
    send(&mut net, publisher, Duration::from_secs(3), &mut frame);
    net.loss_from = Some((publisher, 20, 11));
    let rembs = send(&mut net, publisher, Duration::from_secs(3), &mut frame);
    assert!(rembs.iter().all(|r| *r >= SENT_BPS * 7 / 10), "not halved: {rembs:?}");
}

#[test]
fn a_simulcast_publisher_sending_its_lowest_layer_only_is_not_held_to_it() {
    // A browser may send only its lowest layer until its budget allows more:
    // holding it to twice that layer would keep the others off.
    let mut net = Net::new();
    net.next_simulcast = Some(vec!["l", "h"]);
    let config = WebRtcConfig { simulcast: true, ..Default::default() };
    let publisher = net.add_browser_with(Direction::SendOnly, config);
    net.run_until_connected();
    for frame in 0..60u64 {
        let now = net.now;
        net.browsers[publisher].send_video_layer("l", now, frame * 4500, &vp8_frame(frame as u8, FRAME_BYTES));
        net.run(FRAME_INTERVAL);
    }
    assert_eq!(net.browsers[publisher].remb, Vec::<u64>::new(), "no sink, and no estimate of one layer");
}

#[test]
fn remb_on_connect_is_where_a_transport_cc_viewers_estimate_starts() {
    // With simulcast forwarding on, a viewer's estimate is str0m's from
    // transport-wide CC; rembOnConnect, set before connecting, starts it.
    let estimate_after_a_second = |remb_on_connect: Option<u64>| {
        let mut net = Net::new();
        let config = WebRtcConfig { simulcast: true, bandwidth: Bandwidth { max_send_kbps: 0, ..Bandwidth::default() }, ..Default::default() };
        let publisher = net.add_browser_with(Direction::SendOnly, config.clone());
        let viewer = net.add_browser_with(Direction::RecvOnly, config);
        if let Some(bps) = remb_on_connect {
            let endpoint = net.pipeline.element_mut::<WebRtcEndpoint>(net.endpoints[viewer]).unwrap();
            endpoint.set_remb_params(RembParams { remb_on_connect: bps, ..RembParams::default() });
        }
        net.connect(publisher, viewer);
        net.run_until_connected();
        send(&mut net, publisher, Duration::from_secs(1), &mut 0);
        net.video_stats(viewer, StreamDirection::Outbound).remb.expect("an estimate")
    };
    let default = estimate_after_a_second(None);
    let high = estimate_after_a_second(Some(1_500_000));
    // str0m's estimate grows from its start (to 892 kbps from 300 in this
    // second of virtual time) and holds at 1.5 Mbit/s from there.
    assert!(high >= 1_400_000 && default < high * 7 / 10, "from 300 kbps: {default}; from 1.5 Mbit/s: {high}");
}
