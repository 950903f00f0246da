//! PointerDetectorFilter (KMS's `pointerdetector` module): a coloured
//! pointer is tracked and raises WindowIn / WindowOut as it enters and
//! leaves the application's windows.
//!
//! As KMS's `kmspointerdetector`:
//! - The calibration region is outlined in white on every frame. Until
//!   `trackColorFromCalibrationRegion` nothing else happens.
//! - Calibration: hue and saturation histograms of the region's HSV pixels
//!   in one frame; the range runs from the first to the last bin holding at
//!   least 20 pixels (bin 0 skipped for the lower bound, as KMS), widened by
//!   5 on each side; a bound with no such bin keeps its previous value.
//!   Here the region is read from the next frame before anything is drawn
//!   on it (KMS reads the last frame after drawing, from a released buffer).
//! - Detection on every calibrated frame: HSV in range with value >= 30,
//!   close 21x21, open 11x11, Gaussian blur 15x15, then Hough circles (dp 2,
//!   minimum distance a tenth of the frame height, Canny 100, accumulator
//!   40). The pointer is the circle nearest its last position (KMS means to
//!   do this but takes the last, weakest circle); with no circle it stays
//!   where it was. A red dot of radius 10 marks it.
//! - A window contains the pointer when its centre is strictly inside. Each
//!   window is drawn: its `image` (or a white outline) while the pointer is
//!   outside, its `activeImage` (or the image tinted green, or a green
//!   outline) while inside; images are stretched to the window (cubic) and
//!   blended by their alpha times (1 - `imageTransparency`).
//! - Events: entering a window raises WindowIn with its id; leaving it
//!   raises WindowOut. When the pointer moves straight from one window to
//!   another, WindowOut for the first comes before WindowIn for the second
//!   (KMS raises only the WindowIn).

use crate::frame::{as_mat, bgr, clip, event, picture_mat, Failures};
use kms_gst::{BgrFrame, FrameProcessor, ProcessorFilter, Waker};
use kms_media::ElementEvent;
use opencv::core::{self, Mat, Point, Rect, Scalar, Size, Vec3f, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use serde_json::json;

/// Pixels a histogram bin needs to count in a calibration.
const BIN_THRESHOLD: u32 = 20;
/// How far the calibrated range is widened on each side.
const MARGIN: i32 = 5;
const MIN_VALUE: f64 = 30.0;

/// A window as the application gives it (PointerDetectorWindowMediaParam).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowSpec {
    pub id: String,
    /// Top-left corner (KMS's `upperRightX/Y`), width and height, in pixels.
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
    pub image: Option<String>,
    pub active_image: Option<String>,
    /// 0 opaque .. 1 invisible (KMS's imageTransparency); 0 when not given.
    pub transparency: f64,
}

/// A window with its pictures once loaded (BGRA, original size).
struct Window {
    spec: WindowSpec,
    /// Which addWindow made it (its picture loads check it).
    ticket: u64,
    image: Option<Mat>,
    active: Option<Mat>,
    /// The pictures stretched to the window (inactive, active), made once.
    stretched: [Option<Mat>; 2],
}

/// The calibrated colour: hue and saturation bounds (may reach past the
/// HSV ranges after widening, as KMS's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ColorRange {
    pub hue: (i32, i32),
    pub saturation: (i32, i32),
}

/// The PointerDetectorFilter frame processor.
pub struct PointerDetector {
    region: (i32, i32, i32, i32),
    range: Option<ColorRange>,
    calibrate_next: bool,
    windows: Vec<Window>,
    pointer: Option<Point>,
    /// The window the pointer is in, as last raised.
    inside: Option<String>,
    failures: Failures,
}

/// PointerDetectorFilter: a filter tracking the calibrated pointer.
pub type PointerDetectorFilter = ProcessorFilter<PointerDetector>;

impl PointerDetector {
    /// A processor calibrating on `region` (x, y, width, height in pixels).
    pub fn new(region: (i32, i32, i32, i32)) -> PointerDetector {
        PointerDetector { region, range: None, calibrate_next: false, windows: Vec::new(), pointer: None, inside: None, failures: Failures::new() }
    }

