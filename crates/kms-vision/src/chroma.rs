//! ChromaFilter (KMS's `chroma` module): the colour seen in a calibration
//! window is keyed out and replaced by a background picture.
//!
//! As KMS's `kmschroma`: for the first 60 frames the window's pixels are
//! counted into hue (180 bins) and saturation (256 bins) histograms of the
//! BGR->HSV frame and the window is outlined in blue; after the 60th, the
//! key range is the first to the last bin holding at least 600 pixels
//! (10 a frame) in each histogram. From then on, while a background is set,
//! a pixel whose hue and saturation are in range and whose value is at
//! least 30 is replaced by the background's pixel at the same place (the
//! picture stretched to the frame, INTER_LINEAR), the mask cleaned by a 3x3
//! close then a 3x3 open; without a background frames pass untouched.
//! Calibration happens once per filter. Unlike KMS, a window reaching out of
//! the frame is clipped to it (KMS moves it by a wrong formula or throws),
//! and a picture with alpha is read as its colour channels (KMS misreads
//! four-channel pictures).

use crate::frame::{as_mat, bgr, clip, picture_mat, Failures};
use kms_gst::{BgrFrame, FrameProcessor, ProcessorFilter, Waker};
use kms_media::ElementEvent;
use opencv::core::{self, Mat, Point, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;

/// Frames counted into the calibration histograms (KMS: LIMIT_FRAMES).
pub const CALIBRATION_FRAMES: u32 = 60;
/// Pixels a histogram bin needs over the calibration frames to be in the key range.
pub const BIN_THRESHOLD: u32 = 10 * CALIBRATION_FRAMES;
/// Darker pixels (HSV value below this) are never keyed.
const MIN_VALUE: f64 = 30.0;

/// The key colour: hue (0..=179) and saturation (0..=255) ranges, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    pub hue: (u8, u8),
    pub saturation: (u8, u8),
}

/// The ChromaFilter frame processor.
pub struct Chroma {
    /// The calibration window as given (pixels, top-left corner).
    window: (i32, i32, i32, i32),
    frames: u32,
    hue: Vec<u32>,
    saturation: Vec<u32>,
    range: Option<KeyRange>,
    /// The picture as loaded, and stretched to the last frame size.
    background: Option<Mat>,
    stretched: Option<Mat>,
    /// The ticket of the last setBackground (0: unset), so a slow load
    /// never lands after a later call.
    pending: u64,
    failures: Failures,
}

/// ChromaFilter: a filter keying the calibrated colour out of the video.
pub type ChromaFilter = ProcessorFilter<Chroma>;

impl Chroma {
    /// A processor calibrating on `window` (x, y, width, height in pixels).
    pub fn new(window: (i32, i32, i32, i32)) -> Chroma {
        Chroma {
            window,
            frames: 0,
            hue: vec![0; 180],
            saturation: vec![0; 256],
            range: None,
            background: None,
            stretched: None,
            pending: 0,
            failures: Failures::new(),
        }
    }

    /// The key range, once calibrated.
    pub fn key_range(&self) -> Option<KeyRange> {
        self.range
    }

    fn calibrate(&mut self, frame: &mut Mat) -> opencv::Result<()> {
        let (x, y, w, h) = self.window;
        let Some(area) = clip(x, y, w, h, frame.cols(), frame.rows()) else {
            return self.counted();
        };
        let mut hsv = Mat::default();
        imgproc::cvt_color(&Mat::roi(frame, area)?, &mut hsv, imgproc::COLOR_BGR2HSV, 0)?;
        for row in 0..hsv.rows() {
            for px in hsv.at_row::<core::Vec3b>(row)? {
                self.hue[usize::from(px[0]).min(179)] += 1;
                self.saturation[usize::from(px[1])] += 1;
            }
        }
        imgproc::rectangle(frame, area, bgr(255.0, 0.0, 0.0), 1, imgproc::LINE_8, 0)?;
        self.counted()
    }

