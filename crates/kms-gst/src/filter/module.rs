//! A class of a module found on the modules path, bound to a GStreamer
//! element (the GStreamer flavour of KMS's modules): the element runs as a
//! filter on decoded frames, as GStreamerFilter's does, and the class's
//! members map onto it by these rules (the README's "Modules" section has
//! a worked example):
//! - a property `fooBar` is the element's property `foo-bar` (or `fooBar`
//!   as written); values convert as GStreamerFilter's `setElementProperty`
//!   converts text (numbers, booleans, strings, enums by nick);
//! - a method `doThing(a, b)` emits the element's action signal `do-thing`
//!   (or `doThing`) with the arguments in kmd order, converted to the
//!   signal's parameter types; its return value is the method's result;
//! - an element message on the bus from the element whose structure is
//!   named as one of the class's events (`FaceFound`, or `face-found`)
//!   raises that event, each field `foo-bar` / `foo_bar` becoming `fooBar`.

use super::command::{both_pads_take, filter_pads, in_range, invalid, value_from_text};
use super::{Filter, FilterError, FilterKind, Stage};
use crate::island::Waker;
use gstreamer as gst;
use gst::glib;
use gst::prelude::*;
use kms_media::{ElementEvent, MediaType};
use serde_json::{Map, Value};

