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

use crate::control::{handle_text, ConnectionContext, Server};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::sync::mpsc;

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

pub fn router(server: Arc<Server>) -> Router {
    let path = format!("/{}", server.config.ws_path);
    Router::new().route(&path, get(upgrade)).fallback(wrong_path).with_state(server)
}

async fn upgrade(
    State(server): State<Arc<Server>>,
    RawQuery(query): RawQuery,
    headers: axum::http::HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if let Some(secret) = &server.config.access_token {
        let authorization = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if !crate::access::token_matches(secret, crate::access::presented_token(query.as_deref(), authorization)) {
            tracing::info!("WebSocket refused: missing or wrong access token");
            return (StatusCode::UNAUTHORIZED, "a valid access token is required").into_response();
        }
    }
    match ws {
        Ok(ws) => {
            let transport_limit = MAX_TRANSPORT_MESSAGE.max(server.config.max_request_bytes);
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

async fn connection(server: Arc<Server>, mut socket: WebSocket) {
    let (out_tx, mut out_rx) = crate::outgoing::channel(server.config.outgoing_queue_bytes);
    let overflow = out_rx.overflow();
    let conn = server.open_connection(out_tx.clone());
    // Bounded: a client that sends faster than its requests run is slowed down
    // by TCP backpressure instead of growing our memory.
    let (req_tx, mut req_rx) = mpsc::channel::<String>(MAX_QUEUED_REQUESTS);
    let processor = {
        let server = server.clone();
        tokio::spawn(async move {
            let mut ctx = ConnectionContext { conn, session: None };
            while let Some(text) = req_rx.recv().await {
                let limit = server.config.max_request_bytes;
                let reply = if text.len() > limit {
                    too_large(&text, limit)
                } else {
                    handle_text(&server, &mut ctx, &text).await
                };
                if !out_tx.send(reply) {
                    break;
                }
            }
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
                    tracing::debug!(conn, "connection error: {e}");
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
                    tracing::info!(conn, "connection closed: cannot write to it: {e}");
                    break;
                }
            }
            () = overflow.wait() => break,
        }
    }
    if out_rx.overflowed() {
        tracing::warn!(conn, limit = out_rx.limit(), "connection closed: the client does not read and its outgoing queue is full (outgoingQueueBytes)");
    }
    // Requests already read still run to completion; their replies are dropped.
    drop(req_tx);
    server.close_connection(conn);
    let _ = processor.await;
}
