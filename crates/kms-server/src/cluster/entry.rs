//! The entry role: the Kurento Protocol for applications, routed to media
//! nodes. `create MediaPipeline` goes to the least-loaded live node that is
//! not draining; every later request follows the node named in the pipeline
//! part of its object id ([`ObjectId::node`]); replies and events come back
//! on the application's session. ServerManager answers for the cluster.
//!
//! Each entry session holds one upstream connection (a node session) per
//! node it uses; the entry session's id is what the application sees, the
//! node sessions' ids never leave the entry. The live nodes are read from
//! Redis every third of the TTL; a node whose record expired is gone: its
//! objects answer 40101 and subscribed applications get the events of
//! [`Session::node_gone`].

use super::records::{self, NodeRecord};
use super::session::{Session, Subscription};
use super::upstream::Upstream;
use crate::config::Config;
use crate::outgoing::Outgoing;
use kms_protocol::{decode_request, ErrorCode, KurentoError, Method, ObjectId, Request};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// An error object as JSON-RPC carries it (a node's, passed through as is).
type RpcError = Value;

pub struct Entry {
    pub config: Config,
    server_id: String,
    /// The live nodes as last read from Redis.
    nodes: Mutex<Vec<NodeRecord>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Rotates placement among equally loaded nodes.
    rotate: AtomicUsize,
}

/// One application connection.
pub struct EntryConn {
    out: Outgoing,
    session: Option<Arc<Session>>,
}

impl Entry {
    pub fn new(config: Config) -> Arc<Entry> {
        Arc::new(Entry { config, server_id: uuid::Uuid::new_v4().to_string(), nodes: Mutex::default(), sessions: Mutex::default(), rotate: AtomicUsize::new(0) })
    }

    fn live(&self) -> Vec<NodeRecord> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn node(&self, id: &str) -> Option<NodeRecord> {
        self.live().into_iter().find(|n| n.id == id)
    }

