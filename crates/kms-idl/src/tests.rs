use super::*;

#[test]
fn counts_match_the_inventory() {
    let idl = Idl::get();
    assert_eq!(idl.modules().len(), 7);
    let classes: usize = idl.modules().iter().map(|m| m.factories.len()).sum();
    // 33 classes of which 12 are abstract (INVENTORY.md).
    assert_eq!(classes, 21);
    assert_eq!(idl.classes.len(), 33);
}

#[test]
fn describe_hierarchy_of_webrtc_endpoint() {
    let idl = Idl::get();
    let class = idl.factory("kurento.WebRtcEndpoint").unwrap();
    assert_eq!(
        idl.hierarchy(class),
        [
            "kurento.BaseRtpEndpoint",
            "kurento.SdpEndpoint",
            "kurento.SessionEndpoint",
            "kurento.Endpoint",
            "kurento.MediaElement",
            "kurento.MediaObject"
        ]
    );
}

#[test]
fn factories_accept_bare_and_qualified_names_only_for_concrete_classes() {
    let idl = Idl::get();
    assert!(idl.factory("MediaPipeline").is_some());
    assert!(idl.factory("chroma.ChromaFilter").is_some());
    assert!(idl.factory("ChromaFilter").is_some());
    assert!(idl.factory("kurento.ChromaFilter").is_none());
    assert!(idl.factory("MediaElement").is_none(), "abstract");
    assert!(idl.factory("Nope").is_none());
}

#[test]
fn inherited_members_resolve() {
    let idl = Idl::get();
    let class = idl.class("WebRtcEndpoint").unwrap();
    assert!(idl.method(class, "processOffer").is_some());
    assert!(idl.method(class, "connect").is_some());
    let (owner, name) = idl.property(class, "name").unwrap();
    assert_eq!(owner.name, "MediaObject");
    assert!(name.is_settable());
    assert!(!idl.property(class, "id").unwrap().1.is_settable());
    assert!(idl.raises(class, "IceCandidateFound"));
    assert!(idl.raises(class, "MediaFlowInStateChanged"));
    assert!(!idl.raises(class, "EndOfStream"));
}
