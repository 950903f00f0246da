//! WebSocket transport (KMS `WebSocketTransport`): `ws://<addr>:<port>/<path>`.
//!
//! - Only `/<mediaServer.net.websocket.path>` is served; an upgrade on any other
//!   path is accepted and closed with 1002 "Invalid path", as KMS does.
//! - A GET with `Upgrade: websocket` but no key answers HTTP 500, which the
//!   stock Docker health check (`healthchecker.sh`) expects.
//! - No subprotocol is ever returned: the official JS client aborts on one.
//! - Requests of one connection are handled in order; replies and events share
//!   one outgoing queue, bounded in bytes: a client that stops reading is
//!   disconnected once it is full (see `outgoing`).

use crate::outgoing::Outgoing;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What the transport needs from a service's configuration.
pub struct Limits<'a> {
    /// The served path, without its leading `/`.
    pub path: &'a str,
    /// The access token clients must present (see `access`), if any.
    pub access_token: Option<&'a str>,
    pub max_request_bytes: usize,
    pub outgoing_queue_bytes: usize,
}

impl Limits<'_> {
    /// The `mediaServer.net.websocket` settings of `config`.
    pub fn of(config: &crate::config::Config) -> Limits<'_> {
        Limits {
            path: &config.ws_path,
            access_token: config.access_token.as_deref(),
            max_request_bytes: config.max_request_bytes,
            outgoing_queue_bytes: config.outgoing_queue_bytes,
        }
    }
}

/// What WebSocket connections talk to: the control plane of a server or
/// media node, or the cluster entry. Requests of one connection are
/// handled in order; `handle` returns the reply text.
pub trait Service: Send + Sync + 'static {
    /// Per-connection state.
    type Conn: Send + 'static;
    fn limits(&self) -> Limits<'_>;
    /// A connection opened; replies and events for it go to `out`.
    fn open(self: &Arc<Self>, out: Outgoing) -> Self::Conn;
    fn handle(self: &Arc<Self>, conn: &mut Self::Conn, text: String) -> impl Future<Output = String> + Send;
    /// The connection ended (after its last request ran).
    fn close(self: &Arc<Self>, conn: Self::Conn);
}

/// Largest message the transport reads at all (or the request limit, when
/// that is larger); past it the connection drops. Requests over the request
/// limit (`maxRequestBytes`) but under this get a -32600 reply instead.
const MAX_TRANSPORT_MESSAGE: usize = 16 << 20;

/// Per-connection buffers of the WebSocket (tungstenite's defaults are
/// 128 KiB each, held by every connection, idle or not: 300 idle
/// connections cost 43 MiB with them). Requests and replies are a few KiB;
/// larger ones just take more reads and writes.
const SOCKET_BUFFER: usize = 8 << 10;

/// Requests read but not yet handled, per connection.
const MAX_QUEUED_REQUESTS: usize = 64;

/// Close code for a wrong path (RFC 6455 §7.4.1 "protocol error"), as KMS sends.
const CLOSE_PROTOCOL_ERROR: u16 = 1002;

pub fn router<S: Service>(service: Arc<S>) -> Router {
    let path = format!("/{}", service.limits().path);
    Router::new().route(&path, get(upgrade::<S>)).fallback(wrong_path).with_state(service)
}

async fn upgrade<S: Service>(
    State(server): State<Arc<S>>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let limits = server.limits();
    if let Some(secret) = limits.access_token {
        let authorization = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if !crate::access::token_matches(secret, crate::access::presented_token(query.as_deref(), authorization)) {
            tracing::info!("WebSocket refused: missing or wrong access token");
            return (StatusCode::UNAUTHORIZED, "a valid access token is required").into_response();
        }
    }
    match ws {
        Ok(ws) => {
            let transport_limit = MAX_TRANSPORT_MESSAGE.max(limits.max_request_bytes);
            ws.max_message_size(transport_limit)
                .read_buffer_size(SOCKET_BUFFER)
                .write_buffer_size(SOCKET_BUFFER)
                .on_upgrade(move |socket| connection(server, socket))
                .into_response()
        }
        Err(rejection) => (StatusCode::INTERNAL_SERVER_ERROR, rejection.body_text()).into_response(),
    }
}

async fn wrong_path(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Response {
    match ws {
        Ok(ws) => ws
            .on_upgrade(|mut socket| async move {
                let frame = CloseFrame { code: CLOSE_PROTOCOL_ERROR, reason: "Invalid path".into() };
                let _ = socket.send(Message::Close(Some(frame))).await;
            })
            .into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

fn too_large(text: &str, limit: usize) -> String {
    let message = format!("Request of {} bytes is over the limit of {limit} bytes", text.len());
    // The id is read from the head only: the scan stays cheap whatever the size.
    let mut end = text.len().min(4096);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = &text[..end];
    kms_protocol::Response::error(kms_protocol::scan_id(head), kms_protocol::KurentoError::new(kms_protocol::ErrorCode::InvalidRequest, message)).to_text()
}

async fn connection<S: Service>(server: Arc<S>, mut socket: WebSocket) {
    let (out_tx, mut out_rx) = crate::outgoing::channel(server.limits().outgoing_queue_bytes);
    let overflow = out_rx.overflow();
    let mut conn = server.open(out_tx.clone());
    // Bounded: a client that sends faster than its requests run is slowed down
    // by TCP backpressure instead of growing our memory.
    let (req_tx, mut req_rx) = mpsc::channel::<String>(MAX_QUEUED_REQUESTS);
    let processor = {
        let server = server.clone();
        tokio::spawn(async move {
            while let Some(text) = req_rx.recv().await {
                let limit = server.limits().max_request_bytes;
                let reply = if text.len() > limit { too_large(&text, limit) } else { server.handle(&mut conn, text).await };
                if !out_tx.send(reply) {
                    break;
                }
            }
            server.close(conn);
        })
    };
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => { let _ = req_tx.send(text.to_string()).await; }
                Some(Ok(Message::Binary(bytes))) => { let _ = req_tx.send(String::from_utf8_lossy(&bytes).into_owned()).await; }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(e)) => {
                    tracing::debug!("connection error: {e}");
                    break;
                }
            },
            Some(text) = out_rx.recv() => {
                // A write waits while the client does not read; meanwhile the
                // queue may overflow, which ends the wait and the connection.
                let written = tokio::select! {
                    written = socket.send(Message::Text(text.into())) => written,
                    () = overflow.wait() => break,
                };
                if let Err(e) = written {
                    tracing::info!("connection closed: cannot write to it: {e}");
                    break;
                }
            }
            () = overflow.wait() => break,
        }
    }
    if out_rx.overflowed() {
        tracing::warn!(limit = out_rx.limit(), "connection closed: the client does not read and its outgoing queue is full (outgoingQueueBytes)");
    }
    // Requests already read still run to completion; their replies are
    // dropped. The service learns the connection ended after the last one.
    drop(req_tx);
    let _ = processor.await;
}
