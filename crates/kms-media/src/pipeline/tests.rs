//! Router tests with a recording element on a virtual clock.

use super::*;
use crate::media::{Codec, DataMessage, MediaFrame};
use crate::transcode::{EncoderBitrate, TargetFormat, Transcoder, TranscoderFactory, TranscoderOutput};
use std::sync::Arc;

/// A minimal element: emits the frames queued in `to_emit`, records what it gets.
#[derive(Default)]
struct Probe {
    to_emit: VecDeque<ElementOutput>,
    received: Vec<MediaFrame>,
    keyframe_requests: usize,
    source_changes: Vec<MediaType>,
    estimates: Vec<u64>,
    data: Vec<DataMessage>,
    /// What it takes as a sink (`None`: anything).
    accepts: Option<Vec<Codec>>,
    /// Picks simulcast layers itself (a simulcast viewer).
    selects: bool,
    layer_keyframe_requests: Vec<u8>,
    /// (min, max) of its sinks' estimates.
    sink_estimates: Vec<(u64, u64)>,
}

impl Element for Probe {
    fn handle_media(&mut self, _now: Instant, frame: &MediaFrame) {
        self.received.push(frame.clone());
    }
    fn handle_data(&mut self, _now: Instant, message: &DataMessage) {
        self.data.push(message.clone());
    }
    fn handle_keyframe_request(&mut self, _now: Instant) {
        self.keyframe_requests += 1;
    }
    fn handle_source_changed(&mut self, _now: Instant, media_type: MediaType) {
        self.source_changes.push(media_type);
    }
    fn handle_bitrate_estimate(&mut self, _now: Instant, bitrate: u64) {
        self.estimates.push(bitrate);
    }
    fn handle_sink_estimates(&mut self, now: Instant, min: u64, max: u64) {
        self.sink_estimates.push((min, max));
        self.handle_bitrate_estimate(now, min);
    }
    fn handle_layer_keyframe_request(&mut self, _now: Instant, layer: u8) {
        self.layer_keyframe_requests.push(layer);
    }
    fn selects_layers(&self) -> bool {
        self.selects
    }
    fn poll_output(&mut self) -> Option<ElementOutput> {
        self.to_emit.pop_front()
    }
    fn input_codecs(&self, _media_type: MediaType) -> Option<&[Codec]> {
        self.accepts.as_deref()
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

fn frame(codec: Codec, now: Instant) -> MediaFrame {
    MediaFrame::new(codec, 90_000, 0, now, Arc::from(&[1u8, 2, 3][..]))
}

fn drain(p: &mut Pipeline, now: Instant) -> Vec<PipelineOutput> {
    std::iter::from_fn(|| p.poll_output(now)).collect()
}

#[test]
fn media_fans_out_by_type_and_shares_the_payload() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let a = p.add(Box::new(Probe::default()));
    let b = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(src, a, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(src, b, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(src, b, MediaType::Audio)).unwrap();
    let v = frame(Codec::Vp8, now);
    let payload = v.data.clone();
    let probe = p.element_mut::<Probe>(src).unwrap();
    probe.to_emit.push_back(ElementOutput::Media(v));
    probe.to_emit.push_back(ElementOutput::Media(frame(Codec::Opus, now)));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(a).unwrap().received.len(), 1);
    let got = &p.element_mut::<Probe>(b).unwrap().received;
    assert_eq!(got.len(), 2);
    assert!(Arc::ptr_eq(&got[0].data, &payload), "payload shared, not copied");
}

#[test]
fn loopback_routes_to_itself() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let e = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(e, e, MediaType::Audio)).unwrap();
    p.element_mut::<Probe>(e).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Opus, now)));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(e).unwrap().received.len(), 1);
}

