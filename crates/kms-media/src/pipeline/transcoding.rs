//! The router's half of transcoding: which sink gets which format, and the
//! one transcoder per (source, media type) that serves the sinks whose codec
//! differs from the source's (see [`crate::transcode`]).
//!
//! Decided per frame: a sink's accepted codecs can change with negotiation,
//! so nothing is fixed at `connect`. A transcoder is built on the first frame
//! a sink cannot take, gets one target format per distinct need, and is torn
//! down when no connected sink needs it any more (next frame, or at once on
//! disconnect/release). MediaTranscodingStateChanged follows it: TRANSCODING
//! when built, NOT_TRANSCODING when torn down (KMS never sends the latter, a
//! known gap in its agnosticbin).

use super::{Pipeline, PipelineOutput, KEYFRAME_REQUEST_INTERVAL};
use crate::element::ElementEvent;
use crate::graph::ElementId;
use crate::media::{Codec, MediaFrame, MediaType};
use crate::transcode::{route, EncoderBitrate, InputRoute, TargetFormat, Transcoder, TranscoderFactory, TranscoderOutput};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

/// KMS's errorCode for "no element for these caps" (GStreamer's
/// GST_STREAM_ERROR_CODEC_NOT_FOUND), raised with `STREAM_ERROR_CODEC_NOT_FOUND`.
const CODEC_NOT_FOUND: i32 = 6;

/// One transcoder and the sinks it serves.
pub(super) struct Slot {
    source: ElementId,
    media_type: MediaType,
    input: Codec,
    transcoder: Box<dyn Transcoder>,
    /// Sinks per target format (never empty lists).
    targets: BTreeMap<TargetFormat, Vec<ElementId>>,
    last_keyframe: HashMap<TargetFormat, Instant>,
}

impl Slot {
    /// Whether this transcoder serves exactly `needs` (format, sink) already.
    fn serves_exactly(&self, needs: &[(TargetFormat, ElementId)]) -> bool {
        let served: usize = self.targets.values().map(Vec::len).sum();
        served == needs.len() && needs.iter().all(|(t, sink)| self.targets.get(t).is_some_and(|sinks| sinks.contains(sink)))
    }
}

/// What a pipeline knows about transcoding.
#[derive(Default)]
pub(super) struct Transcoding {
    factory: Option<Box<dyn TranscoderFactory>>,
    /// By transcoder id (the id its wake-ups name).
    slots: BTreeMap<ElementId, Slot>,
    by_source: HashMap<(ElementId, MediaType), ElementId>,
    /// (source, media type, input codec) whose transcoder could not be
    /// built: reported once, not retried per frame.
    failed: HashSet<(ElementId, MediaType, Codec)>,
    /// (source, sink, media type) already told that no conversion exists.
    refused: HashSet<(ElementId, ElementId, MediaType)>,
    /// `setVideoFormat` / `setAudioFormat` of a source.
    forced: HashMap<(ElementId, MediaType), TargetFormat>,
    bitrates: HashMap<ElementId, EncoderBitrate>,
    /// `setAudioFormat`'s AudioCaps bitrate of a source, bits/s.
    audio_bitrates: HashMap<ElementId, u64>,
    /// Reused per frame: (format, sink) of the sinks needing conversion.
    scratch: Vec<(TargetFormat, ElementId)>,
    /// Reused per frame: the sinks of the frame's origin.
    sinks: Vec<ElementId>,
}

/// A transcoder as the control plane sees it (getGstreamerDot, stats).
#[derive(Debug, Clone)]
pub struct TranscoderInfo {
    pub source: ElementId,
    pub media_type: MediaType,
    pub input: Codec,
    pub bin_name: String,
    /// The transcoder's stages (decoder, encoders), one line each.
    pub stages: Vec<String>,
    /// Target formats and the sinks each one feeds.
    pub targets: Vec<(TargetFormat, Vec<ElementId>)>,
}

