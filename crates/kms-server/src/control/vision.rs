//! The vision modules' classes (chroma.ChromaFilter,
//! crowddetector.CrowdDetectorFilter, platedetector.PlateDetectorFilter,
//! pointerdetector.PointerDetectorFilter) and KMS's example module's
//! (datachannelexample.KmsShowData, KmsSendData, KmsDetectFaces,
//! KmsShowFaces): constructor parameters into the kms-vision processors
//! and kms-gst filters, and the classes' operations.

use super::elements::{with_element, ElementRef};
use super::{properties, OpResult, Server};
use kms_api::{ChromaFilterOp, CrowdDetectorFilterOp, PlateDetectorFilterOp, PointerDetectorFilterOp};
use kms_gst::Waker;
use kms_media::Element;
use kms_protocol::{ErrorCode, KurentoError};
use kms_vision::{ChromaFilter, CrowdDetectorFilter, PlateDetectorFilter, PointerDetectorFilter, Roi, RoiConfig, WindowSpec};
use serde_json::{json, Map, Value};

/// True for the classes this file builds.
pub fn is_vision(class: &str) -> bool {
    matches!(
        class,
        "ChromaFilter" | "CrowdDetectorFilter" | "PlateDetectorFilter" | "PointerDetectorFilter" | "KmsShowData" | "KmsSendData" | "KmsDetectFaces" | "KmsShowFaces"
    )
}

/// Builds the element of vision class `class` from its checked constructor
/// parameters. Errors: 40107 for a region id KMS refuses, 40108 when
/// GStreamer cannot run the filter.
pub fn build(class: &str, properties: &Map<String, Value>, waker: Waker) -> Result<Box<dyn Element>, KurentoError> {
    let unavailable = |e: String| KurentoError::new(ErrorCode::MediaObjectNotAvailable, format!("{class} cannot be created here: {e}"));
    let object = |name: &str| properties.get(name).and_then(Value::as_object);
    Ok(match class {
        "ChromaFilter" => {
            let window = window_param(object("window"));
            let background = properties.get("backgroundImage").and_then(Value::as_str);
            Box::new(kms_vision::chroma_filter(window, background, waker).map_err(unavailable)?)
        }
        "CrowdDetectorFilter" => {
            let rois = properties.get("rois").and_then(Value::as_array).into_iter().flatten().map(roi).collect::<Result<Vec<_>, _>>()?;
            Box::new(kms_vision::crowd_detector_filter(rois, waker).map_err(unavailable)?)
        }
        "PlateDetectorFilter" => Box::new(kms_vision::plate_detector_filter(waker).map_err(unavailable)?),
        "KmsShowData" => Box::new(kms_gst::ShowDataFilter::new(waker).map_err(unavailable)?),
        "KmsSendData" => Box::new(kms_gst::SendDataFilter::new(waker).map_err(unavailable)?),
        "KmsDetectFaces" => Box::new(kms_vision::detect_faces_filter(waker).map_err(unavailable)?),
        "KmsShowFaces" => Box::new(kms_vision::show_faces_filter(waker).map_err(unavailable)?),
        _ => {
            let region = window_param(object("calibrationRegion"));
            let windows = properties.get("windows").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_object).map(window_spec).collect();
            Box::new(kms_vision::pointer_detector_filter(region, windows, waker).map_err(unavailable)?)
        }
    })
}

fn int(o: Option<&Map<String, Value>>, name: &str) -> Option<i32> {
    o?.get(name)?.as_i64().map(|n| n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32)
}

/// A WindowParam register: x, y (the top-left corner, despite KMS's
/// `topRightCorner` names), width, height.
fn window_param(o: Option<&Map<String, Value>>) -> (i32, i32, i32, i32) {
    let n = |k: &str| int(o, k).unwrap_or(0);
    (n("topRightCornerX"), n("topRightCornerY"), n("width"), n("height"))
}

