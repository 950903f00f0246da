//! The Kurento API's operations as a closed set of typed requests.
//!
//! An `invoke` names an operation by text (`"addIceCandidate"`) and carries
//! its parameters as JSON. [`Operation::decode`] turns that into a value of
//! [`Operation`]: one variant per class, each holding that class's own enum
//! (`WebRtcEndpointOp::AddIceCandidate { candidate }`), generated at build time
//! from the kmd files, so the set of operations is exactly the IDL's and the
//! server dispatches with exhaustive `match`es instead of string compares.
//!
//! Decoding is the one place operation parameters are checked, with KMS's
//! codes and messages: a name no class in the object's lineage declares is
//! 40105 MEDIA_OBJECT_METHOD_NOT_FOUND; a missing or mistyped parameter is
//! 40001 MARSHALL_ERROR ("'x' parameter is required" / "should be ...", as
//! KMS's generated deserializers; registers are checked field by field, see
//! [`check`]); a setter of a final or read-only property is 40111
//! MEDIA_OBJECT_OPERATION_NOT_SUPPORTED; an object parameter whose text
//! cannot be an id is 40101. Sans-IO: no object is looked up here.

pub mod check;

use kms_idl::{Class, Idl};
use kms_protocol::params::Params;
use kms_protocol::{ErrorCode, KurentoError, ObjectId};
use serde_json::{Map, Value};

include!(concat!(env!("OUT_DIR"), "/operations.rs"));

/// What a property accessor does, with the property's IDL name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accessor {
    Get(&'static str),
    Set(&'static str),
}

impl<'a> Operation<'a> {
    /// Decodes `operation` on an object of class `class` with `params`
    /// (the request's `operationParams`). The operation is looked up in the
    /// class and then its ancestors, nearest first. Errors: see the crate doc.
    pub fn decode(class: &Class, operation: &'a str, params: &Params<'a>) -> Result<Operation<'a>, KurentoError> {
        let idl = Idl::get();
        let args = Args { idl, params };
        for c in idl.lineage(class) {
            if let Some(op) = Operation::declared(&c.name, operation, &args)? {
                return Ok(op);
            }
            if let Some(c) = idl.class(&c.name).filter(|c| idl.is_loaded(c)) {
                if let Some(op) = ModuleOp::decode(c, operation, &args)? {
                    return Ok(Operation::Module(op));
                }
            }
        }
        Err(KurentoError::new(ErrorCode::MediaObjectMethodNotFound, format!("Method '{operation}' not found in class {}", class.name)))
    }
}

/// What a member of a module class is.
#[derive(Debug, Clone, Copy)]
pub enum Member {
    Method(&'static kms_idl::Method),
    Get(&'static kms_idl::Property),
    Set(&'static kms_idl::Property),
}

/// An operation of a class from a module found on the modules path,
/// checked against its kmd at run time as the generated operations are at
/// build time (the same codes and messages): `params` holds every declared
/// parameter that was given, type-checked, plus the defaults of optional
/// ones that were not.
#[derive(Debug)]
pub struct ModuleOp<'a> {
    /// The class that declares the member.
    pub class: &'static Class,
    /// The wire name (`setSaturation`, `reset`).
    pub operation: &'a str,
    pub member: Member,
    pub params: Map<String, Value>,
}

impl<'a> ModuleOp<'a> {
    /// Decodes `operation` if `class` declares it: a method, or `get<Prop>` /
    /// `set<Prop>` of a property (a method of the same name wins, as in the
    /// generated dispatch).
    fn decode(class: &'static Class, operation: &'a str, args: &Args<'_, 'a>) -> Result<Option<ModuleOp<'a>>, KurentoError> {
        let checked = |params: &[kms_idl::Param]| -> Result<Map<String, Value>, KurentoError> {
            let mut out = Map::new();
            for p in params {
                match args.params.get(&p.name) {
                    // An object travels as its id.
                    Some(v) if args.idl.class(&p.type_name).is_some() => {
                        let id: ObjectId = args.typed(&p.name, &p.type_name, v)?;
                        out.insert(p.name.clone(), Value::String(id.as_str().to_owned()));
                    }
                    Some(v) => {
                        args.typed::<&Value>(&p.name, &p.type_name, v)?;
                        out.insert(p.name.clone(), v.clone());
                    }
                    None if !p.optional => return Err(KurentoError::marshall(format!("'{}' parameter is required", p.name))),
                    None => {
                        if let Some(d) = &p.default {
                            out.insert(p.name.clone(), d.clone());
                        }
                    }
                }
            }
            Ok(out)
        };
        if let Some(m) = class.methods.iter().find(|m| m.name == operation) {
            return Ok(Some(ModuleOp { class, operation, member: Member::Method(m), params: checked(&m.params)? }));
        }
        let property = |prefix: &str| {
            let rest = operation.strip_prefix(prefix)?;
            class.properties.iter().find(|p| kms_idl::naming::upper_first(&p.name) == rest)
        };
        if let Some(p) = property("get") {
            return Ok(Some(ModuleOp { class, operation, member: Member::Get(p), params: Map::new() }));
        }
        if let Some(p) = property("set") {
            if !p.is_settable() {
                return Err(args.not_settable(&class.name, &p.name));
            }
            let value = kms_idl::Param { name: p.name.clone(), type_name: p.type_name.clone(), optional: false, default: None };
            return Ok(Some(ModuleOp { class, operation, member: Member::Set(p), params: checked(&[value])? }));
        }
        Ok(None)
    }

    /// The property this operation reads or writes, if it is an accessor.
    pub fn accessor(&self) -> Option<Accessor> {
        match self.member {
            Member::Get(p) => Some(Accessor::Get(p.name.as_str())),
            Member::Set(p) => Some(Accessor::Set(p.name.as_str())),
            Member::Method(_) => None,
        }
    }
}

impl<'a> FromArg<'a> for &'a Value {
    fn from_arg(value: &'a Value) -> Option<Self> {
        Some(value)
    }
}

