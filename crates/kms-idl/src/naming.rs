//! Rust names for IDL names, shared by the code generators (the client
//! crate's and the server's typed operations).

/// Rust keywords an IDL name may collide with (written as raw identifiers).
const KEYWORDS: &[&str] = &["type", "ref", "match", "mod", "move", "loop", "in", "fn", "use", "where", "impl", "self", "super", "crate", "struct", "enum", "trait", "async", "await", "dyn", "box", "final", "override"];

/// `sdpMLineIndex` -> `sdp_m_line_index`, `getGstreamerDot` -> `get_gstreamer_dot`.
pub fn snake(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut s = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                _ => false,
            };
            if boundary && !s.ends_with('_') {
                s.push('_');
            }
            s.extend(c.to_lowercase());
        } else if c == '-' || c == ' ' {
            s.push('_');
        } else {
            s.push(c);
        }
    }
    s
}

/// `snake` as a usable identifier (`type` -> `r#type`).
pub fn ident(name: &str) -> String {
    let s = snake(name);
    if KEYWORDS.contains(&s.as_str()) {
        format!("r#{s}")
    } else {
        s
    }
}

/// An enum value as a variant: `NOT_FLOWING` -> `NotFlowing`, `in-progress` -> `InProgress`.
pub fn variant(value: &str) -> String {
    let mut s = String::new();
    for part in value.split(['_', '-', ' ']).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            s.extend(first.to_uppercase());
            s.push_str(&chars.as_str().to_lowercase());
        }
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, 'V');
    }
    s
}

/// `stunServerAddress` -> `StunServerAddress` (a property's `get`/`set` suffix).
pub fn upper_first(name: &str) -> String {
    let mut c = name.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