    /// Reads the live nodes every third of the TTL; nodes that disappeared
    /// are gone for every session. Sessions without a connection for two
    /// garbage-collector periods are forgotten (their node sessions close).
    pub async fn watch_nodes(self: Arc<Self>) {
        let cluster = &self.config.cluster;
        let mut tick = tokio::time::interval(cluster.ttl / 3);
        let mut redis = records::Redis::new(&cluster.redis_url);
        let mut failing = false;
        loop {
            tick.tick().await;
            let Some(c) = redis.get().await else { continue };
            let live = match records::live(c).await {
                Ok(live) => live,
                Err(e) => {
                    // Redis is down or restarting: the nodes are kept as last seen.
                    if !failing {
                        tracing::warn!("cluster entry: cannot read the nodes (keeping the last list): {e}");
                    }
                    failing = true;
                    continue;
                }
            };
            failing = false;
            let gone: Vec<String> = {
                let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
                let gone = nodes.iter().filter(|old| !live.iter().any(|n| n.id == old.id)).map(|n| n.id.clone()).collect();
                for n in live.iter().filter(|n| !nodes.iter().any(|old| old.id == n.id)) {
                    tracing::info!(node = %n.id, uri = %n.uri, "cluster entry: node joined");
                }
                *nodes = live;
                nodes.sort_by(|a, b| a.id.cmp(&b.id));
                gone
            };
            let sessions: Vec<Arc<Session>> = self.sessions.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
            for node in &gone {
                tracing::warn!(%node, "cluster entry: node gone (its record expired or it left)");
                for s in &sessions {
                    s.node_gone(node).await;
                }
            }
            let idle = self.config.gc_period * 2;
            self.sessions.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, s| {
                let state = s.lock();
                state.out.is_some() || state.last_seen.is_none_or(|t| t.elapsed() < idle)
            });
        }
    }

    /// The node for a new pipeline: the least loaded live node that is not
    /// draining (rotating among equals); 40009 when there is none. The
    /// choice counts at once, so a burst between two reads of Redis spreads.
    fn place(&self) -> Result<NodeRecord, KurentoError> {
        let mut nodes = self.nodes.lock().unwrap_or_else(|e| e.into_inner());
        let start = self.rotate.fetch_add(1, Ordering::Relaxed);
        let n = nodes.len();
        let chosen = (0..n)
            .map(|i| (start + i) % n)
            .filter(|&i| !nodes[i].draining)
            .min_by_key(|&i| nodes[i].load())
            .ok_or_else(|| KurentoError::new(ErrorCode::NotEnoughResources, "no media node can take a new pipeline"))?;
        nodes[chosen].pipelines += 1;
        Ok(nodes[chosen].clone())
    }

    /// Handles one request of `conn`; returns the reply text.
    async fn handle_text(self: &Arc<Self>, conn: &mut EntryConn, text: &str) -> String {
        let request = match decode_request(text) {
            Ok(r) => r,
            Err(response) => return response.to_text(),
        };
        let Some(id) = request.id.clone() else {
            let e = KurentoError::new(ErrorCode::ServerError, "Ignoring response because of a notification request");
            return kms_protocol::Response::error(Value::Null, e).to_text();
        };
        let key = request_key(&request);
        let known = match request.session_id() {
            Some(s) => self.sessions.lock().unwrap_or_else(|e| e.into_inner()).get(s).cloned(),
            None => conn.session.clone(),
        };
        if let Some(cached) = known.as_ref().and_then(|s| s.cached(&key)) {
            return cached;
        }
        let reply = match self.execute(conn, &request).await {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
            Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
        };
        let text = reply.to_string();
        if let Some(session) = &conn.session {
            session.remember(key, text.clone());
        }
        text
    }

    async fn execute(self: &Arc<Self>, conn: &mut EntryConn, request: &Request) -> Result<Value, RpcError> {
        let method = Method::decode(request).map_err(|e| e.to_json())?;
        let session = match method {
            Method::Ping => {
                let mut pong = json!({ "value": "pong" });
                if let Some(s) = request.session_id() {
                    pong["sessionId"] = json!(s);
                }
                return Ok(pong);
            }
            Method::Connect { session } => {
                let session = self.attach(conn, session)?;
                return Ok(json!({ "sessionId": session.id, "serverId": self.server_id }));
            }
            _ => {
                // As a server: the session named (made when new, except by
                // keepAlive: 40007), else the connection's, else a new one.
                let named = request.session_id().or(conn.session.as_ref().map(|s| s.id.as_str())).map(str::to_owned);
                let known = named.as_ref().is_some_and(|id| self.sessions.lock().unwrap_or_else(|e| e.into_inner()).contains_key(id));
                match named {
                    Some(id) if !known && matches!(method, Method::KeepAlive) => return Err(invalid_session(&id)),
                    Some(id) if !known => self.create_session(conn, id),
                    Some(id) => self.attach(conn, Some(&id))?,
                    None => self.attach(conn, None)?,
                }
            }
        };
        session.lock().last_seen = Some(Instant::now());
        let params = request.params.clone().unwrap_or_default();
        let mut result = match method {
            Method::KeepAlive => {
                self.each_upstream(&session, "keepAlive").await;
                json!({})
            }
            Method::CloseSession { .. } => {
                let mut params = params.clone();
                params.remove("sessionId");
                for up in session.upstreams.lock().await.values() {
                    let _ = up.call("closeSession", params.clone()).await;
                }
                self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&session.id);
                conn.session = None;
                json!({})
            }
            Method::Create { type_name, ref constructor } => {
                let pipeline = type_name.rsplit('.').next() == Some("MediaPipeline");
                let node = if pipeline { self.place().map_err(|e| e.to_json())?.id } else { node_of(constructor.map()).map_err(|e| e.to_json())? };
                let result = self.forward(&session, &node, "create", &params).await?;
                if let Some(id) = result["value"].as_str().and_then(ObjectId::parse).filter(|_| pipeline) {
                    session.lock().pipelines.entry(node).or_default().insert(id);
                }
                result
            }
            Method::Invoke { ref object, .. } | Method::Describe { ref object } | Method::Release { ref object } | Method::Ref { ref object } | Method::Unref { ref object }
                if *object == ObjectId::server_manager() =>
            {
                self.server_manager(&session, &request.method, &params).await?
            }
            Method::Invoke { ref object, .. } | Method::Describe { ref object } | Method::Release { ref object } | Method::Ref { ref object } | Method::Unref { ref object } => {
                let node = object.node().ok_or_else(|| KurentoError::object_not_found(object.as_str()).to_json())?.to_owned();
                let result = self.forward(&session, &node, &request.method, &params).await?;
                if matches!(method, Method::Release { .. }) {
                    if let Some(set) = session.lock().pipelines.get_mut(&node) {
                        set.remove(object);
                    }
                }
                result
            }
            Method::Subscribe { ref object, event } => self.subscribe(&session, object, event, &params).await?,
            Method::Unsubscribe { subscription } => {
                let sub = session.lock().subscriptions.remove(subscription);
                let Some(sub) = sub else {
                    // Not one of ours: the node answers what KMS answers.
                    let any = self.live().into_iter().next().ok_or_else(|| no_nodes().to_json())?;
                    return self.forward(&session, &any.id, "unsubscribe", &params).await.map(|r| with_session(r, &session));
                };
                for (node, node_sub) in &sub.at {
                    let mut p = params.clone();
                    p.insert("subscription".into(), json!(node_sub));
                    self.forward(&session, node, "unsubscribe", &p).await?;
                }
                json!({})
            }
            Method::Transaction { operations } => {
                let node = transaction_node(operations).map_or_else(|| self.place().map(|n| n.id), Ok).map_err(|e| e.to_json())?;
                self.forward(&session, &node, "transaction", &params).await?
            }
            Method::Ping | Method::Connect { .. } => unreachable!("answered above"),
        };
        Ok(with_session(std::mem::take(&mut result), &session))
    }

    /// Binds `conn` to the session `named` (40007 when the entry does not
    /// know it) or to a new one.
    fn attach(&self, conn: &mut EntryConn, named: Option<&str>) -> Result<Arc<Session>, RpcError> {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        let session = match named {
            Some(id) => sessions.get(id).cloned().ok_or_else(|| invalid_session(id))?,
            None => {
                let s = Session::new(uuid::Uuid::new_v4().to_string());
                sessions.insert(s.id.clone(), s.clone());
                s
            }
        };
        session.lock().out = Some(conn.out.clone());
        session.lock().last_seen = Some(Instant::now());
        conn.session = Some(session.clone());
        Ok(session)
    }

    /// A new session with the id a request named (KMS makes a session for an
    /// id it does not know).
    fn create_session(&self, conn: &mut EntryConn, id: String) -> Arc<Session> {
        let session = self.sessions.lock().unwrap_or_else(|e| e.into_inner()).entry(id.clone()).or_insert_with(|| Session::new(id)).clone();
        session.lock().out = Some(conn.out.clone());
        conn.session = Some(session.clone());
        session
    }

    /// The session's upstream to `node`, opened when it has none (or its
    /// connection ended while the node is still live).
    async fn upstream(&self, session: &Arc<Session>, node: &str) -> Result<Arc<Upstream>, KurentoError> {
        let mut upstreams = session.upstreams.lock().await;
        if let Some(up) = upstreams.get(node).filter(|u| !u.is_closed()) {
            return Ok(up.clone());
        }
        let record = self.node(node).ok_or_else(|| KurentoError::new(ErrorCode::MediaObjectNotFound, format!("media node {node} is gone")))?;
        let weak = Arc::downgrade(session);
        let events: super::upstream::EventSink = Arc::new(move |text| {
            if let Some(s) = weak.upgrade() {
                s.deliver(text);
            }
        });
        let up = Upstream::open(&record.id, &record.uri, events)
            .await
            .map_err(|e| KurentoError::new(ErrorCode::MediaObjectNotFound, e.to_string()))?;
        upstreams.insert(node.to_owned(), up.clone());
        Ok(up)
    }

    /// Sends `method` with `params` to `node` on the session's node session;
    /// the node's result, or its error as it sent it. A node that is gone
    /// answers 40101 (its objects no longer exist).
    async fn forward(&self, session: &Arc<Session>, node: &str, method: &str, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let up = self.upstream(session, node).await.map_err(|e| e.to_json())?;
        let mut params = params.clone();
        params.remove("sessionId");
        let reply = up.call(method, params).await.map_err(|e| KurentoError::new(ErrorCode::MediaObjectNotFound, e.to_string()).to_json())?;
        match reply.get("error") {
            Some(error) => Err(error.clone()),
            None => Ok(reply.get("result").cloned().unwrap_or_else(|| json!({}))),
        }
    }

    async fn each_upstream(&self, session: &Arc<Session>, method: &str) {
        let ups: Vec<Arc<Upstream>> = session.upstreams.lock().await.values().cloned().collect();
        for up in ups {
            let _ = up.call(method, Map::new()).await;
        }
    }

    /// subscribe: on the object's node, or (ServerManager) on every live node.
    async fn subscribe(&self, session: &Arc<Session>, object: &ObjectId, event: &str, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let nodes: Vec<String> = if *object == ObjectId::server_manager() {
            self.live().into_iter().map(|n| n.id).collect()
        } else {
            vec![object.node().ok_or_else(|| KurentoError::object_not_found(object.as_str()).to_json())?.to_owned()]
        };
        if nodes.is_empty() {
            return Err(no_nodes().to_json());
        }
        let mut at = Vec::new();
        for node in nodes {
            let result = self.forward(session, &node, "subscribe", params).await?;
            at.push((node, result["value"].as_str().unwrap_or_default().to_owned()));
        }
        let id = at[0].1.clone();
        session.lock().subscriptions.insert(id.clone(), Subscription { object: object.clone(), event: event.to_owned(), at });
        Ok(json!({ "value": id }))
    }

    /// Requests on the ServerManager: getPipelines over every live node,
    /// getSessions the entry's own, anything else from one live node.
    async fn server_manager(&self, session: &Arc<Session>, method: &str, params: &Map<String, Value>) -> Result<Value, RpcError> {
        let operation = params.get("operation").and_then(Value::as_str);
        match (method, operation) {
            ("invoke", Some("getPipelines")) => {
                let mut all = Vec::new();
                for node in self.live() {
                    let result = self.forward(session, &node.id, method, params).await?;
                    all.extend(result["value"].as_array().cloned().unwrap_or_default());
                }
                Ok(json!({ "value": all }))
            }
            ("invoke", Some("getSessions")) => {
                let ids: Vec<String> = self.sessions.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
                Ok(json!({ "value": ids }))
            }
            _ => {
                let any = self.live().into_iter().next().ok_or_else(|| no_nodes().to_json())?;
                self.forward(session, &any.id, method, params).await
            }
        }
    }
}