    /// The colour tracked, once calibrated.
    pub fn color_range(&self) -> Option<ColorRange> {
        self.range
    }

    /// Adds `spec`, replacing a window with the same id in place.
    fn add(&mut self, spec: WindowSpec, ticket: u64) {
        let window = Window { spec, ticket, image: None, active: None, stretched: [None, None] };
        match self.windows.iter_mut().find(|w| w.spec.id == window.spec.id) {
            Some(old) => *old = window,
            None => self.windows.push(window),
        }
    }

    fn calibrate(&mut self, frame: &Mat, area: Rect) -> opencv::Result<()> {
        let mut hsv = Mat::default();
        imgproc::cvt_color(&Mat::roi(frame, area)?, &mut hsv, imgproc::COLOR_BGR2HSV, 0)?;
        let (mut hue, mut sat) = ([0u32; 181], [0u32; 256]);
        for row in 0..hsv.rows() {
            for px in hsv.at_row::<core::Vec3b>(row)? {
                hue[usize::from(px[0])] += 1;
                sat[usize::from(px[1])] += 1;
            }
        }
        let previous = self.range.unwrap_or_default();
        self.range = Some(calibrated(&hue, &sat, previous));
        tracing::debug!("pointerdetector: colour range {:?}", self.range);
        Ok(())
    }

    fn detect(&mut self, frame: &Mat, range: ColorRange) -> opencv::Result<()> {
        let mut hsv = Mat::default();
        imgproc::cvt_color(frame, &mut hsv, imgproc::COLOR_BGR2HSV, 0)?;
        let lower = Scalar::new(f64::from(range.hue.0), f64::from(range.saturation.0), MIN_VALUE, 0.0);
        let upper = Scalar::new(f64::from(range.hue.1), f64::from(range.saturation.1), 256.0, 0.0);
        let mut mask = Mat::default();
        core::in_range(&hsv, &lower, &upper, &mut mask)?;
        let morph = |src: &Mat, op: i32, side: i32| -> opencv::Result<Mat> {
            let kernel = imgproc::get_structuring_element(imgproc::MORPH_RECT, Size::new(side, side), Point::new(-1, -1))?;
            let mut out = Mat::default();
            let border = imgproc::morphology_default_border_value()?;
            imgproc::morphology_ex(src, &mut out, op, &kernel, Point::new(-1, -1), 1, core::BORDER_CONSTANT, border)?;
            Ok(out)
        };
        let cleaned = morph(&morph(&mask, imgproc::MORPH_CLOSE, 21)?, imgproc::MORPH_OPEN, 11)?;
        let mut blurred = Mat::default();
        imgproc::gaussian_blur(&cleaned, &mut blurred, Size::new(15, 15), 0.0, 0.0, core::BORDER_DEFAULT)?;
        let mut circles = Vector::<Vec3f>::new();
        let min_dist = f64::from(frame.rows() / 10).max(1.0);
        imgproc::hough_circles(&blurred, &mut circles, imgproc::HOUGH_GRADIENT, 2.0, min_dist, 100.0, 40.0, 0, 0)?;
        let centres = circles.iter().map(|c| Point::new(c[0].round() as i32, c[1].round() as i32));
        if let Some(found) = nearest(centres, self.pointer) {
            self.pointer = Some(found);
        }
        Ok(())
    }

    /// Draws the windows for the pointer's position and raises the crossings.
    fn windows(&mut self, frame: &mut Mat, events: &mut Vec<ElementEvent>) -> opencv::Result<()> {
        let pointer = self.pointer;
        let contains = |w: &WindowSpec| {
            let (x, y, x1, y1) = (i64::from(w.x), i64::from(w.y), i64::from(w.x) + i64::from(w.width), i64::from(w.y) + i64::from(w.height));
            pointer.is_some_and(|p| (x + 1..x1).contains(&i64::from(p.x)) && (y + 1..y1).contains(&i64::from(p.y)))
        };
        let mut current = None;
        for window in &mut self.windows {
            let inside = contains(&window.spec);
            if inside {
                current = Some(window.spec.id.clone());
            }
            draw_window(frame, window, inside)?;
        }
        if current != self.inside {
            if let Some(left) = self.inside.take() {
                events.push(event("WindowOut", json!({ "windowId": left })));
            }
            if let Some(entered) = &current {
                events.push(event("WindowIn", json!({ "windowId": entered })));
            }
            self.inside = current;
        }
        Ok(())
    }

