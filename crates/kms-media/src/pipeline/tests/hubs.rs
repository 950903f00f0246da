//! Router tests of hubs: ports, forwarding switches, broadcasts.

use super::*;
use crate::hub::{Dispatcher, DispatcherMode, Hub, HubOutput};

fn video_from(p: &mut Pipeline, source: ElementId, now: Instant, marker: u8) {
    let f = MediaFrame { data: Arc::from(&[marker][..]), ..frame(Codec::Vp8, now) };
    p.element_mut::<Probe>(source).unwrap().to_emit.push_back(ElementOutput::Media(f));
}

fn markers(p: &mut Pipeline, sink: ElementId) -> Vec<u8> {
    p.element_mut::<Probe>(sink).unwrap().received.iter().map(|f| f.data[0]).collect()
}

#[test]
fn one_to_many_switches_sources_without_decoding() {
    let now = Instant::now();
    let (mut p, log) = transcoding_pipeline();
    let hub = p.add_hub(Box::new(Dispatcher::new(DispatcherMode::OneToMany)));
    let ports: Vec<ElementId> = (0..3).map(|_| p.add_port(now, hub).unwrap()).collect();
    let (s1, s2) = (p.add(Box::new(Probe::default())), p.add(Box::new(Probe::default())));
    let viewer = sink_taking(&mut p, &[Codec::Vp8]);
    p.connect(now, Connection::new(s1, ports[0], MediaType::Video)).unwrap();
    p.connect(now, Connection::new(s2, ports[1], MediaType::Video)).unwrap();
    p.connect(now, Connection::new(ports[2], viewer, MediaType::Video)).unwrap();
    drain(&mut p, now);

    p.hub_mut::<Dispatcher>(hub).unwrap().set_source(ports[0]).unwrap();
    let t1 = now + KEYFRAME_REQUEST_INTERVAL;
    drain(&mut p, t1);
    assert_eq!(p.element_mut::<Probe>(s1).unwrap().keyframe_requests, 2, "on connect, then on setSource");
    video_from(&mut p, s1, t1, 1);
    video_from(&mut p, s2, t1, 2);
    drain(&mut p, t1);
    assert_eq!(markers(&mut p, viewer), [1]);

    let changes_before = p.element_mut::<Probe>(viewer).unwrap().source_changes.len();
    p.hub_mut::<Dispatcher>(hub).unwrap().set_source(ports[1]).unwrap();
    drain(&mut p, t1);
    assert_eq!(p.element_mut::<Probe>(viewer).unwrap().source_changes.len(), changes_before + 1, "the viewer rebases");
    assert_eq!(p.element_mut::<Probe>(s2).unwrap().keyframe_requests, 2, "the new source is asked for a keyframe");
    video_from(&mut p, s1, t1, 1);
    video_from(&mut p, s2, t1, 2);
    drain(&mut p, t1);
    assert_eq!(markers(&mut p, viewer), [1, 2]);
    assert_eq!(log.lock().unwrap().built, 0, "nothing decoded");

    // A viewer's PLI reaches the current source through the hub.
    let t2 = t1 + KEYFRAME_REQUEST_INTERVAL;
    p.element_mut::<Probe>(viewer).unwrap().to_emit.push_back(ElementOutput::KeyframeRequest);
    drain(&mut p, t2);
    assert_eq!(p.element_mut::<Probe>(s2).unwrap().keyframe_requests, 3);

    // Releasing the source port leaves the others receiving nothing, safely.
    p.remove(t2, ports[1]);
    video_from(&mut p, s2, t2, 2);
    drain(&mut p, t2);
    assert_eq!(markers(&mut p, viewer), [1, 2]);
    p.remove_hub(t2, hub);
    assert!(p.element(ports[0]).is_none() && p.element(ports[2]).is_none(), "ports go with their hub");
}

/// Broadcasts every raw frame it gets, like a compositor.
#[derive(Default)]
struct Mixing {
    out: VecDeque<HubOutput>,
}

const RAW: [Codec; 1] = [Codec::RawVideo];

impl Hub for Mixing {
    fn input_codecs(&self, _media_type: MediaType) -> Option<&[Codec]> {
        Some(&RAW)
    }
    fn add_port(&mut self, _now: Instant, _port: ElementId) {}
    fn remove_port(&mut self, _now: Instant, _port: ElementId) {}
    fn handle_media(&mut self, _now: Instant, _port: ElementId, frame: &MediaFrame) {
        self.out.push_back(HubOutput::Broadcast(frame.clone()));
    }
    fn poll_output(&mut self) -> Option<HubOutput> {
        self.out.pop_front()
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[test]
fn a_broadcast_is_encoded_once_for_all_ports_and_inputs_are_decoded_for_the_hub() {
    let now = Instant::now();
    let (mut p, log) = transcoding_pipeline();
    let hub = p.add_hub(Box::new(Mixing::default()));
    let ports: Vec<ElementId> = (0..3).map(|_| p.add_port(now, hub).unwrap()).collect();
    let src = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(src, ports[0], MediaType::Video)).unwrap();
    let viewers: Vec<ElementId> = ports.iter().map(|_| sink_taking(&mut p, &[Codec::Vp8])).collect();
    for (port, viewer) in ports.iter().zip(&viewers) {
        p.connect(now, Connection::new(*port, *viewer, MediaType::Video)).unwrap();
    }
    drain(&mut p, now);
    video_from(&mut p, src, now, 7);
    let out = drain(&mut p, now);
    // One transcoder decodes the VP8 input for the hub, one encodes its broadcast for all viewers.
    assert_eq!(log.lock().unwrap().built, 2);
    assert_eq!(transcoding_events(&out), [(src, true), (hub, true)]);
    for v in &viewers {
        let got = &p.element_mut::<Probe>(*v).unwrap().received;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].codec, Codec::Vp8);
    }
    assert!(p.element(ports[2]).unwrap().is_media_flowing_out(MediaType::Video));
    p.remove(now, viewers[0]);
    p.remove(now, viewers[1]);
    assert_eq!(log.lock().unwrap().dropped, 0, "still one viewer");
    p.remove(now, viewers[2]);
    assert_eq!(log.lock().unwrap().dropped, 1, "the broadcast encoder goes with the last consumer");
}
