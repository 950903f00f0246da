//! ImageOverlayFilter and FaceOverlayFilter: pictures drawn over the video
//! with GStreamer's `overlaycomposition` (its `draw` callback returns the
//! rectangles for each frame, so pictures come and go without touching the
//! pipeline).
//!
//! Pictures are loaded off the media thread (`uridecodebin`: file paths,
//! `file://`, `http(s)://`, any image format GStreamer decodes) and kept as
//! BGRA. A picture that cannot be loaded raises `Error`
//! (RESOURCE_ERROR_OPEN) once and the video keeps flowing (KMS only logs).
//!
//! Placement, as KMS: all four numbers are fractions (0..1). ImageOverlay
//! (`kmslogooverlay`): the box starts at (frame width x offsetX, frame height
//! x offsetY) and is (frame width x width, frame height x height);
//! `keepAspectRatio` fits the picture inside the box keeping its shape (KMS
//! inverts the ratio there, a bug not copied), `center` centres it in the box
//! (only with `keepAspectRatio`, as in KMS); a reused id replaces its
//! picture in place; later pictures are drawn on top. FaceOverlay
//! (`kmsimageoverlay` over `kmsfacedetector`): for each face found by
//! OpenCV's frontal-face Haar cascade (GStreamer's `facedetect`, on a copy
//! 320 pixels wide), the picture
//! goes at (face x + face width x offsetX, face y + face height x offsetY)
//! with size (face width x width, face height x height).

use super::{Filter, FilterKind, Stage};
use crate::island::{Outbox, Waker};
use gstreamer as gst;
use gstreamer_video as gst_video;
use gst::prelude::*;
use kms_media::{ElementEvent, MediaType};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// How long loading one picture may take (an HTTP download included).
const LOAD_LIMIT: Duration = Duration::from_secs(10);
/// Width of the copy faces are searched in (KMS's kmsfacedetector: 320).
const DETECT_WIDTH: u32 = 320;
macro_rules! face_cascade {
    () => {
        "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
    };
}
/// OpenCV's frontal-face cascade, as Debian's `opencv-data` installs it.
pub const FACE_CASCADE: &str = face_cascade!();
/// FaceOverlayFilter's stage as a gst-launch bin (the benchmark runs it bare
/// too): a tee; faces searched on a copy 320 pixels wide (square pixels) on
/// its own thread behind a one-frame leaky queue, so when detection is late
/// frames are skipped and the latest faces reused (KMS's kmsfacedetector);
/// the full-size frames go on through `overlaycomposition`. facedetect also
/// tries nose, mouth and eye cascades Debian's opencv-data lacks: it logs
/// that and finds faces anyway (an empty profile name would make OpenCV
/// throw a C++ exception, so none is set).
pub const FACE_DETECT_STAGE: &str = concat!(
    "tee name=t ! queue leaky=downstream max-size-buffers=1 max-size-bytes=0 max-size-time=0 ",
    "! videoscale ! video/x-raw,width=320,pixel-aspect-ratio=1/1 ! videoconvert ",
    "! facedetect display=false updates=every_frame profile=",
    face_cascade!(),
    " ! fakesink sync=false async=false t. ! overlaycomposition name=overlay"
);

/// A decoded picture: BGRA pixels with their video meta.
#[derive(Clone)]
struct Picture {
    buffer: gst::Buffer,
    width: u32,
    height: u32,
}

/// `uri` as a URI GStreamer opens: a bare path becomes `file://` (KMS reads
/// bare paths as files).
fn as_uri(uri: &str) -> String {
    if uri.contains("://") {
        uri.to_owned()
    } else {
        format!("file://{uri}")
    }
}

