//! PlateDetectorFilter (KMS's `platedetector` module): licence plates in
//! the video are read with Tesseract and raised as PlateDetected.
//!
//! The frames are only read (KMS draws nothing unless a debug property the
//! API does not expose is set), so detection runs on a copy on its own
//! thread and always takes the latest frame ([`FrameProcessor::READ_ONLY`]).
//!
//! Finding plates, as KMS's `kmsplatedetector` (full-size grey frame):
//! Canny edges (70, 150), then, on every other frame, a morphological close
//! and open with a rectangle as wide as a sixth of the expected plate width
//! (`plateWidthPercentage` of the frame width, default 0.25; odd, at least 3)
//! and 3 high, which merges a plate's characters into one blob (KMS cycles
//! three preprocessings; the one of Sobel passes is not built here). A
//! contour is a plate candidate when its minimum-area rectangle, taken with
//! its near-horizontal side as width, covers more than 1,500 pixels, is 4 to
//! 7 times as wide as high and is more than half filled by the contour.
//!
//! Reading (our own, where KMS segments characters and reads each with a
//! Spanish-plate traineddata of its own): the candidate's bounding box grown
//! by 10 % a side horizontally and 20 % vertically, scaled to 60 pixels high
//! (Lanczos), straightened by the rectangle's tilt, binarised (Otsu) with a
//! white margin, and read as one line by Tesseract (`eng`, LSTM, page
//! segmentation 7, whitelist 0-9 A-Z). Spaces are dropped.
//!
//! Reporting: a reading in one of KMS's Spanish layouts is reported in
//! KMS's nine slots (`--1234BCD` for 1234 BCD, `-M1234AB-` or `MA1234BC-`
//! for the old provincial ones); any other reading of 5 to 9 characters
//! with letters and digits is reported as read. As KMS, a plate is raised
//! once the same reading comes four times in a row (the first and three
//! confirmations) and never twice in a row.

