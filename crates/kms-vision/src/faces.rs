//! KMS's metadata example (module `datachannelexample`): KmsDetectFaces
//! finds faces and attaches them to each frame as metadata, KmsShowFaces
//! draws the faces a frame's metadata carries. In-process Rust modules
//! ([`FrameProcessor`]s), the pair shows metadata travelling with frames
//! from one filter to the next ([`kms_media::MediaFrame::metadata`]).
//!
//! As KMS's `facedetectormetadata`: OpenCV's frontal-face Haar cascade on a
//! grey copy at most 320 pixels wide (scale step 1.2, 3 neighbours, Canny
//! pruning, faces from 1/20 to 1/2 of the copy), positions scaled back to
//! the frame; metadata only on frames with a face: `{"faces": [{"x", "y",
//! "width", "height"}, ...]}` in frame pixels (KMS: a `faces` structure with
//! fields "0", "1", ...). When detection takes longer than a frame, it runs
//! on fewer frames (at most five in a row skipped, as KMS's QoS skipping)
//! and the last faces are attached to the frames in between. As KMS's
//! `imageoverlaymetadata`: a green rectangle 3 pixels thick per face.

use crate::frame::{as_mat, bgr, Failures};
use kms_gst::{BgrFrame, FrameProcessor, ProcessorFilter, Waker, FACE_CASCADE};
use kms_media::ElementEvent;
use opencv::core::{Mat, Rect, Size, Vector};
use opencv::imgproc;
use opencv::objdetect::{self, CascadeClassifier};
use opencv::prelude::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Width of the copy faces are searched in.
const DETECT_WIDTH: i32 = 320;
/// One frame at 30 fps: detection slower than this runs on fewer frames.
const FRAME: Duration = Duration::from_millis(33);
/// At most this many frames in a row reuse the last faces.
const MAX_SKIP: u32 = 5;

/// KmsDetectFaces's processor.
pub struct DetectFaces {
    cascade: CascadeClassifier,
    last: Vec<Rect>,
    skip: u32,
    skipped: u32,
    failures: Failures,
}

/// datachannelexample.KmsDetectFaces.
pub type DetectFacesFilter = ProcessorFilter<DetectFaces>;

impl DetectFaces {
    /// Fails when the cascade is not installed (opencv-data).
    pub fn new() -> Result<DetectFaces, String> {
        let cascade = CascadeClassifier::new(FACE_CASCADE).map_err(|e| e.to_string())?;
        if cascade.empty().unwrap_or(true) {
            return Err(format!("the face cascade {FACE_CASCADE} is not installed (opencv-data)"));
        }
        Ok(DetectFaces { cascade, last: Vec::new(), skip: 0, skipped: 0, failures: Failures::new() })
    }

    /// The faces in `frame`, in frame pixels.
    fn detect(&mut self, frame: &Mat) -> opencv::Result<Vec<Rect>> {
        let scale = f64::from(DETECT_WIDTH.min(frame.cols())) / f64::from(frame.cols().max(1));
        let mut grey = Mat::default();
        imgproc::cvt_color(frame, &mut grey, imgproc::COLOR_BGR2GRAY, 0)?;
        let mut small = Mat::default();
        imgproc::resize(&grey, &mut small, Size::default(), scale, scale, imgproc::INTER_AREA)?;
        let (w, h) = (small.cols(), small.rows());
        let mut found = Vector::<Rect>::new();
        self.cascade.detect_multi_scale(&small, &mut found, 1.2, 3, objdetect::CASCADE_DO_CANNY_PRUNING, Size::new(w / 20, h / 20), Size::new(w / 2, h / 2))?;
        let back = |v: i32| (f64::from(v) / scale).round() as i32;
        Ok(found.iter().map(|r| Rect::new(back(r.x), back(r.y), back(r.width), back(r.height))).collect())
    }