    fn run(&mut self, frame: &mut Mat, events: &mut Vec<ElementEvent>) -> opencv::Result<()> {
        let (x, y, w, h) = self.region;
        let area = clip(x, y, w, h, frame.cols(), frame.rows());
        if let (true, Some(area)) = (std::mem::take(&mut self.calibrate_next), area) {
            self.calibrate(frame, area)?;
        }
        if let Some(range) = self.range {
            self.detect(frame, range)?;
            self.windows(frame, events)?;
        }
        if let Some(area) = area {
            imgproc::rectangle(frame, area, bgr(255.0, 255.0, 255.0), 1, imgproc::LINE_8, 0)?;
        }
        if let (Some(_), Some(p)) = (self.range, self.pointer) {
            imgproc::circle(frame, p, 10, bgr(0.0, 0.0, 255.0), imgproc::FILLED, imgproc::LINE_8, 0)?;
        }
        Ok(())
    }
}

/// KMS's calibration from one frame's histograms (181 hue bins, 256
/// saturation bins): first bin from 1 and last bin with at least 20 pixels,
/// widened by 5; a bound with no such bin keeps `previous`'s.
pub fn calibrated(hue: &[u32; 181], sat: &[u32; 256], previous: ColorRange) -> ColorRange {
    let first = |h: &[u32], keep: i32| h.iter().skip(1).position(|&n| n >= BIN_THRESHOLD).map_or(keep, |i| i as i32 + 1 - MARGIN);
    let last = |h: &[u32], keep: i32| h.iter().rposition(|&n| n >= BIN_THRESHOLD).map_or(keep, |i| i as i32 + MARGIN);
    ColorRange {
        hue: (first(hue, previous.hue.0), last(hue, previous.hue.1)),
        saturation: (first(sat, previous.saturation.0), last(sat, previous.saturation.1)),
    }
}

/// The candidate nearest `last` (the first, i.e. strongest, when there is no last).
fn nearest(candidates: impl Iterator<Item = Point>, last: Option<Point>) -> Option<Point> {
    let distance = |p: &Point| last.map_or(0, |l| i64::from(p.x - l.x).pow(2) + i64::from(p.y - l.y).pow(2));
    candidates.min_by_key(distance)
}

/// Windows larger than this many frames are outlined, never stretched to.
const MAX_PICTURE_FRAMES: i64 = 4;

/// One window as KMS draws it.
fn draw_window(frame: &mut Mat, window: &mut Window, inside: bool) -> opencv::Result<()> {
    let s = &window.spec;
    let Some(area) = clip(s.x, s.y, s.width, s.height, frame.cols(), frame.rows()) else { return Ok(()) };
    let opacity = 1.0 - s.transparency.clamp(0.0, 1.0);
    // The picture shown and whether it is tinted (KMS's "saturate").
    let (slot, green) = match (inside, window.active.is_some(), window.image.is_some()) {
        (true, true, _) => (Some(1), false),
        (true, false, true) => (Some(0), true),
        (false, _, true) => (Some(0), false),
        _ => (None, false),
    };
    let fits = i64::from(s.width) * i64::from(s.height) <= MAX_PICTURE_FRAMES * i64::from(frame.cols()) * i64::from(frame.rows());
    let Some(slot) = slot.filter(|_| fits && s.width > 0 && s.height > 0) else {
        let colour = if inside { bgr(0.0, 255.0, 0.0) } else { bgr(255.0, 255.0, 255.0) };
        return imgproc::rectangle(frame, area, colour, 1, imgproc::LINE_8, 0);
    };
    if window.stretched[slot].is_none() {
        let picture = if slot == 1 { &window.active } else { &window.image };
        let mut icon = Mat::default();
        if let Some(picture) = picture {
            imgproc::resize(picture, &mut icon, Size::new(s.width, s.height), 0.0, 0.0, imgproc::INTER_CUBIC)?;
        }
        window.stretched[slot] = Some(icon);
    }
    match &window.stretched[slot] {
        Some(icon) => blend(frame, &window.spec, icon, opacity, green),
        None => Ok(()),
    }
}