impl Transcoding {
    fn slot_of_sink(&self, sink: ElementId, media_type: MediaType) -> Option<(ElementId, TargetFormat)> {
        self.slots.iter().filter(|(_, s)| s.media_type == media_type).find_map(|(id, s)| {
            s.targets.iter().find(|(_, sinks)| sinks.contains(&sink)).map(|(t, _)| (*id, *t))
        })
    }
}

impl Pipeline {
    /// Lets this pipeline build transcoders (without a factory, a frame no
    /// sink can take raises the `Error` event instead).
    pub fn set_transcoder_factory(&mut self, factory: Box<dyn TranscoderFactory>) {
        self.transcoding.factory = Some(factory);
    }

    /// `setVideoFormat` / `setAudioFormat`: every sink of `source` that can
    /// take `format`'s codec gets `format` (`None` lifts it).
    pub fn set_output_format(&mut self, source: ElementId, media_type: MediaType, format: Option<TargetFormat>) {
        match format {
            Some(f) => self.transcoding.forced.insert((source, media_type), f),
            None => self.transcoding.forced.remove(&(source, media_type)),
        };
    }

    /// `encoderBitrate` / `minEncoderBitrate` / `maxEncoderBitrate` of `source`.
    pub fn set_encoder_bitrate(&mut self, source: ElementId, bitrate: EncoderBitrate) {
        self.transcoding.bitrates.insert(source, bitrate);
        let slots: Vec<ElementId> = self.transcoding.slots.iter().filter(|(_, s)| s.source == source && s.media_type == MediaType::Video).map(|(id, _)| *id).collect();
        for id in slots {
            let targets: Vec<TargetFormat> = self.transcoding.slots[&id].targets.keys().copied().collect();
            for t in targets {
                self.update_encoder_bitrate(id, t);
            }
        }
    }

    /// `setAudioFormat`'s bitrate (bits/s) for `source`'s audio encoders.
    pub fn set_audio_bitrate(&mut self, source: ElementId, bitrate: u64) {
        self.transcoding.audio_bitrates.insert(source, bitrate);
        if let Some(&id) = self.transcoding.by_source.get(&(source, MediaType::Audio)) {
            let targets: Vec<TargetFormat> = self.transcoding.slots[&id].targets.keys().copied().collect();
            for t in targets {
                self.update_encoder_bitrate(id, t);
            }
        }
    }

    /// Whether `source`'s output of `media_type` is being transcoded; with
    /// `bin_name` other than `default`, only that transcoder counts.
    pub fn is_transcoding(&self, source: ElementId, media_type: MediaType, bin_name: &str) -> bool {
        self.transcoding
            .by_source
            .get(&(source, media_type))
            .and_then(|id| self.transcoding.slots.get(id))
            .is_some_and(|s| bin_name == "default" || s.transcoder.bin_name() == bin_name)
    }

    /// Every live transcoder.
    pub fn transcoders(&self) -> Vec<TranscoderInfo> {
        self.transcoding
            .slots
            .values()
            .map(|s| TranscoderInfo {
                source: s.source,
                media_type: s.media_type,
                input: s.input,
                bin_name: s.transcoder.bin_name().to_owned(),
                stages: s.transcoder.describe(),
                targets: s.targets.iter().map(|(t, sinks)| (*t, sinks.clone())).collect(),
            })
            .collect()
    }

    pub(super) fn is_transcoder(&self, id: ElementId) -> bool {
        self.transcoding.slots.contains_key(&id)
    }

