//! Router tests with a recording element on a virtual clock.

use super::*;
use crate::media::{Codec, DataMessage, MediaFrame};
use std::sync::Arc;

/// A minimal element: emits the frames queued in `to_emit`, records what it gets.
#[derive(Default)]
struct Probe {
    to_emit: VecDeque<ElementOutput>,
    received: Vec<MediaFrame>,
    keyframe_requests: usize,
    source_changes: Vec<MediaType>,
    estimates: Vec<u64>,
    data: Vec<DataMessage>,
}

impl Element for Probe {
    fn handle_media(&mut self, _now: Instant, frame: &MediaFrame) {
        self.received.push(frame.clone());
    }
    fn handle_data(&mut self, _now: Instant, message: &DataMessage) {
        self.data.push(message.clone());
    }
    fn handle_keyframe_request(&mut self, _now: Instant) {
        self.keyframe_requests += 1;
    }
    fn handle_source_changed(&mut self, _now: Instant, media_type: MediaType) {
        self.source_changes.push(media_type);
    }
    fn handle_bitrate_estimate(&mut self, _now: Instant, bitrate: u64) {
        self.estimates.push(bitrate);
    }
    fn poll_output(&mut self) -> Option<ElementOutput> {
        self.to_emit.pop_front()
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn frame(codec: Codec, now: Instant) -> MediaFrame {
    MediaFrame { codec, clock_rate: 90_000, rtp_time: 0, network_time: now, contiguous: true, data: Arc::from(&[1u8, 2, 3][..]) }
}

fn drain(p: &mut Pipeline, now: Instant) -> Vec<PipelineOutput> {
    std::iter::from_fn(|| p.poll_output(now)).collect()
}

#[test]
fn media_fans_out_by_type_and_shares_the_payload() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let a = p.add(Box::new(Probe::default()));
    let b = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(src, a, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(src, b, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(src, b, MediaType::Audio)).unwrap();
    let v = frame(Codec::Vp8, now);
    let payload = v.data.clone();
    let probe = p.element_mut::<Probe>(src).unwrap();
    probe.to_emit.push_back(ElementOutput::Media(v));
    probe.to_emit.push_back(ElementOutput::Media(frame(Codec::Opus, now)));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(a).unwrap().received.len(), 1);
    let got = &p.element_mut::<Probe>(b).unwrap().received;
    assert_eq!(got.len(), 2);
    assert!(Arc::ptr_eq(&got[0].data, &payload), "payload shared, not copied");
}

#[test]
fn loopback_routes_to_itself() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let e = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(e, e, MediaType::Audio)).unwrap();
    p.element_mut::<Probe>(e).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Opus, now)));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(e).unwrap().received.len(), 1);
}

#[test]
fn keyframe_requests_go_upstream_throttled() {
    let t0 = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let sink = p.add(Box::new(Probe::default()));
    p.connect(t0, Connection::new(src, sink, MediaType::Video)).unwrap();
    assert_eq!(p.element_mut::<Probe>(src).unwrap().keyframe_requests, 1, "asked on video connect");

    // A burst of PLIs from the sink inside the interval reaches the source once.
    let t1 = t0 + KEYFRAME_REQUEST_INTERVAL;
    for _ in 0..5 {
        p.element_mut::<Probe>(sink).unwrap().to_emit.push_back(ElementOutput::KeyframeRequest);
    }
    drain(&mut p, t1);
    assert_eq!(p.element_mut::<Probe>(src).unwrap().keyframe_requests, 2);
    p.element_mut::<Probe>(sink).unwrap().to_emit.push_back(ElementOutput::KeyframeRequest);
    drain(&mut p, t1 + Duration::from_millis(10));
    assert_eq!(p.element_mut::<Probe>(src).unwrap().keyframe_requests, 2);
}

#[test]
fn removed_elements_lose_their_connections_and_events_name_the_element() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let sink = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(src, sink, MediaType::Audio)).unwrap();
    p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Event(ElementEvent::IceGatheringDone));
    let out = drain(&mut p, now);
    assert!(matches!(out.as_slice(), [PipelineOutput::Event(id, ElementEvent::IceGatheringDone)] if *id == src));
    assert!(p.remove(sink).is_some());
    assert!(p.graph().sink_connections(src, None).is_empty());
    assert_eq!(p.connect(now, Connection::new(src, sink, MediaType::Audio)), Err(GraphError::UnknownElement(sink)));
}

#[test]
fn the_publisher_gets_the_minimum_of_its_viewers_estimates() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let publisher = p.add(Box::new(Probe::default()));
    let viewers: Vec<ElementId> = (0..3).map(|_| p.add(Box::new(Probe::default()))).collect();
    for &v in &viewers {
        p.connect(now, Connection::new(publisher, v, MediaType::Video)).unwrap();
    }
    for (&v, bitrate) in viewers.iter().zip([900_000, 300_000, 600_000]) {
        p.element_mut::<Probe>(v).unwrap().to_emit.push_back(ElementOutput::BitrateEstimate(bitrate));
        drain(&mut p, now);
    }
    assert_eq!(p.element_mut::<Probe>(publisher).unwrap().estimates, [900_000, 300_000, 300_000]);
    // The slowest viewer leaves: the minimum rises with the next estimate.
    p.remove(viewers[1]);
    p.element_mut::<Probe>(viewers[0]).unwrap().to_emit.push_back(ElementOutput::BitrateEstimate(800_000));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(publisher).unwrap().estimates.last(), Some(&600_000));
}

#[test]
fn a_sink_is_told_when_its_source_changes_also_through_a_passthrough() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let (a, b) = (p.add(Box::new(Probe::default())), p.add(Box::new(Probe::default())));
    let pass = p.add(Box::new(crate::PassThrough::default()));
    let sink = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(pass, sink, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(a, pass, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(a, pass, MediaType::Video)).unwrap(); // same source again: no change
    p.connect(now, Connection::new(b, pass, MediaType::Video)).unwrap();
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(sink).unwrap().source_changes, [MediaType::Video; 3]);
}

#[test]
fn latency_stats_measure_arrival_to_delivery_per_sink() {
    let start = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let sink = p.add(Box::new(Probe::default()));
    p.connect(start, Connection::new(src, sink, MediaType::Video)).unwrap();
    p.latency_mut().set_enabled(true);
    for delay_ms in [10, 30] {
        p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Vp8, start)));
        drain(&mut p, start + Duration::from_millis(delay_ms));
    }
    assert_eq!(p.latency().averages(sink), [(MediaType::Video, 20_000_000.0)]);
    assert!(p.latency().averages(src).is_empty(), "nothing was delivered to the source");
    p.remove(sink);
    assert!(p.latency().averages(sink).is_empty());
}

#[test]
fn data_messages_go_only_to_data_sinks_through_a_passthrough() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let relay = p.add(Box::new(crate::PassThrough::default()));
    let data_sink = p.add(Box::new(Probe::default()));
    let video_sink = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(src, relay, MediaType::Data)).unwrap();
    p.connect(now, Connection::new(relay, data_sink, MediaType::Data)).unwrap();
    p.connect(now, Connection::new(src, video_sink, MediaType::Video)).unwrap();
    let message = DataMessage { label: Arc::from("chat"), binary: false, data: Arc::from(&b"hi"[..]) };
    p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Data(message.clone()));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(data_sink).unwrap().data, [message]);
    assert!(p.element_mut::<Probe>(video_sink).unwrap().data.is_empty());
}
