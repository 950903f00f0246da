//! The WebSocket behind a [`crate::KurentoClient`]: one task owns it, sends
//! requests, matches replies to them by id, hands `onEvent` notifications to
//! subscribers, and reconnects when the socket is lost.
//!
//! Reconnection follows the Kurento Protocol (and the official clients): a
//! new WebSocket sends `connect` with the old `sessionId`; the server keeps a
//! session (its objects and subscriptions) for a while after its socket
//! closes, so the session continues. Requests that had no reply yet are sent
//! again with their ids; the server's request cache answers a repeated id
//! without running it twice. When the server no longer knows the session,
//! the client goes on with a new one and every subscription ends.

use crate::Error;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Event senders by (object id, event type).
pub(crate) type Subscribers = Arc<Mutex<HashMap<(String, String), Vec<mpsc::UnboundedSender<Value>>>>>;

/// What the client asks of the connection task.
pub(crate) enum Command {
    /// A request with its id; the reply (its `result`, or its error) goes back.
    Request { id: u64, method: String, params: Map<String, Value>, reply: oneshot::Sender<Result<Value, Error>> },
    /// The caller stopped waiting (timeout): the reply will not be wanted.
    Forget(u64),
}

/// A reconnection, as [`crate::KurentoClient::reconnections`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnected {
    /// The server still knew the session: objects and subscriptions live on.
    pub same_session: bool,
}

struct Pending {
    method: String,
    params: Map<String, Value>,
    reply: oneshot::Sender<Result<Value, Error>>,
}

/// The connection task's state.
pub(crate) struct Connection {
    pub url: String,
    pub reconnect_timeout: Duration,
    pub subscribers: Subscribers,
    pub reconnections: broadcast::Sender<Reconnected>,
    session: Option<String>,
    pending: BTreeMap<u64, Pending>,
    /// Ids of the connection's own requests (`connect`), apart from the client's.
    own_ids: u64,
}

enum Lost {
    /// Every client handle is gone: the task ends.
    Finished,
    /// The socket failed or closed: reconnect.
    Socket(String),
}

pub(crate) async fn open(url: &str) -> Result<Socket, Error> {
    let (socket, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| Error::Connect(format!("{url}: {e}")))?;
    Ok(socket)
}

impl Connection {
    pub fn new(url: String, reconnect_timeout: Duration, subscribers: Subscribers, reconnections: broadcast::Sender<Reconnected>) -> Connection {
        Connection { url, reconnect_timeout, subscribers, reconnections, session: None, pending: BTreeMap::new(), own_ids: u64::MAX / 2 }
    }