/// Decodes the picture at `uri` (blocking; called on a loader thread).
fn load_picture(uri: &str) -> Result<Picture, String> {
    let pipeline = gst::parse::launch("uridecodebin name=src ! videoconvert ! video/x-raw,format=BGRA ! appsink name=sink sync=false")
        .map_err(|e| e.to_string())?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_owned())?;
    let result = (|| {
        pipeline.by_name("src").ok_or("no source")?.set_property("uri", as_uri(uri));
        let sink = pipeline.by_name("sink").and_then(|e| e.downcast::<gstreamer_app::AppSink>().ok()).ok_or("no appsink")?;
        pipeline.set_state(gst::State::Playing).map_err(|_| format!("cannot load the image {uri}: it cannot be opened"))?;
        let bus = pipeline.bus().ok_or("no bus")?;
        let deadline = std::time::Instant::now() + LOAD_LIMIT;
        // The picture, or the first error (an unreachable server fails at once).
        let sample = loop {
            if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(50)) {
                break sample;
            }
            let failed = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos]).map(|m| match m.view() {
                gst::MessageView::Error(e) => e.error().to_string(),
                _ => "no picture in it".to_owned(),
            });
            if let Some(reason) = failed {
                return Err(format!("cannot load the image {uri}: {reason}"));
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("cannot load the image {uri}: no picture within {LOAD_LIMIT:?}"));
            }
        };
        let info = sample.caps().and_then(|c| gst_video::VideoInfo::from_caps(c).ok()).ok_or("no picture size")?;
        let mut buffer = sample.buffer().ok_or("no picture")?.copy();
        let (width, height) = (info.width(), info.height());
        gst_video::VideoMeta::add(buffer.make_mut(), gst_video::VideoFrameFlags::empty(), gst_video::VideoFormat::Bgra, width, height)
            .map_err(|e| e.to_string())?;
        Ok(Picture { buffer, width, height })
    })();
    let _ = pipeline.set_state(gst::State::Null);
    result
}

/// Loads `uri` on a thread of its own; `done` gets the picture, a failure
/// raises `Error` on the filter.
fn load_in_background(uri: String, outbox: Outbox, done: impl FnOnce(Picture) + Send + 'static) {
    let spawned = std::thread::Builder::new().name("kms-overlay-load".into()).spawn(move || match load_picture(&uri) {
        Ok(picture) => done(picture),
        Err(description) => {
            tracing::warn!("{description}");
            outbox.event(ElementEvent::Error { error_type: "RESOURCE_ERROR_OPEN", description, code: 5 });
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("overlay loader thread: {e}");
    }
}

/// A picture decoded from a URI for Rust code: BGRA, `width * 4` bytes per row.
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub bgra: Vec<u8>,
}

/// Loads the picture at `uri` (a path, `file://`, `http(s)://`; any format
/// GStreamer decodes) on a thread of its own and gives it to `done`; a
/// failure raises `Error` (RESOURCE_ERROR_OPEN) through `outbox`, as the
/// overlays do.
pub fn load_image_in_background(uri: String, outbox: Outbox, done: impl FnOnce(Image) + Send + 'static) {
    let (failed, name) = (outbox.clone(), uri.clone());
    load_in_background(uri, outbox, move |picture| {
        let row = picture.width as usize * 4;
        let bgra = picture.buffer.map_readable().ok().and_then(|map| map.as_slice().get(..row * picture.height as usize).map(<[u8]>::to_vec));
        match bgra {
            Some(bgra) => done(Image { width: picture.width, height: picture.height, bgra }),
            None => {
                let description = format!("cannot load the image {name}: its pixels cannot be read");
                tracing::warn!("{description}");
                failed.event(ElementEvent::Error { error_type: "RESOURCE_ERROR_OPEN", description, code: 5 });
            }
        }
    });
}

/// One picture placed on the frame: pixel box.
struct Placed<'a> {
    picture: &'a Picture,
    x: i32,
    y: i32,
    width: u32,
    height: u32,
}

/// Largest picture drawn, in frames: any larger box (fractions far past 1
/// from an application) is shrunk to it, so the blender never scales a
/// picture to an absurd size.
const MAX_SCALE: u32 = 2;

