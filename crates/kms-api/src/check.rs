//! Checking JSON values against IDL types (constructor and operation
//! parameters), as KMS's generated deserializers do.

use kms_idl::{Idl, TypeFormat};
use serde_json::Value;

/// True when `value` has the shape of IDL type `type_name`. Remote-class types
/// only check for a string here; the id is resolved by the caller.
pub fn matches(idl: &Idl, type_name: &str, value: &Value) -> bool {
    if let Some(item) = type_name.strip_suffix("[]") {
        return value.as_array().is_some_and(|a| a.iter().all(|v| matches(idl, item, v)));
    }
    if type_name.ends_with("<>") {
        return value.is_object();
    }
    match type_name {
        "String" => value.is_string(),
        "boolean" => value.is_boolean(),
        "int" => value.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
        "int64" => value.is_i64() || value.is_u64(),
        "float" | "double" => value.is_number(),
        // An id, or (kurento-client 7.3 JS) the object sent whole with its id.
        other if idl.class(other).is_some() => value.is_string() || kms_protocol::params::embedded_id(value).is_some(),
        other => match idl.complex_type(other) {
            Some(t) if t.format == TypeFormat::Enum => value.as_str().is_some_and(|s| t.values.iter().any(|v| v == s)),
            Some(t) => value.as_object().is_some_and(|fields| register_matches(idl, t, fields)),
            None => false,
        },
    }
}

/// A register's members as KMS's generated deserializers read them: every
/// field the kmd does not mark optional is present (`null` counts as
/// missing), and every present field has its type; the register's parents'
/// fields (`extends`) too. Members the kmd does not list (`__type__`,
/// `__module__`) are ignored.
fn register_matches(idl: &Idl, register: &kms_idl::ComplexType, fields: &serde_json::Map<String, Value>) -> bool {
    let mut next = Some(register);
    while let Some(t) = next {
        for f in &t.fields {
            match fields.get(&f.name) {
                None | Some(Value::Null) if f.optional => {}
                None | Some(Value::Null) => return false,
                Some(v) if !matches(idl, &f.type_name, v) => return false,
                Some(_) => {}
            }
        }
        next = t.extends.as_deref().and_then(|parent| idl.complex_type(parent));
    }
    true
}

/// A human description of what `type_name` expects, for error messages.
pub fn describe(type_name: &str) -> String {
    match type_name {
        "String" => "a string".into(),
        "boolean" => "a boolean".into(),
        "int" | "int64" => "an integer".into(),
        "float" | "double" => "a number".into(),
        t if t.ends_with("[]") => "an array".into(),
        t => format!("of type {t}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn idl_types() {
        let idl = Idl::get();
        assert!(matches(idl, "int", &json!(5)));
        assert!(!matches(idl, "int", &json!("5")));
        assert!(!matches(idl, "int", &json!(1u64 << 40)));
        assert!(matches(idl, "MediaType", &json!("VIDEO")));
        assert!(!matches(idl, "MediaType", &json!("SMELL")));
        assert!(matches(idl, "Tag[]", &json!([{"key":"a","value":"b"}])));
        assert!(matches(idl, "MediaPipeline", &json!("x_kurento.MediaPipeline")));
        assert!(matches(idl, "OfferOptions", &json!({})));
        assert!(!matches(idl, "boolean", &json!(null)));
        let candidate = json!({"__module__": "kurento", "__type__": "IceCandidate", "candidate": "candidate:1", "sdpMid": "0", "sdpMLineIndex": 0});
        assert!(matches(idl, "IceCandidate", &candidate));
        assert!(!matches(idl, "IceCandidate", &json!({"candidate": "candidate:1"})), "required fields missing");
        assert!(!matches(idl, "IceCandidate", &json!({"candidate": "c", "sdpMid": "0", "sdpMLineIndex": "0"})), "a mistyped field");
        assert!(!matches(idl, "AudioCaps", &json!({"codec": "NOPE", "bitrate": 1})), "an enum field");
        assert!(matches(idl, "RembParams", &json!({"upLosses": 12})), "optional fields may be left out");
    }
}
