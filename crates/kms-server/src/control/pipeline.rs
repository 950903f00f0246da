//! MediaPipeline operations that reach the media worker.

use super::invoke::OpResult;
use super::params::Params;
use super::Server;
use crate::media::PipelineHandle;
use kms_idl::Idl;
use kms_protocol::{KurentoError, ObjectId};

/// MediaPipeline operations; `None` when `operation` is not one of them.
pub async fn invoke(server: &Server, object: &ObjectId, pipeline: PipelineHandle, operation: &str, params: &Params<'_>) -> Option<OpResult> {
    match operation {
        // Stored as a property (so getLatencyStats answers it) and applied to the router.
        "setLatencyStats" => Some(set_latency_stats(server, object, pipeline, params).await),
        _ => None,
    }
}

async fn set_latency_stats(server: &Server, object: &ObjectId, pipeline: PipelineHandle, params: &Params<'_>) -> OpResult {
    let idl = Idl::get();
    let class = server.lookup(object, |o| o.class)?;
    super::properties::access(server, idl, class, object, "setLatencyStats", params).unwrap_or(Ok(None))?;
    let enabled = params.bool("latencyStats")?;
    let applied = server.media.call(move |worker, _| worker.pipeline(pipeline).map(|p| p.latency_mut().set_enabled(enabled))).await?;
    applied.map(|()| None).ok_or_else(|| KurentoError::object_not_found(object.as_str()))
}