#[test]
fn keyframe_requests_go_upstream_throttled() {
    let t0 = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let sink = p.add(Box::new(Probe::default()));
    p.connect(t0, Connection::new(src, sink, MediaType::Video)).unwrap();
    assert_eq!(p.element_mut::<Probe>(src).unwrap().keyframe_requests, 1, "asked on video connect");

    // A burst of PLIs from the sink inside the interval reaches the source once.
    let t1 = t0 + KEYFRAME_REQUEST_INTERVAL;
    for _ in 0..5 {
        p.element_mut::<Probe>(sink).unwrap().to_emit.push_back(ElementOutput::KeyframeRequest);
    }
    drain(&mut p, t1);
    assert_eq!(p.element_mut::<Probe>(src).unwrap().keyframe_requests, 2);
    p.element_mut::<Probe>(sink).unwrap().to_emit.push_back(ElementOutput::KeyframeRequest);
    drain(&mut p, t1 + Duration::from_millis(10));
    assert_eq!(p.element_mut::<Probe>(src).unwrap().keyframe_requests, 2);
}

#[test]
fn removed_elements_lose_their_connections_and_events_name_the_element() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let sink = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(src, sink, MediaType::Audio)).unwrap();
    p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Event(ElementEvent::IceGatheringDone));
    let out = drain(&mut p, now);
    assert!(matches!(out.as_slice(), [PipelineOutput::Event(id, ElementEvent::IceGatheringDone)] if *id == src));
    assert!(p.remove(now, sink).is_some());
    assert!(p.graph().sink_connections(src, None).is_empty());
    assert_eq!(p.connect(now, Connection::new(src, sink, MediaType::Audio)), Err(GraphError::UnknownElement(sink)));
}

#[test]
fn the_publisher_gets_the_minimum_of_its_viewers_estimates() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let publisher = p.add(Box::new(Probe::default()));
    let viewers: Vec<ElementId> = (0..3).map(|_| p.add(Box::new(Probe::default()))).collect();
    for &v in &viewers {
        p.connect(now, Connection::new(publisher, v, MediaType::Video)).unwrap();
    }
    for (&v, bitrate) in viewers.iter().zip([900_000, 300_000, 600_000]) {
        p.element_mut::<Probe>(v).unwrap().to_emit.push_back(ElementOutput::BitrateEstimate(bitrate));
        drain(&mut p, now);
    }
    assert_eq!(p.element_mut::<Probe>(publisher).unwrap().estimates, [900_000, 300_000, 300_000]);
    // The slowest viewer leaves: the minimum rises with the next estimate.
    p.remove(now, viewers[1]);
    p.element_mut::<Probe>(viewers[0]).unwrap().to_emit.push_back(ElementOutput::BitrateEstimate(800_000));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(publisher).unwrap().estimates.last(), Some(&600_000));
}

#[test]
fn a_sink_is_told_when_its_source_changes_also_through_a_passthrough() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let (a, b) = (p.add(Box::new(Probe::default())), p.add(Box::new(Probe::default())));
    let pass = p.add(Box::new(crate::PassThrough::default()));
    let sink = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(pass, sink, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(a, pass, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(a, pass, MediaType::Video)).unwrap(); // same source again: no change
    p.connect(now, Connection::new(b, pass, MediaType::Video)).unwrap();
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(sink).unwrap().source_changes, [MediaType::Video; 3]);
}

#[test]
fn latency_stats_measure_arrival_to_delivery_per_sink() {
    let start = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let sink = p.add(Box::new(Probe::default()));
    p.connect(start, Connection::new(src, sink, MediaType::Video)).unwrap();
    p.latency_mut().set_enabled(true);
    for delay_ms in [10, 30] {
        p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Vp8, start)));
        drain(&mut p, start + Duration::from_millis(delay_ms));
    }
    assert_eq!(p.latency().averages(sink), [(MediaType::Video, 20_000_000.0)]);
    assert!(p.latency().averages(src).is_empty(), "nothing was delivered to the source");
    p.remove(start, sink);
    assert!(p.latency().averages(sink).is_empty());
}

#[test]
fn data_messages_go_only_to_data_sinks_through_a_passthrough() {
    let now = Instant::now();
    let mut p = Pipeline::new();
    let src = p.add(Box::new(Probe::default()));
    let relay = p.add(Box::new(crate::PassThrough::default()));
    let data_sink = p.add(Box::new(Probe::default()));
    let video_sink = p.add(Box::new(Probe::default()));
    p.connect(now, Connection::new(src, relay, MediaType::Data)).unwrap();
    p.connect(now, Connection::new(relay, data_sink, MediaType::Data)).unwrap();
    p.connect(now, Connection::new(src, video_sink, MediaType::Video)).unwrap();
    let message = DataMessage { label: Arc::from("chat"), binary: false, data: Arc::from(&b"hi"[..]) };
    p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Data(message.clone()));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(data_sink).unwrap().data, [message]);
    assert!(p.element_mut::<Probe>(video_sink).unwrap().data.is_empty());
}

