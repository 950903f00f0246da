//! Filter operations: GStreamerFilter, ImageOverlayFilter, FaceOverlayFilter
//! (ZBarFilter has none: it only raises CodeFound).

use super::elements::{with_element, ElementRef};
use super::invoke::OpResult;
use super::params::Params;
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
        "setElementProperty" => {
            let (name, value) = match (params.str("propertyName"), params.str("propertyValue")) {
                (Ok(n), Ok(v)) => (n.to_owned(), v.to_owned()),
                (Err(e), _) | (_, Err(e)) => return Some(Err(e)),
            };
            with_element(server, ctx, move |f: &mut GStreamerFilter, _| f.set_element_property(&name, &value))
                .await
                .and_then(|r| r.map_err(filter_error))
                .map(|()| None)
        }
        _ => return None,
    })
}

/// ImageOverlayFilter operations; `None` when `operation` is not one of them.
pub async fn image_overlay(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    Some(match operation {
        "addImage" => {
            let parsed = (|| {
                let layout = ImageLayout {
                    offset_x: params.f64("offsetXPercent")?,
                    offset_y: params.f64("offsetYPercent")?,
                    width: params.f64("widthPercent")?,
                    height: params.f64("heightPercent")?,
                    keep_aspect_ratio: params.bool("keepAspectRatio")?,
                    center: params.bool("center")?,
                };
                Ok::<_, KurentoError>((params.str("id")?.to_owned(), params.str("uri")?.to_owned(), layout))
            })();
            let (id, uri, layout) = match parsed {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            with_element(server, ctx, move |f: &mut ImageOverlayFilter, _| f.add_image(&id, &uri, layout)).await.map(|()| None)
        }
        "removeImage" => match params.str("id") {
            Ok(id) => {
                let id = id.to_owned();
                with_element(server, ctx, move |f: &mut ImageOverlayFilter, _| f.remove_image(&id)).await.map(|()| None)
            }
            Err(e) => Err(e),
        },
        _ => return None,
    })
}

/// FaceOverlayFilter operations; `None` when `operation` is not one of them.
pub async fn face_overlay(server: &Server, ctx: &ElementRef<'_>, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    Some(match operation {
        "setOverlayedImage" => {
            let parsed = (|| {
                let layout = FaceLayout {
                    offset_x: params.f64("offsetXPercent")?,
                    offset_y: params.f64("offsetYPercent")?,
                    width: params.f64("widthPercent")?,
                    height: params.f64("heightPercent")?,
                };
                Ok::<_, KurentoError>((params.str("uri")?.to_owned(), layout))
            })();
            let (uri, layout) = match parsed {
                Ok(p) => p,
                Err(e) => return Some(Err(e)),
            };
            with_element(server, ctx, move |f: &mut FaceOverlayFilter, _| f.set_overlayed_image(&uri, layout)).await.map(|()| None)
        }
        "unsetOverlayedImage" => with_element(server, ctx, |f: &mut FaceOverlayFilter, _| f.unset_overlayed_image()).await.map(|()| None),
        _ => return None,
    })
}
