//! Reading the `id` of a request that cannot be parsed (cut short, nested
//! too deeply, too large), so that its error reply still names it: a
//! single pass over the text that tracks strings and nesting, and takes the
//! first `"id"` member of the top-level object whose value is a complete
//! string or number. Nothing is allocated for the members it skips.

use serde_json::Value;

/// The top-level `id` of `text` (a JSON object, possibly cut short or
/// malformed after the id), or `Null` when none can be read: the member is
/// missing, nested, not a string or number, or itself cut short.
pub fn scan_id(text: &str) -> Value {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    // Whether the string about to be read is a key of the top-level object.
    let mut expecting_key = false;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => {
                depth += 1;
                expecting_key = depth == 1 && bytes[i] == b'{';
                i += 1;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b',' => {
                expecting_key = depth == 1;
                i += 1;
            }
            b'"' => {
                let Some(end) = string_end(bytes, i) else { return Value::Null };
                if depth == 1 && expecting_key && &bytes[i + 1..end] == b"id" {
                    return value_after_colon(&text[end + 1..]);
                }
                expecting_key = false;
                i = end + 1;
            }
            _ => i += 1,
        }
    }
    Value::Null
}

/// The index of the quote closing the string that opens at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// A complete string or number after `:` (whitespace allowed), else `Null`.
fn value_after_colon(rest: &str) -> Value {
    let rest = rest.trim_start();
    let Some(rest) = rest.strip_prefix(':') else { return Value::Null };
    let rest = rest.trim_start();
    let end = if rest.starts_with('"') {
        match string_end(rest.as_bytes(), 0) {
            Some(e) => e + 1,
            None => return Value::Null,
        }
    } else {
        match rest.find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))) {
            Some(e) => e,
            // A number running to the end of the text may be cut short.
            None => return Value::Null,
        }
    };
    match serde_json::from_str::<Value>(&rest[..end]) {
        Ok(v @ (Value::String(_) | Value::Number(_))) => v,
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::scan_id;
    use serde_json::json;

    #[test]
    fn reads_the_top_level_id_of_broken_requests() {
        assert_eq!(scan_id(r#"{"jsonrpc":"2.0","id":1001,"method":"ping""#), json!(1001));
        assert_eq!(scan_id(r#"{"jsonrpc":"2.0","id":"r-1","method":"create","params":{"type":"Media"#), json!("r-1"));
        assert_eq!(scan_id(r#"{ "id" : -7 , "params": [[[["#), json!(-7));
        assert_eq!(scan_id(r#"{"params":{"id":5},"id":6,"x":"#), json!(6), "a nested id is not the request's");
        assert_eq!(scan_id(r#"{"method":"ping","params":{"id":5"#), json!(null));
        assert_eq!(scan_id(r#"{"method":"a \"id\": 3","id":"x\"y"}"#), json!("x\"y"), "quotes inside strings");
        assert_eq!(scan_id(r#"{"value":"id","id":4}"#), json!(4), "a value spelled id is not a key");
    }

    #[test]
    fn reads_nothing_it_cannot_be_sure_of() {
        for text in [r#"{"id":12"#, r#"{"id":"unterminated"#, r#"{"id":true}"#, r#"{"id":{"a":1}}"#, "not json", "", r#"[{"id":1}]"#, r#"{"id""#] {
            assert_eq!(scan_id(text), json!(null), "{text}");
        }
    }
}