    /// One calibration frame more; after the last, the key range.
    fn counted(&mut self) -> opencv::Result<()> {
        self.frames += 1;
        if self.frames == CALIBRATION_FRAMES {
            self.range = key_range(&self.hue, &self.saturation);
            match self.range {
                Some(range) => tracing::debug!("chroma: key range {range:?}"),
                None => tracing::warn!("chroma: no colour filled the calibration window ({:?}) in {CALIBRATION_FRAMES} frames: nothing is keyed", self.window),
            }
        }
        Ok(())
    }

    fn key(&mut self, frame: &mut Mat) -> opencv::Result<()> {
        let (Some(range), Some(background)) = (self.range, &self.background) else { return Ok(()) };
        let size = frame.size()?;
        if self.stretched.as_ref().map(|m| m.size()).transpose()? != Some(size) {
            let mut stretched = Mat::default();
            imgproc::resize(background, &mut stretched, size, 0.0, 0.0, imgproc::INTER_LINEAR)?;
            self.stretched = Some(stretched);
        }
        let mut hsv = Mat::default();
        imgproc::cvt_color(frame, &mut hsv, imgproc::COLOR_BGR2HSV, 0)?;
        let (lower, upper) = (
            Scalar::new(f64::from(range.hue.0), f64::from(range.saturation.0), MIN_VALUE, 0.0),
            Scalar::new(f64::from(range.hue.1), f64::from(range.saturation.1), 255.0, 0.0),
        );
        let mut mask = Mat::default();
        core::in_range(&hsv, &lower, &upper, &mut mask)?;
        let kernel = imgproc::get_structuring_element(imgproc::MORPH_RECT, Size::new(3, 3), Point::new(-1, -1))?;
        let mut closed = Mat::default();
        let border = imgproc::morphology_default_border_value()?;
        imgproc::morphology_ex(&mask, &mut closed, imgproc::MORPH_CLOSE, &kernel, Point::new(-1, -1), 1, core::BORDER_CONSTANT, border)?;
        imgproc::morphology_ex(&closed, &mut mask, imgproc::MORPH_OPEN, &kernel, Point::new(-1, -1), 1, core::BORDER_CONSTANT, border)?;
        if let Some(stretched) = &self.stretched {
            stretched.copy_to_masked(frame, &mask)?;
        }
        Ok(())
    }
}

/// KMS's range: first and last bin with at least [`BIN_THRESHOLD`] pixels
/// in each histogram; `None` when a histogram has none.
pub fn key_range(hue: &[u32], saturation: &[u32]) -> Option<KeyRange> {
    let span = |h: &[u32]| {
        let first = h.iter().position(|&n| n >= BIN_THRESHOLD)?;
        let last = h.iter().rposition(|&n| n >= BIN_THRESHOLD)?;
        Some((u8::try_from(first).ok()?, u8::try_from(last).ok()?))
    };
    Some(KeyRange { hue: span(hue)?, saturation: span(saturation)? })
}

impl FrameProcessor for Chroma {
    const IDLE_WITHOUT_CONSUMERS: bool = true;

    fn process(&mut self, frame: &mut BgrFrame<'_>, _events: &mut Vec<ElementEvent>) {
        let result = as_mat(frame).and_then(|mut m| {
            if self.frames < CALIBRATION_FRAMES {
                self.calibrate(&mut m.mat)
            } else {
                self.key(&mut m.mat)
            }
        });
        self.failures.check("ChromaFilter", result);
    }
}

impl Chroma {
    fn unset(&mut self) {
        self.pending = 0;
        self.background = None;
        self.stretched = None;
    }
}

/// Builds a ChromaFilter calibrating on `window`, with the background at
/// `background` when one is given (KMS's `backgroundImage`).
pub fn chroma_filter(window: (i32, i32, i32, i32), background: Option<&str>, waker: Waker) -> Result<ChromaFilter, String> {
    let filter = ChromaFilter::with_processor(Chroma::new(window), waker)?;
    if let Some(uri) = background.filter(|u| !u.is_empty()) {
        set_background(&filter, uri);
    }
    Ok(filter)
}

