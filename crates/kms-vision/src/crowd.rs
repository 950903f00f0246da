//! CrowdDetectorFilter (KMS's `crowddetector` module): per region of
//! interest, how much of it is occupied, how fluid the movement is and
//! which way it goes, raised as CrowdDetectorOccupancy,
//! CrowdDetectorFluidity and CrowdDetectorDirection.
//!
//! As KMS's `kmscrowddetector`, on a copy `processingWidth` pixels wide
//! (default 320, KMS's range 160..1280), grey, with everything outside the
//! regions blacked out:
//! - Fast motion: a local binary pattern (each pixel against its eight
//!   neighbours) compared with the previous frame's; changed codes split by
//!   Otsu, eroded 4 times, dilated 11, eroded 3, averaged over time (0.8 old,
//!   0.2 new); where the average stays at 150 or below, and after a 3x3
//!   median, the pixel moves fast.
//! - Slow motion (occupancy by still or slow people): the difference from a
//!   running-average background (0.98 old, 0.02 new) of 45 grey levels or
//!   more, split by Otsu, its Canny edges (70, 150) averaged over time
//!   (0.985 / 0.015); a pixel with more than 9 of its 48 neighbours (7x7)
//!   above 45 there, eroded 3x3, is occupied.
//! - Occupancy of a region = its pixels moving fast or occupied, in percent
//!   of its pixels; fluidity = the occupied (slow) share of those, in
//!   percent. Levels 0-3 by the region's thresholds (occupancy above min,
//!   med, max; fluidity above min, above med, at least max). A level is
//!   raised when it differs from the last raised and held for
//!   `occupancyNumFramesToEvent` / `fluidityNumFramesToEvent` frames in a
//!   row; nothing is raised while a region stays at level 0.
//! - Direction (regions with `sendOpticalFlowEvent`): up to 400 corners of
//!   the previous frame's region tracked into this one (pyramidal
//!   Lucas-Kanade, window 5, 3 levels); moves longer than 3 pixels starting
//!   on moving pixels are summed; the angle (degrees, counter-clockwise on
//!   screen: right 0, up 90, left 180, down 270, as KMS computes it; its IDL
//!   text says otherwise) is snapped to the nearest of the four plus
//!   `opticalFlowAngleOffset`. It is raised when one direction held for more
//!   than `opticalFlowNumFramesToEvent` moving frames; more than
//!   `opticalFlowNumFramesToReset` frames without movement forget it.
//! - The output shows fast motion in the blue channel, occupied pixels in
//!   the red channel and each region's outline in white (KMS draws these
//!   always).
//!
//! Fixed against KMS: the pattern compares with the centre pixel (KMS with
//! a corner), code changes count both ways, the background and the averages
//! start from the first frame instead of black (KMS raises events for
//! empty regions while it warms up), pixels are counted inside the polygon
//! instead of its bounding box (KMS's occupancy can pass 100 %), the
//! processing copy keeps the frame's shape, corners are taken in the
//! previous frame, and a first direction of 0 degrees is raised.

use crate::frame::{as_mat, event, Failures};
use kms_gst::{BgrFrame, FrameProcessor, ProcessorFilter, Waker};
use kms_media::ElementEvent;
use opencv::core::{self, Mat, Point, Point2f, Rect, Scalar, Size, TermCriteria, Vector};
use opencv::imgproc;
use opencv::prelude::*;
use opencv::video;
use serde_json::json;

/// KMS's default and range of `processingWidth`.
pub const DEFAULT_PROCESSING_WIDTH: i32 = 320;
pub const PROCESSING_WIDTHS: std::ops::RangeInclusive<i32> = 160..=1280;

/// A region's thresholds and counts (KMS's RegionOfInterestConfig; its
/// defaults in [`Default`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RoiConfig {
    /// Occupancy percent thresholds for levels 1, 2, 3.
    pub occupancy_levels: [i32; 3],
    pub occupancy_frames: i32,
    pub fluidity_levels: [i32; 3],
    pub fluidity_frames: i32,
    pub send_direction: bool,
    pub direction_frames: i32,
    pub direction_reset: i32,
    pub angle_offset: i32,
}

