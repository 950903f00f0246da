//! The 13 JSON-RPC methods of the Kurento Protocol (KMS `ServerMethods.cpp`).

use super::sessions::ConnId;
use super::request_cache::fingerprint;
use super::{create, invoke, Server};
use kms_idl::Idl;
use kms_protocol::{decode_request, ErrorCode, KurentoError, Method, ObjectId, Request, Response};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

/// Per-connection state: the connection id and the session bound to it.
pub struct ConnectionContext {
    pub conn: ConnId,
    /// The session last used on this connection; injected into requests that
    /// carry no `sessionId` (KMS `injectSessionId`).
    pub session: Option<String>,
}

/// Handles one WebSocket text message and returns the reply text.
pub async fn handle_text(server: &Arc<Server>, ctx: &mut ConnectionContext, text: &str) -> String {
    tracing::trace!(conn = ctx.conn, "request: {text}");
    let request = match decode_request(text) {
        Ok(r) => r,
        Err(response) => return response.to_text(),
    };
    let Some(id) = request.id.clone() else {
        // KMS executes notifications but answers every one with this error.
        let _ = execute(server, ctx, &request).await;
        let e = KurentoError::new(ErrorCode::ServerError, "Ignoring response because of a notification request");
        return Response::error(Value::Null, e).to_text();
    };
    let session = request.session_id().map(str::to_owned).or_else(|| ctx.session.clone());
    let fingerprint = fingerprint(&request.method, request.params.as_ref());
    if let Some(session) = &session {
        if let Some(cached) = server.lock().request_cache.get(Instant::now(), session, &id, fingerprint) {
            return cached;
        }
    }
    let response = match execute(server, ctx, &request).await {
        Ok(result) => Response::result(id.clone(), result),
        Err(e) => Response::error(id.clone(), e),
    };
    let text = response.to_text();
    if let Some(session) = ctx.session.clone().or(session) {
        server.lock().request_cache.put(Instant::now(), &session, &id, fingerprint, text.clone());
    }
    text
}

type BoxedResult<'a> = Pin<Box<dyn Future<Output = Result<Value, KurentoError>> + Send + 'a>>;

/// Executes one request (also the operations of a transaction) and returns its `result`.
fn execute<'a>(server: &'a Arc<Server>, ctx: &'a mut ConnectionContext, request: &'a Request) -> BoxedResult<'a> {
    Box::pin(async move {
        let method = request.method.as_str();
        if !Method::needs_params(method) {
            // ping and connect: no session is required or made here.
            return match Method::decode(request)? {
                Method::Connect { session } => connect(server, ctx, session),
                _ => {
                    let mut result = json!({ "value": "pong" });
                    if let Some(session) = request.session_id() {
                        result["sessionId"] = json!(session);
                    }
                    Ok(result)
                }
            };
        }
        if request.params.is_none() {
            // The method's own error (-32601 unknown, -32602 missing params).
            Method::decode(request)?;
        }
        let session = match (method, request.session_id()) {
            (_, Some(s)) => s.to_owned(),
            ("unsubscribe" | "ref" | "unref" | "keepAlive" | "closeSession", None) => {
                return Err(KurentoError::new(ErrorCode::ServerError, "'sessionId' parameter is required"));
            }
            (_, None) => ctx.session.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        };
        let decoded = Method::decode(request)?;
        if matches!(decoded, Method::KeepAlive) && !server.lock().sessions.contains(&session) {
            return Err(invalid_session(&session));
        }
        admit_session(server, &session)?;
        server.lock().sessions.touch(&session, ctx.conn);
        ctx.session = Some(session.clone());
        let mut result = match decoded {
            Method::Transaction { operations } => transaction(server, ctx, operations, &session).await?,
            Method::CloseSession { release } => close_session(server, release, &session).await?,
            other => dispatch(server, &session, other).await?,
        };
        result.insert("sessionId".into(), json!(session));
        Ok(Value::Object(result))
    })
}

fn invalid_session(session: &str) -> KurentoError {
    KurentoError::new(ErrorCode::InvalidSession, format!("Invalid session '{session}'"))
}

/// `connect`: a new session, or re-attach to an existing one after reconnecting.
/// A new session is refused past `maxSessions` (40009).
fn admit_session(server: &Server, session: &str) -> Result<(), KurentoError> {
    let Some(max) = server.config.limits.sessions else { return Ok(()) };
    let state = server.lock();
    if !state.sessions.contains(session) && state.sessions.ids().len() >= max {
        return Err(KurentoError::new(ErrorCode::NotEnoughResources, format!("Too many sessions: the limit is {max} (maxSessions)")));
    }
    Ok(())
}

fn connect(server: &Arc<Server>, ctx: &mut ConnectionContext, session: Option<&str>) -> Result<Value, KurentoError> {
    let session = match session {
        Some(s) if !server.lock().sessions.contains(s) => return Err(invalid_session(s)),
        Some(s) => s.to_owned(),
        None => uuid::Uuid::new_v4().to_string(),
    };
    admit_session(server, &session)?;
    server.lock().sessions.touch(&session, ctx.conn);
    ctx.session = Some(session.clone());
    Ok(json!({ "sessionId": session, "serverId": server.server_id }))
}