/// Blends the BGRA `icon` (the window's size) over the frame at the window
/// with its alpha times `opacity`; `green` tints it (KMS's "saturate").
fn blend(frame: &mut Mat, s: &WindowSpec, icon: &Mat, opacity: f64, green: bool) -> opencv::Result<()> {
    for row in 0..icon.rows() {
        let y = i64::from(s.y) + i64::from(row);
        let Ok(y) = i32::try_from(y) else { continue };
        if y < 0 || y >= frame.rows() {
            continue;
        }
        let src = icon.at_row::<core::Vec4b>(row)?.to_vec();
        let dst = frame.at_row_mut::<core::Vec3b>(y)?;
        for (col, px) in src.iter().enumerate() {
            let x = i64::from(s.x) + col as i64;
            let Some(out) = usize::try_from(x).ok().and_then(|x| dst.get_mut(x)) else { continue };
            let a = opacity * f64::from(px[3]) / 255.0;
            for c in 0..3 {
                let value = if green && c == 1 { 255.0 } else { f64::from(px[c]) };
                out[c] = (value * a + f64::from(out[c]) * (1.0 - a)) as u8;
            }
        }
    }
    Ok(())
}

impl FrameProcessor for PointerDetector {
    const IDLE_WITHOUT_CONSUMERS: bool = false;

    fn process(&mut self, frame: &mut BgrFrame<'_>, events: &mut Vec<ElementEvent>) {
        let result = as_mat(frame).and_then(|mut m| self.run(&mut m.mat, events));
        self.failures.check("PointerDetectorFilter", result);
    }
}

/// Builds a PointerDetectorFilter calibrating on `region` with `windows`.
pub fn pointer_detector_filter(region: (i32, i32, i32, i32), windows: Vec<WindowSpec>, waker: Waker) -> Result<PointerDetectorFilter, String> {
    let filter = PointerDetectorFilter::with_processor(PointerDetector::new(region), waker)?;
    for window in windows {
        add_window(&filter, window);
    }
    Ok(filter)
}

/// PointerDetectorFilter.addWindow: a window with this id is replaced in
/// place; its pictures are loaded in the background (an outline is drawn
/// until then; one that cannot be loaded raises `Error`).
pub fn add_window(filter: &PointerDetectorFilter, spec: WindowSpec) {
    let ticket = crate::frame::ticket();
    let pictures = [(spec.image.clone(), false), (spec.active_image.clone(), true)];
    let id = spec.id.clone();
    filter.apply(move |detector| detector.add(spec, ticket));
    for (uri, active) in pictures {
        let Some(uri) = uri.filter(|u| !u.is_empty()) else { continue };
        let id = id.clone();
        filter.load_image(&uri, move |detector, image| {
            // Only if the window is still the one this load was for.
            let Some(window) = detector.windows.iter_mut().find(|w| w.ticket == ticket) else { return };
            window.stretched = [None, None];
            match picture_mat(&image, true) {
                Ok(picture) if active => window.active = Some(picture),
                Ok(picture) => window.image = Some(picture),
                Err(e) => tracing::warn!("pointerdetector: picture for window {id} unusable: {e}"),
            }
        });
    }
}

/// PointerDetectorFilter.removeWindow (an unknown id is ignored, as KMS,
/// which only logs it).
pub fn remove_window(filter: &PointerDetectorFilter, id: &str) {
    let id = id.to_owned();
    filter.apply(move |detector| {
        let before = detector.windows.len();
        detector.windows.retain(|w| w.spec.id != id);
        if before == detector.windows.len() {
            tracing::debug!("pointerdetector: no window {id} to remove");
        }
    });
}

/// PointerDetectorFilter.clearWindows.
pub fn clear_windows(filter: &PointerDetectorFilter) {
    filter.apply(|detector| detector.windows.clear());
}

