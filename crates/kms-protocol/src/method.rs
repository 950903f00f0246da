//! The Kurento Protocol's 13 methods (KMS `ServerMethods.cpp`) as a closed
//! set of typed requests: [`Method::decode`] checks every member the method
//! itself takes, with KMS's codes, before anything runs; the server then
//! matches on the variant. The operation and constructor parameters stay a
//! [`Params`] view: they are checked against the class's IDL signature by
//! the server (40001 MARSHALL_ERROR), since only it knows the object's class.

use crate::params::{parse_object_id, Level, Params};
use crate::{ErrorCode, KurentoError, ObjectId, Request};
use serde_json::Value;

/// One decoded request. Borrowed from the [`Request`] it came from.
pub enum Method<'a> {
    /// `ping` (answers `pong`; the session, when given, is echoed).
    Ping,
    /// `connect`: a new session, or the named one resumed.
    Connect { session: Option<&'a str> },
    /// `create`: `type` and the (unchecked) `constructorParams`.
    Create { type_name: &'a str, constructor: Params<'a> },
    /// `invoke`: `operation` on `object` with the (unchecked) `operationParams`.
    Invoke { object: ObjectId, operation: &'a str, params: Params<'a> },
    Release { object: ObjectId },
    Describe { object: ObjectId },
    /// `subscribe` to the event `event` of `object`.
    Subscribe { object: ObjectId, event: &'a str },
    Unsubscribe { subscription: &'a str },
    Ref { object: ObjectId },
    Unref { object: ObjectId },
    KeepAlive,
    /// `transaction`: the operations, each a request object run in order.
    Transaction { operations: &'a [Value] },
    /// `closeSession`, releasing the session's objects when `release`.
    CloseSession { release: bool },
}

impl<'a> Method<'a> {
    /// Whether `method` needs a `params` object (all but `ping` and `connect`).
    pub fn needs_params(method: &str) -> bool {
        !matches!(method, "ping" | "connect")
    }

    /// Decodes `request`'s method and members.
    ///
    /// Errors: -32601 for a method the protocol does not have; -32602 when a
    /// method that needs `params` has none; -32000 for a missing or mistyped
    /// member ("'object' parameter is required", "... should be a string",
    /// `JsonRpcUtils.cpp`); 40101 for text that cannot be an object id, 40109
    /// for a `newref:` outside a transaction; 40001 for `constructorParams`
    /// that is not an object (KMS's create).
    pub fn decode(request: &'a Request) -> Result<Method<'a>, KurentoError> {
        let method = request.method.as_str();
        if Method::needs_params(method) && request.params.is_none() && is_known(method) {
            return Err(KurentoError::new(ErrorCode::InvalidParams, "'params' is required"));
        }
        let p = Params::new(request.params.as_ref(), Level::TopLevel);
        Ok(match method {
            "ping" => Method::Ping,
            "connect" => Method::Connect { session: p.opt_str("sessionId")? },
            "create" => {
                let type_name = p.str("type")?;
                let constructor = match p.get("constructorParams") {
                    None => None,
                    Some(Value::Object(m)) => Some(m),
                    Some(_) => return Err(KurentoError::marshall("'constructorParams' parameter should be an object")),
                };
                Method::Create { type_name, constructor: Params::new(constructor, Level::Operation) }
            }
            "invoke" => {
                let object = p.object_id("object")?;
                let operation = p.str("operation")?;
                let params = match p.get("operationParams") {
                    None => None,
                    Some(Value::Object(m)) => Some(m),
                    Some(_) => return Err(KurentoError::new(ErrorCode::ServerError, "'operationParams' parameter should be an object")),
                };
                Method::Invoke { object, operation, params: Params::new(params, Level::Operation) }
            }
            // KMS's MediaSet takes the id as text here (an object sent whole is not an id).
            "release" => Method::Release { object: parse_object_id(p.str("object")?)? },
            "describe" => Method::Describe { object: p.object_id("object")? },
            "subscribe" => {
                let object = p.object_id("object")?;
                Method::Subscribe { object, event: p.str("type")? }
            }
            "unsubscribe" => Method::Unsubscribe { subscription: p.str("subscription")? },
            "ref" => Method::Ref { object: p.object_id("object")? },
            "unref" => Method::Unref { object: p.object_id("object")? },
            "keepAlive" => Method::KeepAlive,
            "transaction" => Method::Transaction { operations: p.array("operations")? },
            "closeSession" => Method::CloseSession { release: p.opt_bool("release")?.unwrap_or(false) },
            other => return Err(KurentoError::new(ErrorCode::MethodNotFound, format!("Method not found: '{other}'"))),
        })
    }
}

fn is_known(method: &str) -> bool {
    matches!(
        method,
        "ping" | "connect" | "create" | "invoke" | "release" | "describe" | "subscribe" | "unsubscribe" | "ref" | "unref" | "keepAlive" | "transaction" | "closeSession"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode_request;

    fn decode(text: &str) -> Result<String, i64> {
        let request = decode_request(text).expect("an envelope");
        Method::decode(&request).map(|m| format!("{:?}", std::mem::discriminant(&m))).map_err(|e| e.code.code())
    }

    #[test]
    fn members_are_checked_with_kms_codes() {
        assert!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_ok());
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"create"}"#), Err(-32602), "params required");
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"create","params":{}}"#), Err(-32000), "type required");
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"create","params":{"type":"X","constructorParams":5}}"#), Err(40001));
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"invoke","params":{"object":5,"operation":"x"}}"#), Err(-32000));
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"invoke","params":{"object":"nope","operation":"x"}}"#), Err(40101));
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"release","params":{"object":"newref:0"}}"#), Err(40109));
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"transaction","params":{"operations":{}}}"#), Err(-32000));
        assert_eq!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"selfDestruct","params":{}}"#), Err(-32601));
        assert!(decode(r#"{"jsonrpc":"2.0","id":1,"method":"closeSession","params":{"release":true}}"#).is_ok());
    }
}