/// Runs a decoded method of `session` (all but ping, connect, transaction and closeSession).
async fn dispatch(server: &Arc<Server>, session: &str, method: Method<'_>) -> Result<Map<String, Value>, KurentoError> {
    let mut result = Map::new();
    match method {
        Method::Create { type_name, constructor } => {
            let id = create::create(server, session, type_name, &constructor).await?;
            result.insert("value".into(), json!(id.as_str()));
        }
        Method::Invoke { object, operation, params } => {
            if let Some(value) = invoke::invoke(server, session, &object, operation, &params).await? {
                result.insert("value".into(), value);
            }
        }
        Method::Release { object } => {
            // KMS's MediaSet: an unknown or already released object is 40101;
            // the ServerManager lives as long as the server (40111).
            if object == ObjectId::server_manager() {
                return Err(KurentoError::new(ErrorCode::MediaObjectOperationNotSupported, "The ServerManager cannot be released"));
            }
            server.lookup(&object, |_| ())?;
            server.release(&object).await;
        }
        Method::Describe { object } => {
            let class = server.lookup(&object, |o| o.class)?;
            result.insert("type".into(), json!(class.name));
            result.insert("qualifiedType".into(), json!(class.qualified_name()));
            result.insert("hierarchy".into(), json!(Idl::get().hierarchy(class)));
        }
        Method::Subscribe { object, event } => {
            let class = server.lookup(&object, |o| o.class)?;
            if !Idl::get().raises(class, event) {
                return Err(KurentoError::new(ErrorCode::MediaObjectEventNotSupported, format!("Event '{event}' not supported")));
            }
            let id = server.lock().sessions.subscribe(session, object, event);
            result.insert("value".into(), json!(id));
        }
        Method::Unsubscribe { subscription } => server.lock().sessions.unsubscribe(session, subscription),
        Method::Ref { object } => server.ref_object(session, &object)?,
        Method::Unref { object } => {
            let orphan = {
                let mut state = server.lock();
                let o = state.registry.get_mut(&object).ok_or_else(|| KurentoError::object_not_found(object.as_str()))?;
                o.sessions.remove(session);
                o.sessions.is_empty() && object != ObjectId::server_manager()
            };
            if orphan {
                server.release(&object).await;
            }
        }
        Method::KeepAlive => {}
        Method::Ping | Method::Connect { .. } | Method::Transaction { .. } | Method::CloseSession { .. } => {
            return Err(KurentoError::new(ErrorCode::ServerError, "not dispatched here"));
        }
    }
    Ok(result)
}

/// `closeSession`: with `release:true` every object of the session is released,
/// otherwise its references are dropped; then the session is forgotten.
async fn close_session(server: &Arc<Server>, release: bool, session: &str) -> Result<Map<String, Value>, KurentoError> {
    if release {
        let ids = server.lock().registry.referenced_by(session);
        for id in ids {
            if id != ObjectId::server_manager() {
                server.release(&id).await;
            }
        }
    } else {
        server.unref_session(session).await;
    }
    server.lock().sessions.remove(session);
    Ok(Map::new())
}

/// `transaction`: runs `operations` in order; `"newref:N"` anywhere in an
/// operation's params becomes operation N's `result.value`. Stops at the first
/// error, which is the last element of `value` (KMS).
async fn transaction(server: &Arc<Server>, ctx: &mut ConnectionContext, operations: &[Value], session: &str) -> Result<Map<String, Value>, KurentoError> {
    let mut values: Vec<Value> = Vec::new();
    let mut responses = Vec::new();
    for (i, op) in operations.iter().enumerate() {
        let Some(obj) = op.as_object() else {
            return Err(KurentoError::new(ErrorCode::MalformedTransaction, format!("Operation {i} is not an object")));
        };
        if obj.get("id").and_then(Value::as_u64) != Some(i as u64) {
            return Err(KurentoError::new(ErrorCode::MalformedTransaction, format!("Id of request '{i}' should be '{i}'")));
        }
        let Some(method) = obj.get("method").and_then(Value::as_str) else {
            return Err(KurentoError::new(ErrorCode::MalformedTransaction, format!("Operation {i} has no method")));
        };
        let mut op_params = obj.get("params").cloned().unwrap_or_else(|| json!({}));
        resolve_newrefs(&mut op_params, &values)?;
        if let Value::Object(m) = &mut op_params {
            m.entry("sessionId").or_insert_with(|| json!(session));
        }
        let request = Request { id: Some(json!(i)), method: method.to_owned(), params: op_params.as_object().cloned() };
        match execute(server, ctx, &request).await {
            Ok(result) => {
                values.push(result.get("value").cloned().unwrap_or(Value::Null));
                responses.push(Response::result(json!(i), result).to_json());
            }
            Err(e) => {
                responses.push(Response::error(json!(i), e).to_json());
                break;
            }
        }
    }
    let mut result = Map::new();
    result.insert("value".into(), Value::Array(responses));
    Ok(result)
}

/// Replaces every `"newref:N"` string in `value` with `values[N]`.
fn resolve_newrefs(value: &mut Value, values: &[Value]) -> Result<(), KurentoError> {
    match value {
        Value::String(s) => {
            if let Some(n) = s.strip_prefix("newref:") {
                let resolved = n.parse::<usize>().ok().and_then(|n| values.get(n)).ok_or_else(|| {
                    KurentoError::new(ErrorCode::MalformedTransaction, format!("'{s}' refers to no earlier operation"))
                })?;
                *value = resolved.clone();
            }
        }
        Value::Array(items) => items.iter_mut().try_for_each(|v| resolve_newrefs(v, values))?,
        Value::Object(map) => map.values_mut().try_for_each(|v| resolve_newrefs(v, values))?,
        _ => {}
    }
    Ok(())
}