/// Health for a load balancer in front of the entry (beside the Kurento
/// port, as a server's): `/health/live` while the process runs,
/// `/health/ready` 200 while at least one live node takes new pipelines,
/// else 503; `/metrics` the entry's nodes and sessions (Prometheus text).
pub fn health_router(entry: Arc<Entry>) -> axum::Router {
    use axum::extract::State;
    use axum::http::StatusCode;
    async fn ready(State(entry): State<Arc<Entry>>) -> (StatusCode, String) {
        let open = entry.live().iter().filter(|n| !n.draining).count();
        match open {
            0 => (StatusCode::SERVICE_UNAVAILABLE, "no live media node takes new pipelines\n".into()),
            n => (StatusCode::OK, format!("ready: {n} media nodes\n")),
        }
    }
    async fn metrics(State(entry): State<Arc<Entry>>) -> String {
        let mut text = String::from("# HELP kms_cluster_nodes Live media nodes, by draining state.\n# TYPE kms_cluster_nodes gauge\n");
        let live = entry.live();
        for draining in [false, true] {
            text += &format!("kms_cluster_nodes{{draining=\"{draining}\"}} {}\n", live.iter().filter(|n| n.draining == draining).count());
        }
        text += "# HELP kms_cluster_node_pipelines MediaPipelines per live node, as last read from Redis.\n# TYPE kms_cluster_node_pipelines gauge\n";
        for n in &live {
            text += &format!("kms_cluster_node_pipelines{{node=\"{}\"}} {}\n", n.id, n.pipelines);
        }
        let sessions = entry.sessions.lock().unwrap_or_else(|e| e.into_inner()).len();
        text += &format!("# HELP kms_cluster_entry_sessions Application sessions at the entry.\n# TYPE kms_cluster_entry_sessions gauge\nkms_cluster_entry_sessions {sessions}\n");
        text
    }
    axum::Router::new()
        .route("/health/live", axum::routing::get(|| async { "alive\n" }))
        .route("/health/ready", axum::routing::get(ready))
        .route("/metrics", axum::routing::get(metrics))
        .with_state(entry)
}