    fn run(&mut self, frame: &Mat) -> opencv::Result<()> {
        if self.skipped >= self.skip {
            let started = Instant::now();
            self.last = self.detect(frame)?;
            self.skip = (started.elapsed().as_millis() / FRAME.as_millis()).min(u128::from(MAX_SKIP)) as u32;
            self.skipped = 0;
        } else {
            self.skipped += 1;
        }
        Ok(())
    }
}

/// The metadata for `faces` (none without a face, as KMS).
pub fn faces_metadata(faces: &[Rect]) -> Option<Value> {
    (!faces.is_empty()).then(|| json!({ "faces": faces.iter().map(|r| json!({ "x": r.x, "y": r.y, "width": r.width, "height": r.height })).collect::<Vec<_>>() }))
}

/// The faces a frame's metadata carries.
pub fn faces_in(metadata: Option<&Value>) -> Vec<Rect> {
    let Some(faces) = metadata.and_then(|m| m.get("faces")).and_then(Value::as_array) else { return Vec::new() };
    let n = |f: &Value, k: &str| f.get(k).and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok());
    faces.iter().filter_map(|f| Some(Rect::new(n(f, "x")?, n(f, "y")?, n(f, "width")?, n(f, "height")?))).collect()
}

impl FrameProcessor for DetectFaces {
    const IDLE_WITHOUT_CONSUMERS: bool = true;

    fn process(&mut self, frame: &mut BgrFrame<'_>, _events: &mut Vec<ElementEvent>) {
        let result = as_mat(frame).and_then(|m| self.run(&m.mat));
        self.failures.check("KmsDetectFaces", result);
        if let Some(faces) = faces_metadata(&self.last) {
            frame.metadata = Some(faces);
        }
    }
}

/// Builds a KmsDetectFaces.
pub fn detect_faces_filter(waker: Waker) -> Result<DetectFacesFilter, String> {
    DetectFacesFilter::with_processor(DetectFaces::new()?, waker)
}

/// KmsShowFaces's processor.
pub struct ShowFaces {
    failures: Failures,
}

/// datachannelexample.KmsShowFaces.
pub type ShowFacesFilter = ProcessorFilter<ShowFaces>;

impl FrameProcessor for ShowFaces {
    const IDLE_WITHOUT_CONSUMERS: bool = true;

    fn process(&mut self, frame: &mut BgrFrame<'_>, _events: &mut Vec<ElementEvent>) {
        let faces = faces_in(frame.metadata.as_ref());
        if faces.is_empty() {
            return;
        }
        let result = as_mat(frame).and_then(|mut m| faces.iter().try_for_each(|r| imgproc::rectangle(&mut m.mat, *r, bgr(0.0, 255.0, 0.0), 3, imgproc::LINE_8, 0)));
        self.failures.check("KmsShowFaces", result);
    }
}

/// Builds a KmsShowFaces.
pub fn show_faces_filter(waker: Waker) -> Result<ShowFacesFilter, String> {
    ShowFacesFilter::with_processor(ShowFaces { failures: Failures::new() }, waker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_travel_as_metadata_and_are_drawn_green() {
        let faces = [Rect::new(10, 12, 20, 22)];
        let metadata = faces_metadata(&faces);
        assert_eq!(faces_metadata(&[]), None, "no metadata without a face");
        assert_eq!(faces_in(metadata.as_ref()), faces);
        assert_eq!(faces_in(Some(&json!({ "faces": "nonsense" }))), []);
        let mut px = vec![0u8; 64 * 48 * 3];
        let mut frame = BgrFrame::new(64, 48, &mut px);
        frame.metadata = metadata;
        ShowFaces { failures: Failures::new() }.process(&mut frame, &mut Vec::new());
        let at = |x: usize, y: usize| &px[(y * 64 + x) * 3..][..3];
        assert_eq!(at(10, 20), &[0, 255, 0], "the left edge");
        assert_eq!(at(20, 20), &[0, 0, 0], "inside is untouched");
    }

    #[test]
    fn the_cascade_is_installed() {
        assert!(DetectFaces::new().is_ok());
    }
}