/// Reads an operation's parameters, each checked against its IDL type.
pub struct Args<'p, 'a> {
    idl: &'static Idl,
    params: &'p Params<'a>,
}

impl<'a> Args<'_, 'a> {
    /// A required parameter: 40001 when it is missing (or `null`) or mistyped.
    pub fn required<T: FromArg<'a>>(&self, name: &str, type_name: &str) -> Result<T, KurentoError> {
        let value = self.params.get(name).ok_or_else(|| KurentoError::marshall(format!("'{name}' parameter is required")))?;
        self.typed(name, type_name, value)
    }

    /// An optional parameter: `None` when missing or `null`; 40001 when mistyped.
    pub fn optional<T: FromArg<'a>>(&self, name: &str, type_name: &str) -> Result<Option<T>, KurentoError> {
        self.params.get(name).map(|v| self.typed(name, type_name, v)).transpose()
    }

    fn typed<T: FromArg<'a>>(&self, name: &str, type_name: &str, value: &'a Value) -> Result<T, KurentoError> {
        let wrong = || KurentoError::marshall(format!("'{name}' parameter should be {}", check::describe(type_name)));
        if !check::matches(self.idl, type_name, value) {
            return Err(wrong());
        }
        if self.idl.class(type_name).is_some() {
            // An object: text that cannot be an id is not found (40101, KMS's MediaSet).
            let text = kms_protocol::params::embedded_id(value).or(value.as_str()).ok_or_else(wrong)?;
            return T::from_object_id(kms_protocol::params::parse_object_id(text)?).ok_or_else(wrong);
        }
        T::from_arg(value).ok_or_else(wrong)
    }

    /// 40111 for `set<Prop>` of a final or read-only property.
    pub fn not_settable(&self, class: &str, property: &str) -> KurentoError {
        KurentoError::new(ErrorCode::MediaObjectOperationNotSupported, format!("Property '{property}' of {class} cannot be set"))
    }
}

/// A Rust value read from a JSON parameter already checked against its IDL
/// type (so `None` only for a shape the check let through by mistake).
pub trait FromArg<'a>: Sized {
    fn from_arg(value: &'a Value) -> Option<Self>;

    /// For object parameters: the parsed id.
    fn from_object_id(_id: ObjectId) -> Option<Self> {
        None
    }
}

impl<'a> FromArg<'a> for &'a str {
    fn from_arg(value: &'a Value) -> Option<Self> {
        value.as_str()
    }
}

impl<'a> FromArg<'a> for bool {
    fn from_arg(value: &'a Value) -> Option<Self> {
        value.as_bool()
    }
}

impl<'a> FromArg<'a> for i32 {
    fn from_arg(value: &'a Value) -> Option<Self> {
        value.as_i64().and_then(|v| i32::try_from(v).ok())
    }
}

impl<'a> FromArg<'a> for i64 {
    fn from_arg(value: &'a Value) -> Option<Self> {
        value.as_i64()
    }
}

impl<'a> FromArg<'a> for f64 {
    fn from_arg(value: &'a Value) -> Option<Self> {
        value.as_f64()
    }
}

/// A register or a map (`Type<>`), its fields checked.
impl<'a> FromArg<'a> for &'a Map<String, Value> {
    fn from_arg(value: &'a Value) -> Option<Self> {
        value.as_object()
    }
}

/// A list (`Type[]`), every item checked.
impl<'a> FromArg<'a> for &'a [Value] {
    fn from_arg(value: &'a Value) -> Option<Self> {
        value.as_array().map(Vec::as_slice)
    }
}

impl<'a> FromArg<'a> for ObjectId {
    fn from_arg(_value: &'a Value) -> Option<Self> {
        None
    }

    fn from_object_id(id: ObjectId) -> Option<Self> {
        Some(id)
    }
}

#[cfg(test)]
mod tests;
