//! Filter operations: GStreamerFilter, ImageOverlayFilter, FaceOverlayFilter
//! (ZBarFilter has none: it only raises CodeFound).

use super::elements::{with_element, ElementRef};
use super::OpResult;
use kms_api::{FaceOverlayFilterOp, GStreamerFilterOp, ImageOverlayFilterOp};
use super::Server;
use kms_gst::{FaceLayout, FaceOverlayFilter, FilterError, GStreamerFilter, ImageLayout, ImageOverlayFilter};
use kms_protocol::{ErrorCode, KurentoError};

/// KMS's codes for a refused command or property: 40001, or 40006 for a
/// property type it does not convert.
pub fn filter_error(e: FilterError) -> KurentoError {
    match e {
        FilterError::Invalid(m) => KurentoError::marshall(m),
        FilterError::NotImplemented(m) => KurentoError::new(ErrorCode::NotImplemented, m),
    }
}

/// GStreamerFilter operations; `None` for the accessors left to the stored properties.
pub async fn gstreamer_filter(server: &Server, ctx: &ElementRef<'_>, op: GStreamerFilterOp<'_>) -> Option<OpResult> {
    let GStreamerFilterOp::SetElementProperty { property_name, property_value } = op else { return None };
    let (name, value) = (property_name.to_owned(), property_value.to_owned());
    let set = with_element(server, ctx, move |f: &mut GStreamerFilter, _| f.set_element_property(&name, &value)).await;
    Some(set.and_then(|r| r.map_err(filter_error)).map(|()| None))
}

/// ImageOverlayFilter operations.
pub async fn image_overlay(server: &Server, ctx: &ElementRef<'_>, op: ImageOverlayFilterOp<'_>) -> Option<OpResult> {
    Some(match op {
        ImageOverlayFilterOp::AddImage { id, uri, offset_x_percent, offset_y_percent, width_percent, height_percent, keep_aspect_ratio, center } => {
            let layout = ImageLayout { offset_x: offset_x_percent, offset_y: offset_y_percent, width: width_percent, height: height_percent, keep_aspect_ratio, center };
            let (id, uri) = (id.to_owned(), uri.to_owned());
            with_element(server, ctx, move |f: &mut ImageOverlayFilter, _| f.add_image(&id, &uri, layout)).await.map(|()| None)
        }
        ImageOverlayFilterOp::RemoveImage { id } => {
            let id = id.to_owned();
            with_element(server, ctx, move |f: &mut ImageOverlayFilter, _| f.remove_image(&id)).await.map(|()| None)
        }
    })
}

/// FaceOverlayFilter operations.
pub async fn face_overlay(server: &Server, ctx: &ElementRef<'_>, op: FaceOverlayFilterOp<'_>) -> Option<OpResult> {
    Some(match op {
        FaceOverlayFilterOp::SetOverlayedImage { uri, offset_x_percent, offset_y_percent, width_percent, height_percent } => {
            let layout = FaceLayout { offset_x: offset_x_percent, offset_y: offset_y_percent, width: width_percent, height: height_percent };
            let uri = uri.to_owned();
            with_element(server, ctx, move |f: &mut FaceOverlayFilter, _| f.set_overlayed_image(&uri, layout)).await.map(|()| None)
        }
        FaceOverlayFilterOp::UnsetOverlayedImage => with_element(server, ctx, |f: &mut FaceOverlayFilter, _| f.unset_overlayed_image()).await.map(|()| None),
    })
}
