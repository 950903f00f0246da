//! An application's session at the entry: its current connection, one
//! upstream connection (and node session) per media node it uses, its
//! subscriptions, the pipelines it made, and its recent replies (a request
//! sent again after a reconnection gets the same answer, as KMS's request
//! cache gives it).

use super::upstream::Upstream;
use crate::outgoing::Outgoing;
use kms_protocol::{ErrorCode, Notification, ObjectId};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Replies kept per session for requests sent again.
const CACHED_REPLIES: usize = 256;

/// A subscription the application made through the entry.
pub struct Subscription {
    pub object: ObjectId,
    pub event: String,
    /// (node, the node's subscription id): one per node for ServerManager
    /// events, else the object's node.
    pub at: Vec<(String, String)>,
}

#[derive(Default)]
pub struct SessionState {
    pub out: Option<Outgoing>,
    pub subscriptions: HashMap<String, Subscription>,
    /// MediaPipelines created through this session, by node.
    pub pipelines: HashMap<String, HashSet<ObjectId>>,
    replies: VecDeque<(String, String)>,
    /// When the application last had a connection or sent a request.
    pub last_seen: Option<Instant>,
}

pub struct Session {
    pub id: String,
    state: Mutex<SessionState>,
    pub upstreams: tokio::sync::Mutex<HashMap<String, Arc<Upstream>>>,
}

impl Session {
    pub fn new(id: String) -> Arc<Session> {
        Arc::new(Session { id, state: Mutex::default(), upstreams: tokio::sync::Mutex::default() })
    }

    pub fn lock(&self) -> MutexGuard<'_, SessionState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `text` to the application's current connection, if it has one.
    pub fn deliver(&self, text: String) {
        if let Some(out) = &self.lock().out {
            out.send(text);
        }
    }

    /// The reply already given to the request `key`, if any.
    pub fn cached(&self, key: &str) -> Option<String> {
        self.lock().replies.iter().find(|(k, _)| k == key).map(|(_, r)| r.clone())
    }

    pub fn remember(&self, key: String, reply: String) {
        let mut state = self.lock();
        if state.replies.len() >= CACHED_REPLIES {
            state.replies.pop_front();
        }
        state.replies.push_back((key, reply));
    }

    /// Node `node` is gone: its upstream is dropped, and the application gets
    /// what KMS sends when objects end: ObjectDestroyed for each pipeline of
    /// that node it made (to its ServerManager ObjectDestroyed
    /// subscriptions), and an Error event on each object of that node it
    /// subscribed to Error on. Its subscriptions there end.
    pub async fn node_gone(&self, node: &str) {
        if let Some(up) = self.upstreams.lock().await.remove(node) {
            up.close();
        }
        let mut notes = Vec::new();
        {
            let mut state = self.lock();
            let pipelines = state.pipelines.remove(node).unwrap_or_default();
            for sub in state.subscriptions.values() {
                if sub.object == ObjectId::server_manager() && sub.event == "ObjectDestroyed" {
                    for p in &pipelines {
                        notes.push(notification(&sub.object, "ObjectDestroyed", json!({ "objectId": p.as_str() })));
                    }
                } else if sub.event == "Error" && sub.object.node() == Some(node) {
                    let code = ErrorCode::UnexpectedError;
                    let fields = json!({
                        "type": code.type_name().unwrap_or("UNEXPECTED_ERROR"),
                        "errorCode": code.code(),
                        "description": format!("media node {node} is gone: {} no longer exists", sub.object),
                    });
                    notes.push(notification(&sub.object, "Error", fields));
                }
            }
            state.subscriptions.retain(|_, s| {
                s.at.retain(|(n, _)| n != node);
                !s.at.is_empty()
            });
        }
        for note in notes {
            self.deliver(note);
        }
    }
}

/// An `onEvent` notification as a node would send it.
fn notification(source: &ObjectId, event_type: &str, fields: Value) -> String {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut data = match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    data.insert("source".into(), json!(source.as_str()));
    data.entry("type").or_insert_with(|| json!(event_type));
    data.insert("tags".into(), json!([]));
    data.insert("timestamp".into(), json!((millis / 1000).to_string()));
    data.insert("timestampMillis".into(), json!(millis.to_string()));
    Notification { object: source.to_string(), event_type: event_type.into(), data: Value::Object(data) }.to_text()
}
