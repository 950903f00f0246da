//! The object registry: every live MediaObject, its class, bookkeeping
//! properties, the sessions that reference it, and what backs it in the media
//! worker.

use crate::media::PipelineHandle;
use kms_idl::Class;
use kms_media::ElementId;
use kms_protocol::ObjectId;
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// What a registry object stands for in the media plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    ServerManager,
    Pipeline(PipelineHandle),
    /// A Hub (Composite, Dispatcher, ...): a pipeline child that is not itself
    /// a MediaElement; its HubPorts are elements. `hub` shares the elements'
    /// id space inside the pipeline.
    Hub { pipeline: PipelineHandle, hub: ElementId },
    Element { pipeline: PipelineHandle, element: ElementId },
}

impl Backing {
    /// The pipeline this object lives in (itself, for a pipeline).
    pub fn pipeline(self) -> Option<PipelineHandle> {
        match self {
            Backing::Pipeline(p) | Backing::Hub { pipeline: p, .. } | Backing::Element { pipeline: p, .. } => Some(p),
            Backing::ServerManager => None,
        }
    }
}

/// One live media object.
#[derive(Debug)]
pub struct MediaObject {
    pub id: ObjectId,
    pub class: &'static Class,
    pub backing: Backing,
    /// MediaObject.name; defaults to the id (KMS).
    pub name: String,
    pub tags: Vec<(String, String)>,
    pub send_tags_in_events: bool,
    /// Unix seconds (MediaObject.creationTime).
    pub creation_time: i64,
    /// Constructor parameters and stored property values, by IDL name.
    pub properties: Map<String, Value>,
    /// Sessions holding a reference.
    pub sessions: BTreeSet<String>,
}

/// All live objects, by id, with a reverse index from media elements.
#[derive(Debug, Default)]
pub struct Registry {
    objects: HashMap<ObjectId, MediaObject>,
    by_element: HashMap<(PipelineHandle, ElementId), ObjectId>,
}

impl Registry {
    pub fn insert(&mut self, object: MediaObject) {
        if let Backing::Element { pipeline, element } | Backing::Hub { pipeline, hub: element } = object.backing {
            self.by_element.insert((pipeline, element), object.id.clone());
        }
        self.objects.insert(object.id.clone(), object);
    }

    /// Every object (ServerManager included).
    pub fn objects(&self) -> impl Iterator<Item = &MediaObject> {
        self.objects.values()
    }

    pub fn get(&self, id: &ObjectId) -> Option<&MediaObject> {
        self.objects.get(id)
    }

    pub fn get_mut(&mut self, id: &ObjectId) -> Option<&mut MediaObject> {
        self.objects.get_mut(id)
    }

    /// The object backed by an element of the media worker.
    pub fn by_element(&self, pipeline: PipelineHandle, element: ElementId) -> Option<&MediaObject> {
        self.objects.get(self.by_element.get(&(pipeline, element))?)
    }

    /// The MediaPipeline object of `pipeline`.
    pub fn by_pipeline(&self, pipeline: PipelineHandle) -> Option<&MediaObject> {
        self.objects.values().find(|o| matches!(o.backing, Backing::Pipeline(p) if p == pipeline))
    }

    /// Direct children of `id` (elements of a pipeline, ports of a hub).
    pub fn children(&self, id: &ObjectId) -> Vec<ObjectId> {
        let mut children: Vec<ObjectId> = self.objects.keys().filter(|c| c.parent().as_ref() == Some(id)).cloned().collect();
        children.sort();
        children
    }

    /// Every MediaPipeline id.
    pub fn pipelines(&self) -> Vec<ObjectId> {
        let mut ids: Vec<ObjectId> = self.objects.values().filter(|o| matches!(o.backing, Backing::Pipeline(_))).map(|o| o.id.clone()).collect();
        ids.sort();
        ids
    }

    /// Removes `id` and its descendants; descendants come first in the result.
    pub fn remove_tree(&mut self, id: &ObjectId) -> Vec<MediaObject> {
        let prefix = format!("{id}/");
        let mut ids: Vec<ObjectId> = self.objects.keys().filter(|k| k.as_str().starts_with(&prefix)).cloned().collect();
        // Deeper ids are longer: remove them before their parents.
        ids.sort_by_key(|k| std::cmp::Reverse(k.as_str().len()));
        ids.push(id.clone());
        ids.iter().filter_map(|k| self.remove_one(k)).collect()
    }

    fn remove_one(&mut self, id: &ObjectId) -> Option<MediaObject> {
        let object = self.objects.remove(id)?;
        if let Backing::Element { pipeline, element } | Backing::Hub { pipeline, hub: element } = object.backing {
            self.by_element.remove(&(pipeline, element));
        }
        Some(object)
    }

    /// Ids of the objects `session` references.
    pub fn referenced_by(&self, session: &str) -> Vec<ObjectId> {
        self.objects.values().filter(|o| o.sessions.contains(session)).map(|o| o.id.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_idl::Idl;

    fn object(id: ObjectId, class: &str, backing: Backing, session: &str) -> MediaObject {
        MediaObject {
            name: id.to_string(),
            id,
            class: Idl::get().class(class).unwrap(),
            backing,
            tags: Vec::new(),
            send_tags_in_events: false,
            creation_time: 0,
            properties: Map::new(),
            sessions: [session.to_owned()].into(),
        }
    }

    #[test]
    fn release_takes_the_whole_subtree_children_first() {
        let mut r = Registry::default();
        let p = ObjectId::new(None, "kurento", "MediaPipeline");
        let hub = ObjectId::new(Some(&p), "kurento", "Composite");
        let port = ObjectId::new(Some(&hub), "kurento", "HubPort");
        let other = ObjectId::new(None, "kurento", "MediaPipeline");
        let h = PipelineHandle::new(0, 1);
        r.insert(object(p.clone(), "MediaPipeline", Backing::Pipeline(h), "s"));
        r.insert(object(hub.clone(), "Composite", Backing::Hub { pipeline: h, hub: ElementId(6) }, "s"));
        r.insert(object(port.clone(), "HubPort", Backing::Element { pipeline: h, element: ElementId(7) }, "t"));
        r.insert(object(other.clone(), "MediaPipeline", Backing::Pipeline(PipelineHandle::new(0, 2)), "t"));
        assert_eq!(r.children(&p), std::slice::from_ref(&hub));
        assert_eq!(r.by_element(h, ElementId(7)).map(|o| o.id.clone()), Some(port.clone()));
        assert_eq!(r.by_pipeline(h).map(|o| o.id.clone()), Some(p.clone()), "a pipeline's object, not its children's");
        assert_eq!(r.pipelines().len(), 2);
        assert_eq!(r.referenced_by("t").len(), 2);

        let removed: Vec<ObjectId> = r.remove_tree(&p).into_iter().map(|o| o.id).collect();
        assert_eq!(removed, [port, hub, p.clone()]);
        assert!(r.get(&p).is_none());
        assert!(r.by_element(h, ElementId(7)).is_none());
        assert_eq!(r.pipelines(), [other]);
        assert!(r.remove_tree(&p).is_empty(), "releasing twice is harmless");
    }
}
