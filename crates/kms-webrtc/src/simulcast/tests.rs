use super::*;

const FRAME: Duration = Duration::from_millis(33);

/// Three layers of 150, 500 and 1,500 kbps at 30 frames a second, each
/// frame of layer `rid` `bytes` long; returns the tags of the last round.
fn publish(layers: &mut PublishedLayers, t0: Instant, frames: u32, skip: &[&str]) -> Vec<Tagged> {
    let mut last = Vec::new();
    for i in 0..frames {
        last.clear();
        let now = t0 + FRAME * i;
        for (rid, bytes) in [("l", 625), ("m", 2083), ("h", 6250)] {
            if !skip.contains(&rid) {
                last.push(layers.tag(now, rid.into(), bytes, Some(i % 30 == 0)));
            }
        }
    }
    last
}

fn layer(id: u8, kbps: u32) -> SimulcastLayer {
    SimulcastLayer { id, bitrate: kbps * 1000, primary: false }
}

#[test]
fn the_publisher_measures_each_layer_and_makes_the_best_primary_at_its_keyframe() {
    let t0 = Instant::now();
    let mut layers = PublishedLayers::default();
    let first = publish(&mut layers, t0, 1, &[]);
    assert_eq!(first.iter().map(|t| t.layer.primary).collect::<Vec<_>>(), [true, false, false], "the first layer seen is primary until measured");
    let tags = publish(&mut layers, t0 + FRAME, 19, &[]);
    assert!(layers.is_simulcast());
    let rates: Vec<u32> = tags.iter().map(|t| t.layer.bitrate / 1000).collect();
    assert!((140..=160).contains(&rates[0]) && (480..=520).contains(&rates[1]) && (1450..=1550).contains(&rates[2]), "{rates:?}");
    assert!(tags[0].layer.primary, "the high layer waits for its keyframe (frame 30)");
    let tags = publish(&mut layers, t0 + FRAME * 20, 15, &[]);
    assert_eq!(tags.iter().map(|t| t.layer.primary).collect::<Vec<_>>(), [false, false, true], "after its keyframe the high layer is primary");
    assert_eq!(layers.primary_rid(), Some("h".into()));
    // The high layer stops: after a second the middle one takes over.
    let tags = publish(&mut layers, t0 + FRAME * 40, 70, &["h"]);
    assert!(tags[1].layer.primary, "{tags:?}");
}

#[test]
fn a_new_primary_is_asked_for_a_keyframe_once() {
    let t0 = Instant::now();
    let mut layers = PublishedLayers::default();
    let mut requests = Vec::new();
    for i in 0..20 {
        for (rid, bytes) in [("l", 625), ("h", 6250)] {
            if let Some(rid) = layers.tag(t0 + FRAME * i, rid.into(), bytes, Some(false)).request_keyframe {
                requests.push(rid);
            }
        }
    }
    assert_eq!(requests, [Rid::from("h")], "one request for the high layer while its keyframe is awaited");
}

#[test]
fn the_publisher_is_asked_only_for_the_layers_some_viewer_takes() {
    let t0 = Instant::now();
    let mut layers = PublishedLayers::default();
    publish(&mut layers, t0, 20, &[]);
    let now = t0 + FRAME * 20;
    let wanted = |max| layers.wanted_bitrate(now, max) / 1000;
    assert!((180..=200).contains(&wanted(200_000)), "only the low layer: {}", wanted(200_000));
    assert!((800..=850).contains(&wanted(600_000)), "low and middle: {}", wanted(600_000));
    assert!(wanted(5_000_000) >= 5_000, "the top layer watched: room to grow, {}", wanted(5_000_000));
}

#[test]
fn a_viewer_takes_the_best_layer_its_budget_carries_and_switches_at_keyframes() {
    let now = Instant::now();
    let mut s = LayerSelector::default();
    s.set_budget(600_000);
    let (low, mid, high) = (layer(0, 150), layer(1, 500), layer(2, 1500));
    assert_eq!(s.pick(now, low, || Some(false)), Pick::Drop { request: Some(0) }, "the only layer seen yet");
    assert_eq!(s.pick(now, mid, || Some(false)), Pick::Drop { request: Some(1) }, "waits for the middle layer's keyframe");
    assert_eq!(s.pick(now, high, || Some(true)), Pick::Drop { request: Some(1) });
    assert_eq!(s.pick(now, mid, || Some(true)), Pick::Switch);
    assert_eq!(s.pick(now, mid, || Some(false)), Pick::Forward);
    // The estimate drops: the low layer from its next keyframe; the middle one until then.
    s.set_budget(300_000);
    assert_eq!(s.pick(now, low, || Some(false)), Pick::Drop { request: Some(0) });
    assert_eq!(s.pick(now, mid, || Some(false)), Pick::Forward, "no freeze while the switch waits");
    assert_eq!(s.pick(now, low, || Some(true)), Pick::Switch);
    assert_eq!(s.pick(now, mid, || Some(false)), Pick::Drop { request: None });
    assert_eq!(s.rates(now), Rates { current: Some(150_000), next: Some(500_000), top: Some(1_500_000) }, "probing towards the middle layer");
    // Up again only with the margin: 500 kbps needs 575.
    s.set_budget(560_000);
    assert_eq!(s.pick(now, mid, || Some(true)), Pick::Drop { request: None });
    s.set_budget(2_000_000);
    assert_eq!(s.pick(now, high, || Some(true)), Pick::Switch);
    assert_eq!(s.current(), Some(2));
}

#[test]
fn a_budget_below_every_layer_takes_the_lowest_and_a_silent_layer_is_left() {
    let now = Instant::now();
    let mut s = LayerSelector::default();
    s.set_budget(50_000);
    s.pick(now, layer(1, 500), || Some(true));
    assert_eq!(s.pick(now, layer(0, 150), || Some(true)), Pick::Switch);
    let later = now + INACTIVE_AFTER * 2;
    s.set_budget(5_000_000);
    assert_eq!(s.pick(later, layer(0, 150), || Some(false)), Pick::Forward, "the only active layer");
}

#[test]
fn a_viewer_staying_on_its_layer_never_inspects_the_frame() {
    let now = Instant::now();
    let mut s = LayerSelector::default();
    s.set_budget(5_000_000);
    assert_eq!(s.pick(now, layer(0, 150), || Some(true)), Pick::Switch);
    let not_asked = || -> Option<bool> { panic!("the frame was inspected") };
    assert_eq!(s.pick(now + FRAME, layer(0, 150), not_asked), Pick::Forward);
}

#[test]
fn before_any_measure_the_primary_layer_is_taken() {
    let now = Instant::now();
    let mut s = LayerSelector::default();
    assert_eq!(s.pick(now, SimulcastLayer { id: 0, bitrate: 0, primary: true }, || Some(true)), Pick::Switch);
    assert_eq!(s.pick(now, SimulcastLayer { id: 1, bitrate: 0, primary: false }, || Some(true)), Pick::Drop { request: None });
}

#[test]
fn simulcast_off_refuses_the_offers_layers() {
    let offer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=rid:q send\r\na=rid:f send\r\na=simulcast:send q;f\r\na=sendonly\r\n";
    assert_eq!(refuse_simulcast(offer), "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n");
}