/// PointerDetectorFilter.trackColorFromCalibrationRegion: the colour is read
/// from the calibration region of the next frame.
pub fn track_color_from_calibration_region(filter: &PointerDetectorFilter) {
    filter.apply(|detector| detector.calibrate_next = true);
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 320;
    const H: u32 = 180;

    /// A grey frame with a blue disc of radius 20 centred at `centre`.
    fn frame_with_dot(centre: (i32, i32)) -> Vec<u8> {
        let mut px = vec![0u8; (W * H * 3) as usize];
        for (i, p) in px.chunks_mut(3).enumerate() {
            let (x, y) = ((i as u32 % W) as i32, (i as u32 / W) as i32);
            let inside = (x - centre.0).pow(2) + (y - centre.1).pow(2) <= 400;
            p.copy_from_slice(if inside { &[220, 60, 20] } else { &[90, 90, 90] });
        }
        px
    }

    fn run(detector: &mut PointerDetector, centre: (i32, i32)) -> Vec<String> {
        let mut px = frame_with_dot(centre);
        let mut frame = BgrFrame::new(W, H, &mut px);
        let mut events = Vec::new();
        detector.process(&mut frame, &mut events);
        events
            .into_iter()
            .map(|e| match e {
                ElementEvent::Module { name, fields } => format!("{name} {}", fields["windowId"].as_str().unwrap_or("")),
                other => format!("{other:?}"),
            })
            .collect()
    }

    fn window(id: &str, x: i32) -> WindowSpec {
        WindowSpec { id: id.into(), x, y: 40, width: 80, height: 100, image: None, active_image: None, transparency: 0.0 }
    }

    #[test]
    fn a_dot_crossing_two_windows_raises_in_and_out_for_each_in_order() {
        let mut detector = PointerDetector::new((20, 80, 20, 20));
        detector.add(window("left", 60), 1);
        detector.add(window("right", 200), 2);
        assert!(run(&mut detector, (30, 90)).is_empty(), "nothing before calibration");
        detector.calibrate_next = true;
        let mut events = run(&mut detector, (30, 90));
        let range = detector.color_range().expect("calibrated");
        assert!(range.hue.0 <= 114 && range.hue.1 >= 114, "{range:?}");
        for x in (30..300).step_by(6) {
            events.extend(run(&mut detector, (x, 90)));
        }
        assert_eq!(events, ["WindowIn left", "WindowOut left", "WindowIn right", "WindowOut right"]);
    }

    #[test]
    fn moving_straight_between_windows_leaves_one_before_entering_the_other() {
        let mut detector = PointerDetector::new((20, 80, 20, 20));
        detector.add(window("a", 60), 1);
        detector.add(window("b", 140), 2);
        detector.calibrate_next = true;
        let mut events = run(&mut detector, (30, 90));
        for x in [100, 180, 180] {
            events.extend(run(&mut detector, (x, 90)));
        }
        assert_eq!(events, ["WindowIn a", "WindowOut a", "WindowIn b"]);
    }

    #[test]
    fn calibration_widens_by_five_and_keeps_bounds_it_cannot_find() {
        let (mut hue, mut sat) = ([0u32; 181], [0u32; 256]);
        hue[100] = 20;
        hue[110] = 30;
        sat[0] = 500;
        let previous = ColorRange { hue: (1, 2), saturation: (3, 4) };
        let range = calibrated(&hue, &sat, previous);
        assert_eq!(range.hue, (95, 115));
        assert_eq!(range.saturation, (3, 5), "bin 0 is skipped for the lower bound only");
    }

    #[test]
    fn the_pointer_is_the_circle_nearest_its_last_position() {
        let points = [Point::new(10, 10), Point::new(100, 100)];
        assert_eq!(nearest(points.into_iter(), None), Some(Point::new(10, 10)));
        assert_eq!(nearest(points.into_iter(), Some(Point::new(90, 95))), Some(Point::new(100, 100)));
        assert_eq!(nearest([].into_iter(), Some(Point::new(1, 1))), None);
    }
}
