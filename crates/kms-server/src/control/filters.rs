//! Filter operations: GStreamerFilter, ImageOverlayFilter, FaceOverlayFilter
//! (ZBarFilter has none: it only raises CodeFound).

use super::elements::{with_element, ElementRef};
use super::invoke::OpResult;
use kms_protocol::params::Params;
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

/// GStreamerFilter operations; `None` when `operation` is not one of them.
pub async fn gstreamer_filter(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    Some(match operation {
        "setElementProperty" => set_element_property(server, ctx, params).await,
        _ => return None,
    })
}

async fn set_element_property(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>) -> OpResult {
    let (name, value) = (params.str("propertyName")?.to_owned(), params.str("propertyValue")?.to_owned());
    with_element(server, ctx, move |f: &mut GStreamerFilter, _| f.set_element_property(&name, &value)).await?.map_err(filter_error)?;
    Ok(None)
}

/// The four placement fractions addImage and setOverlayedImage share:
/// (offsetXPercent, offsetYPercent, widthPercent, heightPercent).
fn fractions(params: &Params) -> Result<(f64, f64, f64, f64), KurentoError> {
    Ok((params.f64("offsetXPercent")?, params.f64("offsetYPercent")?, params.f64("widthPercent")?, params.f64("heightPercent")?))
}

/// ImageOverlayFilter operations; `None` when `operation` is not one of them.
pub async fn image_overlay(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    Some(match operation {
        "addImage" => add_image(server, ctx, params).await,
        "removeImage" => remove_image(server, ctx, params).await,
        _ => return None,
    })
}

async fn add_image(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>) -> OpResult {
    let (offset_x, offset_y, width, height) = fractions(params)?;
    let (keep_aspect_ratio, center) = (params.bool("keepAspectRatio")?, params.bool("center")?);
    let layout = ImageLayout { offset_x, offset_y, width, height, keep_aspect_ratio, center };
    let (id, uri) = (params.str("id")?.to_owned(), params.str("uri")?.to_owned());
    with_element(server, ctx, move |f: &mut ImageOverlayFilter, _| f.add_image(&id, &uri, layout)).await.map(|()| None)
}

async fn remove_image(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>) -> OpResult {
    let id = params.str("id")?.to_owned();
    with_element(server, ctx, move |f: &mut ImageOverlayFilter, _| f.remove_image(&id)).await.map(|()| None)
}

/// FaceOverlayFilter operations; `None` when `operation` is not one of them.
pub async fn face_overlay(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    Some(match operation {
        "setOverlayedImage" => set_overlayed_image(server, ctx, params).await,
        "unsetOverlayedImage" => with_element(server, ctx, |f: &mut FaceOverlayFilter, _| f.unset_overlayed_image()).await.map(|()| None),
        _ => return None,
    })
}

async fn set_overlayed_image(server: &Server, ctx: &ElementRef<'_>, params: &Params<'_>) -> OpResult {
    let (offset_x, offset_y, width, height) = fractions(params)?;
    let uri = params.str("uri")?.to_owned();
    let layout = FaceLayout { offset_x, offset_y, width, height };
    with_element(server, ctx, move |f: &mut FaceOverlayFilter, _| f.set_overlayed_image(&uri, layout)).await.map(|()| None)
}
