//! The control plane: Kurento Protocol methods over a registry of media objects.
//!
//! [`Server`] holds the registry and the sessions behind one mutex, which is
//! never held across an `.await`: handlers read what they need, release the
//! lock, call the media worker, then lock again to record the outcome.

mod create;
mod events;
mod filters;
mod hubs;
mod invoke;
mod methods;
mod modules;
mod pipeline;
mod properties;
mod registry;
mod request_cache;
mod sdp;
mod server_manager;
mod uri;
mod vision;
mod sessions;
mod stats;
mod elements;
mod webrtc;

pub use methods::{handle_text, ConnectionContext};
pub use server_manager::{cpu_time, KMS_API_VERSION};
pub use registry::Backing;
pub use sessions::ConnId;

use crate::config::Config;
use crate::media::{MediaEvent, MediaHandle, PipelineHandle};
use kms_media::ElementId;
use events::event_data;
use kms_idl::Idl;
use kms_protocol::{ErrorCode, KurentoError, Notification, ObjectId};
use registry::{MediaObject, Registry};
use request_cache::RequestCache;
use serde_json::{json, Map, Value};
use sessions::{ConnSender, Sessions};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::mpsc;

/// Result of an operation handler: `None` for void methods.
pub type OpResult = Result<Option<Value>, KurentoError>;

/// Shared state of the control plane.
pub struct Server {
    pub config: Config,
    /// `serverId` of `connect` results: one UUID per process.
    pub server_id: String,
    pub media: MediaHandle,
    /// HttpPostEndpoint URLs and their listener.
    pub http: crate::http_endpoint::HttpEndpoints,
    /// Set when a stop was asked for: readiness answers 503 while the
    /// server drains (`drainPeriod`).
    pub draining: std::sync::atomic::AtomicBool,
    state: Mutex<State>,
    next_conn: AtomicU64,
}

/// Everything guarded by the server mutex.
pub struct State {
    pub registry: Registry,
    pub sessions: Sessions,
    pub request_cache: RequestCache,
}

impl State {
    /// Sends event `event_type` raised by `source` to its subscribers.
    pub fn publish(&self, source: &ObjectId, event_type: &str, fields: Map<String, Value>) {
        let Some(object) = self.registry.get(source) else { return };
        let data = event_data(object, event_type, fields);
        let text = Notification { object: source.to_string(), event_type: event_type.into(), data }.to_text();
        self.sessions.deliver(source, event_type, &text);
    }
}