impl Default for RoiConfig {
    fn default() -> RoiConfig {
        RoiConfig {
            occupancy_levels: [10, 35, 65],
            occupancy_frames: 5,
            fluidity_levels: [10, 35, 65],
            fluidity_frames: 5,
            send_direction: false,
            direction_frames: 3,
            direction_reset: 3,
            angle_offset: 0,
        }
    }
}

/// A region of interest: its id and polygon in fractions of the frame (x
/// right, y down, 0..1).
#[derive(Debug, Clone, PartialEq)]
pub struct Roi {
    pub id: String,
    pub points: Vec<(f64, f64)>,
    pub config: RoiConfig,
}

/// A level held long enough before it is raised (KMS's potential/actual).
#[derive(Debug, Default)]
struct Hysteresis {
    raised: i32,
    potential: i32,
    count: i32,
}

impl Hysteresis {
    /// Counts `level`; true when it is to be raised now.
    fn level(&mut self, level: i32, frames: i32) -> bool {
        if level == self.potential {
            self.count += 1;
        } else {
            self.potential = level;
            self.count = 1;
        }
        self.count = self.count.min(frames.max(0));
        if self.count == frames.max(0) && self.raised != self.potential {
            self.raised = self.potential;
            return true;
        }
        false
    }
}

/// Occupancy level of `percent` for thresholds `t` (strictly above each).
pub fn occupancy_level(percent: f64, t: [i32; 3]) -> i32 {
    t.iter().rev().position(|&l| percent > f64::from(l)).map_or(0, |i| 3 - i as i32)
}

/// Fluidity level of `percent`: at least max is 3, above med 2, above min 1.
pub fn fluidity_level(percent: f64, t: [i32; 3]) -> i32 {
    if percent >= f64::from(t[2]) {
        3
    } else {
        occupancy_level(percent, [t[0], t[1], i32::MAX])
    }
}

/// The direction of a summed move `(dx, dy)` (screen pixels, y down) in
/// degrees counter-clockwise from right, snapped to 0/90/180/270 plus
/// `offset` as KMS snaps (an angle below the offset stays as it is).
pub fn snapped_angle(dx: f64, dy: f64, offset: i32) -> f64 {
    let a = (-dy).atan2(dx).to_degrees().rem_euclid(360.0);
    let off = f64::from(offset);
    let sector = |from: f64, to: f64| a >= from + off && a < to + off;
    if sector(45.0, 135.0) {
        90.0 + off
    } else if sector(135.0, 225.0) {
        180.0 + off
    } else if sector(225.0, 315.0) {
        270.0 + off
    } else if sector(315.0, 360.0) || sector(0.0, 45.0) {
        off
    } else {
        a
    }
}

/// The direction of a region, held before it is raised.
#[derive(Debug, Default)]
struct Direction {
    raised: Option<f64>,
    potential: Option<f64>,
    count: i32,
    still: i32,
}

impl Direction {
    /// Counts this frame's direction (`None`: no movement); the angle to raise.
    fn frame(&mut self, angle: Option<f64>, config: &RoiConfig) -> Option<f64> {
        let Some(a) = angle else {
            self.still = self.still.saturating_add(1);
            if self.still > config.direction_reset {
                self.raised = None;
                self.potential = None;
            }
            return None;
        };
        self.still = 0;
        if self.raised == Some(a) {
            return None;
        }
        if self.potential == Some(a) {
            self.count += 1;
        } else {
            self.potential = Some(a);
            self.count = 1;
        }
        if self.count > config.direction_frames {
            self.raised = Some(a);
            self.count = 1;
            return Some(a);
        }
        None
    }
}

/// A region at the current sizes.
struct Region {
    roi: Roi,
    /// The polygon in frame pixels.
    full: Vector<Point>,
    /// The polygon filled (255) at processing size, its bounding box and pixel count.
    mask: Mat,
    bounds: Rect,
    pixels: i32,
    occupancy: Hysteresis,
    fluidity: Hysteresis,
    direction: Direction,
}