/// What the fake transcoders saw, shared with the test.
#[derive(Default)]
struct TranscodeLog {
    built: usize,
    dropped: usize,
    inputs: usize,
    targets: Vec<Vec<TargetFormat>>,
    keyframes: Vec<TargetFormat>,
    bitrates: Vec<(TargetFormat, u64)>,
}

/// Encodes instantly: each input becomes one frame per target, of the
/// target's codec. Stands in for GStreamer to test the router's rules.
struct FakeTranscoder {
    log: Arc<std::sync::Mutex<TranscodeLog>>,
    targets: Vec<TargetFormat>,
    out: VecDeque<TranscoderOutput>,
}

impl Drop for FakeTranscoder {
    fn drop(&mut self) {
        self.log.lock().unwrap().dropped += 1;
    }
}

impl Transcoder for FakeTranscoder {
    fn bin_name(&self) -> &str {
        "fake"
    }
    fn handle_media(&mut self, _now: Instant, frame: &MediaFrame) {
        self.log.lock().unwrap().inputs += 1;
        for t in &self.targets {
            self.out.push_back(TranscoderOutput::Media(*t, MediaFrame { codec: t.codec, ..frame.clone() }));
        }
    }
    fn set_targets(&mut self, targets: &[TargetFormat]) {
        self.targets = targets.to_vec();
        self.log.lock().unwrap().targets.push(targets.to_vec());
    }
    fn request_keyframe(&mut self, target: TargetFormat) {
        self.log.lock().unwrap().keyframes.push(target);
    }
    fn set_bitrate(&mut self, target: TargetFormat, bitrate: u64) {
        self.log.lock().unwrap().bitrates.push((target, bitrate));
    }
    fn poll_output(&mut self) -> Option<TranscoderOutput> {
        self.out.pop_front()
    }
    fn describe(&self) -> Vec<String> {
        vec!["fake".into()]
    }
}

struct FakeFactory(Arc<std::sync::Mutex<TranscodeLog>>);

impl TranscoderFactory for FakeFactory {
    fn can_encode(&self, codec: Codec) -> bool {
        codec != Codec::Av1
    }
    fn can_decode(&self, _codec: Codec) -> bool {
        true
    }
    fn create(&self, _id: ElementId, _media_type: MediaType, _input: Codec) -> Result<Box<dyn Transcoder>, String> {
        self.0.lock().unwrap().built += 1;
        Ok(Box::new(FakeTranscoder { log: self.0.clone(), targets: Vec::new(), out: VecDeque::new() }))
    }
}

/// A pipeline whose transcoders are [`FakeTranscoder`]s logging to the returned log.
fn transcoding_pipeline() -> (Pipeline, Arc<std::sync::Mutex<TranscodeLog>>) {
    let log = Arc::new(std::sync::Mutex::new(TranscodeLog::default()));
    let mut p = Pipeline::new();
    p.set_transcoder_factory(Box::new(FakeFactory(log.clone())));
    (p, log)
}

fn sink_taking(p: &mut Pipeline, codecs: &[Codec]) -> ElementId {
    p.add(Box::new(Probe { accepts: Some(codecs.to_vec()), ..Default::default() }))
}

fn transcoding_events(out: &[PipelineOutput]) -> Vec<(ElementId, bool)> {
    out.iter()
        .filter_map(|o| match o {
            PipelineOutput::Event(id, ElementEvent::MediaTranscoding { transcoding, .. }) => Some((*id, *transcoding)),
            _ => None,
        })
        .collect()
}