use crate::frame::{as_mat, Failures};
use kms_gst::{BgrFrame, FrameProcessor, ProcessorFilter, Waker};
use kms_media::ElementEvent;
use opencv::core::{self, Mat, Point, Point2f, Rect, Scalar, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use opencv::text::OCRTesseract;
use serde_json::json;

/// KMS's default `plate-width-percentage`.
pub const DEFAULT_WIDTH_FRACTION: f64 = 0.25;
/// Readings that must agree before a plate is raised (KMS: the first plus
/// NUM_ACCUMULATED_PLATES = 3).
const CONFIRMATIONS: u32 = 4;
/// Height candidates are scaled to before reading, pixels (KMS's aim).
const READ_HEIGHT: f64 = 60.0;
/// What Tesseract may read; the space is needed (without it a line with
/// a gap reads as nothing).
const WHITELIST: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ";

/// The PlateDetectorFilter frame processor.
pub struct PlateDetector {
    width_fraction: f64,
    /// Tesseract, made on the detection thread at the first frame.
    ocr: Option<core::Ptr<OCRTesseract>>,
    ocr_failed: bool,
    frame_count: u64,
    confirm: Confirmation,
    failures: Failures,
}

/// PlateDetectorFilter: a filter raising PlateDetected; its video passes untouched.
pub type PlateDetectorFilter = ProcessorFilter<PlateDetector>;

impl Default for PlateDetector {
    fn default() -> PlateDetector {
        PlateDetector { width_fraction: DEFAULT_WIDTH_FRACTION, ocr: None, ocr_failed: false, frame_count: 0, confirm: Confirmation::default(), failures: Failures::new() }
    }
}

impl PlateDetector {
    /// PlateDetectorFilter.setPlateWidthPercentage: the plates' expected
    /// width as a fraction of the frame width (0..1, KMS's range).
    pub fn set_width_fraction(&mut self, fraction: f64) {
        self.width_fraction = fraction;
    }

    fn ocr(&mut self) -> Option<&mut core::Ptr<OCRTesseract>> {
        if self.ocr.is_none() && !self.ocr_failed {
            // Page segmentation 7 (one line), engine 1 (LSTM).
            match OCRTesseract::create("", "eng", WHITELIST, 1, 7) {
                Ok(ocr) => self.ocr = Some(ocr),
                Err(e) => {
                    self.ocr_failed = true;
                    tracing::warn!("PlateDetectorFilter: Tesseract cannot start (tesseract-ocr-eng missing?): {e}");
                }
            }
        }
        self.ocr.as_mut()
    }

    fn run(&mut self, frame: &Mat, events: &mut Vec<ElementEvent>) -> opencv::Result<()> {
        let mut grey = Mat::default();
        imgproc::cvt_color(frame, &mut grey, imgproc::COLOR_BGR2GRAY, 0)?;
        let mut edges = Mat::default();
        imgproc::canny(&grey, &mut edges, 70.0, 150.0, 3, false)?;
        self.frame_count += 1;
        if self.frame_count % 2 == 1 {
            let kernel_x = kernel_width(self.width_fraction, grey.cols());
            let kernel = imgproc::get_structuring_element(imgproc::MORPH_RECT, Size::new(kernel_x, 3), Point::new(-1, -1))?;
            let border = imgproc::morphology_default_border_value()?;
            let mut closed = Mat::default();
            imgproc::morphology_ex(&edges, &mut closed, imgproc::MORPH_CLOSE, &kernel, Point::new(-1, -1), 1, core::BORDER_CONSTANT, border)?;
            imgproc::morphology_ex(&closed, &mut edges, imgproc::MORPH_OPEN, &kernel, Point::new(-1, -1), 1, core::BORDER_CONSTANT, border)?;
        }
        let mut contours = Vector::<Vector<Point>>::new();
        imgproc::find_contours(&edges, &mut contours, imgproc::RETR_EXTERNAL, imgproc::CHAIN_APPROX_SIMPLE, Point::new(0, 0))?;
        for contour in &contours {
            let Some((bounds, tilt)) = candidate(&contour)? else { continue };
            let Some(area) = grown(bounds, grey.cols(), grey.rows()) else { continue };
            let Some(text) = self.read(&grey, area, tilt)? else { continue };
            let Some(plate) = plate_text(&text) else { continue };
            if let Some(raised) = self.confirm.reading(plate) {
                events.push(crate::frame::event("PlateDetected", json!({ "plate": raised })));
            }
        }
        Ok(())
    }

    /// Tesseract's reading of `area` straightened by `tilt` degrees.
    fn read(&mut self, grey: &Mat, area: Rect, tilt: f64) -> opencv::Result<Option<String>> {
        let scale = READ_HEIGHT / f64::from(area.height);
        let mut scaled = Mat::default();
        let size = Size::new((f64::from(area.width) * scale).round() as i32, READ_HEIGHT as i32);
        imgproc::resize(&Mat::roi(grey, area)?, &mut scaled, size, 0.0, 0.0, imgproc::INTER_LANCZOS4)?;
        let centre = Point2f::new(size.width as f32 / 2.0, size.height as f32 / 2.0);
        let rotation = imgproc::get_rotation_matrix_2d(centre, tilt, 1.0)?;
        let mut straight = Mat::default();
        imgproc::warp_affine(&scaled, &mut straight, &rotation, size, imgproc::INTER_LINEAR, core::BORDER_REPLICATE, Scalar::default())?;
        let mut binary = Mat::default();
        imgproc::threshold(&straight, &mut binary, 0.0, 255.0, imgproc::THRESH_BINARY | imgproc::THRESH_OTSU)?;
        clear_border(&mut binary)?;
        let mut framed = Mat::default();
        core::copy_make_border(&binary, &mut framed, 20, 20, 20, 20, core::BORDER_CONSTANT, Scalar::all(255.0))?;
        let Some(ocr) = self.ocr() else { return Ok(None) };
        let text = OCRTesseractTrait::run(ocr, &framed, 0, 0)?;
        Ok(Some(text))
    }
}

/// Whitens the dark regions touching the border (what is around the plate,
/// its frame), leaving the characters on white.
fn clear_border(binary: &mut Mat) -> opencv::Result<()> {
    let (w, h) = (binary.cols(), binary.rows());
    let edge = (0..w).flat_map(|x| [(x, 0), (x, h - 1)]).chain((0..h).flat_map(|y| [(0, y), (w - 1, y)]));
    for (x, y) in edge {
        if *binary.at_2d::<u8>(y, x)? == 0 {
            imgproc::flood_fill_def(binary, Point::new(x, y), Scalar::all(255.0))?;
        }
    }
    Ok(())
}

/// A sixth of the expected plate width in pixels, odd and at least 3 (KMS: kernelX).
pub fn kernel_width(fraction: f64, frame_width: i32) -> i32 {
    let k = (fraction.clamp(0.0, 1.0) * f64::from(frame_width) / 6.0) as i32;
    (k | 1).max(3)
}

/// The contour's bounding box and tilt (degrees, near-horizontal side)
/// when its minimum-area rectangle looks like a plate.
fn candidate(contour: &Vector<Point>) -> opencv::Result<Option<(Rect, f64)>> {
    let rotated = imgproc::min_area_rect(contour)?;
    let (mut w, mut h, mut tilt) = (rotated.size.width, rotated.size.height, f64::from(rotated.angle));
    // OpenCV >= 4.5.1 gives angles in (0, 90]: make the width the side nearer horizontal.
    if tilt > 45.0 {
        std::mem::swap(&mut w, &mut h);
        tilt -= 90.0;
    }
    let (w, h) = (f64::from(w), f64::from(h));
    let area = imgproc::contour_area(contour, false)?;
    let plate_like = w * h > 1500.0 && h > 0.0 && (4.0..7.0).contains(&(w / h)) && area / (w * h) > 0.5;
    if !plate_like {
        return Ok(None);
    }
    Ok(Some((imgproc::bounding_rect(contour)?, tilt)))
}

/// `bounds` grown by 10 % of its width a side and 20 % of its height
/// above and below, clipped to the frame.
fn grown(bounds: Rect, width: i32, height: i32) -> Option<Rect> {
    let (dx, dy) = (bounds.width / 10, bounds.height / 5);
    crate::frame::clip(bounds.x - dx, bounds.y - dy, bounds.width + 2 * dx, bounds.height + 2 * dy, width, height)
}

/// The plate in a Tesseract reading: KMS's nine slots for the Spanish
/// layouts, the reading itself for other plates of 5 to 9 letters and
/// digits; `None` for anything else.
pub fn plate_text(reading: &str) -> Option<String> {
    let text: String = reading.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    let letters = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase());
    let digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let (province, rest) = text.split_at(start);
    if rest.len() >= 4 && digits(&rest[..4]) {
        let suffix = &rest[4..];
        // New layout: 1234 BCD.
        if province.is_empty() && suffix.len() == 3 && letters(suffix) {
            return Some(format!("--{text}"));
        }
        // Old provincial layout: M 1234 AB, MA 1234 BC.
        if (1..=2).contains(&province.len()) && letters(province) && (1..=2).contains(&suffix.len()) && letters(suffix) {
            return Some(format!("{province:->2}{}{suffix:-<3}", &rest[..4]));
        }
    }
    let mixed = text.bytes().any(|b| b.is_ascii_digit()) && text.bytes().any(|b| b.is_ascii_uppercase());
    ((5..=9).contains(&text.len()) && mixed).then_some(text)
}