/// The motion model, reset whenever the sizes change.
struct Model {
    background: Mat,
    lbp: Mat,
    lbp_static: Mat,
    edges: Mat,
    grey: Mat,
}

/// The CrowdDetectorFilter frame processor.
pub struct CrowdDetector {
    rois: Vec<Roi>,
    processing_width: i32,
    /// Frame and processing sizes the regions and model are for.
    sizes: Option<(Size, Size)>,
    regions: Vec<Region>,
    /// All regions filled, at processing size.
    mask: Mat,
    model: Option<Model>,
    failures: Failures,
}

/// CrowdDetectorFilter: a filter measuring crowds in its regions.
pub type CrowdDetectorFilter = ProcessorFilter<CrowdDetector>;

fn kernel(side: i32) -> opencv::Result<Mat> {
    imgproc::get_structuring_element(imgproc::MORPH_RECT, Size::new(side, side), Point::new(-1, -1))
}

fn morph(src: &Mat, op: i32, iterations: i32) -> opencv::Result<Mat> {
    let mut out = Mat::default();
    let border = imgproc::morphology_default_border_value()?;
    imgproc::morphology_ex(src, &mut out, op, &kernel(3)?, Point::new(-1, -1), iterations, core::BORDER_CONSTANT, border)?;
    Ok(out)
}

fn otsu(src: &Mat) -> opencv::Result<Mat> {
    let mut out = Mat::default();
    imgproc::threshold(src, &mut out, 0.0, 255.0, imgproc::THRESH_BINARY | imgproc::THRESH_OTSU)?;
    Ok(out)
}

/// The 8-neighbour local binary pattern of `grey` (a bit set where the
/// neighbour is brighter than the centre; the border rows and columns 0).
fn lbp(grey: &Mat) -> opencv::Result<Mat> {
    let (rows, cols) = (grey.rows(), grey.cols());
    let mut out = Mat::zeros(rows, cols, core::CV_8UC1)?.to_mat()?;
    const AROUND: [(i32, i32); 8] = [(-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1)];
    for y in 1..rows - 1 {
        let (above, here, below) = (grey.at_row::<u8>(y - 1)?, grey.at_row::<u8>(y)?, grey.at_row::<u8>(y + 1)?);
        let line = [above, here, below];
        let dst = out.at_row_mut::<u8>(y)?;
        for x in 1..(cols - 1) as usize {
            let centre = here[x];
            dst[x] = AROUND.iter().enumerate().fold(0u8, |code, (bit, (dy, dx))| {
                let n = line[(1 + dy) as usize][(x as i32 + dx) as usize];
                code | (u8::from(n > centre) << bit)
            });
        }
    }
    Ok(out)
}

impl Model {
    fn new(grey: &Mat) -> opencv::Result<Model> {
        let mut background = Mat::default();
        grey.convert_to(&mut background, core::CV_32F, 1.0, 0.0)?;
        let (rows, cols) = (grey.rows(), grey.cols());
        Ok(Model {
            background,
            lbp: lbp(grey)?,
            lbp_static: Mat::new_rows_cols_with_default(rows, cols, core::CV_32F, Scalar::all(255.0))?,
            edges: Mat::zeros(rows, cols, core::CV_32F)?.to_mat()?,
            grey: grey.clone(),
        })
    }