/// The composition for `placed` on a `frame_w` x `frame_h` frame (`None`
/// when nothing is drawn).
fn composition(placed: &[Placed], frame_w: u32, frame_h: u32) -> Option<gst_video::VideoOverlayComposition> {
    let rectangles: Vec<gst_video::VideoOverlayRectangle> = placed
        .iter()
        .filter(|p| p.width > 0 && p.height > 0)
        .map(|p| {
            let (w, h) = (p.width.min(frame_w.saturating_mul(MAX_SCALE)), p.height.min(frame_h.saturating_mul(MAX_SCALE)));
            gst_video::VideoOverlayRectangle::new_raw(&p.picture.buffer, p.x, p.y, w, h, gst_video::VideoOverlayFormatFlags::empty())
        })
        .collect();
    if rectangles.is_empty() {
        return None;
    }
    gst_video::VideoOverlayComposition::new(rectangles.iter()).ok()
}

/// An `overlaycomposition` whose draw callback asks `draw` for the pictures
/// of each frame (its size and buffer given).
fn overlay_element(draw: impl Fn(u32, u32, &gst::BufferRef) -> Option<gst_video::VideoOverlayComposition> + Send + Sync + 'static) -> Result<gst::Element, String> {
    let element = gst::ElementFactory::make("overlaycomposition").build().map_err(|_| "GStreamer's overlaycomposition is not installed".to_owned())?;
    connect_draw(&element, draw);
    Ok(element)
}

/// Makes `draw` answer the `draw` signal of the overlaycomposition `element`.
fn connect_draw(element: &gst::Element, draw: impl Fn(u32, u32, &gst::BufferRef) -> Option<gst_video::VideoOverlayComposition> + Send + Sync + 'static) {
    element.connect("draw", false, move |args| {
        let composition = args.get(1).and_then(|v| v.get::<gst::Sample>().ok()).and_then(|sample| {
            let info = sample.caps().and_then(|c| gst_video::VideoInfo::from_caps(c).ok())?;
            draw(info.width(), info.height(), sample.buffer()?)
        });
        Some(composition.to_value())
    });
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where an ImageOverlayFilter picture goes, in fractions of the frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageLayout {
    pub offset_x: f64,
    pub offset_y: f64,
    pub width: f64,
    pub height: f64,
    pub keep_aspect_ratio: bool,
    pub center: bool,
}

impl ImageLayout {
    /// The pixel box of a `picture` on a `frame_w` x `frame_h` frame.
    fn place(&self, frame_w: u32, frame_h: u32, picture_w: u32, picture_h: u32) -> (i32, i32, u32, u32) {
        let (fw, fh) = (f64::from(frame_w), f64::from(frame_h));
        let (mut x, mut y) = (fw * self.offset_x, fh * self.offset_y);
        let (box_w, box_h) = ((fw * self.width).max(0.0), (fh * self.height).max(0.0));
        let (mut w, mut h) = (box_w, box_h);
        if self.keep_aspect_ratio && picture_w > 0 && picture_h > 0 {
            let scale = (box_w / f64::from(picture_w)).min(box_h / f64::from(picture_h));
            (w, h) = (f64::from(picture_w) * scale, f64::from(picture_h) * scale);
            if self.center {
                x += (box_w - w) / 2.0;
                y += (box_h - h) / 2.0;
            }
        }
        (x.round() as i32, y.round() as i32, w.round() as u32, h.round() as u32)
    }
}

/// One ImageOverlayFilter entry; `picture` is `None` while loading (or failed).
struct Entry {
    id: String,
    layout: ImageLayout,
    picture: Option<Picture>,
    /// Which addImage loaded it, so a slow load never lands on a newer entry.
    generation: u64,
}

/// The pictures of an ImageOverlayFilter.
pub struct ImageOverlay {
    entries: Arc<Mutex<Vec<Entry>>>,
    generation: u64,
}

impl FilterKind for ImageOverlay {
    const IDLE_WITHOUT_CONSUMERS: bool = true;
}

/// ImageOverlayFilter: a [`Filter`] drawing pictures at fixed places.
pub type ImageOverlayFilter = Filter<ImageOverlay>;

impl ImageOverlayFilter {
    pub fn new(waker: Waker) -> Result<ImageOverlayFilter, String> {
        crate::init()?;
        let entries: Arc<Mutex<Vec<Entry>>> = Arc::default();
        let shared = entries.clone();
        let overlay = overlay_element(move |w, h, _| {
            let entries = lock(&shared);
            let placed: Vec<Placed> = entries
                .iter()
                .filter_map(|e| {
                    let picture = e.picture.as_ref()?;
                    let (x, y, width, height) = e.layout.place(w, h, picture.width, picture.height);
                    Some(Placed { picture, x, y, width, height })
                })
                .collect();
            composition(&placed, w, h)
        })?;
        let (sink, src) = (overlay.static_pad("sink").ok_or("no sink pad")?, overlay.static_pad("src").ok_or("no src pad")?);
        Filter::build(ImageOverlay { entries, generation: 0 }, MediaType::Video, Stage { elements: vec![overlay], sink, src }, waker, |_| None)
    }

    /// ImageOverlayFilter.addImage: draws the picture at `uri` in `layout`
    /// once loaded; an existing `id` is replaced in place.
    pub fn add_image(&mut self, id: &str, uri: &str, layout: ImageLayout) {
        self.kind.generation += 1;
        let generation = self.kind.generation;
        {
            let mut entries = lock(&self.kind.entries);
            let entry = Entry { id: id.to_owned(), layout, picture: None, generation };
            match entries.iter_mut().find(|e| e.id == id) {
                Some(existing) => *existing = entry,
                None => entries.push(entry),
            }
        }
        let (entries, id) = (self.kind.entries.clone(), id.to_owned());
        load_in_background(uri.to_owned(), self.outbox(), move |picture| {
            if let Some(e) = lock(&entries).iter_mut().find(|e| e.id == id && e.generation == generation) {
                e.picture = Some(picture);
            }
        });
    }

    /// ImageOverlayFilter.removeImage: an unknown id changes nothing (KMS).
    pub fn remove_image(&mut self, id: &str) {
        lock(&self.kind.entries).retain(|e| e.id != id);
    }
}

/// Where a FaceOverlayFilter picture goes, in fractions of each face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceLayout {
    pub offset_x: f64,
    pub offset_y: f64,
    pub width: f64,
    pub height: f64,
}

