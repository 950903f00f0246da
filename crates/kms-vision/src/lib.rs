//! The four vision modules of KMS (chroma, crowddetector, platedetector,
//! pointerdetector), and the metadata pair of its example module
//! (KmsDetectFaces, KmsShowFaces), as [`kms_gst::FrameProcessor`]s on OpenCV, run by
//! [`kms_gst::ProcessorFilter`]: on a GStreamer streaming thread, never on a
//! media worker, dropping frames when they fall behind.
//!
//! Each module's file says what it does, from KMS's element of the same
//! name, and where it differs from it (KMS's bugs not copied).

mod chroma;
mod crowd;
mod faces;
mod frame;
mod plate;
mod pointer;

pub use chroma::{chroma_filter, set_background, unset_background, Chroma, ChromaFilter, KeyRange};
pub use crowd::{crowd_detector_filter, set_processing_width, CrowdDetector, CrowdDetectorFilter, Roi, RoiConfig, DEFAULT_PROCESSING_WIDTH, PROCESSING_WIDTHS};
pub use faces::{detect_faces_filter, show_faces_filter, DetectFaces, DetectFacesFilter, ShowFaces, ShowFacesFilter};
pub use plate::{plate_detector_filter, set_plate_width_percentage, PlateDetector, PlateDetectorFilter};
pub use pointer::{
    add_window, clear_windows, pointer_detector_filter, remove_window, track_color_from_calibration_region, ColorRange, PointerDetector,
    PointerDetectorFilter, WindowSpec,
};
