//! Classes of modules found on the modules path (`crate::modules`): each
//! bound to a GStreamer element ([`kms_gst::ModuleFilter`], the rules are
//! in its doc), created from its constructor parameters, its members
//! decoded from its kmd ([`kms_api::ModuleOp`]) and mapped onto the element.
//!
//! The element of class `Name` in module `mod`: the factory named in the
//! module's kmd as `code.implementation.elements.Name` (our extension of the
//! kmd's `code` section, which KMS's tools ignore), else `name` (the class
//! name in lower case), else `kmsname` (KMS's example modules' convention:
//! KmsShowData is `kmsshowdata`).

use super::elements::{with_element, ElementRef};
use super::{properties, OpResult, Server};
use kms_api::{Member, ModuleOp};
use super::filters::filter_error;
use kms_gst::{ModuleFilter, Waker};
use kms_idl::{Class, Idl};
use kms_media::Element;
use kms_protocol::{ErrorCode, KurentoError};
use serde_json::{Map, Value};

/// The factory names tried for `class`, in order.
fn factories(class: &Class) -> Vec<String> {
    let idl = Idl::get();
    let named = idl
        .module(&class.module)
        .and_then(|m| serde_json::from_str::<Value>(m.kmd).ok())
        .and_then(|kmd| kmd.pointer(&format!("/code/implementation/elements/{}", class.name))?.as_str().map(str::to_owned));
    let lower = class.name.to_lowercase();
    named.into_iter().chain([lower.clone(), format!("kms{lower}")]).collect()
}

/// Builds the element of module class `class`; its constructor parameters
/// that name element properties are set on it. Errors: 40108 when no
/// element is found for it, 40001 for a parameter the element refuses.
pub fn build(class: &Class, properties: &Map<String, Value>, waker: Waker) -> Result<Box<dyn Element>, KurentoError> {
    let idl = Idl::get();
    let events: Vec<&'static str> = idl.lineage(idl.class(&class.name).unwrap_or(class)).flat_map(|c| c.events.iter()).filter_map(|e| Some(idl.event(e)?.name.as_str())).collect();
    let names = factories(class);
    let Some(factory) = names.iter().find(|f| kms_gst::element_exists(f)) else {
        let message = format!("no GStreamer element for {} (looked for {}): put its plugin on GST_PLUGIN_PATH or beside its kmd", class.qualified_name(), names.join(", "));
        return Err(KurentoError::new(ErrorCode::MediaObjectNotAvailable, message));
    };
    let filter = ModuleFilter::with_element(factory, events, waker).map_err(|e| KurentoError::new(ErrorCode::MediaObjectNotAvailable, e.to_string()))?;
    for p in class.constructor.iter().flatten().filter(|p| idl.class(&p.type_name).is_none()) {
        if let (Some(value), true) = (properties.get(&p.name), filter.has_property(&p.name)) {
            filter.set_property(&p.name, value).map_err(filter_error)?;
        }
    }
    Ok(Box::new(filter))
}

/// A member of a module class: properties on the element (stored too, so a
/// property the element lacks still round-trips), methods as its action
/// signals.
pub async fn invoke(server: &Server, ctx: &ElementRef<'_>, op: ModuleOp<'_>) -> Option<OpResult> {
    match op.member {
        Member::Get(p) => {
            let name = p.name.clone();
            let value = with_element(server, ctx, move |f: &mut ModuleFilter, _| f.property(&name)).await;
            match value {
                Ok(Some(v)) => Some(Ok(Some(v))),
                // Not an element property: the stored value (the invoke fallback).
                Ok(None) => None,
                Err(e) => Some(Err(e)),
            }
        }
        Member::Set(p) => {
            let (name, value) = (p.name.clone(), op.params.get(&p.name).cloned().unwrap_or(Value::Null));
            let stored = value.clone();
            let set = with_element(server, ctx, move |f: &mut ModuleFilter, _| if f.has_property(&name) { f.set_property(&name, &value) } else { Ok(()) }).await;
            Some(set.and_then(|r| r.map_err(filter_error)).and_then(|()| properties::store(server, ctx.object, &p.name, Some(&stored))).map(|()| None))
        }
        Member::Method(m) => {
            // An action signal takes every argument: an optional one given no value and no default cannot be passed.
            if let Some(p) = m.params.iter().find(|p| !op.params.contains_key(&p.name)) {
                return Some(Err(KurentoError::marshall(format!("'{}' has no value to pass to the element's action signal", p.name))));
            }
            let args: Vec<Value> = m.params.iter().filter_map(|p| op.params.get(&p.name).cloned()).collect();
            let name = m.name.clone();
            let result = with_element(server, ctx, move |f: &mut ModuleFilter, _| f.call(&name, &args)).await;
            let returns = m.returns.is_some();
            Some(result.and_then(|r| r.map_err(filter_error)).map(|v| returns.then_some(v)))
        }
    }
}
