use super::*;
use kms_protocol::params::Level;
use serde_json::json;

fn decode(class: &str, operation: &str, params: Value) -> Result<String, (i64, String)> {
    let class = Idl::get().class(class).expect("a class");
    let map = params.as_object().cloned().unwrap_or_default();
    let p = Params::new(Some(&map), Level::Operation);
    Operation::decode(class, operation, &p).map(|op| format!("{op:?}")).map_err(|e| (e.code.code(), e.message))
}

#[test]
fn operations_are_found_along_the_lineage() {
    let candidate = json!({"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0});
    assert!(decode("WebRtcEndpoint", "addIceCandidate", json!({ "candidate": candidate })).unwrap().starts_with("WebRtcEndpoint(AddIceCandidate"));
    // Declared by SdpEndpoint, MediaElement and MediaObject.
    assert_eq!(decode("WebRtcEndpoint", "processOffer", json!({"offer": "v=0"})).unwrap(), r#"SdpEndpoint(ProcessOffer { offer: "v=0" })"#);
    assert!(decode("RtpEndpoint", "getMediaState", json!({})).unwrap().starts_with("BaseRtpEndpoint(GetMediaState"));
    let connect = decode("PlayerEndpoint", "connect", json!({"sink": "a_kurento.MediaPipeline/b_kurento.RecorderEndpoint", "mediaType": "VIDEO"})).unwrap();
    assert!(connect.starts_with("MediaElement(Connect") && connect.contains("media_type: Some(Video)"), "{connect}");
    assert!(decode("MediaPipeline", "getName", json!({})).unwrap().starts_with("MediaObject(GetName"));
}

#[test]
fn kms_codes_for_bad_operations() {
    assert_eq!(decode("WebRtcEndpoint", "selfDestruct", json!({})).unwrap_err().0, 40105);
    // A method of another class is not one of this object's.
    assert_eq!(decode("PlayerEndpoint", "processOffer", json!({"offer": "v=0"})).unwrap_err().0, 40105);
    assert_eq!(decode("WebRtcEndpoint", "processOffer", json!({})).unwrap_err(), (40001, "'offer' parameter is required".into()));
    assert_eq!(decode("WebRtcEndpoint", "processOffer", json!({"offer": 5})).unwrap_err(), (40001, "'offer' parameter should be a string".into()));
    assert_eq!(decode("MediaElement", "connect", json!({"sink": "a_kurento.MediaPipeline/b_kurento.RecorderEndpoint", "mediaType": "SMELL"})).unwrap_err().0, 40001, "an enum outside its values");
    assert_eq!(decode("MediaElement", "connect", json!({"sink": "not an id"})).unwrap_err().0, 40101, "an object id that cannot be one");
    assert_eq!(decode("MediaElement", "connect", json!({"sink": 7})).unwrap_err().0, 40001, "an object given as a number");
    assert_eq!(decode("WebRtcEndpoint", "addIceCandidate", json!({"candidate": {"candidate": "c"}})).unwrap_err().0, 40001, "a register without its required fields");
    assert_eq!(decode("MediaElement", "setMaxEncoderBitrate", json!({"maxEncoderBitrate": 1u64 << 40})).unwrap_err().0, 40001, "int out of range");
    // Final and read-only properties have no setter.
    assert_eq!(decode("MediaObject", "setId", json!({"id": "x"})).unwrap_err().0, 40111);
    assert_eq!(decode("UriEndpoint", "setUri", json!({"uri": "file:///x"})).unwrap_err().0, 40111);
}

#[test]
fn accessors_name_their_property() {
    let class = Idl::get().class("WebRtcEndpoint").unwrap();
    let map = json!({"stunServerPort": 3478}).as_object().cloned().unwrap();
    let p = Params::new(Some(&map), Level::Operation);
    let op = Operation::decode(class, "setStunServerPort", &p).unwrap();
    assert_eq!(op.property(), Some(Accessor::Set("stunServerPort")));
    assert_eq!(op.name(), ("WebRtcEndpoint", "setStunServerPort"));
    let op = Operation::decode(class, "getICECandidatePairs", &p).unwrap();
    assert_eq!(op.property(), Some(Accessor::Get("ICECandidatePairs")));
    assert_eq!(Operation::decode(class, "gatherCandidates", &p).unwrap().property(), None);
}
