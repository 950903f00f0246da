//! What the modules share: a frame as an OpenCV `Mat`, rectangles clipped
//! to the frame, pictures as BGR `Mat`s, events as Kurento fields.

use kms_gst::{BgrFrame, Image};
use kms_media::ElementEvent;
use opencv::core::{self, Mat, Rect, Scalar};
use opencv::imgproc;
use opencv::prelude::*;
use serde_json::{Map, Value};

/// The frame's pixels as a BGR `Mat` (no copy: drawing on it draws on the frame).
pub fn as_mat<'f>(frame: &'f mut BgrFrame<'_>) -> opencv::Result<BoxedMat<'f>> {
    let (rows, cols) = (to_i32(frame.height), to_i32(frame.width));
    if frame.data.len() < frame.stride * frame.height as usize || frame.stride < frame.width as usize * 3 {
        return Err(opencv::Error::new(core::StsBadArg, "frame smaller than its size"));
    }
    // SAFETY: the pointer, rows, columns and stride describe `frame.data`
    // (checked above), which outlives the returned value by its lifetime.
    let mat = unsafe { Mat::new_rows_cols_with_data_unsafe(rows, cols, core::CV_8UC3, frame.data.as_mut_ptr().cast(), frame.stride)? };
    Ok(BoxedMat { mat, _frame: std::marker::PhantomData })
}

/// A `Mat` over a frame's pixels, valid while the frame is borrowed.
pub struct BoxedMat<'f> {
    pub mat: Mat,
    _frame: std::marker::PhantomData<&'f mut [u8]>,
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// KMS's WindowParam (x, y of the top-left corner despite the names
/// `topRightCornerX/Y`, width, height; pixels) clipped to a
/// `width` x `height` frame; `None` when nothing of it is inside.
pub fn clip(x: i32, y: i32, w: i32, h: i32, width: i32, height: i32) -> Option<Rect> {
    let (x0, y0) = (x.clamp(0, width), y.clamp(0, height));
    let (x1, y1) = (x.saturating_add(w).clamp(0, width), y.saturating_add(h).clamp(0, height));
    (x1 > x0 && y1 > y0).then(|| Rect::new(x0, y0, x1 - x0, y1 - y0))
}

/// A decoded picture as a BGR `Mat` (alpha dropped) or BGRA (`keep_alpha`).
pub fn picture_mat(image: &Image, keep_alpha: bool) -> opencv::Result<Mat> {
    let bgra = Mat::from_slice(&image.bgra)?;
    let bgra = bgra.reshape(4, to_i32(image.height))?;
    let mut out = Mat::default();
    if keep_alpha {
        bgra.copy_to(&mut out)?;
    } else {
        imgproc::cvt_color(&bgra, &mut out, imgproc::COLOR_BGRA2BGR, 0)?;
    }
    Ok(out)
}

/// A number no other call got (never 0): tells a picture load which call
/// it belongs to.
pub fn ticket() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A BGR colour for OpenCV's drawing functions.
pub fn bgr(b: f64, g: f64, r: f64) -> Scalar {
    Scalar::new(b, g, r, 0.0)
}

/// A module event with its own fields.
pub fn event(name: &'static str, fields: Value) -> ElementEvent {
    let fields = match fields {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    ElementEvent::Module { name, fields }
}

/// Logs a module's OpenCV failure once per module instance (the frame
/// passes on unprocessed; KMS would abort the element).
pub struct Failures {
    logged: bool,
}

impl Failures {
    pub const fn new() -> Failures {
        Failures { logged: false }
    }

    pub fn check(&mut self, module: &str, result: opencv::Result<()>) {
        if let Err(e) = result {
            if !std::mem::replace(&mut self.logged, true) {
                tracing::warn!("{module}: OpenCV failed on a frame, frames pass unprocessed while it fails: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_clipped_to_the_frame() {
        assert_eq!(clip(10, 20, 30, 40, 640, 360), Some(Rect::new(10, 20, 30, 40)));
        assert_eq!(clip(-10, -10, 30, 40, 640, 360), Some(Rect::new(0, 0, 20, 30)));
        assert_eq!(clip(620, 350, 100, 100, 640, 360), Some(Rect::new(620, 350, 20, 10)));
        assert_eq!(clip(700, 10, 10, 10, 640, 360), None);
        assert_eq!(clip(10, 10, 0, 10, 640, 360), None);
        assert_eq!(clip(i32::MAX, 10, i32::MAX, 10, 640, 360), None);
    }
}
