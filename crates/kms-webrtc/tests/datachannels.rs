//! Data channels through WebRtcEndpoints (`useDataChannels`), with str0m
//! peers as browsers on the virtual network.

mod common;

use common::Net;
use kms_media::{Connection, ElementEvent, MediaType};
use kms_webrtc::{WebRtcConfig, WebRtcEndpoint};
use std::time::Duration;
use str0m::media::Direction;

fn with_data() -> WebRtcConfig {
    WebRtcConfig { data_channels: true, ..Default::default() }
}

/// Two browsers whose endpoints are connected DATA-only in both directions.
fn two_peers() -> (Net, usize, usize) {
    let mut net = Net::new();
    let a = net.add_browser_with(Direction::SendRecv, with_data());
    let b = net.add_browser_with(Direction::SendRecv, with_data());
    for (from, to) in [(a, b), (b, a)] {
        net.pipeline.connect(net.now, Connection::new(net.endpoints[from], net.endpoints[to], MediaType::Data)).unwrap();
    }
    net.run_until_connected();
    net.run(Duration::from_millis(500));
    (net, a, b)
}

#[test]
fn messages_cross_between_two_peers_and_the_channels_are_reported() {
    let (mut net, a, b) = two_peers();
    for (i, &who) in [a, b].iter().enumerate() {
        let opened = net.events.iter().filter(|(_, id, e)| *id == net.endpoints[who] && matches!(e, ElementEvent::DataChannelOpened { .. }));
        assert_eq!(opened.count(), 1, "peer {i}: DataChannelOpened once");
    }
    net.browsers[a].send_text("chat", "hello from a");
    net.browsers[b].send_text("chat", "hello from b");
    net.run(Duration::from_millis(200));
    assert_eq!(net.browsers[b].messages, [("chat".to_owned(), "hello from a".to_owned())]);
    assert_eq!(net.browsers[a].messages, [("chat".to_owned(), "hello from b".to_owned())]);

    let endpoint = net.pipeline.element_mut::<WebRtcEndpoint>(net.endpoints[a]).unwrap();
    let (channels, (opened, closed)) = endpoint.data_channel_stats();
    assert_eq!((opened, closed), (1, 0));
    assert_eq!(channels[0].label, "chat");
    assert_eq!((channels[0].messages_received, channels[0].bytes_received), (1, 12));
    assert_eq!((channels[0].messages_sent, channels[0].bytes_sent), (1, 12));
}

#[test]
fn the_server_opens_and_closes_channels() {
    let (mut net, a, _) = two_peers();
    let id = net.endpoints[a];
    let opened = |net: &Net| -> Vec<u16> {
        let events = net.events.iter().filter(|(_, e, _)| *e == id);
        events.filter_map(|(_, _, ev)| if let ElementEvent::DataChannelOpened { channel_id } = ev { Some(*channel_id) } else { None }).collect()
    };
    let before = opened(&net);
    let endpoint = net.pipeline.element_mut::<WebRtcEndpoint>(id).unwrap();
    endpoint.create_data_channel("server", true, -1, 3, "proto").unwrap();
    assert!(endpoint.create_data_channel("bad", true, 100, 3, "").is_err(), "lifetime and retransmits together");
    net.run(Duration::from_millis(300));
    assert!(net.browsers[a].channels.iter().any(|(_, l)| l == "server"), "{:?}", net.browsers[a].channels);
    // The server's own channel is the one opened since.
    let new: Vec<u16> = opened(&net).into_iter().filter(|c| !before.contains(c)).collect();
    let [stream_id] = new[..] else { panic!("one DataChannelOpened for the server's channel: {new:?}") };
    let endpoint = net.pipeline.element_mut::<WebRtcEndpoint>(id).unwrap();
    let (channels, _) = endpoint.data_channel_stats();
    let server = channels.iter().find(|c| c.stream_id == stream_id).unwrap();
    assert_eq!((server.label.as_str(), server.protocol.as_str()), ("server", "proto"));
    assert!(endpoint.close_data_channel(9999).is_err());
    endpoint.close_data_channel(stream_id).unwrap();
    net.run(Duration::from_millis(300));
    assert!(net.events.iter().any(|(_, e, ev)| *e == id && *ev == ElementEvent::DataChannelClosed { channel_id: stream_id }));
    assert!(!net.browsers[a].channels.iter().any(|(_, l)| l == "server"), "the browser saw it close: {:?}", net.browsers[a].channels);
}

#[test]
fn channels_need_a_negotiated_session() {
    let config = WebRtcConfig { data_channels: true, host_addrs: vec!["127.0.0.1:40000".parse().unwrap()], ..Default::default() };
    let mut endpoint = WebRtcEndpoint::new(std::time::Instant::now(), config);
    assert!(endpoint.create_data_channel("early", true, -1, -1, "").is_err());
}

#[test]
fn without_use_data_channels_nothing_is_forwarded() {
    let mut net = Net::new();
    let a = net.add_browser_with(Direction::SendRecv, with_data());
    let b = net.add_browser_with(Direction::SendRecv, with_data());
    // The receiving endpoint was created without useDataChannels; its browser offers a channel anyway.
    net.next_offers_data_channel = true;
    let plain = net.add_browser_with(Direction::SendRecv, WebRtcConfig::default());
    for (from, to) in [(a, b), (a, plain), (plain, a)] {
        net.pipeline.connect(net.now, Connection::new(net.endpoints[from], net.endpoints[to], MediaType::Data)).unwrap();
    }
    net.run_until_connected();
    net.run(Duration::from_millis(500));
    net.browsers[a].send_text("chat", "x");
    net.browsers[plain].send_text("chat", "lost");
    net.run(Duration::from_millis(200));
    assert!(net.browsers[plain].messages.is_empty());
    assert_eq!(net.browsers[b].messages.len(), 1);
    assert!(net.browsers[a].messages.is_empty(), "nothing from the plain endpoint");
    assert!(!net.events.iter().any(|(_, e, ev)| *e == net.endpoints[plain] && matches!(ev, ElementEvent::DataChannelOpened { .. })));
}