/// A face found: x, y, width, height in the detection copy's pixels.
type FaceBox = (f64, f64, f64, f64);

/// The picture of a FaceOverlayFilter and its layout.
pub struct FaceOverlay {
    image: Arc<Mutex<Option<(Picture, FaceLayout)>>>,
    /// Bumped by every set/unset, so a slow load never lands after an unset.
    generation: Arc<Mutex<u64>>,
}

impl FilterKind for FaceOverlay {
    const IDLE_WITHOUT_CONSUMERS: bool = true;
}

/// FaceOverlayFilter: a [`Filter`] drawing a picture over every face.
pub type FaceOverlayFilter = Filter<FaceOverlay>;

impl FaceOverlayFilter {
    /// Fails when GStreamer's OpenCV `facedetect` or the cascade is missing.
    pub fn new(waker: Waker) -> Result<FaceOverlayFilter, String> {
        crate::init()?;
        if !std::path::Path::new(FACE_CASCADE).exists() {
            return Err(format!("the face cascade {FACE_CASCADE} is not installed (opencv-data)"));
        }
        if gst::ElementFactory::find("facedetect").is_none() {
            return Err("GStreamer's facedetect (gstreamer1.0-opencv) is not installed".to_owned());
        }
        let description = FACE_DETECT_STAGE;
        let bin = gst::parse::bin_from_description(description, true).map_err(|e| e.to_string())?;
        let faces: Arc<Mutex<Vec<FaceBox>>> = Arc::default();
        let image: Arc<Mutex<Option<(Picture, FaceLayout)>>> = Arc::default();
        let (shared_image, shared_faces) = (image.clone(), faces.clone());
        connect_draw(&bin.by_name("overlay").ok_or("no overlaycomposition")?, move |w, h, _| {
            let image = lock(&shared_image);
            let (picture, layout) = image.as_ref()?;
            let scale = f64::from(w) / f64::from(DETECT_WIDTH);
            let placed: Vec<Placed> = lock(&shared_faces)
                .iter()
                .map(|&(x, y, fw, fh)| {
                    let (x, y, fw, fh) = (x * scale, y * scale, fw * scale, fh * scale);
                    Placed {
                        picture,
                        x: (x + fw * layout.offset_x).round() as i32,
                        y: (y + fh * layout.offset_y).round() as i32,
                        width: (fw * layout.width).max(0.0).round() as u32,
                        height: (fh * layout.height).max(0.0).round() as u32,
                    }
                })
                .collect();
            composition(&placed, w, h)
        });
        // facedetect's findings (in the detection copy's pixels), every frame.
        let hook = move |msg: &gst::Message| {
            let s = msg.structure().filter(|s| s.name() == "facedetect")?;
            let list = s.get::<gst::List>("faces").ok()?;
            let found = list
                .iter()
                .filter_map(|v| v.get::<gst::Structure>().ok())
                .filter_map(|f| {
                    let n = |k: &str| f.get::<u32>(k).ok().map(f64::from);
                    Some((n("x")?, n("y")?, n("width")?, n("height")?))
                })
                .collect();
            *lock(&faces) = found;
            None
        };
        let (sink, src) = (bin.static_pad("sink").ok_or("no sink pad")?, bin.static_pad("src").ok_or("no src pad")?);
        let kind = FaceOverlay { image, generation: Arc::default() };
        Filter::build(kind, MediaType::Video, Stage { elements: vec![bin.upcast()], sink, src }, waker, hook)
    }