/// A PointerDetectorWindowMediaParam register.
fn window_spec(o: &Map<String, Value>) -> WindowSpec {
    let n = |k: &str| int(Some(o), k).unwrap_or(0);
    let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
    WindowSpec {
        id: text("id").unwrap_or_default(),
        x: n("upperRightX"),
        y: n("upperRightY"),
        width: n("width"),
        height: n("height"),
        image: text("image"),
        active_image: text("activeImage"),
        transparency: o.get("imageTransparency").and_then(Value::as_f64).unwrap_or(0.0),
    }
}

/// KMS's rule for a region id (it names a GStreamer structure): a letter,
/// then letters, digits or `/-_.:+`.
fn valid_roi_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || "/-_.:+".contains(c))
}

/// A RegionOfInterest register; 40107 "Invalid roi name" as KMS.
fn roi(value: &Value) -> Result<Roi, KurentoError> {
    let o = value.as_object();
    let id = o.and_then(|o| o.get("id")).and_then(Value::as_str).unwrap_or_default().to_owned();
    if !valid_roi_id(&id) {
        return Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("Invalid roi name '{id}'")));
    }
    let points = o.and_then(|o| o.get("points")).and_then(Value::as_array).into_iter().flatten();
    let point = |p: &Value| Some((p.get("x")?.as_f64()?, p.get("y")?.as_f64()?));
    let c = o.and_then(|o| o.get("regionOfInterestConfig")).and_then(Value::as_object);
    let d = RoiConfig::default();
    let n = |k: &str, default: i32| int(c, k).unwrap_or(default);
    let config = RoiConfig {
        occupancy_levels: [n("occupancyLevelMin", d.occupancy_levels[0]), n("occupancyLevelMed", d.occupancy_levels[1]), n("occupancyLevelMax", d.occupancy_levels[2])],
        occupancy_frames: n("occupancyNumFramesToEvent", d.occupancy_frames),
        fluidity_levels: [n("fluidityLevelMin", d.fluidity_levels[0]), n("fluidityLevelMed", d.fluidity_levels[1]), n("fluidityLevelMax", d.fluidity_levels[2])],
        fluidity_frames: n("fluidityNumFramesToEvent", d.fluidity_frames),
        send_direction: c.and_then(|c| c.get("sendOpticalFlowEvent")).and_then(Value::as_bool).unwrap_or(d.send_direction),
        direction_frames: n("opticalFlowNumFramesToEvent", d.direction_frames),
        direction_reset: n("opticalFlowNumFramesToReset", d.direction_reset),
        angle_offset: n("opticalFlowAngleOffset", d.angle_offset),
    };
    let points: Vec<(f64, f64)> = points.filter_map(point).collect();
    if points.len() < 3 {
        return Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, format!("Region of interest '{id}' needs at least 3 points")));
    }
    Ok(Roi { id, points, config })
}

/// ChromaFilter operations.
pub async fn chroma(server: &Server, ctx: &ElementRef<'_>, op: ChromaFilterOp<'_>) -> Option<OpResult> {
    Some(match op {
        ChromaFilterOp::SetBackground { uri } => {
            let uri = uri.to_owned();
            with_element(server, ctx, move |f: &mut ChromaFilter, _| kms_vision::set_background(f, &uri)).await.map(|()| None)
        }
        ChromaFilterOp::UnsetBackground => with_element(server, ctx, |f: &mut ChromaFilter, _| kms_vision::unset_background(f)).await.map(|()| None),
    })
}

/// CrowdDetectorFilter operations: processingWidth (KMS's default 320;
/// outside 160..1280 refused with 40107, where KMS's GStreamer property
/// ignores the value with a warning).
pub async fn crowd(server: &Server, ctx: &ElementRef<'_>, op: CrowdDetectorFilterOp) -> Option<OpResult> {
    Some(match op {
        CrowdDetectorFilterOp::GetProcessingWidth => {
            properties::get(server, ctx.object, "processingWidth").map(|v| Some(v.unwrap_or(json!(kms_vision::DEFAULT_PROCESSING_WIDTH))))
        }
        CrowdDetectorFilterOp::SetProcessingWidth { processing_width } => {
            if !kms_vision::PROCESSING_WIDTHS.contains(&processing_width) {
                let range = &kms_vision::PROCESSING_WIDTHS;
                let message = format!("processingWidth {processing_width} is outside {}..{}", range.start(), range.end());
                return Some(Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, message)));
            }
            let set = with_element(server, ctx, move |f: &mut CrowdDetectorFilter, _| kms_vision::set_processing_width(f, processing_width)).await;
            set.and_then(|()| properties::store(server, ctx.object, "processingWidth", Some(&json!(processing_width)))).map(|()| None)
        }
    })
}