/// The Kurento Protocol over WebSocket, served by the entry.
impl crate::ws::Service for Entry {
    type Conn = EntryConn;

    fn limits(&self) -> crate::ws::Limits<'_> {
        crate::ws::Limits::of(&self.config)
    }

    fn open(self: &Arc<Self>, out: Outgoing) -> EntryConn {
        EntryConn { out, session: None }
    }

    async fn handle(self: &Arc<Self>, conn: &mut EntryConn, text: String) -> String {
        self.handle_text(conn, &text).await
    }

    fn close(self: &Arc<Self>, conn: EntryConn) {
        if let Some(session) = conn.session {
            let mut state = session.lock();
            if state.out.as_ref().is_some_and(|o| o.same_channel(&conn.out)) {
                state.out = None;
            }
            state.last_seen = Some(Instant::now());
        }
    }
}

/// The node of an object named in create's constructor parameters (the
/// pipeline, or the hub of a HubPort); 40101 when none names a node.
fn node_of(constructor: Option<&Map<String, Value>>) -> Result<String, KurentoError> {
    let ids = constructor.into_iter().flat_map(|m| m.values()).filter_map(|v| v.as_str().or_else(|| kms_protocol::params::embedded_id(v)));
    for text in ids {
        if let Some(node) = ObjectId::parse(text).as_ref().and_then(ObjectId::node) {
            return Ok(node.to_owned());
        }
    }
    Err(KurentoError::new(ErrorCode::MediaObjectNotFound, "the constructor names no object of a live media node"))
}