#[test]
fn one_transcoder_per_source_and_one_encoder_per_format_shared_by_sinks() {
    let now = Instant::now();
    let (mut p, log) = transcoding_pipeline();
    let src = p.add(Box::new(Probe::default()));
    let vp8_viewers: Vec<ElementId> = (0..3).map(|_| sink_taking(&mut p, &[Codec::Vp8, Codec::H264])).collect();
    let h264_viewers: Vec<ElementId> = (0..3).map(|_| sink_taking(&mut p, &[Codec::H264])).collect();
    for s in vp8_viewers.iter().chain(&h264_viewers) {
        p.connect(now, Connection::new(src, *s, MediaType::Video)).unwrap();
    }
    drain(&mut p, now);
    for _ in 0..5 {
        p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Vp8, now)));
    }
    let out = drain(&mut p, now);
    assert_eq!(transcoding_events(&out), [(src, true)], "TRANSCODING once, on the source");
    {
        let log = log.lock().unwrap();
        assert_eq!((log.built, log.inputs), (1, 5), "one decoder, each frame decoded once");
        assert_eq!(log.targets, [vec![TargetFormat::codec(Codec::H264)]], "one H.264 encoder for the three viewers");
        assert_eq!(log.bitrates, [(TargetFormat::codec(Codec::H264), 300_000)], "KMS's starting encoder bitrate");
    }
    for v in &vp8_viewers {
        let got = &p.element_mut::<Probe>(*v).unwrap().received;
        assert!(got.len() == 5 && got.iter().all(|f| f.codec == Codec::Vp8), "matching sinks get the source's frames");
    }
    for v in &h264_viewers {
        let probe = p.element_mut::<Probe>(*v).unwrap();
        assert!(probe.received.len() == 5 && probe.received.iter().all(|f| f.codec == Codec::H264));
        assert!(probe.source_changes.contains(&MediaType::Video), "a transcoded sink rebases its timeline");
    }
    assert!(p.is_transcoding(src, MediaType::Video, "default") && p.is_transcoding(src, MediaType::Video, "fake"));
    assert!(!p.is_transcoding(src, MediaType::Audio, "default") && !p.is_transcoding(src, MediaType::Video, "other"));
    assert_eq!(p.transcoders()[0].targets[0].1.len(), 3);

    // A transcoded viewer's keyframe request forces a key unit in its encoder,
    // not a request to the publisher; its estimate drives the encoder.
    p.element_mut::<Probe>(h264_viewers[0]).unwrap().to_emit.push_back(ElementOutput::KeyframeRequest);
    p.element_mut::<Probe>(h264_viewers[0]).unwrap().to_emit.push_back(ElementOutput::BitrateEstimate(120_000));
    drain(&mut p, now + Duration::from_secs(1));
    assert_eq!(log.lock().unwrap().keyframes, [TargetFormat::codec(Codec::H264)]);
    assert_eq!(log.lock().unwrap().bitrates.last(), Some(&(TargetFormat::codec(Codec::H264), 120_000)));
    assert!(p.element_mut::<Probe>(src).unwrap().estimates.is_empty(), "the publisher is not throttled by a transcoded viewer");

    // The last H.264 viewer leaving tears the transcoder down: NOT_TRANSCODING.
    p.disconnect(now, src, h264_viewers[0], None);
    p.remove(now, h264_viewers[1]);
    assert_eq!(log.lock().unwrap().dropped, 0);
    p.disconnect(now, src, h264_viewers[2], None);
    let out = drain(&mut p, now);
    assert_eq!(transcoding_events(&out), [(src, false)]);
    assert_eq!(log.lock().unwrap().dropped, 1, "the transcoder is gone");
    assert!(!p.is_transcoding(src, MediaType::Video, "default"));
    p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Vp8, now)));
    drain(&mut p, now);
    assert_eq!(log.lock().unwrap().built, 1, "matching codecs never build a transcoder");
}

