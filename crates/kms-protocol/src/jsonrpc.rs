//! JSON-RPC 2.0 framing as KMS applies it (`JsonRpcHandler.cpp`).
//!
//! One JSON object per WebSocket message. Batches (arrays) are rejected with
//! -32600 like KMS. Malformed JSON gets -32700 (KMS sends nothing; a reply is
//! strictly more useful and the official client ignores `id: null` replies).
//! A response carries exactly one of `result` / `error`: the JS client drops
//! messages that carry both, even when one is `null`.

use crate::error::{ErrorCode, KurentoError};
use serde_json::{json, Map, Value};

/// A decoded request. `id` is echoed verbatim; `None` marks a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: Option<Value>,
    pub method: String,
    /// `None` when absent or `null`.
    pub params: Option<Map<String, Value>>,
}

impl Request {
    /// The `sessionId` parameter, when present and a string.
    pub fn session_id(&self) -> Option<&str> {
        self.params.as_ref()?.get("sessionId")?.as_str()
    }
}

/// Decodes one WebSocket text message into a request.
///
/// Errors are complete responses ready to send back, echoing the request's
/// `id` whenever it can be read (a string or number in an object, or at the
/// top level of text that does not parse, see [`crate::scan_id`]; `null`
/// otherwise): -32700 for text that is not
/// JSON, -32600 for JSON that is not a single JSON-RPC 2.0 request object,
/// -32602 when `params` is neither an object nor null.
pub fn decode_request(text: &str) -> Result<Request, Response> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Response::error(crate::scan_id(text), KurentoError::new(ErrorCode::ParseError, format!("Parse error: {e}")))
    })?;
    let readable_id = match &value {
        Value::Object(obj) => obj.get("id").filter(|id| id.is_string() || id.is_number()).cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let invalid = || Response::error(readable_id.clone(), KurentoError::new(ErrorCode::InvalidRequest, "Invalid JSON-RPC request."));
    let Value::Object(mut obj) = value else { return Err(invalid()) };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid());
    }
    let Some(Value::String(method)) = obj.remove("method") else { return Err(invalid()) };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        // JSON-RPC 2.0 §4: a string, a number or null.
        Some(Value::Array(_) | Value::Object(_) | Value::Bool(_)) => return Err(invalid()),
        Some(id) => Some(id),
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => None,
        Some(Value::Object(p)) => Some(p),
        Some(_) => {
            let e = KurentoError::new(ErrorCode::InvalidParams, "'params' should be an object");
            return Err(Response::error(id.unwrap_or(Value::Null), e));
        }
    };
    Ok(Request { id, method, params })
}

/// A response to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: Value,
    pub outcome: Result<Value, KurentoError>,
}

impl Response {
    pub fn result(id: Value, result: Value) -> Response {
        Response { id, outcome: Ok(result) }
    }

    pub fn error(id: Value, error: KurentoError) -> Response {
        Response { id, outcome: Err(error) }
    }

    /// The response as a JSON value (`result` or `error`, never both).
    pub fn to_json(&self) -> Value {
        match &self.outcome {
            Ok(result) => json!({ "jsonrpc": "2.0", "id": self.id, "result": result }),
            Err(e) => json!({ "jsonrpc": "2.0", "id": self.id, "error": e.to_json() }),
        }
    }

    pub fn to_text(&self) -> String {
        self.to_json().to_string()
    }
}

/// An `onEvent` notification (no id), as KMS's WebSocketEventHandler sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Id of the object that raised the event.
    pub object: String,
    /// Event name, e.g. `IceCandidateFound`.
    pub event_type: String,
    /// Event data: RaiseBase fields plus the event's own.
    pub data: Value,
}

impl Notification {
    pub fn to_text(&self) -> String {
        json!({
            "jsonrpc": "2.0",
            "method": "onEvent",
            "params": { "value": { "data": self.data, "object": self.object, "type": self.event_type } }
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_request_with_id_zero() {
        let r = decode_request(r#"{"jsonrpc":"2.0","method":"ping","params":{"interval":5000},"id":0}"#).unwrap();
        assert_eq!(r.id, Some(json!(0)));
        assert_eq!(r.method, "ping");
        assert_eq!(r.params.unwrap()["interval"], 5000);
    }

    #[test]
    fn string_ids_are_echoed() {
        let r = decode_request(r#"{"jsonrpc":"2.0","method":"describe","id":"7"}"#).unwrap();
        let resp = Response::result(r.id.unwrap(), json!({"sessionId":"s"}));
        let v: Value = serde_json::from_str(&resp.to_text()).unwrap();
        assert_eq!(v["id"], "7");
        assert!(v.get("error").is_none());
    }

    #[test]
    fn a_broken_envelope_echoes_the_id_it_can_read() {
        let id = |text: &str| decode_request(text).unwrap_err().to_json()["id"].clone();
        assert_eq!(id(r#"{"jsonrpc":"1.0","method":"ping","id":5}"#), json!(5));
        assert_eq!(id(r#"{"jsonrpc":"2.0","id":"x"}"#), json!("x"));
        assert_eq!(id(r#"{"jsonrpc":"2.0","method":"ping","id":[1]}"#), Value::Null);
        assert_eq!(id(r#"[{"jsonrpc":"2.0","method":"ping","id":7}]"#), Value::Null);
    }

    #[test]
    fn malformed_json_is_a_parse_error() {
        let e = decode_request("{nope").unwrap_err();
        assert_eq!(e.outcome.unwrap_err().code, ErrorCode::ParseError);
        assert_eq!(e.id, Value::Null);
    }

    #[test]
    fn batches_and_bad_envelopes_are_invalid_requests() {
        for text in [
            r#"[{"jsonrpc":"2.0","method":"ping","id":1}]"#,
            r#"{"jsonrpc":"1.0","method":"ping","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","method":5,"id":1}"#,
            r#"{"jsonrpc":"2.0","method":"ping","id":[1]}"#,
            r#"42"#,
        ] {
            let e = decode_request(text).unwrap_err();
            assert_eq!(e.outcome.unwrap_err().code, ErrorCode::InvalidRequest, "{text}");
        }
    }

    #[test]
    fn error_responses_carry_no_result() {
        let text = Response::error(json!(3), KurentoError::object_not_found("a_kurento.B")).to_text();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert!(v.get("result").is_none());
        assert_eq!(v["error"]["code"], 40101);
        assert_eq!(v["jsonrpc"], "2.0");
    }

    #[test]
    fn notification_has_value_and_no_id() {
        let n = Notification { object: "o".into(), event_type: "IceGatheringDone".into(), data: json!({"source":"o"}) };
        let v: Value = serde_json::from_str(&n.to_text()).unwrap();
        assert!(v.get("id").is_none());
        assert_eq!(v["params"]["value"]["object"], "o");
        assert_eq!(v["params"]["value"]["type"], "IceGatheringDone");
    }
}
