use super::*;

#[test]
fn levels_follow_the_thresholds() {
    let t = [10, 35, 65];
    assert_eq!([5.0, 10.0, 10.5, 35.5, 65.0, 65.5].map(|p| occupancy_level(p, t)), [0, 0, 1, 2, 2, 3]);
    assert_eq!([5.0, 10.5, 35.5, 64.9, 65.0].map(|p| fluidity_level(p, t)), [0, 1, 2, 2, 3]);
}

#[test]
fn a_level_is_raised_after_holding_n_frames_and_never_for_a_region_staying_at_zero() {
    let mut h = Hysteresis::default();
    assert!((0..20).all(|_| !h.level(0, 5)), "level 0 from the start raises nothing");
    assert!((0..4).all(|_| !h.level(2, 5)));
    assert!(h.level(2, 5), "raised on the fifth frame");
    assert!((0..10).all(|_| !h.level(2, 5)), "once");
    assert!(!h.level(3, 5) && !h.level(2, 5), "a one-frame blip raises nothing");
    assert!((0..4).all(|_| !h.level(0, 5)));
    assert!(h.level(0, 5), "back to 0 is raised after a raised level");
}

#[test]
fn directions_are_counter_clockwise_from_right_and_snapped() {
    assert_eq!(snapped_angle(10.0, 0.0, 0), 0.0);
    assert_eq!(snapped_angle(0.0, -10.0, 0), 90.0, "up on screen");
    assert_eq!(snapped_angle(-10.0, 1.0, 0), 180.0);
    assert_eq!(snapped_angle(1.0, 10.0, 0), 270.0);
    assert_eq!(snapped_angle(10.0, -9.0, 0), 0.0, "42 degrees snaps to 0");
    assert_eq!(snapped_angle(0.0, -10.0, 20), 110.0);
}

#[test]
fn a_direction_is_raised_after_holding_and_forgotten_when_still() {
    let config = RoiConfig { direction_frames: 3, direction_reset: 3, ..RoiConfig::default() };
    let mut d = Direction::default();
    assert_eq!((0..3).filter_map(|_| d.frame(Some(0.0), &config)).count(), 0);
    assert_eq!(d.frame(Some(0.0), &config), Some(0.0), "the fourth moving frame raises it (a first 0 too)");
    assert_eq!(d.frame(None, &config), None);
    assert_eq!(d.frame(Some(0.0), &config), None, "a still frame does not break it");
    for _ in 0..4 {
        d.frame(None, &config);
    }
    assert_eq!((0..4).filter_map(|_| d.frame(Some(0.0), &config)).last(), Some(0.0), "forgotten after the reset frames");
}

const W: i32 = 320;
const H: i32 = 180;

/// A static noise texture with `blobs` (x, y): discs of radius 20 with a
/// brighter texture of their own.
fn frame(blobs: &[(i32, i32)]) -> Vec<u8> {
    let noise = |x: i32, y: i32| ((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) as u32 % 251) as i32;
    let mut px = vec![0u8; (W * H * 3) as usize];
    for (i, p) in px.chunks_mut(3).enumerate() {
        let (x, y) = (i as i32 % W, i as i32 / W);
        let blob = blobs.iter().find(|&&(bx, by)| (x - bx).pow(2) + (y - by).pow(2) <= 400);
        let value = match blob {
            Some(&(bx, by)) => 170 + noise(x - bx, y - by) % 80,
            None => 40 + noise(x, y) % 60,
        };
        p.fill(value as u8);
    }
    px
}

fn region(id: &str, x0: f64, x1: f64, send_direction: bool) -> Roi {
    Roi {
        id: id.into(),
        points: vec![(x0, 0.1), (x1, 0.1), (x1, 0.9), (x0, 0.9)],
        config: RoiConfig { send_direction, ..RoiConfig::default() },
    }
}

/// Events by (name, roiId, level or angle).
fn run(detector: &mut CrowdDetector, blobs: &[(i32, i32)]) -> Vec<(String, String, i64)> {
    let mut px = frame(blobs);
    let mut f = BgrFrame::new(W as u32, H as u32, &mut px);
    let mut events = Vec::new();
    detector.run(&mut as_mat(&mut f).unwrap().mat, &mut events).unwrap();
    events
        .into_iter()
        .filter_map(|e| match e {
            ElementEvent::Module { name, fields } => {
                let value = ["occupancyLevel", "fluidityLevel", "directionAngle"].iter().find_map(|k| fields.get(*k)?.as_f64())?;
                Some((name.to_owned(), fields["roiId"].as_str()?.to_owned(), value as i64))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn blobs_moving_into_a_region_raise_its_levels_and_direction_and_an_empty_region_raises_none() {
    let mut detector = CrowdDetector::new(vec![region("busy", 0.0, 0.5, true), region("empty", 0.6, 1.0, true)]);
    let mut events = Vec::new();
    for _ in 0..30 {
        events.extend(run(&mut detector, &[]));
    }
    assert_eq!(events, [], "a still scene raises nothing");
    // Six blobs walk in from the left, 4 pixels a frame, and stop in the busy region.
    for step in 0..60 {
        let x = (-20 + step * 4).min(120);
        let blobs: Vec<_> = (0..6).map(|i| (x - (i % 3) * 30, 40 + (i / 3) * 60 + (i % 3) * 10)).collect();
        events.extend(run(&mut detector, &blobs));
    }
    let of = |name: &str, roi: &str| events.iter().filter(|e| e.0 == name && e.1 == roi).map(|e| e.2).collect::<Vec<_>>();
    // Walking in, they move fast and fill a fifth of the region: occupancy
    // level 1; standing, they become slow (occupied) pixels: fluidity 3.
    assert_eq!(of("CrowdDetectorOccupancy", "busy").first(), Some(&1), "{events:?}");
    assert_eq!(of("CrowdDetectorFluidity", "busy"), [3], "{events:?}");
    assert_eq!(of("CrowdDetectorDirection", "busy").first(), Some(&0), "moving right: {events:?}");
    assert!(events.iter().all(|e| e.1 != "empty"), "{events:?}");
}

#[test]
fn the_output_shows_motion_and_the_regions() {
    let mut detector = CrowdDetector::new(vec![region("busy", 0.0, 0.5, false)]);
    for x in [40, 44, 48, 52] {
        run(&mut detector, &[(x, 90)]);
    }
    let mut px = frame(&[(56, 90)]);
    let mut f = BgrFrame::new(W as u32, H as u32, &mut px);
    detector.process(&mut f, &mut Vec::new());
    let at = |x: i32, y: i32| &px[((y * W + x) * 3) as usize..][..3];
    assert_eq!(at(0, 18), &[255, 255, 255], "the region's outline");
    assert!(px.chunks(3).any(|p| p[0] == 255 && p[1] != 255), "fast motion in the blue channel");
}