    /// This frame's fast-moving and occupied (slow) maps (255 where so).
    fn update(&mut self, grey: &Mat) -> opencv::Result<(Mat, Mat)> {
        let none = core::no_array();
        // Fast: changed texture codes, cleaned and averaged.
        let codes = lbp(grey)?;
        let mut changed = Mat::default();
        core::absdiff(&codes, &self.lbp, &mut changed)?;
        self.lbp = codes;
        let mut unchanged = Mat::default();
        core::bitwise_not(&otsu(&changed)?, &mut unchanged, &none)?;
        let cleaned = morph(&morph(&morph(&unchanged, imgproc::MORPH_ERODE, 4)?, imgproc::MORPH_DILATE, 11)?, imgproc::MORPH_ERODE, 3)?;
        imgproc::accumulate_weighted(&cleaned, &mut self.lbp_static, 0.2, &none)?;
        let mut still = Mat::default();
        imgproc::threshold(&self.lbp_static, &mut still, 150.0, 255.0, imgproc::THRESH_BINARY)?;
        let mut still8 = Mat::default();
        still.convert_to(&mut still8, core::CV_8U, 1.0, 0.0)?;
        let mut median = Mat::default();
        imgproc::median_blur(&still8, &mut median, 3)?;
        let mut fast = Mat::default();
        core::bitwise_not(&median, &mut fast, &none)?;
        // Slow: the foreground's edges, averaged, dense enough.
        let mut grey32 = Mat::default();
        grey.convert_to(&mut grey32, core::CV_32F, 1.0, 0.0)?;
        let mut difference = Mat::default();
        core::absdiff(&grey32, &self.background, &mut difference)?;
        imgproc::accumulate_weighted(grey, &mut self.background, 0.02, &none)?;
        let mut near = Mat::default();
        core::compare(&difference, &Scalar::all(45.0), &mut near, core::CMP_LT)?;
        let mut foreground = grey.clone();
        foreground.set_to(&Scalar::all(255.0), &near)?;
        let mut edges = Mat::default();
        imgproc::canny(&otsu(&foreground)?, &mut edges, 70.0, 150.0, 3, false)?;
        imgproc::accumulate_weighted(&edges, &mut self.edges, 0.015, &none)?;
        let mut strong = Mat::default();
        imgproc::threshold(&self.edges, &mut strong, 45.0, 1.0, imgproc::THRESH_BINARY)?;
        let mut ring = Mat::new_rows_cols_with_default(7, 7, core::CV_32F, Scalar::all(1.0))?;
        *ring.at_2d_mut::<f32>(3, 3)? = 0.0;
        let mut density = Mat::default();
        imgproc::filter_2d(&strong, &mut density, core::CV_32F, &ring, Point::new(-1, -1), 0.0, core::BORDER_CONSTANT)?;
        let mut dense = Mat::default();
        core::compare(&density, &Scalar::all(9.0), &mut dense, core::CMP_GT)?;
        let occupied = morph(&dense, imgproc::MORPH_ERODE, 1)?;
        let mut slow = Mat::default();
        core::bitwise_and(&occupied, &median, &mut slow, &none)?;
        Ok((fast, slow))
    }
}

impl CrowdDetector {
    /// A processor for `rois`.
    pub fn new(rois: Vec<Roi>) -> CrowdDetector {
        CrowdDetector { rois, processing_width: DEFAULT_PROCESSING_WIDTH, sizes: None, regions: Vec::new(), mask: Mat::default(), model: None, failures: Failures::new() }
    }

    /// CrowdDetectorFilter.processingWidth; the model restarts at the next frame.
    pub fn set_processing_width(&mut self, width: i32) {
        self.processing_width = width;
        self.sizes = None;
    }

    pub fn processing_width(&self) -> i32 {
        self.processing_width
    }

    /// Regions, masks and model for a `frame` frame processed at `small`.
    fn resize(&mut self, frame: Size, small: Size) -> opencv::Result<()> {
        let scaled = |points: &[(f64, f64)], s: Size| -> Vector<Point> {
            let at = |f: f64, n: i32| ((f * f64::from(n)) as i32).clamp(0, n - 1);
            points.iter().map(|&(x, y)| Point::new(at(x, s.width), at(y, s.height))).collect()
        };
        self.mask = Mat::zeros(small.height, small.width, core::CV_8UC1)?.to_mat()?;
        self.regions.clear();
        for roi in &self.rois {
            let polygon = scaled(&roi.points, small);
            let mut mask = Mat::zeros(small.height, small.width, core::CV_8UC1)?.to_mat()?;
            let polygons = Vector::<Vector<Point>>::from_iter([polygon.clone()]);
            imgproc::fill_poly(&mut mask, &polygons, Scalar::all(255.0), imgproc::LINE_8, 0, Point::new(0, 0))?;
            imgproc::fill_poly(&mut self.mask, &polygons, Scalar::all(255.0), imgproc::LINE_8, 0, Point::new(0, 0))?;
            let bounds = if polygon.is_empty() { Rect::default() } else { imgproc::bounding_rect(&polygon)? };
            let pixels = core::count_non_zero(&mask)?;
            self.regions.push(Region {
                roi: roi.clone(),
                full: scaled(&roi.points, frame),
                mask,
                bounds,
                pixels,
                occupancy: Hysteresis::default(),
                fluidity: Hysteresis::default(),
                direction: Direction::default(),
            });
        }
        self.model = None;
        self.sizes = Some((frame, small));
        Ok(())
    }