    /// Serves `socket`, then each new one after a loss, until the client is
    /// dropped or the server stays unreachable for `reconnect_timeout`.
    pub async fn run(mut self, mut socket: Socket, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            match self.serve(&mut socket, &mut commands).await {
                Lost::Finished => {
                    let _ = socket.close(None).await;
                    return;
                }
                Lost::Socket(reason) => tracing::info!(url = %self.url, "Kurento connection lost ({reason}): reconnecting"),
            }
            match self.reconnect(&mut commands).await {
                Some(new) => socket = new,
                None => {
                    self.fail_all(&format!("the server at {} could not be reached again within {:?}", self.url, self.reconnect_timeout));
                    // Later requests fail at once: the receiver is dropped with the task.
                    return;
                }
            }
        }
    }

    async fn serve(&mut self, socket: &mut Socket, commands: &mut mpsc::UnboundedReceiver<Command>) -> Lost {
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => return Lost::Finished,
                    Some(Command::Forget(id)) => { self.pending.remove(&id); }
                    Some(Command::Request { id, method, params, reply }) => {
                        let text = self.request_text(id, &method, params.clone());
                        self.pending.insert(id, Pending { method, params, reply });
                        if let Err(e) = socket.send(Message::text(text)).await {
                            return Lost::Socket(e.to_string());
                        }
                    }
                },
                message = socket.next() => match message {
                    None => return Lost::Socket("closed by the server".into()),
                    Some(Err(e)) => return Lost::Socket(e.to_string()),
                    Some(Ok(Message::Text(text))) => self.incoming(&text),
                    Some(Ok(Message::Close(_))) => return Lost::Socket("closed by the server".into()),
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    fn request_text(&self, id: u64, method: &str, mut params: Map<String, Value>) -> String {
        if let Some(session) = &self.session {
            params.insert("sessionId".into(), Value::from(session.as_str()));
        }
        json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string()
    }

    /// A reply or a notification from the server.
    fn incoming(&mut self, text: &str) {
        let Ok(message) = serde_json::from_str::<Value>(text) else {
            return tracing::warn!("Kurento server sent a message that is not JSON: {text:.200}");
        };
        if message.get("method").and_then(Value::as_str) == Some("onEvent") {
            return self.event(&message["params"]["value"]);
        }
        let Some(id) = message.get("id").and_then(Value::as_u64) else {
            return tracing::warn!("Kurento server sent a message without id or method: {text:.200}");
        };
        let Some(pending) = self.pending.remove(&id) else { return };
        let outcome = match message.get("error") {
            Some(error) => Err(Error::from_rpc(&pending.method, error)),
            None => {
                let result = message.get("result").cloned().unwrap_or(Value::Null);
                if let Some(session) = result.get("sessionId").and_then(Value::as_str) {
                    self.session = Some(session.to_owned());
                }
                Ok(result)
            }
        };
        let _ = pending.reply.send(outcome);
    }

    fn event(&mut self, value: &Value) {
        let (Some(object), Some(kind)) = (value.get("object").and_then(Value::as_str), value.get("type").and_then(Value::as_str)) else {
            return tracing::warn!("onEvent without object or type: {value}");
        };
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(senders) = subscribers.get_mut(&(object.to_owned(), kind.to_owned())) {
            let data = value.get("data").cloned().unwrap_or(Value::Null);
            senders.retain(|s| s.send(data.clone()).is_ok());
        }
    }

    /// A new socket within `reconnect_timeout`, with the session resumed
    /// (or a new one) and the unanswered requests sent again.
    async fn reconnect(&mut self, commands: &mut mpsc::UnboundedReceiver<Command>) -> Option<Socket> {
        let deadline = tokio::time::Instant::now() + self.reconnect_timeout;
        let mut delay = Duration::from_millis(100);
        loop {
            if let Ok(mut socket) = open(&self.url).await {
                match self.resume(&mut socket).await {
                    Ok(same_session) => {
                        for (id, p) in &self.pending {
                            let text = self.request_text(*id, &p.method, p.params.clone());
                            if socket.send(Message::text(text)).await.is_err() {
                                break;
                            }
                        }
                        let _ = self.reconnections.send(Reconnected { same_session });
                        return Some(socket);
                    }
                    Err(e) => tracing::info!("Kurento reconnection: {e}"),
                }
            }
            // Requests made meanwhile wait in `pending` (or fail when they are forgotten).
            while let Ok(command) = commands.try_recv() {
                match command {
                    Command::Forget(id) => {
                        self.pending.remove(&id);
                    }
                    Command::Request { id, method, params, reply } => {
                        self.pending.insert(id, Pending { method, params, reply });
                    }
                }
            }
            if tokio::time::Instant::now() + delay > deadline {
                return None;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// `connect` with the old session id: true when the server still has it.
    async fn resume(&mut self, socket: &mut Socket) -> Result<bool, Error> {
        let Some(session) = self.session.clone() else { return Ok(true) };
        self.own_ids += 1;
        let id = self.own_ids;
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": "connect", "params": { "sessionId": session } });
        socket.send(Message::text(request.to_string())).await.map_err(|e| Error::Connect(e.to_string()))?;
        let reply = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(message) = socket.next().await {
                match message {
                    Ok(Message::Text(text)) => {
                        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                        if value.get("id").and_then(Value::as_u64) == Some(id) {
                            return Ok(value);
                        }
                        // Anything else (an event of the resumed session) goes the usual way.
                        self.incoming(&text);
                    }
                    Ok(_) => {}
                    Err(e) => return Err(Error::Connect(e.to_string())),
                }
            }
            Err(Error::Connect("closed during connect".into()))
        })
        .await
        .map_err(|_| Error::Connect("no reply to connect".into()))??;
        if reply.get("error").is_none() {
            return Ok(true);
        }
        // The server dropped the session: a new one, and no subscription survives.
        tracing::warn!(session, "the Kurento server no longer knows this session: continuing with a new one");
        self.session = None;
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(false)
    }

    fn fail_all(&mut self, why: &str) {
        for (_, p) in std::mem::take(&mut self.pending) {
            let _ = p.reply.send(Err(Error::Disconnected(why.to_owned())));
        }
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}