/// `fooBar` -> `foo-bar` (GStreamer's property and signal names).
pub fn kebab(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if !out.is_empty() {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `foo-bar` / `foo_bar` -> `fooBar` (kmd field names).
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '-' || c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A GLib value as JSON (numbers, booleans, strings; other types as text).
fn to_json(v: &glib::Value) -> Value {
    if let Ok(b) = v.get::<bool>() {
        return Value::Bool(b);
    }
    if let Some(n) = [v.get::<i32>().map(i64::from).ok(), v.get::<u32>().map(i64::from).ok(), v.get::<i64>().ok()].into_iter().flatten().next() {
        return Value::from(n);
    }
    if let Ok(n) = v.get::<u64>() {
        return Value::from(n);
    }
    if let Some(f) = v.get::<f64>().ok().or_else(|| v.get::<f32>().ok().map(f64::from)) {
        return serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
    }
    if let Ok(s) = v.get::<String>() {
        return Value::String(s);
    }
    if let Ok(e) = v.get::<&glib::EnumValue>() {
        return Value::String(e.nick().to_owned());
    }
    v.serialize().map_or(Value::Null, |s| Value::String(s.to_string()))
}

/// JSON as the text GStreamerFilter's conversion reads.
fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The element of a module class.
pub struct GstModule {
    element: gst::Element,
}

impl FilterKind for GstModule {
    /// An element may raise events (detections) with or without consumers.
    const IDLE_WITHOUT_CONSUMERS: bool = false;
}

/// A module class's element as a filter.
pub type ModuleFilter = Filter<GstModule>;

impl ModuleFilter {
    /// Makes `factory`'s element and starts it as a filter of the media type
    /// its pads take (video when both could); `events` are the names of the
    /// events the class may raise (kmd names, living as long as the IDL).
    /// Errors: the element does not exist or has no `sink` / `src` pads.
    pub fn with_element(factory: &str, events: Vec<&'static str>, waker: Waker) -> Result<ModuleFilter, FilterError> {
        crate::init().map_err(invalid)?;
        let element = gst::ElementFactory::make(factory).build().map_err(|_| invalid(format!("GStreamer element '{factory}' cannot be created (not found on GST_PLUGIN_PATH or the module's directory)")))?;
        let pads = || invalid(format!("GStreamer element '{factory}' has no sink and src pads to filter with"));
        let (sink, src) = filter_pads(&element).ok_or_else(pads)?;
        let media_type = match (both_pads_take(&sink, &src, "video/x-raw"), both_pads_take(&sink, &src, "audio/x-raw")) {
            (true, _) => MediaType::Video,
            (false, true) => MediaType::Audio,
            (false, false) => return Err(pads()),
        };
        let source = element.clone();
        let hook = move |msg: &gst::Message| {
            if msg.src() != Some(source.upcast_ref::<gst::Object>()) {
                return None;
            }
            let s = msg.structure()?;
            let name = *events.iter().find(|e| s.name() == **e || s.name() == kebab(e).as_str())?;
            let fields: Map<String, Value> = s.iter().map(|(k, v)| (camel(k), to_json(v))).collect();
            Some(ElementEvent::Module { name, fields })
        };
        let stage = Stage { elements: vec![element.clone()], sink, src };
        Filter::build(GstModule { element }, media_type, stage, waker, hook).map_err(invalid)
    }

    /// The element's property for the kmd property `name`.
    fn pspec(&self, name: &str) -> Option<glib::ParamSpec> {
        let e = &self.kind.element;
        e.find_property(&kebab(name)).or_else(|| e.find_property(name))
    }

    /// True when the element has a property for the kmd property `name`.
    pub fn has_property(&self, name: &str) -> bool {
        self.pspec(name).is_some()
    }

    /// Sets the element's property for the kmd property `name`. Errors:
    /// 40001-style [`FilterError::Invalid`] for a value that does not convert
    /// or a property that cannot be written.
    pub fn set_property(&self, name: &str, value: &Value) -> Result<(), FilterError> {
        let pspec = self.pspec(name).ok_or_else(|| invalid(format!("No property for '{name}' in '{}'", self.kind.element.name())))?;
        if !pspec.flags().contains(glib::ParamFlags::WRITABLE) || pspec.flags().contains(glib::ParamFlags::CONSTRUCT_ONLY) {
            return Err(invalid(format!("Property '{}' of '{}' cannot be set", pspec.name(), self.kind.element.name())));
        }
        let converted = in_range(&pspec, value_from_text(pspec.value_type(), &as_text(value))?)?;
        self.kind.element.set_property_from_value(pspec.name(), &converted);
        Ok(())
    }

    /// The element's property for the kmd property `name`, as JSON.
    /// `None` also for a property the element cannot read.
    pub fn property(&self, name: &str) -> Option<Value> {
        let pspec = self.pspec(name).filter(|p| p.flags().contains(glib::ParamFlags::READABLE))?;
        Some(to_json(&self.kind.element.property_value(pspec.name())))
    }

    /// Emits the action signal for the kmd method `name` with `args` (kmd
    /// order), converted to the signal's parameter types; its return value.
    pub fn call(&self, name: &str, args: &[Value]) -> Result<Value, FilterError> {
        let e = &self.kind.element;
        let (signal, id) = [kebab(name), name.to_owned()]
            .into_iter()
            .find_map(|s| glib::subclass::signal::SignalId::lookup(&s, e.type_()).map(|id| (s, id)))
            .ok_or_else(|| FilterError::NotImplemented(format!("'{}' has no action signal for method '{name}'", e.name())))?;
        let query = id.query();
        if !query.flags().contains(glib::SignalFlags::ACTION) {
            return Err(FilterError::NotImplemented(format!("signal '{signal}' of '{}' is not an action signal", e.name())));
        }
        let types = query.param_types();
        if types.len() != args.len() {
            return Err(invalid(format!("signal '{signal}' takes {} arguments, the method gave {}", types.len(), args.len())));
        }
        let values = types.iter().zip(args).map(|(t, a)| value_from_text(t.type_(), &as_text(a))).collect::<Result<Vec<_>, _>>()?;
        let result = e.emit_by_name_with_values(&signal, &values);
        Ok(result.as_ref().map_or(Value::Null, to_json))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kmd_names_map_to_gstreamer_names_and_back() {
        assert_eq!(kebab("saturation"), "saturation");
        assert_eq!(kebab("lumaAverage"), "luma-average");
        assert_eq!(kebab("FaceFound"), "face-found");
        assert_eq!(camel("luma-average"), "lumaAverage");
        assert_eq!(camel("luma_average"), "lumaAverage");
        assert_eq!(camel("plate"), "plate");
    }

    #[test]
    fn properties_round_trip_and_events_come_from_bus_messages() {
        let filter = ModuleFilter::with_element("videobalance", vec!["Balanced"], std::sync::Arc::new(|| {})).unwrap();
        assert!(filter.has_property("saturation") && !filter.has_property("nope"));
        filter.set_property("saturation", &Value::from(0.25)).unwrap();
        assert_eq!(filter.property("saturation"), Some(Value::from(0.25)));
        assert!(filter.set_property("saturation", &Value::from("lots")).is_err());
        assert!(filter.set_property("saturation", &Value::from(5.0)).is_err(), "out of range (0..2): refused, not set");
        assert_eq!(filter.property("saturation"), Some(Value::from(0.25)));
        assert!(matches!(filter.call("reset", &[]), Err(FilterError::NotImplemented(_))));
        assert!(ModuleFilter::with_element("nosuchelement", vec![], std::sync::Arc::new(|| {})).is_err());
    }
}