    /// Routes a frame `source` produced: straight to every sink that takes
    /// its codec, through the transcoder to the others.
    pub(super) fn route_media(&mut self, now: Instant, source: ElementId, frame: &MediaFrame) {
        let media_type = frame.media_type();
        let mut needs = std::mem::take(&mut self.transcoding.scratch);
        let mut sinks = std::mem::take(&mut self.transcoding.sinks);
        self.consumers(source, media_type, &mut sinks);
        let forced = self.transcoding.forced.get(&(source, media_type)).copied();
        self.follow_primary_layer(now, source, frame);
        // Only the primary simulcast layer is transcoded (a transcoder
        // decodes one stream); the other layers go only to layer selectors.
        let secondary = frame.layer.is_some_and(|l| !l.primary);
        for &sink in &sinks {
            if !self.takes_layer(sink, frame) {
                continue;
            }
            let Some(e) = self.elements.get(&sink) else { continue };
            if e.idle_without_consumers() && self.graph.sinks(sink, media_type).next().is_none() {
                continue;
            }
            let factory = self.transcoding.factory.as_deref();
            let can_encode = |c: Codec| factory.is_some_and(|f| f.can_encode(c));
            let accepted = match self.hubs.of_port(sink) {
                Some((_, h)) => h.input_codecs(media_type),
                None => e.input_codecs(media_type),
            };
            match route(frame.codec, accepted, forced, can_encode) {
                InputRoute::Direct => self.deliver(now, sink, frame),
                InputRoute::Convert(_) if secondary => {}
                InputRoute::Convert(target) => needs.push((target, sink)),
                InputRoute::Impossible => {
                    if self.transcoding.refused.insert((source, sink, media_type)) {
                        let description = format!("no conversion from {} to any {} codec this sink negotiated", frame.codec.as_str(), media_type.as_str());
                        tracing::warn!(%source, %sink, "{description}");
                        let event = ElementEvent::Error { error_type: "STREAM_ERROR_CODEC_NOT_FOUND", description, code: CODEC_NOT_FOUND };
                        self.outbox.push_back(PipelineOutput::Event(sink, event));
                    }
                }
            }
        }
        let transcoder = if secondary { None } else { self.update_transcoder(now, source, media_type, frame.codec, &needs) };
        if let Some(id) = transcoder {
            if let Some(slot) = self.transcoding.slots.get_mut(&id) {
                slot.transcoder.handle_media(now, frame);
                // Polled now too: what it finished meanwhile goes out at once.
                self.dirty.insert(id);
            }
        }
        needs.clear();
        self.transcoding.scratch = needs;
        sinks.clear();
        self.transcoding.sinks = sinks;
    }

    /// Hands `frame` to `sink` (and, for a port, to its hub).
    fn deliver(&mut self, now: Instant, sink: ElementId, frame: &MediaFrame) {
        let Some(e) = self.elements.get_mut(&sink) else { return };
        if self.latency.enabled() {
            self.latency.record(sink, frame.media_type(), now.saturating_duration_since(frame.network_time));
        }
        e.handle_media(now, frame);
        self.dirty.insert(sink);
        self.port_input(now, sink, frame);
    }

    /// Makes the transcoder of (source, media type) serve exactly `needs`:
    /// built on first need, rebuilt when the input codec changes, torn down
    /// when nothing is needed. Returns its id when it should get the frame.
    fn update_transcoder(&mut self, now: Instant, source: ElementId, media_type: MediaType, input: Codec, needs: &[(TargetFormat, ElementId)]) -> Option<ElementId> {
        let existing = self.transcoding.by_source.get(&(source, media_type)).copied();
        if needs.is_empty() {
            if let Some(id) = existing {
                self.remove_transcoder(id);
            }
            return None;
        }
        let id = match existing {
            Some(id) if self.transcoding.slots.get(&id).is_some_and(|s| s.input == input) => id,
            stale => {
                if let Some(id) = stale {
                    self.remove_transcoder(id);
                }
                self.build_transcoder(source, media_type, input)?
            }
        };
        // The usual frame changes nothing: checked without allocating.
        if !self.transcoding.slots.get(&id).is_some_and(|s| s.serves_exactly(needs)) {
            let mut targets: BTreeMap<TargetFormat, Vec<ElementId>> = BTreeMap::new();
            for (t, sink) in needs {
                targets.entry(*t).or_default().push(*sink);
            }
            self.set_targets(now, id, targets);
        }
        Some(id)
    }