    fn run(&mut self, frame: &mut Mat, events: &mut Vec<ElementEvent>) -> opencv::Result<()> {
        let size = frame.size()?;
        let width = self.processing_width.min(size.width).max(1);
        let small_size = Size::new(width, (i64::from(size.height) * i64::from(width) / i64::from(size.width.max(1))).max(1) as i32);
        if self.sizes != Some((size, small_size)) {
            self.resize(size, small_size)?;
        }
        let mut small = Mat::default();
        imgproc::resize(frame, &mut small, small_size, 0.0, 0.0, imgproc::INTER_LINEAR)?;
        let mut grey_all = Mat::default();
        imgproc::cvt_color(&small, &mut grey_all, imgproc::COLOR_BGR2GRAY, 0)?;
        let mut grey = Mat::zeros(small_size.height, small_size.width, core::CV_8UC1)?.to_mat()?;
        grey_all.copy_to_masked(&mut grey, &self.mask)?;
        let Some(model) = self.model.as_mut() else {
            self.model = Some(Model::new(&grey)?);
            return self.draw(frame, None);
        };
        let previous = std::mem::replace(&mut model.grey, grey.clone());
        let (fast, slow) = model.update(&grey)?;
        let mut moving = Mat::default();
        core::bitwise_or(&fast, &slow, &mut moving, &core::no_array())?;
        for region in &mut self.regions {
            if region.roi.config.send_direction {
                let angle = flow_angle(&previous, &grey, &moving, region.bounds, region.roi.config.angle_offset)?;
                if let Some(a) = region.direction.frame(angle, &region.roi.config) {
                    events.push(event("CrowdDetectorDirection", json!({ "directionAngle": a, "roiId": region.roi.id })));
                }
            }
        }
        for region in &mut self.regions {
            let count = |map: &Mat| -> opencv::Result<i32> {
                let mut inside = Mat::default();
                core::bitwise_and(map, &region.mask, &mut inside, &core::no_array())?;
                core::count_non_zero(&inside)
            };
            let (slow_pts, moving_pts) = (count(&slow)?, count(&moving)?);
            let config = &region.roi.config;
            let occupancy = if region.pixels > 0 { f64::from(moving_pts) * 100.0 / f64::from(region.pixels) } else { 0.0 };
            let level = occupancy_level(occupancy, config.occupancy_levels);
            if region.occupancy.level(level, config.occupancy_frames) {
                events.push(event("CrowdDetectorOccupancy", json!({ "occupancyPercentage": occupancy, "occupancyLevel": level, "roiId": region.roi.id })));
            }
            let fluidity = if moving_pts > 0 { f64::from(slow_pts) * 100.0 / f64::from(moving_pts) } else { 0.0 };
            let level = fluidity_level(fluidity, config.fluidity_levels);
            if region.fluidity.level(level, config.fluidity_frames) {
                events.push(event("CrowdDetectorFluidity", json!({ "fluidityPercentage": fluidity, "fluidityLevel": level, "roiId": region.roi.id })));
            }
        }
        self.draw(frame, Some((&fast, &slow)))
    }

