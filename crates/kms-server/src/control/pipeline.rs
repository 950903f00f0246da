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
        "getGstreamerDot" => Some(dot(server, object, pipeline).await),
        _ => None,
    }
}

/// MediaPipeline.getGstreamerDot: the pipeline as a Graphviz digraph, one
/// node per element (`Class` and name) and one edge per connection labelled
/// with its media type. KMS dumps its GStreamer bin; our media graph is the
/// router's, so this is its picture (the `details` level is not used).
async fn dot(server: &Server, object: &ObjectId, pipeline: PipelineHandle) -> OpResult {
    let conns = server.media.call(move |worker, _| worker.pipeline(pipeline).map(|p| p.graph().connections().to_vec())).await?;
    let conns = conns.ok_or_else(|| KurentoError::object_not_found(object.as_str()))?;
    let state = server.lock();
    let escape = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let quote = |s: &str| format!("\"{}\"", escape(s));
    let mut dot = format!("digraph {} {{\n  rankdir=LR;\n", quote(object.as_str()));
    for child in state.registry.children(object) {
        if let Some(o) = state.registry.get(&child) {
            // Class and name on two lines: each escaped, joined by DOT's `\n`.
            let label = format!("\"{}\\n{}\"", escape(o.class.name.as_str()), escape(&o.name));
            dot += &format!("  {} [shape=box, label={label}];\n", quote(child.as_str()));
        }
    }
    for c in &conns {
        let (Some(src), Some(sink)) = (state.registry.by_element(pipeline, c.source), state.registry.by_element(pipeline, c.sink)) else { continue };
        dot += &format!("  {} -> {} [label={}];\n", quote(src.id.as_str()), quote(sink.id.as_str()), quote(c.media_type.as_str()));
    }
    dot += "}\n";
    Ok(Some(serde_json::json!(dot)))
}

async fn set_latency_stats(server: &Server, object: &ObjectId, pipeline: PipelineHandle, params: &Params<'_>) -> OpResult {
    let idl = Idl::get();
    let class = server.lookup(object, |o| o.class)?;
    super::properties::access(server, idl, class, object, "setLatencyStats", params).unwrap_or(Ok(None))?;
    let enabled = params.bool("latencyStats")?;
    let applied = server.media.call(move |worker, _| worker.pipeline(pipeline).map(|p| p.latency_mut().set_enabled(enabled))).await?;
    applied.map(|()| None).ok_or_else(|| KurentoError::object_not_found(object.as_str()))
}