    fn build_transcoder(&mut self, source: ElementId, media_type: MediaType, input: Codec) -> Option<ElementId> {
        if self.transcoding.failed.contains(&(source, media_type, input)) {
            return None;
        }
        self.next_id += 1;
        let id = ElementId(self.next_id);
        let factory = self.transcoding.factory.as_ref()?;
        let built = if factory.can_decode(input) { factory.create(id, media_type, input) } else { Err(format!("no decoder for {}", input.as_str())) };
        match built {
            Ok(transcoder) => {
                let bin_name = transcoder.bin_name().to_owned();
                tracing::debug!(%source, %bin_name, "transcoder built for {} {}", media_type.as_str(), input.as_str());
                let slot = Slot { source, media_type, input, transcoder, targets: BTreeMap::new(), last_keyframe: HashMap::new() };
                self.transcoding.slots.insert(id, slot);
                self.transcoding.by_source.insert((source, media_type), id);
                let event = ElementEvent::MediaTranscoding { media_type, transcoding: true, bin_name };
                self.outbox.push_back(PipelineOutput::Event(source, event));
                Some(id)
            }
            Err(description) => {
                self.transcoding.failed.insert((source, media_type, input));
                tracing::warn!(%source, "cannot transcode {} {}: {description}", media_type.as_str(), input.as_str());
                let event = ElementEvent::Error { error_type: "STREAM_ERROR_CODEC_NOT_FOUND", description, code: CODEC_NOT_FOUND };
                self.outbox.push_back(PipelineOutput::Event(source, event));
                None
            }
        }
    }

    /// Gives the transcoder `id` its new targets; sinks that start or stop
    /// being served by it are told their source changed (their timeline
    /// continues and waits for a keyframe).
    fn set_targets(&mut self, now: Instant, id: ElementId, targets: BTreeMap<TargetFormat, Vec<ElementId>>) {
        let Some(slot) = self.transcoding.slots.get_mut(&id) else { return };
        if slot.targets == targets {
            return;
        }
        let served = |m: &BTreeMap<TargetFormat, Vec<ElementId>>| -> HashSet<(TargetFormat, ElementId)> {
            m.iter().flat_map(|(t, sinks)| sinks.iter().map(move |s| (*t, *s))).collect()
        };
        let (before, after) = (served(&slot.targets), served(&targets));
        let formats_changed = !slot.targets.keys().eq(targets.keys());
        let new_formats: Vec<TargetFormat> = targets.keys().filter(|t| !slot.targets.contains_key(t)).copied().collect();
        slot.targets = targets;
        if formats_changed {
            let list: Vec<TargetFormat> = slot.targets.keys().copied().collect();
            slot.transcoder.set_targets(&list);
            slot.last_keyframe.retain(|t, _| slot.targets.contains_key(t));
        }
        let media_type = slot.media_type;
        for (_, sink) in before.symmetric_difference(&after) {
            self.source_changed(now, *sink, media_type);
        }
        for t in new_formats {
            self.update_encoder_bitrate(id, t);
        }
    }

    fn remove_transcoder(&mut self, id: ElementId) {
        let Some(slot) = self.transcoding.slots.remove(&id) else { return };
        self.transcoding.by_source.remove(&(slot.source, slot.media_type));
        if self.is_origin(slot.source) {
            let event = ElementEvent::MediaTranscoding { media_type: slot.media_type, transcoding: false, bin_name: slot.transcoder.bin_name().to_owned() };
            self.outbox.push_back(PipelineOutput::Event(slot.source, event));
        }
        tracing::debug!(source = %slot.source, "transcoder {} torn down", slot.transcoder.bin_name());
        // Dropping it stops its GStreamer pipelines off this thread.
    }

