//! The fuzz targets: every parser and decoder that takes network input,
//! through the entry points the server itself uses. `fuzz/` runs them under
//! libFuzzer (`scripts/fuzz.sh TARGET SECONDS`); `tests/replay.rs` runs every
//! saved input of `fuzz/corpus/<target>/` through them in `cargo test`.

/// A fuzz target's body: takes any bytes, must not panic.
pub type Target = fn(&[u8]);

/// (name, body) of every target; the name is the corpus directory and the
/// cargo-fuzz binary.
pub const TARGETS: &[(&str, Target)] = &[
    ("jsonrpc", jsonrpc),
    ("webrtc_offer", kms_webrtc::fuzzing::offer),
    ("webrtc_answer", kms_webrtc::fuzzing::answer),
    ("webrtc_datagrams", kms_webrtc::fuzzing::datagrams),
    ("webrtc_media", kms_webrtc::fuzzing::media),
    ("ice_tcp", kms_webrtc::fuzzing::ice_tcp),
    ("stun", kms_webrtc::fuzzing::stun_message),
    ("rtp_offer", kms_gst::fuzzing::rtp_offer),
    ("rtp_answer", kms_gst::fuzzing::rtp_answer),
    ("http_post", kms_gst::fuzzing::http_post),
];

/// Runs target `name` on `data`; panics on an unknown name.
pub fn run(name: &str, data: &[u8]) {
    let (_, body) = TARGETS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no fuzz target {name}"));
    body(data);
}

/// A JSON-RPC envelope as the WebSocket transport decodes it, and the reply
/// to a broken one; a request that decodes goes through the typed method
/// layer too ([`kms_protocol::Method::decode`]), and an `invoke` through the
/// typed operation layer ([`kms_api::Operation::decode`]) as an object of
/// the class its id names (the server takes the class from its registry).
fn jsonrpc(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match kms_protocol::decode_request(&text) {
        Ok(request) => {
            let _ = request.session_id();
            // The typed method layer: every member the method takes is checked here.
            if let Ok(kms_protocol::Method::Invoke { object, operation, params }) = kms_protocol::Method::decode(&request) {
                let class = kms_idl::Idl::get().class(object.type_name());
                if let Some(class) = class {
                    if let Ok(op) = kms_api::Operation::decode(class, operation, &params) {
                        let _ = (op.name(), op.property());
                    }
                }
            }
        }
        Err(reply) => {
            let _ = reply.to_text();
        }
    }
}