/// KMS's confirmation: a plate is raised when the same reading came
/// [`CONFIRMATIONS`] times in a row, and not again until another was.
#[derive(Default)]
pub struct Confirmation {
    current: Option<String>,
    seen: u32,
    raised: Option<String>,
}

impl Confirmation {
    /// Counts `plate`; the plate to raise, if any.
    pub fn reading(&mut self, plate: String) -> Option<String> {
        if self.current.as_ref() == Some(&plate) {
            self.seen += 1;
        } else {
            self.current = Some(plate);
            self.seen = 1;
        }
        if self.seen >= CONFIRMATIONS && self.raised != self.current {
            self.raised = self.current.clone();
            return self.raised.clone();
        }
        None
    }
}

impl FrameProcessor for PlateDetector {
    const IDLE_WITHOUT_CONSUMERS: bool = false;
    const READ_ONLY: bool = true;

    fn process(&mut self, frame: &mut BgrFrame<'_>, events: &mut Vec<ElementEvent>) {
        let result = as_mat(frame).and_then(|m| self.run(&m.mat, events));
        self.failures.check("PlateDetectorFilter", result);
    }
}

/// Builds a PlateDetectorFilter.
pub fn plate_detector_filter(waker: Waker) -> Result<PlateDetectorFilter, String> {
    PlateDetectorFilter::with_processor(PlateDetector::default(), waker)
}