/// PlateDetectorFilter operations.
pub async fn plate(server: &Server, ctx: &ElementRef<'_>, op: PlateDetectorFilterOp) -> Option<OpResult> {
    let PlateDetectorFilterOp::SetPlateWidthPercentage { plate_width_percentage } = op;
    if !(0.0..=1.0).contains(&plate_width_percentage) {
        let message = format!("plateWidthPercentage {plate_width_percentage} is outside 0..1");
        return Some(Err(KurentoError::new(ErrorCode::MediaObjectIllegalParamError, message)));
    }
    let set = with_element(server, ctx, move |f: &mut PlateDetectorFilter, _| kms_vision::set_plate_width_percentage(f, plate_width_percentage)).await;
    Some(set.map(|()| None))
}

/// PointerDetectorFilter operations.
pub async fn pointer(server: &Server, ctx: &ElementRef<'_>, op: PointerDetectorFilterOp<'_>) -> Option<OpResult> {
    Some(match op {
        PointerDetectorFilterOp::AddWindow { window } => {
            let spec = window_spec(window);
            with_element(server, ctx, move |f: &mut PointerDetectorFilter, _| kms_vision::add_window(f, spec)).await.map(|()| None)
        }
        PointerDetectorFilterOp::RemoveWindow { window_id } => {
            let id = window_id.to_owned();
            with_element(server, ctx, move |f: &mut PointerDetectorFilter, _| kms_vision::remove_window(f, &id)).await.map(|()| None)
        }
        PointerDetectorFilterOp::ClearWindows => with_element(server, ctx, |f: &mut PointerDetectorFilter, _| kms_vision::clear_windows(f)).await.map(|()| None),
        PointerDetectorFilterOp::TrackColorFromCalibrationRegion => {
            with_element(server, ctx, |f: &mut PointerDetectorFilter, _| kms_vision::track_color_from_calibration_region(f)).await.map(|()| None)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roi_ids_follow_kms_rule_and_configs_take_kms_defaults() {
        assert!(valid_roi_id("roi1") && valid_roi_id("a/b-c_d.e:f+g"));
        assert!(!valid_roi_id("") && !valid_roi_id("1roi") && !valid_roi_id("roi 1"));
        let r = roi(&json!({ "id": "corridor", "points": [{ "x": 0.1, "y": 0.2 }, { "x": 0.5, "y": 0.2 }, { "x": 0.5, "y": 0.6 }],
            "regionOfInterestConfig": { "occupancyLevelMin": 5, "sendOpticalFlowEvent": true } })).unwrap();
        assert_eq!(r.points, [(0.1, 0.2), (0.5, 0.2), (0.5, 0.6)]);
        let flat = roi(&json!({ "id": "line", "points": [{ "x": 0.1, "y": 0.2 }, { "x": 0.5, "y": 0.2 }], "regionOfInterestConfig": {} })).unwrap_err();
        assert_eq!(flat.code, ErrorCode::MediaObjectIllegalParamError);
        assert_eq!(r.config.occupancy_levels, [5, 35, 65]);
        assert!(r.config.send_direction);
        assert_eq!(r.config.fluidity_frames, 5);
        let bad = roi(&json!({ "id": "9", "points": [], "regionOfInterestConfig": {} })).unwrap_err();
        assert_eq!(bad.code, ErrorCode::MediaObjectIllegalParamError);
    }
}
