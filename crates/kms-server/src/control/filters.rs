//! Filter operations: GStreamerFilter.

use super::elements::{with_element, ElementRef};
use super::invoke::OpResult;
use super::params::Params;
use super::Server;
use kms_gst::{FilterError, GStreamerFilter};
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
