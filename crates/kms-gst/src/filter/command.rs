//! GStreamerFilter: one GStreamer element (a `gst-launch` description) run on
//! the decoded frames of one media type; the other type passes through.
//!
//! As KMS's `GStreamerFilterImpl`: the command must parse into exactly one
//! element (not a bin) with a `sink` (or `video_sink`) and a `src` pad;
//! `AUTODETECT` takes AUDIO when both pads can carry raw audio, else VIDEO
//! when both can carry raw video (so an element with ANY caps, `identity`,
//! is an audio filter, as in KMS). Failures are KMS's 40001 messages.

use super::{Filter, FilterKind, Stage};
use crate::island::Waker;
use gstreamer as gst;
use gst::prelude::*;
use kms_media::MediaType;

/// `filterType` (FilterType).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterType {
    Audio,
    Video,
    Autodetect,
}

impl FilterType {
    /// The wire name (`AUDIO`, `VIDEO`, `AUTODETECT`).
    pub fn parse(name: &str) -> Option<FilterType> {
        Some(match name {
            "AUDIO" => FilterType::Audio,
            "VIDEO" => FilterType::Video,
            "AUTODETECT" => FilterType::Autodetect,
            _ => return None,
        })
    }
}

/// Why a command or a property was refused; the server answers with `code`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    /// 40001 MARSHALL_ERROR, with KMS's message.
    #[error("{0}")]
    Invalid(String),
    /// 40006 NOT_IMPLEMENTED: a property of a type KMS does not convert either.
    #[error("{0}")]
    NotImplemented(String),
}

pub(crate) fn invalid(message: impl Into<String>) -> FilterError {
    FilterError::Invalid(message.into())
}

/// Plugins whose elements may throw a C++ exception from a property setter
/// (OpenCV's cascade loading, for a path that is empty or not a cascade):
/// nothing can catch it, the process aborts. Their elements are refused in
/// commands (FaceOverlayFilter uses `facedetect` with a fixed, checked path).
const REFUSED_PLUGINS: &[&str] = &["opencv"];

/// The first element named in `command` that comes from a refused plugin.
fn refused_element(command: &str) -> Option<&str> {
    command.split(|c: char| c.is_whitespace() || c == '!').filter(|t| !t.is_empty() && !t.contains('=')).find(|name| {
        gst::ElementFactory::find(name).and_then(|f| f.plugin_name()).is_some_and(|p| REFUSED_PLUGINS.contains(&p.as_str()))
    })
}

/// Whether both pads of `element` can carry `caps`.
pub(crate) fn both_pads_take(sink: &gst::Pad, src: &gst::Pad, caps: &str) -> bool {
    let caps = gst::Caps::new_empty_simple(caps);
    sink.query_caps(None).can_intersect(&caps) && src.query_caps(None).can_intersect(&caps)
}

/// The pads a filter element is linked by: `sink` (or `video_sink`, as
/// textoverlay's) and `src`, as KMS's filter element requires.
pub(crate) fn filter_pads(element: &gst::Element) -> Option<(gst::Pad, gst::Pad)> {
    let sink = element.static_pad("sink").or_else(|| element.static_pad("video_sink"))?;
    Some((sink, element.static_pad("src")?))
}

/// The inner element of a GStreamerFilter.
pub struct GstCommand {
    element: gst::Element,
}

impl FilterKind for GstCommand {
    const IDLE_WITHOUT_CONSUMERS: bool = true;
}

/// GStreamerFilter: a [`Filter`] running one `gst-launch` element.
pub type GStreamerFilter = Filter<GstCommand>;

impl GStreamerFilter {
    /// Parses `command` into its element and starts the island. Errors are
    /// KMS's (`GStreamerFilterImpl` constructor).
    pub fn new(command: &str, filter_type: FilterType, waker: Waker) -> Result<GStreamerFilter, FilterError> {
        crate::init().map_err(invalid)?;
        if let Some(name) = refused_element(command) {
            return Err(invalid(format!(
                "GStreamer element cannot be created: '{name}' is not allowed in a GStreamerFilter (OpenCV elements throw C++ exceptions on bad property values, which would stop the server)"
            )));
        }
        let element = match gst::parse::launch(command) {
            Ok(e) => e,
            Err(e) => return Err(invalid(format!("GStreamer element cannot be created: {e}"))),
        };
        if element.is::<gst::Bin>() {
            return Err(invalid("Given command is not valid, only one element can be created"));
        }
        let pads_dont_match = || invalid("Given command is not valid, pad templates don't match");
        let (sink_pad, src_pad) = filter_pads(&element).ok_or_else(pads_dont_match)?;
        let media_type = match filter_type {
            FilterType::Audio => MediaType::Audio,
            FilterType::Video => MediaType::Video,
            FilterType::Autodetect if both_pads_take(&sink_pad, &src_pad, "audio/x-raw") => MediaType::Audio,
            FilterType::Autodetect if both_pads_take(&sink_pad, &src_pad, "video/x-raw") => MediaType::Video,
            FilterType::Autodetect => return Err(pads_dont_match()),
        };
        let stage = Stage { elements: vec![element.clone()], sink: sink_pad, src: src_pad };
        Filter::build(GstCommand { element }, media_type, stage, waker, |_| None).map_err(invalid)
    }
}

