//! Typed model of a kmd module and its loading from the JSON form.

use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

/// One IDL module (`core`, `elements`, `filters`, `chroma`, ...).
#[derive(Debug)]
pub struct Module {
    /// Module name as listed by `ServerManager.getInfo` and taken by `getKmd`.
    pub name: String,
    /// Module version string, e.g. `7.3.1-dev`.
    pub version: String,
    /// Names of the concrete classes, which are the module's factories.
    pub factories: Vec<String>,
    /// The module's kmd, as embedded (JSON text without doc strings) or as
    /// read from the modules path.
    pub kmd: &'static str,
    /// Where the module was read from; `None` for the built-in modules.
    pub origin: Option<String>,
}

/// A remote class (`MediaPipeline`, `WebRtcEndpoint`, ...).
#[derive(Debug)]
pub struct Class {
    pub name: String,
    /// The IDL module that declares the class.
    pub module: String,
    pub extends: Option<String>,
    pub is_abstract: bool,
    /// Constructor parameters; `None` for classes without a constructor.
    pub constructor: Option<Vec<Param>>,
    pub properties: Vec<Property>,
    pub methods: Vec<Method>,
    /// Events this class declares (ancestors' events are not repeated).
    pub events: Vec<String>,
}

impl Class {
    /// The prefix of qualified names and object ids: `kurento` for the core,
    /// elements and filters modules, the module name otherwise (KMS's `getModule`).
    pub fn qualifier(&self) -> &str {
        match self.module.as_str() {
            "core" | "elements" | "filters" => "kurento",
            other => other,
        }
    }

    /// `kurento.WebRtcEndpoint`, `chroma.ChromaFilter`.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.qualifier(), self.name)
    }
}

/// A constructor or method parameter.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    /// IDL type: `String`, `int`, `MediaPipeline`, `Tag[]`, `Stats<>`, ...
    pub type_name: String,
    pub optional: bool,
    /// The default an optional parameter takes when missing.
    pub default: Option<Value>,
}

/// A property; on the wire it is the operations `get<Name>` and `set<Name>`.
#[derive(Debug, Clone)]
pub struct Property {
    pub name: String,
    pub type_name: String,
    /// Set at construction, getter only.
    pub is_final: bool,
    /// Getter only.
    pub read_only: bool,
    pub default: Option<Value>,
}

impl Property {
    /// True when the property has a `set<Name>` operation.
    pub fn is_settable(&self) -> bool {
        !self.is_final && !self.read_only
    }
}

/// A method of a remote class.
#[derive(Debug, Clone)]
pub struct Method {
    pub name: String,
    pub params: Vec<Param>,
    /// IDL return type, `None` for void.
    pub returns: Option<String>,
}

/// Whether a complex type is an enum (sent as a string) or a register (an object).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeFormat {
    Enum,
    Register,
}

/// An enum or register type.
#[derive(Debug)]
pub struct ComplexType {
    pub name: String,
    pub module: String,
    pub format: TypeFormat,
    pub extends: Option<String>,
    /// Enum values (empty for registers).
    pub values: Vec<String>,
    /// Register fields (empty for enums).
    pub fields: Vec<Param>,
}

/// An event type.
#[derive(Debug)]
pub struct EventType {
    pub name: String,
    pub extends: Option<String>,
    pub fields: Vec<Param>,
}

#[derive(Deserialize)]
pub(crate) struct RawModule {
    #[serde(default)]
    pub(crate) name: Option<String>,
    #[serde(default)]
    pub(crate) version: String,
    #[serde(default, rename = "remoteClasses")]
    remote_classes: Vec<RawClass>,
    #[serde(default, rename = "complexTypes")]
    complex_types: Vec<RawComplexType>,
    #[serde(default)]
    events: Vec<RawEvent>,
}

impl RawModule {
    /// The names of the classes the module declares.
    pub(crate) fn class_names(&self) -> impl Iterator<Item = &str> {
        self.remote_classes.iter().map(|c| c.name.as_str())
    }

    /// The names of the complex types the module declares.
    pub(crate) fn type_names(&self) -> impl Iterator<Item = &str> {
        self.complex_types.iter().map(|t| t.name.as_str())
    }

    /// The names of the events the module declares.
    pub(crate) fn event_names(&self) -> impl Iterator<Item = &str> {
        self.events.iter().map(|e| e.name.as_str())
    }

