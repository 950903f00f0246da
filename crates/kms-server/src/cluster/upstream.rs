//! One WebSocket from the entry to a media node, for one entry session:
//! the node session it opened, requests matched to replies by id, and the
//! node's events handed to the entry session as they come.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long opening a node connection may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(5);
/// How long a request to a node may take (stopAndWait waits up to 30 s there).
const CALL_LIMIT: Duration = Duration::from_secs(60);
/// Frames queued towards one node before a request waits for room.
const OUT_QUEUE: usize = 256;

/// Where a node's events go: the entry session's current connection.
pub type EventSink = Arc<dyn Fn(String) + Send + Sync>;

/// The node cannot be reached, or the connection to it ended.
#[derive(Debug, thiserror::Error)]
#[error("media node {0} cannot be reached: {1}")]
pub struct Unreachable(pub String, pub String);

/// A live connection to one node.
pub struct Upstream {
    pub node: String,
    out: mpsc::Sender<String>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Value>>>,
    next_id: AtomicU64,
    /// The session the node gave this connection.
    node_session: Mutex<Option<String>>,
    closed: AtomicBool,
}

impl Upstream {
    /// Connects to `uri` and opens a node session there.
    pub async fn open(node: &str, uri: &str, events: EventSink) -> Result<Arc<Upstream>, Unreachable> {
        let unreachable = |e: String| Unreachable(node.to_owned(), e);
        let (socket, _) = tokio::time::timeout(CONNECT_LIMIT, tokio_tungstenite::connect_async(uri))
            .await
            .map_err(|_| unreachable("connection timed out".into()))?
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut sink, mut stream) = socket.split();
        let (out, mut out_rx) = mpsc::channel::<String>(OUT_QUEUE);
        let upstream = Arc::new(Upstream {
            node: node.to_owned(),
            out,
            pending: Mutex::default(),
            next_id: AtomicU64::new(1),
            node_session: Mutex::default(),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(async move {
            while let Some(text) = out_rx.recv().await {
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });
        let reader = Arc::downgrade(&upstream);
        tokio::spawn(async move {
            while let Some(Ok(message)) = stream.next().await {
                let text = match message {
                    Message::Text(t) => t.to_string(),
                    Message::Close(_) => break,
                    _ => continue,
                };
                let Some(up) = reader.upgrade() else { break };
                up.incoming(text, &events);
            }
            if let Some(up) = reader.upgrade() {
                up.close();
            }
        });
        let reply = upstream.call("connect", Map::new()).await?;
        let session = reply["result"]["sessionId"].as_str().ok_or_else(|| unreachable(format!("connect answered {reply}")))?;
        *upstream.node_session.lock().unwrap_or_else(|e| e.into_inner()) = Some(session.to_owned());
        Ok(upstream)
    }

    fn incoming(&self, text: String, events: &EventSink) {
        let Ok(value) = serde_json::from_str::<Value>(&text) else { return };
        if value.get("method").is_some() {
            // A notification (onEvent): the session's application gets it as sent.
            return events(text);
        }
        let Some(id) = value.get("id").and_then(Value::as_u64) else { return };
        if let Some(reply) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id) {
            let _ = reply.send(value);
        }
    }

    /// Sends `method` with `params` (the node session's id added) and returns
    /// the node's whole response (`result` or `error`).
    pub async fn call(&self, method: &str, mut params: Map<String, Value>) -> Result<Value, Unreachable> {
        let gone = |why: &str| Unreachable(self.node.clone(), why.to_owned());
        if self.is_closed() {
            return Err(gone("its connection closed"));
        }
        if let Some(session) = self.node_session.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            params.insert("sessionId".into(), json!(session));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tx);
        let frame = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string();
        if self.out.send(frame).await.is_err() {
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return Err(gone("its connection closed"));
        }
        match tokio::time::timeout(CALL_LIMIT, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(gone("its connection closed")),
            Err(_) => {
                self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                Err(gone("it did not answer in time"))
            }
        }
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed) || self.out.is_closed()
    }

    /// Ends the connection: requests waiting on it fail at once.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
