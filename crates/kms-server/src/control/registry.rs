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
    /// a MediaElement; its HubPorts are elements.
    Hub { pipeline: PipelineHandle },
    Element { pipeline: PipelineHandle, element: ElementId },
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
        if let Backing::Element { pipeline, element } = object.backing {
            self.by_element.insert((pipeline, element), object.id.clone());
        }
        self.objects.insert(object.id.clone(), object);
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
        if let Backing::Element { pipeline, element } = object.backing {
            self.by_element.remove(&(pipeline, element));
        }
        Some(object)
    }

    /// Ids of the objects `session` references.
    pub fn referenced_by(&self, session: &str) -> Vec<ObjectId> {
        self.objects.values().filter(|o| o.sessions.contains(session)).map(|o| o.id.clone()).collect()
    }
}