impl GStreamerFilter {
    /// GStreamerFilter.setElementProperty: sets `name` on the inner element
    /// from its text `value`, converted per the property's type as KMS does
    /// (ints, floats and doubles read from their leading number, enums by
    /// nick, strings as they are); booleans and unsigned and 64-bit integers
    /// are also converted here (KMS answers 40006 for them). Other types: 40006.
    pub fn set_element_property(&self, name: &str, value: &str) -> Result<(), FilterError> {
        let element = &self.kind.element;
        let object_name = element.name();
        let pspec = element.find_property(name).ok_or_else(|| invalid(format!("No property named '{name}' in object '{object_name}'")))?;
        let converted = in_range(&pspec, value_from_text(pspec.value_type(), value)?)?;
        if !pspec.flags().contains(gst::glib::ParamFlags::WRITABLE) || pspec.flags().contains(gst::glib::ParamFlags::CONSTRUCT_ONLY) {
            return Err(invalid(format!("Property '{name}' of '{object_name}' cannot be set")));
        }
        element.set_property_from_value(name, &converted);
        Ok(())
    }
}

/// `value` as a GLib value of type `t`, converted as KMS converts
/// GStreamerFilter properties (see [`GStreamerFilter::set_element_property`]);
/// also used for the properties and action-signal arguments of module
/// classes bound to an element.
pub(crate) fn value_from_text(t: gst::glib::Type, value: &str) -> Result<gst::glib::Value, FilterError> {
    let number = |what: &str| invalid(format!("Cannot convert '{value}' to {what}"));
    let lead = leading_number(value);
    Ok(if t == i32::static_type() {
        lead.parse::<i32>().map_err(|_| number("int"))?.to_value()
    } else if t == u32::static_type() {
        lead.parse::<u32>().map_err(|_| number("uint"))?.to_value()
    } else if t == i64::static_type() {
        lead.parse::<i64>().map_err(|_| number("int64"))?.to_value()
    } else if t == u64::static_type() {
        lead.parse::<u64>().map_err(|_| number("uint64"))?.to_value()
    } else if t == f32::static_type() {
        lead.parse::<f32>().map_err(|_| number("float"))?.to_value()
    } else if t == f64::static_type() {
        lead.parse::<f64>().map_err(|_| number("double"))?.to_value()
    } else if t == bool::static_type() {
        match value {
            "true" | "TRUE" | "1" => true.to_value(),
            "false" | "FALSE" | "0" => false.to_value(),
            _ => return Err(number("boolean")),
        }
    } else if t == String::static_type() {
        value.to_value()
    } else if t.is_a(gst::glib::Type::ENUM) {
        let class = gst::glib::EnumClass::with_type(t).ok_or_else(|| number("enum"))?;
        class.to_value_by_nick(value).ok_or_else(|| invalid(format!("Cannot convert '{value}' to enum: Invalid value for enum {}", t.name())))?
    } else {
        return Err(FilterError::NotImplemented(format!("Property type not implemented: {}", t.name())));
    })
}

/// `value` when it suits `pspec` (GLib aborts the process on a value out
/// of a property's range); a 40001-style error otherwise.
pub(crate) fn in_range(pspec: &gst::glib::ParamSpec, value: gst::glib::Value) -> Result<gst::glib::Value, FilterError> {
    if pspec.value_is_valid(&value) {
        Ok(value)
    } else {
        Err(invalid(format!("Value out of range for property '{}'", pspec.name())))
    }
}

/// The leading number of `value` (`"12abc"` reads as 12, as C++'s stoi does).
fn leading_number(value: &str) -> &str {
    let value = value.trim_start();
    let end = value
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')) || c == 'e' || c == 'E'))
        .map_or(value.len(), |(i, _)| i);
    &value[..end]
}
