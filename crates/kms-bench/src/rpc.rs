//! A minimal Kurento Protocol client over one WebSocket: one request in flight.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest wait for one reply before the run is declared failed.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Rpc {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: Option<String>,
}

impl Rpc {
    pub async fn connect(url: &str) -> Result<Rpc, String> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.map_err(|e| format!("connect {url}: {e}"))?;
        Ok(Rpc { ws, next_id: 0, session: None })
    }

    /// Sends `method` with `params` and returns `result`, or the error as text.
    pub async fn call(&mut self, method: &str, mut params: Value) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        if let (Some(s), Some(obj)) = (&self.session, params.as_object_mut()) {
            obj.insert("sessionId".into(), json!(s));
        }
        let request = json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
        self.ws.send(Message::text(request.to_string())).await.map_err(|e| e.to_string())?;
        loop {
            let msg = tokio::time::timeout(REPLY_TIMEOUT, self.ws.next())
                .await
                .map_err(|_| format!("no reply to {method} within {REPLY_TIMEOUT:?}"))?
                .ok_or("connection closed")?
                .map_err(|e| e.to_string())?;
            let Message::Text(text) = msg else { continue };
            let reply: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if reply.get("id") != Some(&json!(id)) {
                continue; // an event
            }
            if let Some(e) = reply.get("error") {
                return Err(format!("{method}: {e}"));
            }
            let result = reply.get("result").cloned().unwrap_or(Value::Null);
            if let Some(s) = result.get("sessionId").and_then(Value::as_str) {
                self.session = Some(s.to_owned());
            }
            return Ok(result);
        }
    }

    /// The `value` of a create.
    pub async fn create(&mut self, params: Value) -> Result<String, String> {
        let r = self.call("create", params).await?;
        r.get("value").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| "create returned no id".into())
    }
}
