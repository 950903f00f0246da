//! A typed, async client for the Kurento Protocol (JSON-RPC 2.0 over a
//! WebSocket), for this server and for Kurento Media Server alike.
//!
//! Every remote class, method, property, event and complex type of the kmd
//! files (core, elements, filters and the four vision modules) is generated
//! at build time (`build.rs`, through `kms-idl`): `WebRtcEndpoint` derefs to
//! `BaseRtpEndpoint`, ... down to `MediaObject`, so inherited methods are
//! there; methods are `async fn` with the IDL's parameter and return types
//! (optional parameters are `Option`s); a property `p` has `get_p` and, when
//! settable, `set_p`; an event `E` of a class has `on_e()`, a typed
//! [`Subscription`]; constructors are builders (`MediaPipeline::builder(&client)`,
//! `WebRtcEndpoint::builder(&pipeline).use_data_channels(true).build()`).
//!
//! ```no_run
//! # async fn hello() -> Result<(), kurento_client::Error> {
//! use kurento_client::{KurentoClient, MediaPipeline, WebRtcEndpoint};
//! let client = KurentoClient::connect("ws://127.0.0.1:8888/kurento").await?;
//! let pipeline = MediaPipeline::builder(&client).build().await?;
//! let endpoint = WebRtcEndpoint::builder(&pipeline).build().await?;
//! endpoint.connect(&endpoint, None, None, None).await?; // loopback
//! let mut candidates = endpoint.on_ice_candidate_found().await?;
//! let answer = endpoint.process_offer("v=0 ...").await?;
//! endpoint.gather_candidates().await?;
//! while let Some(found) = candidates.next().await {
//!     println!("candidate {}", found?.candidate.candidate);
//! }
//! # Ok(()) }
//! ```
//!
//! The connection is one task on the caller's tokio runtime; a lost socket
//! is reconnected to the same session (see [`connection`]'s rules), and
//! [`KurentoClient::reconnections`] reports each reconnection.

mod connection;

pub use connection::Reconnected;

use connection::{Command, Connection, Subscribers};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};

#[allow(clippy::all, missing_docs)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/generated.rs"));
}
pub use generated::*;

/// What a request can end with besides its result.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a JSON-RPC error: Kurento's `code` (40101
    /// object not found, 40107 bad parameter, ...), `message`, and `data`
    /// (KMS puts the error `type` there).
    #[error("{method}: {message} (code {code})")]
    Rpc { method: String, code: i64, message: String, data: Option<Value> },
    /// The WebSocket could not be opened.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection was lost and could not be re-established in time.
    #[error("disconnected: {0}")]
    Disconnected(String),
    /// No reply within the client's request timeout.
    #[error("no reply to {0} within the request timeout")]
    Timeout(String),
    /// A value did not have the type the kmd gives it.
    #[error("unexpected value: {0}")]
    Decode(String),
}

impl Error {
    fn from_rpc(method: &str, error: &Value) -> Error {
        Error::Rpc {
            method: method.to_owned(),
            code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
            data: error.get("data").cloned(),
        }
    }

    /// The Kurento error code of a server error.
    pub fn code(&self) -> Option<i64> {
        match self {
            Error::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Settings of a [`KurentoClient`].
#[derive(Debug, Clone)]
pub struct Options {
    /// How long a request waits for its reply (the official JavaScript client's `request_timeout`, 20 s).
    pub request_timeout: Duration,
    /// How long a lost connection is retried before requests fail (30 s).
    pub reconnect_timeout: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options { request_timeout: Duration::from_secs(20), reconnect_timeout: Duration::from_secs(30) }
    }
}

/// A connection to a Kurento server; cheap to clone (every clone shares it).
/// The connection closes when the last clone, and the last object made
/// through it, is dropped.
#[derive(Clone)]
pub struct KurentoClient {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for KurentoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KurentoClient").field("url", &self.shared.url).finish()
    }
}

struct Shared {
    url: String,
    options: Options,
    next_id: AtomicU64,
    commands: mpsc::UnboundedSender<Command>,
    subscribers: Subscribers,
    /// Serializes subscribing, so one server subscription serves each (object, event).
    subscribing: tokio::sync::Mutex<()>,
    reconnections: broadcast::Sender<Reconnected>,
}

impl KurentoClient {
    /// Connects to `url` (`ws://host:8888/kurento`) with default [`Options`].
    pub async fn connect(url: &str) -> Result<KurentoClient, Error> {
        KurentoClient::connect_with(url, Options::default()).await
    }

    /// Connects to `url`; the connection task runs on the current tokio runtime.
    pub async fn connect_with(url: &str, options: Options) -> Result<KurentoClient, Error> {
        let socket = connection::open(url).await?;
        let (commands, receiver) = mpsc::unbounded_channel();
        let subscribers = Subscribers::default();
        let (reconnections, _) = broadcast::channel(16);
        let connection = Connection::new(url.to_owned(), options.reconnect_timeout, subscribers.clone(), reconnections.clone());
        tokio::spawn(connection.run(socket, receiver));
        let shared = Shared { url: url.to_owned(), options, next_id: AtomicU64::new(1), commands, subscribers, subscribing: tokio::sync::Mutex::new(()), reconnections };
        Ok(KurentoClient { shared: Arc::new(shared) })
    }

    /// The server's `ServerManager` (`getInfo`, `getPipelines`, `getKmd`, ...).
    pub fn server_manager(&self) -> ServerManager {
        ServerManager::from_object(RemoteObject::new(self.clone(), "manager_ServerManager".to_owned()))
    }

    /// Each reconnection from now on (whether the session survived).
    pub fn reconnections(&self) -> broadcast::Receiver<Reconnected> {
        self.shared.reconnections.subscribe()
    }

