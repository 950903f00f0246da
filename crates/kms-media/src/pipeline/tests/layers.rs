//! Router tests of simulcast layers: who gets which layer, primary
//! switches, per-layer keyframe requests, the sinks' estimate range.

use super::*;
use crate::media::SimulcastLayer;

fn layered(now: Instant, id: u8, primary: bool) -> MediaFrame {
    MediaFrame { layer: Some(SimulcastLayer { id, bitrate: 100_000 * (u32::from(id) + 1), primary }), ..frame(Codec::Vp8, now) }
}

/// A source, a sink that selects layers and one that does not.
fn setup(now: Instant) -> (Pipeline, ElementId, ElementId, ElementId) {
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let viewer = p.add(Box::new(Probe { selects: true, ..Probe::default() }));
    let recorder = p.add(Box::new(Probe::default()));
    for sink in [viewer, recorder] {
        p.connect(now, Connection::new(src, sink, MediaType::Video)).unwrap();
    }
    drain(&mut p, now);
    (p, src, viewer, recorder)
}

fn emit(p: &mut Pipeline, src: ElementId, now: Instant, frames: &[(u8, bool)]) {
    for &(id, primary) in frames {
        p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(layered(now, id, primary)));
    }
    drain(p, now);
}

fn layers_of(p: &mut Pipeline, id: ElementId) -> Vec<u8> {
    p.element_mut::<Probe>(id).unwrap().received.iter().filter_map(|f| f.layer.map(|l| l.id)).collect()
}

#[test]
fn a_layer_selector_gets_every_layer_and_other_sinks_only_the_primary() {
    let now = Instant::now();
    let (mut p, src, viewer, recorder) = setup(now);
    emit(&mut p, src, now, &[(0, false), (1, true), (0, false), (1, true)]);
    assert_eq!(layers_of(&mut p, viewer), [0, 1, 0, 1]);
    assert_eq!(layers_of(&mut p, recorder), [1, 1], "never the layers interleaved");
    let changes = p.element_mut::<Probe>(recorder).unwrap().source_changes.len();
    // The primary moves to layer 0 (at its keyframe): the recorder sees a new source, once.
    emit(&mut p, src, now, &[(0, true), (1, false), (0, true)]);
    assert_eq!(layers_of(&mut p, recorder), [1, 1, 0, 0]);
    assert_eq!(p.element_mut::<Probe>(recorder).unwrap().source_changes.len(), changes + 1);
    assert_eq!(p.element_mut::<Probe>(viewer).unwrap().source_changes.len(), 1, "only its connect: it switches layers itself");
}

#[test]
fn layer_keyframe_requests_reach_the_source_throttled_per_layer() {
    let t0 = Instant::now();
    let (mut p, src, viewer, _) = setup(t0);
    for layer in [2, 2, 1, 2] {
        p.element_mut::<Probe>(viewer).unwrap().to_emit.push_back(ElementOutput::LayerKeyframeRequest(layer));
    }
    drain(&mut p, t0);
    assert_eq!(p.element_mut::<Probe>(src).unwrap().layer_keyframe_requests, [2, 1]);
    p.element_mut::<Probe>(viewer).unwrap().to_emit.push_back(ElementOutput::LayerKeyframeRequest(2));
    drain(&mut p, t0 + KEYFRAME_REQUEST_INTERVAL);
    assert_eq!(p.element_mut::<Probe>(src).unwrap().layer_keyframe_requests, [2, 1, 2]);
}

#[test]
fn a_source_gets_the_range_of_its_sinks_estimates() {
    let now = Instant::now();
    let (mut p, src, viewer, recorder) = setup(now);
    p.element_mut::<Probe>(viewer).unwrap().to_emit.push_back(ElementOutput::BitrateEstimate(900_000));
    drain(&mut p, now);
    p.element_mut::<Probe>(recorder).unwrap().to_emit.push_back(ElementOutput::BitrateEstimate(150_000));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(src).unwrap().sink_estimates, [(900_000, 900_000), (150_000, 900_000)]);
}

#[test]
fn a_passthrough_relays_the_range_of_the_estimates_behind_it() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let pass = p.add(Box::new(crate::PassThrough::default()));
    let slow = p.add(Box::new(Probe { selects: true, ..Probe::default() }));
    let fast = p.add(Box::new(Probe { selects: true, ..Probe::default() }));
    p.connect(now, Connection::new(src, pass, MediaType::Video)).unwrap();
    for sink in [slow, fast] {
        p.connect(now, Connection::new(pass, sink, MediaType::Video)).unwrap();
    }
    for (sink, bitrate) in [(slow, 150_000), (fast, 2_000_000)] {
        p.element_mut::<Probe>(sink).unwrap().to_emit.push_back(ElementOutput::BitrateEstimate(bitrate));
        drain(&mut p, now);
    }
    assert_eq!(p.element_mut::<Probe>(src).unwrap().sink_estimates.last(), Some(&(150_000, 2_000_000)));
    emit(&mut p, src, now, &[(0, false), (1, true)]);
    assert_eq!(layers_of(&mut p, fast), [0, 1], "every layer through the PassThrough");
}