/// The node a transaction runs on: the first operation's object (or
/// constructor object) that names one; `None` when it creates its pipeline.
fn transaction_node(operations: &[Value]) -> Option<String> {
    operations.iter().find_map(|op| {
        let params = op.get("params")?;
        let object = params.get("object").and_then(Value::as_str).and_then(ObjectId::parse);
        object.or_else(|| node_of(params.get("constructorParams").and_then(Value::as_object)).ok().map(|n| ObjectId::new_on_node(&n, "x", "X")))
            .and_then(|o| o.node().map(str::to_owned))
    })
}

fn with_session(mut result: Value, session: &Session) -> Value {
    if let Value::Object(m) = &mut result {
        m.insert("sessionId".into(), json!(session.id));
    }
    result
}

fn invalid_session(id: &str) -> RpcError {
    KurentoError::new(ErrorCode::InvalidSession, format!("Invalid session '{id}'")).to_json()
}

fn no_nodes() -> KurentoError {
    KurentoError::new(ErrorCode::NotEnoughResources, "no live media node")
}

/// The request's identity for the reply cache: its id and what it asks
/// (method and parameters, the session id aside).
fn request_key(request: &Request) -> String {
    let mut params = request.params.clone().unwrap_or_default();
    params.remove("sessionId");
    let mut h = std::collections::hash_map::DefaultHasher::new();
    request.method.hash(&mut h);
    Value::Object(params).to_string().hash(&mut h);
    format!("{}#{:x}", request.id.as_ref().map(Value::to_string).unwrap_or_default(), h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_route_by_the_node_in_their_ids() {
        let pipeline = ObjectId::new_on_node("node-b", "kurento", "MediaPipeline");
        let constructor = json!({ "mediaPipeline": pipeline.as_str() });
        assert_eq!(node_of(constructor.as_object()).unwrap(), "node-b");
        // kurento-client 7.3 sends some objects whole.
        let whole = json!({ "hub": { "id": format!("{}/x_kurento.Composite", pipeline.as_str()) } });
        assert_eq!(node_of(whole.as_object()).unwrap(), "node-b");
        assert_eq!(node_of(json!({ "uri": "file:///x" }).as_object()).unwrap_err().code, ErrorCode::MediaObjectNotFound);
        let ops = [
            json!({ "method": "create", "params": { "type": "MediaPipeline" } }),
            json!({ "method": "invoke", "params": { "object": pipeline.as_str(), "operation": "getName" } }),
        ];
        assert_eq!(transaction_node(&ops).as_deref(), Some("node-b"));
        assert_eq!(transaction_node(&ops[..1]), None, "a transaction that makes its pipeline is placed");
    }

    #[test]
    fn the_reply_cache_key_ignores_the_session_only() {
        let request = |text: &str| decode_request(text).unwrap();
        let a = request_key(&request(r#"{"jsonrpc":"2.0","id":3,"method":"invoke","params":{"object":"o","operation":"getName","sessionId":"s1"}}"#));
        let b = request_key(&request(r#"{"jsonrpc":"2.0","id":3,"method":"invoke","params":{"object":"o","operation":"getName","sessionId":"s2"}}"#));
        let c = request_key(&request(r#"{"jsonrpc":"2.0","id":3,"method":"invoke","params":{"object":"o","operation":"getId"}}"#));
        assert_eq!(a, b);
        assert_ne!(a, c, "the same id asking something else is another request");
    }
}