    /// Fast motion into the blue channel, occupied pixels into the red one,
    /// the regions' outlines in white.
    fn draw(&self, frame: &mut Mat, maps: Option<(&Mat, &Mat)>) -> opencv::Result<()> {
        if let Some((fast, slow)) = maps {
            let size = frame.size()?;
            let mut channels = Vector::<Mat>::new();
            core::split(&*frame, &mut channels)?;
            for (map, channel) in [(fast, 0), (slow, 2)] {
                let mut big = Mat::default();
                imgproc::resize(map, &mut big, size, 0.0, 0.0, imgproc::INTER_NEAREST)?;
                let mut plane = channels.get(channel)?;
                plane.set_to(&Scalar::all(255.0), &big)?;
                channels.set(channel, plane)?;
            }
            core::merge(&channels, frame)?;
        }
        let outlines = Vector::<Vector<Point>>::from_iter(self.regions.iter().map(|r| r.full.clone()));
        imgproc::polylines(frame, &outlines, true, Scalar::all(255.0), 1, imgproc::LINE_8, 0)?;
        Ok(())
    }
}

/// The snapped direction of the movement inside `bounds` between two grey
/// frames, counting moves over 3 pixels that start on `moving` pixels.
fn flow_angle(previous: &Mat, grey: &Mat, moving: &Mat, bounds: Rect, offset: i32) -> opencv::Result<Option<f64>> {
    if bounds.width < 8 || bounds.height < 8 {
        return Ok(None);
    }
    let (before, now) = (Mat::roi(previous, bounds)?.try_clone()?, Mat::roi(grey, bounds)?.try_clone()?);
    let mut corners = Vector::<Point2f>::new();
    imgproc::good_features_to_track(&before, &mut corners, 400, 0.01, 0.01, &core::no_array(), 5, false, 0.04)?;
    if corners.is_empty() {
        return Ok(None);
    }
    let (mut tracked, mut status, mut error) = (Vector::<Point2f>::new(), Vector::<u8>::new(), Vector::<f32>::new());
    let criteria = TermCriteria::new(core::TermCriteria_COUNT + core::TermCriteria_EPS, 20, 0.3)?;
    video::calc_optical_flow_pyr_lk(&before, &now, &corners, &mut tracked, &mut status, &mut error, Size::new(5, 5), 3, criteria, 0, 1e-4)?;
    let (mut dx, mut dy, mut n) = (0.0, 0.0, 0);
    for ((p, q), ok) in corners.iter().zip(tracked.iter()).zip(status.iter()) {
        let (x, y) = (p.x as i32 + bounds.x, p.y as i32 + bounds.y);
        if ok == 0 || x < 0 || y < 0 || x >= moving.cols() || y >= moving.rows() || *moving.at_2d::<u8>(y, x)? == 0 {
            continue;
        }
        let (mx, my) = (f64::from(q.x - p.x), f64::from(q.y - p.y));
        if mx.hypot(my) > 3.0 {
            (dx, dy, n) = (dx + mx, dy + my, n + 1);
        }
    }
    Ok((n > 0).then(|| snapped_angle(dx, dy, offset)))
}

impl FrameProcessor for CrowdDetector {
    const IDLE_WITHOUT_CONSUMERS: bool = false;

    fn process(&mut self, frame: &mut BgrFrame<'_>, events: &mut Vec<ElementEvent>) {
        let result = as_mat(frame).and_then(|mut m| self.run(&mut m.mat, events));
        self.failures.check("CrowdDetectorFilter", result);
    }
}

/// Builds a CrowdDetectorFilter for `rois`.
pub fn crowd_detector_filter(rois: Vec<Roi>, waker: Waker) -> Result<CrowdDetectorFilter, String> {
    CrowdDetectorFilter::with_processor(CrowdDetector::new(rois), waker)
}

/// CrowdDetectorFilter.setProcessingWidth (pixels, within
/// [`PROCESSING_WIDTHS`]: the caller checks); the model restarts.
pub fn set_processing_width(filter: &CrowdDetectorFilter, width: i32) {
    filter.apply(move |detector| detector.set_processing_width(width));
}

#[cfg(test)]
mod tests;
