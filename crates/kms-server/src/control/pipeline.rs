//! MediaPipeline operations that reach the media worker.

use super::OpResult;
use kms_api::MediaPipelineOp;
use super::Server;
use crate::media::PipelineHandle;
use kms_protocol::{KurentoError, ObjectId};

/// MediaPipeline operations; `None` for the ones left to the stored
/// properties or not built (dumpGstreamerDot).
pub async fn invoke(server: &Server, object: &ObjectId, pipeline: PipelineHandle, op: MediaPipelineOp) -> Option<OpResult> {
    match op {
        // Stored as a property (so getLatencyStats answers it) and applied to the router.
        MediaPipelineOp::SetLatencyStats { latency_stats } => Some(set_latency_stats(server, object, pipeline, latency_stats).await),
        MediaPipelineOp::GetGstreamerDot { .. } => Some(dot(server, object, pipeline).await),
        _ => None,
    }
}

/// MediaPipeline.getGstreamerDot: the pipeline as a Graphviz digraph (with
/// its transcoders, each with its decoder and encoders), one
/// node per element (`Class` and name) and one edge per connection labelled
/// with its media type. KMS dumps its GStreamer bin; our media graph is the
/// router's, so this is its picture (the `details` level is not used).
async fn dot(server: &Server, object: &ObjectId, pipeline: PipelineHandle) -> OpResult {
    let graph = server.media.call(pipeline, move |worker, _| worker.pipeline(pipeline).map(|p| (p.graph().connections().to_vec(), p.transcoders()))).await?;
    let (conns, transcoders) = graph.ok_or_else(|| KurentoError::object_not_found(object.as_str()))?;
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
    // Each transcoder: a node with its decoder and encoders, an edge in from
    // its source and one out per target format to the sinks it feeds.
    for t in &transcoders {
        let Some(src) = state.registry.by_element(pipeline, t.source) else { continue };
        let node = quote(&t.bin_name);
        let label = std::iter::once(t.bin_name.as_str()).chain(t.stages.iter().map(String::as_str)).map(escape).collect::<Vec<_>>().join("\\n");
        dot += &format!("  {node} [shape=ellipse, label=\"{label}\"];\n");
        dot += &format!("  {} -> {node} [label={}];\n", quote(src.id.as_str()), quote(&format!("{} {}", t.media_type.as_str(), t.input.as_str())));
        for (format, sinks) in &t.targets {
            for sink in sinks.iter().filter_map(|s| state.registry.by_element(pipeline, *s)) {
                dot += &format!("  {node} -> {} [label={}];\n", quote(sink.id.as_str()), quote(&format!("{} {format}", t.media_type.as_str())));
            }
        }
    }
    dot += "}\n";
    Ok(Some(serde_json::json!(dot)))
}

async fn set_latency_stats(server: &Server, object: &ObjectId, pipeline: PipelineHandle, enabled: bool) -> OpResult {
    super::properties::store(server, object, "latencyStats", Some(&serde_json::json!(enabled)))?;
    let applied = server.media.call(pipeline, move |worker, _| worker.pipeline(pipeline).map(|p| p.latency_mut().set_enabled(enabled))).await?;
    applied.map(|()| None).ok_or_else(|| KurentoError::object_not_found(object.as_str()))
}