    /// Sends a raw request (`method`, `params`) and returns its `result`.
    /// The typed API is built on this; it is public for methods a server
    /// adds beyond the kmd.
    pub async fn request(&self, method: &str, params: Map<String, Value>) -> Result<Value, Error> {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, answer) = oneshot::channel();
        let command = Command::Request { id, method: method.to_owned(), params, reply };
        let closed = || Error::Disconnected(format!("the connection to {} has ended", self.shared.url));
        self.shared.commands.send(command).map_err(|_| closed())?;
        match tokio::time::timeout(self.shared.options.request_timeout, answer).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(closed()),
            Err(_) => {
                let _ = self.shared.commands.send(Command::Forget(id));
                Err(Error::Timeout(method.to_owned()))
            }
        }
    }

    /// `create`: the new object's id.
    async fn create(&self, type_name: &str, params: Map<String, Value>) -> Result<String, Error> {
        let mut request = Map::new();
        request.insert("type".into(), Value::from(type_name));
        request.insert("constructorParams".into(), Value::Object(params));
        request.insert("properties".into(), json!({}));
        let result = self.request("create", request).await?;
        decode(result.get("value").cloned().unwrap_or(Value::Null))
    }

    /// One server subscription per (object, event), fanned out locally.
    async fn subscribe(&self, object: &str, event: &str) -> Result<mpsc::UnboundedReceiver<Value>, Error> {
        let _one_at_a_time = self.shared.subscribing.lock().await;
        let key = (object.to_owned(), event.to_owned());
        let (sender, receiver) = mpsc::unbounded_channel();
        {
            let mut subscribers = self.shared.subscribers.lock().unwrap_or_else(|e| e.into_inner());
            let senders = subscribers.entry(key.clone()).or_default();
            senders.retain(|s| !s.is_closed());
            let subscribed = !senders.is_empty();
            // In place before the request: no event can slip between its reply and this.
            senders.push(sender);
            if subscribed {
                return Ok(receiver);
            }
        }
        let mut params = Map::new();
        params.insert("type".into(), Value::from(event));
        params.insert("object".into(), Value::from(object));
        if let Err(e) = self.request("subscribe", params).await {
            self.shared.subscribers.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
            return Err(e);
        }
        Ok(receiver)
    }
}

/// A remote object: its id and the client that reaches it.
#[derive(Clone, Debug)]
pub struct RemoteObject {
    client: KurentoClient,
    id: String,
}

impl RemoteObject {
    /// The object `id` as seen through `client` (no request is made).
    pub fn new(client: KurentoClient, id: String) -> RemoteObject {
        RemoteObject { client, id }
    }

    /// The object id (`<pipeline id>_kurento.MediaPipeline`, ...).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn client(&self) -> &KurentoClient {
        &self.client
    }

    /// `invoke`: runs `operation` with `params`; its `value`.
    pub async fn invoke(&self, operation: &str, params: Map<String, Value>) -> Result<Value, Error> {
        let mut request = Map::new();
        request.insert("object".into(), Value::from(self.id.as_str()));
        request.insert("operation".into(), Value::from(operation));
        request.insert("operationParams".into(), Value::Object(params));
        let result = self.client.request("invoke", request).await?;
        Ok(result.get("value").cloned().unwrap_or(Value::Null))
    }

    /// `release`.
    pub async fn release(&self) -> Result<(), Error> {
        let mut request = Map::new();
        request.insert("object".into(), Value::from(self.id.as_str()));
        self.client.request("release", request).await.map(drop)
    }

    /// Subscribes to the events `E` of this object.
    pub async fn subscribe<E: Event>(&self) -> Result<Subscription<E>, Error> {
        let receiver = self.client.subscribe(&self.id, E::NAME).await?;
        Ok(Subscription { receiver, event: PhantomData })
    }
}

/// An event type of the kmd.
pub trait Event: DeserializeOwned {
    /// The event's name on the wire (`IceCandidateFound`).
    const NAME: &'static str;
}

/// The events `E` of one object, in the order the server sent them. Ends
/// (`None`) when the connection ends or the server forgot the session. The
/// server-side subscription lasts as long as the object.
pub struct Subscription<E> {
    receiver: mpsc::UnboundedReceiver<Value>,
    event: PhantomData<E>,
}

impl<E: Event> Subscription<E> {
    /// The next event; an event whose data does not have the kmd's shape is
    /// an [`Error::Decode`], not skipped.
    pub async fn next(&mut self) -> Option<Result<E, Error>> {
        let data = self.receiver.recv().await?;
        Some(decode(data))
    }
}

/// A `create` being prepared (the generated builders wrap it).
pub struct Builder {
    client: KurentoClient,
    type_name: &'static str,
    params: Map<String, Value>,
    error: Option<Error>,
}

impl Builder {
    fn new(client: KurentoClient, type_name: &'static str) -> Builder {
        Builder { client, type_name, params: Map::new(), error: None }
    }

    fn param(&mut self, name: &str, value: Result<Value, Error>) {
        match value {
            Ok(v) => {
                self.params.insert(name.to_owned(), v);
            }
            Err(e) => self.error = Some(e),
        }
    }

    async fn create(self) -> Result<RemoteObject, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let id = self.client.create(self.type_name, self.params).await?;
        Ok(RemoteObject::new(self.client, id))
    }
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|e| Error::Decode(e.to_string()))
}

fn decode<T: DeserializeOwned>(value: Value) -> Result<T, Error> {
    serde_json::from_value(value.clone()).map_err(|e| Error::Decode(format!("{e}: {value:.300}")))
}
