//! Object ids in KMS's format (`MediaObjectImpl::createId`).
//!
//! - pipeline: `<uuid>_kurento.MediaPipeline`
//! - element: `<pipelineId>/<uuid>_kurento.WebRtcEndpoint`
//! - hub port: `<pipelineId>/<hubUuid>_kurento.Composite/<uuid>_kurento.HubPort`
//! - other modules: `<pipelineId>/<uuid>_chroma.ChromaFilter`
//! - the ServerManager singleton: `manager_ServerManager`
//!
//! The official JS client relies on this shape: when a pipeline is released it
//! drops cached children whose ids start with the pipeline id.

use std::fmt;

/// The fixed id of the ServerManager singleton.
pub const SERVER_MANAGER_ID: &str = "manager_ServerManager";

/// A media object id, parsed once at the JSON-RPC edge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId(String);

impl ObjectId {
    /// A fresh id for an object of class `<qualifier>.<type_name>` under `parent`
    /// (`None` for a MediaPipeline).
    pub fn new(parent: Option<&ObjectId>, qualifier: &str, type_name: &str) -> ObjectId {
        let own = format!("{}_{qualifier}.{type_name}", uuid::Uuid::new_v4());
        match parent {
            Some(p) => ObjectId(format!("{}/{own}", p.0)),
            None => ObjectId(own),
        }
    }

    /// A fresh MediaPipeline id of a cluster's media node: the node id, `~`,
    /// then a UUID, so the entry routes by the id alone (`node-a~<uuid>_kurento.MediaPipeline`).
    pub fn new_on_node(node: &str, qualifier: &str, type_name: &str) -> ObjectId {
        ObjectId(format!("{node}~{}_{qualifier}.{type_name}", uuid::Uuid::new_v4()))
    }

    /// The media node named in this object's pipeline part, when it has one
    /// (see [`ObjectId::new_on_node`]).
    pub fn node(&self) -> Option<&str> {
        let pipeline = self.0.split('/').next()?;
        pipeline.split_once('~').map(|(node, _)| node).filter(|n| !n.is_empty())
    }

    /// Parses an id received from a client. Returns `None` for text that cannot
    /// be an object id (empty, or a segment without `_<qualifier>.<Type>`).
    pub fn parse(text: &str) -> Option<ObjectId> {
        if text == SERVER_MANAGER_ID {
            return Some(ObjectId(text.to_owned()));
        }
        let ok = !text.is_empty()
            && text.split('/').all(|seg| match seg.rsplit_once('_') {
                Some((head, tail)) => !head.is_empty() && tail.split_once('.').is_some_and(|(q, t)| !q.is_empty() && !t.is_empty()),
                None => false,
            });
        ok.then(|| ObjectId(text.to_owned()))
    }

    /// The ServerManager's id.
    pub fn server_manager() -> ObjectId {
        ObjectId(SERVER_MANAGER_ID.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bare class name encoded in the id (`WebRtcEndpoint`).
    pub fn type_name(&self) -> &str {
        let last = self.0.rsplit('/').next().unwrap_or(&self.0);
        match last.rsplit_once('.') {
            Some((_, t)) => t,
            None => last.rsplit_once('_').map_or(last, |(_, t)| t),
        }
    }

    /// The parent's id, `None` for top-level objects (pipelines, the ServerManager).
    pub fn parent(&self) -> Option<ObjectId> {
        self.0.rsplit_once('/').map(|(p, _)| ObjectId(p.to_owned()))
    }

    /// The id of the pipeline this object lives in (itself for a pipeline).
    pub fn pipeline(&self) -> ObjectId {
        ObjectId(self.0.split('/').next().unwrap_or(&self.0).to_owned())
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_ids_name_their_node() {
        let p = super::ObjectId::new_on_node("node-a", "kurento", "MediaPipeline");
        assert_eq!(p.node(), Some("node-a"));
        let child = super::ObjectId::new(Some(&p), "kurento", "WebRtcEndpoint");
        assert_eq!(child.node(), Some("node-a"));
        assert_eq!(super::ObjectId::parse(child.as_str()).map(|c| c.pipeline()), Some(p));
        assert_eq!(super::ObjectId::new(None, "kurento", "MediaPipeline").node(), None);
    }

    use super::*;

    #[test]
    fn ids_follow_kms_format() {
        let p = ObjectId::new(None, "kurento", "MediaPipeline");
        assert!(p.as_str().ends_with("_kurento.MediaPipeline"));
        assert_eq!(p.as_str().len(), 36 + "_kurento.MediaPipeline".len());
        assert_eq!(p.parent(), None);
        assert_eq!(p.pipeline(), p);

        let hub = ObjectId::new(Some(&p), "kurento", "Composite");
        let port = ObjectId::new(Some(&hub), "kurento", "HubPort");
        assert!(port.as_str().starts_with(&format!("{}/", hub.as_str())));
        assert_eq!(port.parent(), Some(hub.clone()));
        assert_eq!(port.pipeline(), p);
        assert_eq!(port.type_name(), "HubPort");

        let chroma = ObjectId::new(Some(&p), "chroma", "ChromaFilter");
        assert!(chroma.as_str().contains("_chroma.ChromaFilter"));
        assert_eq!(ObjectId::parse(chroma.as_str()), Some(chroma));
    }

    #[test]
    fn parse_rejects_non_ids() {
        assert!(ObjectId::parse("").is_none());
        assert!(ObjectId::parse("hello").is_none());
        assert!(ObjectId::parse("abc_kurento.").is_none());
        assert!(ObjectId::parse("abc_kurento.X/").is_none());
        assert_eq!(ObjectId::parse(SERVER_MANAGER_ID).unwrap().type_name(), "ServerManager");
    }
}