    /// FaceOverlayFilter.setOverlayedImage: draws the picture at `uri` over
    /// every face, once loaded. The previous picture stays until then.
    pub fn set_overlayed_image(&mut self, uri: &str, layout: FaceLayout) {
        let generation = {
            let mut g = lock(&self.kind.generation);
            *g += 1;
            *g
        };
        let (image, current) = (self.kind.image.clone(), self.kind.generation.clone());
        load_in_background(uri.to_owned(), self.outbox(), move |picture| {
            if *lock(&current) == generation {
                *lock(&image) = Some((picture, layout));
            }
        });
    }

    /// FaceOverlayFilter.unsetOverlayedImage: faces are no longer covered.
    pub fn unset_overlayed_image(&mut self) {
        *lock(&self.kind.generation) += 1;
        *lock(&self.kind.image) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(keep_aspect_ratio: bool, center: bool) -> ImageLayout {
        ImageLayout { offset_x: 0.5, offset_y: 0.25, width: 0.25, height: 0.5, keep_aspect_ratio, center }
    }

    #[test]
    fn faces_are_searched_at_the_detection_width() {
        assert!(FACE_DETECT_STAGE.contains(&format!("width={DETECT_WIDTH},")));
    }

    #[test]
    fn images_are_placed_in_fractions_of_the_frame() {
        // 640x360 frame: box at (320, 90), 160x180.
        assert_eq!(layout(false, false).place(640, 360, 100, 50), (320, 90, 160, 180));
        assert_eq!(layout(false, true).place(640, 360, 100, 50), (320, 90, 160, 180), "center needs keepAspectRatio");
        // A 2:1 picture kept 2:1 inside the 160x180 box: 160x80, at the top or centred.
        assert_eq!(layout(true, false).place(640, 360, 100, 50), (320, 90, 160, 80));
        assert_eq!(layout(true, true).place(640, 360, 100, 50), (320, 140, 160, 80));
    }
}