/// ChromaFilter.setBackground: the keyed colour shows the picture at `uri`
/// once loaded; the previous background stays until then, and stays when
/// the picture cannot be loaded (`Error` RESOURCE_ERROR_OPEN is raised). A
/// later set or unset wins over a load still under way.
pub fn set_background(filter: &ChromaFilter, uri: &str) {
    let ticket = crate::frame::ticket();
    filter.apply(move |chroma| chroma.pending = ticket);
    filter.load_image(uri, move |chroma, image| {
        if chroma.pending != ticket {
            return;
        }
        match picture_mat(&image, false) {
            Ok(picture) => {
                chroma.background = Some(picture);
                chroma.stretched = None;
            }
            Err(e) => tracing::warn!("chroma: background unusable: {e}"),
        }
    });
}

/// ChromaFilter.unsetBackground: frames pass untouched from now on.
pub fn unset_background(filter: &ChromaFilter) {
    filter.apply(Chroma::unset);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_of(pixels: &mut [u8], width: u32, height: u32) -> BgrFrame<'_> {
        BgrFrame::new(width, height, pixels)
    }

    #[test]
    fn the_key_range_spans_bins_holding_ten_pixels_a_frame() {
        let (mut hue, mut sat) = (vec![0; 180], vec![0; 256]);
        hue[58] = BIN_THRESHOLD - 1;
        hue[60] = BIN_THRESHOLD;
        hue[64] = 5 * BIN_THRESHOLD;
        sat[200] = BIN_THRESHOLD;
        sat[255] = BIN_THRESHOLD;
        assert_eq!(key_range(&hue, &sat), Some(KeyRange { hue: (60, 64), saturation: (200, 255) }));
        assert_eq!(key_range(&vec![0; 180], &sat), None);
    }

    /// A green frame with a red 8x8 square at (16, 16): calibrated on the
    /// green corner, the green is replaced by the background, the red stays.
    #[test]
    fn the_calibrated_colour_shows_the_background_and_nothing_else_does() {
        let (w, h) = (48u32, 48u32);
        let green_with_square = || {
            let mut px = vec![0u8; (w * h * 3) as usize];
            for (i, p) in px.chunks_mut(3).enumerate() {
                let (x, y) = (i as u32 % w, i as u32 / w);
                let red = (16..24).contains(&x) && (16..24).contains(&y);
                p.copy_from_slice(if red { &[0, 0, 255] } else { &[0, 200, 0] });
            }
            px
        };
        let mut chroma = Chroma::new((0, 0, 12, 12));
        for _ in 0..CALIBRATION_FRAMES {
            let mut px = green_with_square();
            chroma.process(&mut frame_of(&mut px, w, h), &mut Vec::new());
            assert_eq!(&px[3 * (11 * w as usize + 5)..][..3], &[255, 0, 0], "the window is outlined in blue while calibrating");
        }
        let range = chroma.key_range().expect("calibrated");
        assert!(range.hue.0 <= 60 && range.hue.1 >= 60, "{range:?}");
        // Without a background nothing changes.
        let mut px = green_with_square();
        chroma.process(&mut frame_of(&mut px, w, h), &mut Vec::new());
        assert_eq!(px, green_with_square());
        // A one-pixel blue background, stretched to the frame.
        let image = kms_gst::Image { width: 1, height: 1, bgra: vec![250, 10, 10, 255] };
        chroma.background = Some(picture_mat(&image, false).unwrap());
        let mut px = green_with_square();
        chroma.process(&mut frame_of(&mut px, w, h), &mut Vec::new());
        let at = |x: u32, y: u32| &px[((y * w + x) * 3) as usize..][..3];
        assert_eq!(at(2, 2), &[250, 10, 10], "green became the background");
        assert_eq!(at(40, 40), &[250, 10, 10]);
        assert_eq!(at(20, 20), &[0, 0, 255], "the red square stays");
        chroma.unset();
        let mut px = green_with_square();
        chroma.process(&mut frame_of(&mut px, w, h), &mut Vec::new());
        assert_eq!(px, green_with_square(), "unset: frames pass untouched");
    }
}