impl Server {
    pub fn new(config: Config, media: MediaHandle) -> Arc<Server> {
        let mut registry = Registry::default();
        let class = Idl::get().class("ServerManager").expect("ServerManager is in the core IDL");
        registry.insert(MediaObject {
            id: ObjectId::server_manager(),
            class,
            backing: Backing::ServerManager,
            name: ObjectId::server_manager().to_string(),
            tags: Vec::new(),
            send_tags_in_events: false,
            creation_time: unix_now(),
            properties: Map::new(),
            sessions: Default::default(),
        });
        let request_cache = RequestCache::new(!config.disable_request_cache);
        Arc::new(Server {
            http: crate::http_endpoint::HttpEndpoints::new(config.http_endpoint.clone()),
            draining: Default::default(),
            config,
            server_id: uuid::Uuid::new_v4().to_string(),
            media,
            state: Mutex::new(State { registry, sessions: Sessions::default(), request_cache }),
            next_conn: AtomicU64::new(1),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a handler panicked mid-update; the state is still
        // structurally valid (maps), so keep serving everyone else.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new WebSocket connection and returns its id.
    pub fn open_connection(&self, tx: ConnSender) -> ConnId {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        self.lock().sessions.add_connection(id, tx);
        id
    }

    pub fn close_connection(&self, conn: ConnId) {
        self.lock().sessions.remove_connection(conn);
    }

    /// Publishes media-plane events as Kurento events, until the worker stops.
    pub async fn run_event_pump(self: Arc<Self>, mut rx: mpsc::Receiver<MediaEvent>) {
        while let Some(message) = rx.recv().await {
            let (pipeline, element, event) = match message {
                MediaEvent::Raised { pipeline, element, event } => (pipeline, element, event),
                MediaEvent::Barrier(published) => {
                    let _ = published.send(());
                    continue;
                }
                MediaEvent::PipelineFailed { pipeline, description } => {
                    let state = self.lock();
                    if let Some(source) = state.registry.by_pipeline(pipeline).map(|o| o.id.clone()) {
                        let (name, fields) = events::pipeline_failed(&description);
                        state.publish(&source, name, fields);
                    }
                    continue;
                }
            };
            let state = self.lock();
            let Some(source) = state.registry.by_element(pipeline, element).map(|o| o.id.clone()) else { continue };
            let (name, fields) = events::from_element_event(&event);
            state.publish(&source, name, fields);
        }
    }

    /// Garbage collection every `garbageCollectorPeriod`: sessions unused for a
    /// whole period lose their references, and objects nobody references are
    /// released (KMS `MediaSet::doGarbageCollection`).
    pub async fn run_gc(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.gc_period);
        tick.tick().await;
        loop {
            tick.tick().await;
            let dead = self.lock().sessions.collect_garbage();
            for session in dead {
                tracing::info!(%session, "session expired");
                self.unref_session(&session).await;
            }
        }
    }

    /// Drops every reference `session` holds, releasing orphaned objects.
    pub async fn unref_session(&self, session: &str) {
        let orphans: Vec<ObjectId> = {
            let mut state = self.lock();
            let ids = state.registry.referenced_by(session);
            ids.into_iter()
                .filter(|id| {
                    let Some(o) = state.registry.get_mut(id) else { return false };
                    o.sessions.remove(session);
                    o.sessions.is_empty() && !matches!(o.backing, Backing::ServerManager)
                })
                .collect()
        };
        for id in orphans {
            self.release(&id).await;
        }
    }

    /// Destroys `id` and its descendants (KMS `release`): frees them in the media
    /// worker and raises ObjectDestroyed. Unknown ids are ignored.
    pub async fn release(&self, id: &ObjectId) {
        let removed = {
            let mut state = self.lock();
            let removed = state.registry.remove_tree(id);
            let ids: Vec<ObjectId> = removed.iter().map(|o| o.id.clone()).collect();
            state.sessions.forget_objects(&ids);
            for gone in &ids {
                let mut fields = Map::new();
                fields.insert("objectId".into(), json!(gone.as_str()));
                state.publish(&ObjectId::server_manager(), "ObjectDestroyed", fields);
            }
            removed
        };
        // A tree lives in one pipeline, so on one worker; grouped all the same.
        let mut by_worker: std::collections::BTreeMap<usize, Vec<Backing>> = std::collections::BTreeMap::new();
        for backing in removed.iter().map(|o| o.backing) {
            if let Some(p) = backing.pipeline() {
                by_worker.entry(p.worker()).or_default().push(backing);
            }
        }
        for backings in by_worker.into_values() {
            let Some(pipeline) = backings[0].pipeline() else { continue };
            let result = self
                .media
                .call(pipeline, move |worker, now| {
                    for backing in backings {
                        match backing {
                            Backing::Pipeline(p) => worker.remove_pipeline(p),
                            Backing::Element { pipeline, element } => worker.remove_element(now, pipeline, element),
                            Backing::Hub { pipeline, hub } => worker.remove_hub(now, pipeline, hub),
                            Backing::ServerManager => {}
                        }
                    }
                })
                .await;
            if let Err(e) = result {
                tracing::error!("release of {id}: {e}");
            }
        }
    }

    /// Adds `session` to the holders of `object` and its ancestors; 40101
    /// when the object does not exist.
    pub fn ref_object(&self, session: &str, object: &ObjectId) -> Result<(), KurentoError> {
        let mut state = self.lock();
        if state.registry.get(object).is_none() {
            return Err(KurentoError::object_not_found(object.as_str()));
        }
        let mut next = Some(object.clone());
        while let Some(id) = next {
            if let Some(o) = state.registry.get_mut(&id) {
                o.sessions.insert(session.to_owned());
            }
            next = id.parent();
        }
        Ok(())
    }

    /// A waker for a GStreamer-fed element of `pipeline`, with the slot its
    /// id goes into once it is added; 40003 when GStreamer is not available.
    pub fn island_waker(&self, pipeline: PipelineHandle, slot: &mut Option<Arc<OnceLock<ElementId>>>) -> Result<kms_gst::Waker, KurentoError> {
        kms_gst::init().map_err(|e| KurentoError::new(ErrorCode::UnexpectedError, format!("GStreamer is not available: {e}")))?;
        let (waker, id) = self.media.waker(pipeline);
        *slot = Some(id);
        Ok(waker)
    }

    /// The object `id`, or 40101.
    pub fn lookup<T>(&self, id: &ObjectId, f: impl FnOnce(&MediaObject) -> T) -> Result<T, KurentoError> {
        let state = self.lock();
        state.registry.get(id).map(f).ok_or_else(|| KurentoError::object_not_found(id.as_str()))
    }
}

/// The Kurento Protocol over WebSocket, served by this process's control plane.
impl crate::ws::Service for Server {
    type Conn = ConnectionContext;

    fn limits(&self) -> crate::ws::Limits<'_> {
        crate::ws::Limits::of(&self.config)
    }

    fn open(self: &Arc<Self>, out: ConnSender) -> ConnectionContext {
        ConnectionContext { conn: self.open_connection(out), session: None }
    }

    async fn handle(self: &Arc<Self>, conn: &mut ConnectionContext, text: String) -> String {
        handle_text(self, conn, &text).await
    }

    fn close(self: &Arc<Self>, conn: ConnectionContext) {
        self.close_connection(conn.conn);
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
