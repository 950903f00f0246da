use super::*;

#[test]
fn counts_match_the_inventory() {
    let idl = Idl::get();
    assert_eq!(idl.modules().len(), 8);
    let classes: usize = idl.modules().iter().map(|m| m.factories.len()).sum();
    // 33 classes of which 12 are abstract (INVENTORY.md), and the four of
    // KMS's datachannelexample module.
    assert_eq!(classes, 25);
    assert_eq!(idl.classes.len(), 37);
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

/// A module from the modules path, as `install` would take it.
fn found(text: &str) -> FoundModule {
    FoundModule { origin: "/tmp/test.kmd.json".into(), text: text.into() }
}

#[test]
fn found_modules_are_added_or_refused_with_a_reason() {
    let mut idl = Idl::builtin();
    let good = r#"{"name":"balance","version":"1.0.0","remoteClasses":[{"name":"Balance","extends":"kurento.Filter",
        "constructor":{"params":[{"name":"mediaPipeline","type":"MediaPipeline"}]},
        "properties":[{"name":"saturation","type":"double"}],"events":["Analysed"]}],
        "events":[{"name":"Analysed","extends":"Media","properties":[{"name":"luma","type":"double"}]}]}"#;
    idl.add_found(&found(good)).unwrap();
    let class = idl.factory("balance.Balance").expect("served as balance.Balance");
    assert!(idl.is_loaded(class) && idl.is_a(class, "MediaElement"));
    assert!(!idl.is_loaded(idl.class("WebRtcEndpoint").unwrap()));
    assert_eq!(idl.module("balance").unwrap().factories, ["Balance"]);
    assert!(idl.event("Analysed").is_some());
    let refused = |text: &str, idl: &mut Idl| idl.add_found(&found(text)).unwrap_err();
    assert!(refused("{not json", &mut idl).contains("does not parse"));
    assert!(refused(r#"{"version":"1"}"#, &mut idl).contains("no name"));
    assert!(refused(good, &mut idl).contains("already loaded"));
    let clash = r#"{"name":"other","version":"1","remoteClasses":[{"name":"WebRtcEndpoint","extends":"MediaElement"}]}"#;
    assert!(refused(clash, &mut idl).contains("already declared by module elements"));
    let orphan = r#"{"name":"orphan","version":"1","remoteClasses":[{"name":"Lost","extends":"Nowhere"}]}"#;
    assert!(refused(orphan, &mut idl).contains("extends Nowhere"));
    let cycle = r#"{"name":"cycle","version":"1","remoteClasses":[{"name":"A","extends":"B"},{"name":"B","extends":"A"}]}"#;
    assert!(refused(cycle, &mut idl).contains("extends itself"), "a cycle would hang every lookup");
    let looped = r#"{"name":"looped","version":"1","remoteClasses":[{"name":"Loop","extends":"Loop"}]}"#;
    assert!(refused(looped, &mut idl).contains("extends itself"));
    let event = r#"{"name":"evented","version":"1","events":[{"name":"EndOfStream","properties":[]}]}"#;
    assert!(refused(event, &mut idl).contains("event EndOfStream is already declared"));
    let typed = r#"{"name":"typed","version":"1","complexTypes":[{"name":"IceCandidate","typeFormat":"REGISTER"}]}"#;
    assert!(refused(typed, &mut idl).contains("type IceCandidate is already declared"));
    let self_type = r#"{"name":"selftype","version":"1","complexTypes":[{"name":"Me","typeFormat":"REGISTER","extends":"Me"}]}"#;
    assert!(refused(self_type, &mut idl).contains("extends itself"));
    assert_eq!(idl.modules().len(), 9, "the refused modules left nothing behind");
}
