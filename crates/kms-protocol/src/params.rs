//! Reading request parameters with KMS's error messages.
//!
//! Top-level parameters (`object`, `type`, `operation`, ...) answer -32000
//! "'x' parameter is required" / "should be a string" (`JsonRpcUtils.cpp`);
//! operation and constructor parameters answer 40001 MARSHALL_ERROR.

use crate::{ErrorCode, KurentoError, ObjectId};
use serde_json::{Map, Value};

/// Which error code a bad parameter gets.
#[derive(Clone, Copy)]
pub enum Level {
    TopLevel,
    Operation,
}

impl Level {
    fn error(self, message: String) -> KurentoError {
        match self {
            Level::TopLevel => KurentoError::new(ErrorCode::ServerError, message),
            Level::Operation => KurentoError::marshall(message),
        }
    }
}

/// A view over one params object.
pub struct Params<'a> {
    map: Option<&'a Map<String, Value>>,
    level: Level,
}

impl<'a> Params<'a> {
    pub fn new(map: Option<&'a Map<String, Value>>, level: Level) -> Params<'a> {
        Params { map, level }
    }

    /// The whole params object, when there is one.
    pub fn map(&self) -> Option<&'a Map<String, Value>> {
        self.map
    }

    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map?.get(name).filter(|v| !v.is_null())
    }

    fn required(&self, name: &str) -> Result<&'a Value, KurentoError> {
        self.get(name).ok_or_else(|| self.level.error(format!("'{name}' parameter is required")))
    }

    fn wrong(&self, name: &str, what: &str) -> KurentoError {
        self.level.error(format!("'{name}' parameter should be {what}"))
    }

    pub fn str(&self, name: &str) -> Result<&'a str, KurentoError> {
        self.required(name)?.as_str().ok_or_else(|| self.wrong(name, "a string"))
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, KurentoError> {
        self.get(name).map(|v| v.as_str().ok_or_else(|| self.wrong(name, "a string"))).transpose()
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, KurentoError> {
        self.get(name).map(|v| v.as_bool().ok_or_else(|| self.wrong(name, "a boolean"))).transpose()
    }

    pub fn bool(&self, name: &str) -> Result<bool, KurentoError> {
        self.required(name)?.as_bool().ok_or_else(|| self.wrong(name, "a boolean"))
    }

    /// A number (`float`/`double` in the IDL; integers are accepted too).
    pub fn f64(&self, name: &str) -> Result<f64, KurentoError> {
        self.required(name)?.as_f64().ok_or_else(|| self.wrong(name, "a number"))
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>, KurentoError> {
        self.get(name).map(|v| v.as_i64().ok_or_else(|| self.wrong(name, "an integer"))).transpose()
    }

    pub fn object_map(&self, name: &str) -> Result<&'a Map<String, Value>, KurentoError> {
        self.required(name)?.as_object().ok_or_else(|| self.wrong(name, "an object"))
    }

    pub fn array(&self, name: &str) -> Result<&'a Vec<Value>, KurentoError> {
        self.required(name)?.as_array().ok_or_else(|| self.wrong(name, "an array"))
    }

    /// An object-id parameter. Text that cannot be an id is reported as not
    /// found (40101), as KMS's MediaSet does; a leftover `newref:` outside a
    /// transaction is 40109.
    ///
    /// kurento-client 7.3 (JS) sends some objects whole, as their JSON form
    /// `{"id": "...", ...}` (a HubPort it built without its parent class
    /// registered); the `id` inside is taken, as the object it names.
    pub fn object_id(&self, name: &str) -> Result<ObjectId, KurentoError> {
        if let Some(id) = self.get(name).and_then(embedded_id) {
            return parse_object_id(id);
        }
        let text = self.str(name)?;
        parse_object_id(text)
    }
}

/// The `id` of an object sent whole (see [`Params::object_id`]).
pub fn embedded_id(value: &Value) -> Option<&str> {
    value.as_object()?.get("id")?.as_str()
}

/// Parses an object id received from a client (see [`Params::object_id`]).
pub fn parse_object_id(text: &str) -> Result<ObjectId, KurentoError> {
    if text.starts_with("newref:") {
        return Err(KurentoError::new(
            ErrorCode::MediaObjectNotFoundTransactionNoCommit,
            format!("Object '{text}' not found: it refers to an uncommitted transaction"),
        ));
    }
    ObjectId::parse(text).ok_or_else(|| KurentoError::object_not_found(text))
}
