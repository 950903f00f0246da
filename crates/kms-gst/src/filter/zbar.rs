//! ZBarFilter: bar codes and QR codes in the video, found by GStreamer's
//! `zbar` (as KMS's `ZBarFilterImpl`), raised as CodeFound.
//!
//! Deduplication as KMS (`barcodeDetected`): a detection is raised when
//! nothing was raised yet, when its type or text differs from the last one
//! raised, or when at least a second of media time passed since it; so a
//! code that stays in view is raised about once a second, and two codes in
//! view alternate. zbar posts a `barcode` element message per code and frame
//! (`type`, `symbol`, `timestamp`).

use super::{Filter, FilterKind, Stage};
use crate::island::Waker;
use gstreamer as gst;
use gst::prelude::*;
use kms_media::{ElementEvent, MediaType};
use std::sync::Mutex;

/// Media time between two raises of the same code, ns.
const REPEAT_AFTER_NS: u64 = 1_000_000_000;

/// The detector of a ZBarFilter (it works with or without consumers).
pub struct ZBar;

impl FilterKind for ZBar {
    const IDLE_WITHOUT_CONSUMERS: bool = false;
}

/// ZBarFilter: a [`Filter`] running `zbar`; its video passes through.
pub type ZBarFilter = Filter<ZBar>;

/// The last code raised: (type, text, media time in ns).
type Last = Mutex<Option<(String, String, u64)>>;

/// KMS's rule: raise unless it repeats the last raised code within a second.
fn should_raise(last: &Last, code_type: &str, value: &str, timestamp: u64) -> bool {
    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
    let raise = match last.as_ref() {
        None => true,
        Some((t, v, ts)) => t != code_type || v != value || timestamp.wrapping_sub(*ts) >= REPEAT_AFTER_NS,
    };
    if raise {
        *last = Some((code_type.to_owned(), value.to_owned(), timestamp));
    }
    raise
}

impl ZBarFilter {
    /// A ZBarFilter; fails when GStreamer's `zbar` is not installed.
    pub fn new(waker: Waker) -> Result<ZBarFilter, String> {
        crate::init()?;
        let zbar = gst::ElementFactory::make("zbar")
            .property("qos", false)
            .property("cache", false)
            .build()
            .map_err(|_| "GStreamer's zbar element is not installed".to_owned())?;
        let (sink, src) = (zbar.static_pad("sink").ok_or("zbar without sink pad")?, zbar.static_pad("src").ok_or("zbar without src pad")?);
        let last = Last::default();
        let hook = move |msg: &gst::Message| {
            let s = msg.structure().filter(|s| s.name() == "barcode")?;
            let (code_type, value) = (s.get::<String>("type").ok()?, s.get::<String>("symbol").ok()?);
            let timestamp = s.get::<u64>("timestamp").unwrap_or(0);
            should_raise(&last, &code_type, &value, timestamp).then_some(ElementEvent::CodeFound { code_type, value })
        };
        Filter::build(ZBar, MediaType::Video, Stage { elements: vec![zbar], sink, src }, waker, hook)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_in_view_is_raised_once_a_second_and_a_new_one_at_once() {
        let last = Last::default();
        let ms = 1_000_000;
        assert!(should_raise(&last, "QR-Code", "A", 0));
        assert!(!should_raise(&last, "QR-Code", "A", 33 * ms));
        assert!(!should_raise(&last, "QR-Code", "A", 999 * ms));
        assert!(should_raise(&last, "QR-Code", "A", 1000 * ms), "again after a second");
        assert!(should_raise(&last, "QR-Code", "B", 1033 * ms), "another text at once");
        assert!(should_raise(&last, "EAN-13", "B", 1066 * ms), "another type at once");
        assert!(should_raise(&last, "EAN-13", "B", 10 * ms), "time going back (a seek) raises, as in KMS");
    }
}