/// PlateDetectorFilter.setPlateWidthPercentage (a fraction of the frame width).
pub fn set_plate_width_percentage(filter: &PlateDetectorFilter, fraction: f64) {
    filter.apply(move |detector| detector.set_width_fraction(fraction));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_in_kms_layouts_fill_its_nine_slots() {
        assert_eq!(plate_text("1234 BCD\n").as_deref(), Some("--1234BCD"));
        assert_eq!(plate_text("M 1234 AB").as_deref(), Some("-M1234AB-"));
        assert_eq!(plate_text("MA 1234 BC").as_deref(), Some("MA1234BC-"));
        assert_eq!(plate_text("AB 123 CD").as_deref(), Some("AB123CD"), "other plates as read");
        assert_eq!(plate_text("HELLO"), None, "no digits");
        assert_eq!(plate_text("12"), None);
        assert_eq!(plate_text("ABCDEF1234567"), None, "too long");
    }

    #[test]
    fn a_plate_is_raised_after_four_equal_readings_and_not_twice_in_a_row() {
        let mut c = Confirmation::default();
        let read = |c: &mut Confirmation, p: &str| c.reading(p.to_owned());
        assert_eq!(read(&mut c, "--1234BCD"), None);
        assert_eq!(read(&mut c, "--1234BCD"), None);
        assert_eq!(read(&mut c, "--1234BCO"), None, "a misreading restarts the count");
        for _ in 0..3 {
            assert_eq!(read(&mut c, "--1234BCD"), None);
        }
        assert_eq!(read(&mut c, "--1234BCD").as_deref(), Some("--1234BCD"));
        for _ in 0..10 {
            assert_eq!(read(&mut c, "--1234BCD"), None, "not again while it stays");
        }
        for _ in 0..3 {
            assert_eq!(read(&mut c, "--5678FGH"), None);
        }
        assert_eq!(read(&mut c, "--5678FGH").as_deref(), Some("--5678FGH"));
    }

    #[test]
    fn the_kernel_is_a_sixth_of_the_plate_width_and_odd() {
        assert_eq!(kernel_width(0.25, 640), 27);
        assert_eq!(kernel_width(0.25, 1280), 53);
        assert_eq!(kernel_width(0.0, 640), 3);
    }

    /// A rendered plate (black text on a white plate on grey) is read.
    #[test]
    fn a_rendered_plate_is_read() {
        let mut frame = Mat::new_rows_cols_with_default(360, 640, core::CV_8UC3, Scalar::all(90.0)).unwrap();
        imgproc::rectangle(&mut frame, Rect::new(180, 150, 260, 56), Scalar::all(250.0), imgproc::FILLED, imgproc::LINE_8, 0).unwrap();
        imgproc::put_text(&mut frame, "1234 BCD", Point::new(192, 193), imgproc::FONT_HERSHEY_DUPLEX, 1.3, Scalar::all(10.0), 3, imgproc::LINE_AA, false).unwrap();
        let mut detector = PlateDetector::default();
        let mut events = Vec::new();
        for _ in 0..8 {
            detector.run(&frame, &mut events).unwrap();
        }
        let plates: Vec<_> = events.iter().map(|e| match e {
            ElementEvent::Module { fields, .. } => fields["plate"].as_str().unwrap_or_default().to_owned(),
            other => format!("{other:?}"),
        }).collect();
        assert_eq!(plates, ["--1234BCD"]);
    }
}