    /// After a graph change: sinks no longer connected to a transcoder's
    /// source stop being served; a transcoder serving nobody goes.
    pub(super) fn prune_transcoders(&mut self, now: Instant) {
        let ids: Vec<ElementId> = self.transcoding.slots.keys().copied().collect();
        for id in ids {
            let Some(slot) = self.transcoding.slots.get(&id) else { continue };
            let (source, media_type) = (slot.source, slot.media_type);
            if !self.is_origin(source) {
                self.remove_transcoder(id);
                continue;
            }
            let mut targets = slot.targets.clone();
            let mut consumers = Vec::new();
            self.consumers(source, media_type, &mut consumers);
            for sinks in targets.values_mut() {
                sinks.retain(|s| consumers.contains(s));
            }
            targets.retain(|_, sinks| !sinks.is_empty());
            if targets.is_empty() {
                self.remove_transcoder(id);
            } else {
                self.set_targets(now, id, targets);
            }
        }
        let mut refused = std::mem::take(&mut self.transcoding.refused);
        refused.retain(|(source, sink, t)| self.feeds(*source, *sink, *t));
        self.transcoding.refused = refused;
        let mut t = std::mem::take(&mut self.transcoding);
        t.failed.retain(|(source, _, _)| self.is_origin(*source));
        t.forced.retain(|(source, _), _| self.is_origin(*source));
        t.bitrates.retain(|source, _| self.is_origin(*source));
        t.audio_bitrates.retain(|source, _| self.is_origin(*source));
        self.transcoding = t;
    }

    /// Routes what the transcoder `id` produced.
    pub(super) fn drain_transcoder(&mut self, now: Instant, id: ElementId) {
        loop {
            let Some(slot) = self.transcoding.slots.get_mut(&id) else { return };
            let Some(output) = slot.transcoder.poll_output() else { return };
            match output {
                TranscoderOutput::Media(target, frame) => {
                    let Some(sinks) = slot.targets.get(&target) else { continue };
                    for sink in sinks.clone() {
                        self.deliver(now, sink, &frame);
                    }
                }
                TranscoderOutput::KeyframeRequest => {
                    let source = slot.source;
                    self.request_keyframe(now, source);
                }
                TranscoderOutput::Error(event) => {
                    // A broken transcoder is not retried for this input.
                    let (source, media_type, input) = (slot.source, slot.media_type, slot.input);
                    self.outbox.push_back(PipelineOutput::Event(source, event));
                    self.transcoding.failed.insert((source, media_type, input));
                    self.remove_transcoder(id);
                    return;
                }
            }
        }
    }

    /// A sink asked for a keyframe: when a transcoder feeds it, its encoder
    /// forces one (throttled per format). False when the sink is fed directly.
    pub(super) fn transcoded_keyframe_request(&mut self, now: Instant, sink: ElementId) -> bool {
        let Some((id, target)) = self.transcoding.slot_of_sink(sink, MediaType::Video) else { return false };
        if let Some(slot) = self.transcoding.slots.get_mut(&id) {
            let last = slot.last_keyframe.get(&target);
            if last.is_none_or(|t| now.saturating_duration_since(*t) >= KEYFRAME_REQUEST_INTERVAL) {
                slot.transcoder.request_keyframe(target);
                slot.last_keyframe.insert(target, now);
            }
        }
        true
    }

    /// A sink's bitrate estimate changed: when a transcoder feeds it, its
    /// encoder follows the minimum of that format's sinks (KMS's EncTreeBin).
    /// False when the sink is fed directly.
    pub(super) fn transcoded_estimate(&mut self, sink: ElementId) -> bool {
        let Some((id, target)) = self.transcoding.slot_of_sink(sink, MediaType::Video) else { return false };
        self.update_encoder_bitrate(id, target);
        true
    }

    /// Whether `sink` is fed through a transcoder (its estimate does not
    /// bound the source's publisher).
    pub(super) fn is_transcoded_sink(&self, sink: ElementId, media_type: MediaType) -> bool {
        self.transcoding.slot_of_sink(sink, media_type).is_some()
    }

    fn update_encoder_bitrate(&mut self, id: ElementId, target: TargetFormat) {
        let Some(slot) = self.transcoding.slots.get_mut(&id) else { return };
        if slot.media_type == MediaType::Audio {
            if let Some(&bitrate) = self.transcoding.audio_bitrates.get(&slot.source) {
                slot.transcoder.set_bitrate(target, bitrate);
            }
            return;
        }
        let settings = self.transcoding.bitrates.get(&slot.source).copied().unwrap_or_default();
        let estimate = slot.targets.get(&target).into_iter().flatten().filter_map(|s| self.estimates.get(s)).min().copied();
        slot.transcoder.set_bitrate(target, settings.clamp(estimate.unwrap_or(settings.start)));
    }
}