#[test]
fn a_sink_no_conversion_can_serve_gets_one_error_and_connect_refuses_inert_elements() {
    let now = Instant::now();
    let (mut p, log) = transcoding_pipeline();
    let src = p.add(Box::new(Probe::default()));
    let av1_only = sink_taking(&mut p, &[Codec::Av1]);
    p.connect(now, Connection::new(src, av1_only, MediaType::Video)).unwrap();
    for _ in 0..3 {
        p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Vp8, now)));
    }
    let out = drain(&mut p, now);
    let errors: Vec<_> = out.iter().filter(|o| matches!(o, PipelineOutput::Event(id, ElementEvent::Error { .. }) if *id == av1_only)).collect();
    assert_eq!(errors.len(), 1, "raised once, not per frame");
    assert_eq!(log.lock().unwrap().built, 0);

    let inert = p.add(Box::new(crate::Inert));
    assert_eq!(p.connect(now, Connection::new(src, inert, MediaType::Video)), Err(GraphError::NoMedia(inert)));
    assert_eq!(p.connect(now, Connection::new(inert, src, MediaType::Audio)), Err(GraphError::NoMedia(inert)));
}

#[test]
fn a_forced_output_format_is_encoded_for_sinks_that_take_it() {
    let now = Instant::now();
    let (mut p, log) = transcoding_pipeline();
    let src = p.add(Box::new(Probe::default()));
    let sink = sink_taking(&mut p, &[Codec::Vp8, Codec::H264]);
    p.connect(now, Connection::new(src, sink, MediaType::Video)).unwrap();
    let h264 = TargetFormat::codec(Codec::H264);
    p.set_output_format(src, MediaType::Video, Some(h264));
    p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Vp8, now)));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<Probe>(sink).unwrap().received[0].codec, Codec::H264);
    p.set_encoder_bitrate(src, EncoderBitrate { start: 300_000, min: 500_000, max: 0 });
    assert_eq!(log.lock().unwrap().bitrates.last(), Some(&(h264, 500_000)), "minEncoderBitrate bounds it");
}

/// A transforming filter: takes raw video, works only for its consumers.
#[derive(Default)]
struct RawFilter {
    received: usize,
    out: VecDeque<ElementOutput>,
}

impl Element for RawFilter {
    fn input_codecs(&self, media_type: MediaType) -> Option<&[Codec]> {
        (media_type == MediaType::Video).then_some(&[Codec::RawVideo][..])
    }
    fn idle_without_consumers(&self) -> bool {
        true
    }
    fn handle_media(&mut self, _now: Instant, frame: &MediaFrame) {
        self.received += 1;
        self.out.push_back(ElementOutput::Media(frame.clone()));
    }
    fn poll_output(&mut self) -> Option<ElementOutput> {
        self.out.pop_front()
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

#[test]
fn a_filter_chain_decodes_once_encodes_once_and_an_unconsumed_filter_gets_nothing() {
    let now = Instant::now();
    let (mut p, log) = transcoding_pipeline();
    let src = p.add(Box::new(Probe::default()));
    let (f1, f2) = (p.add(Box::new(RawFilter::default())), p.add(Box::new(RawFilter::default())));
    p.connect(now, Connection::new(src, f1, MediaType::Video)).unwrap();
    p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Vp8, now)));
    drain(&mut p, now);
    assert_eq!(p.element_mut::<RawFilter>(f1).unwrap().received, 0, "no consumer: no work");
    assert_eq!(log.lock().unwrap().built, 0, "nothing decoded for it");

    let viewer = sink_taking(&mut p, &[Codec::Vp8]);
    p.connect(now, Connection::new(f1, f2, MediaType::Video)).unwrap();
    p.connect(now, Connection::new(f2, viewer, MediaType::Video)).unwrap();
    for _ in 0..3 {
        p.element_mut::<Probe>(src).unwrap().to_emit.push_back(ElementOutput::Media(frame(Codec::Vp8, now)));
    }
    drain(&mut p, now);
    assert_eq!(p.element_mut::<RawFilter>(f2).unwrap().received, 3, "raw frames go from filter to filter directly");
    let log = log.lock().unwrap();
    assert_eq!(log.built, 2, "one transcoder decodes for the chain, one encodes its output");
    assert_eq!(log.targets, [vec![TargetFormat::codec(Codec::RawVideo)], vec![TargetFormat::codec(Codec::Vp8)]]);
    let got = &p.element_mut::<Probe>(viewer).unwrap().received;
    assert!(got.len() == 3 && got.iter().all(|f| f.codec == Codec::Vp8));
}

mod hubs;
mod layers;
mod timers;