    /// (type, parent) for each complex type that extends another.
    pub(crate) fn type_parents(&self) -> impl Iterator<Item = (&str, &str)> {
        self.complex_types.iter().filter_map(|t| Some((t.name.as_str(), t.extends.as_deref()?)))
    }

    /// (class, parent) for each class that extends another.
    pub(crate) fn class_parents(&self) -> impl Iterator<Item = (&str, &str)> {
        self.remote_classes.iter().filter_map(|c| Some((c.name.as_str(), c.extends.as_deref()?)))
    }
}

#[derive(Deserialize)]
struct RawClass {
    name: String,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default, rename = "abstract")]
    is_abstract: bool,
    #[serde(default)]
    constructor: Option<RawConstructor>,
    #[serde(default)]
    properties: Vec<RawParam>,
    #[serde(default)]
    methods: Vec<RawMethod>,
    #[serde(default)]
    events: Vec<String>,
}

#[derive(Deserialize)]
struct RawConstructor {
    #[serde(default)]
    params: Vec<RawParam>,
}

#[derive(Deserialize)]
struct RawParam {
    name: String,
    #[serde(rename = "type")]
    type_name: String,
    #[serde(default)]
    optional: bool,
    #[serde(default, rename = "defaultValue")]
    default: Option<Value>,
    #[serde(default, rename = "final")]
    is_final: bool,
    #[serde(default, rename = "readOnly")]
    read_only: bool,
}

#[derive(Deserialize)]
struct RawMethod {
    name: String,
    #[serde(default)]
    params: Vec<RawParam>,
    #[serde(default, rename = "return")]
    returns: Option<RawReturn>,
}

#[derive(Deserialize)]
struct RawReturn {
    #[serde(rename = "type")]
    type_name: String,
}

#[derive(Deserialize)]
struct RawComplexType {
    name: String,
    #[serde(rename = "typeFormat")]
    type_format: String,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    properties: Vec<RawParam>,
}

#[derive(Deserialize)]
struct RawEvent {
    name: String,
    #[serde(default)]
    extends: Option<String>,
    #[serde(default)]
    properties: Vec<RawParam>,
}

impl From<RawParam> for Param {
    fn from(p: RawParam) -> Param {
        Param { name: p.name, type_name: p.type_name, optional: p.optional, default: p.default }
    }
}

/// Indexes one parsed module into the shared maps and returns its summary.
pub(crate) fn load_module(
    name: &str,
    text: &'static str,
    raw: RawModule,
    classes: &mut HashMap<String, Class>,
    complex_types: &mut HashMap<String, ComplexType>,
    events: &mut HashMap<String, EventType>,
) -> Module {
    let mut factories = Vec::new();
    for c in raw.remote_classes {
        if !c.is_abstract {
            factories.push(c.name.clone());
        }
        let class = Class {
            name: c.name.clone(),
            module: name.to_owned(),
            extends: c.extends,
            is_abstract: c.is_abstract,
            constructor: c.constructor.map(|k| k.params.into_iter().map(Param::from).collect()),
            properties: c
                .properties
                .into_iter()
                .map(|p| Property {
                    is_final: p.is_final,
                    read_only: p.read_only,
                    name: p.name,
                    type_name: p.type_name,
                    default: p.default,
                })
                .collect(),
            methods: c
                .methods
                .into_iter()
                .map(|m| Method {
                    name: m.name,
                    params: m.params.into_iter().map(Param::from).collect(),
                    returns: m.returns.map(|r| r.type_name),
                })
                .collect(),
            events: c.events,
        };
        classes.insert(c.name, class);
    }
    for t in raw.complex_types {
        let format = if t.type_format == "ENUM" { TypeFormat::Enum } else { TypeFormat::Register };
        complex_types.entry(t.name.clone()).or_insert(ComplexType {
            name: t.name,
            module: name.to_owned(),
            format,
            extends: t.extends,
            values: t.values,
            fields: t.properties.into_iter().map(Param::from).collect(),
        });
    }
    for e in raw.events {
        events.insert(
            e.name.clone(),
            EventType {
                name: e.name,
                extends: e.extends,
                fields: e.properties.into_iter().map(Param::from).collect(),
            },
        );
    }
    Module { name: name.to_owned(), version: raw.version, factories, kmd: text, origin: None }
}
