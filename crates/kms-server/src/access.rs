//! Access control, off by default so KMS applications work unchanged.
//!
//! - A shared secret on the WebSocket (`mediaServer.net.websocket.token`,
//!   `KMS_ACCESS_TOKEN`): the upgrade needs `?token=<secret>` in the URI
//!   (the official clients pass the ws_uri's query through) or
//!   `Authorization: Bearer <secret>`, compared in constant time; otherwise
//!   HTTP 401 and no session. The secret is never logged.
//! - Allow-lists: URIs of PlayerEndpoint and RecorderEndpoint
//!   (`mediaServer.resources.uriAllowList`, `KMS_URI_ALLOW`: prefixes such
//!   as `file:///var/kurento/` or `rtsp://`), and the elements a
//!   GStreamerFilter may run (`mediaServer.resources.filterAllowList`,
//!   `KMS_FILTER_ALLOW`: factory names). Empty lists allow everything.

use subtle::ConstantTimeEq;

/// True when `presented` is the secret (constant time in the secret's content).
pub fn token_matches(secret: &str, presented: Option<&str>) -> bool {
    presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(secret.as_bytes())))
}

/// The token a WebSocket request presents: the `token` query parameter or
/// an `Authorization: Bearer` header.
pub fn presented_token<'a>(query: Option<&'a str>, authorization: Option<&'a str>) -> Option<&'a str> {
    let from_query = query.and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=")));
    from_query.or_else(|| authorization.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim))
}

/// True when `uri` starts with one of `allowed` (or the list is empty).
pub fn uri_allowed(allowed: &[String], uri: &str) -> bool {
    allowed.is_empty() || allowed.iter().any(|prefix| uri.starts_with(prefix.as_str()))
}

/// True when the GStreamerFilter `command`'s element is in `allowed` (or
/// the list is empty): its factory name is the command's first word.
pub fn filter_allowed(allowed: &[String], command: &str) -> bool {
    let factory = command.split_whitespace().next().unwrap_or_default();
    allowed.is_empty() || allowed.iter().any(|a| a == factory)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_allow_lists() {
        assert!(token_matches("s3cret", presented_token(Some("a=1&token=s3cret"), None)));
        assert!(token_matches("s3cret", presented_token(None, Some("Bearer s3cret"))));
        assert!(!token_matches("s3cret", presented_token(Some("token=s3cre"), None)));
        assert!(!token_matches("s3cret", presented_token(None, None)));
        let list = vec!["file:///var/kurento/".to_owned()];
        assert!(uri_allowed(&list, "file:///var/kurento/a.webm") && !uri_allowed(&list, "file:///etc/passwd"));
        assert!(uri_allowed(&[], "anything"));
        let elements = vec!["videoflip".to_owned()];
        assert!(filter_allowed(&elements, "videoflip video-direction=horiz") && !filter_allowed(&elements, "filesink location=/etc/x"));
    }
}
