//! Simulcast and SVC (VP9, AV1) in a WebRtcEndpoint (see [`crate::simulcast`]): as
//! a publisher it tags the frames of each layer its peer sends (simulcast
//! rids, spatial layers); as a viewer it forwards one simulcast layer, or
//! cuts SVC frames after a spatial layer, chosen from its peer's bandwidth
//! estimate, and drives str0m's estimator towards the next layer up.

use super::{outgoing_index, WebRtcEndpoint};
use crate::simulcast::{Pick, UP_MARGIN};
use kms_media::{Codec, ElementOutput, MediaFrame, MediaType, SimulcastLayer, SpatialLayers};
use std::time::Instant;
use str0m::bwe::Bitrate;
use str0m::format::CodecExtra;
use str0m::media::Rid;

/// Probing targets are rounded to this many kbps, so str0m is not
/// reconfigured on every small change of a layer's measured bitrate.
const PROBE_STEP_KBPS: u64 = 50;

impl WebRtcEndpoint {
    /// The simulcast layer of a frame received as layer `rid` (simulcast on:
    /// counted and tagged); `None` for a stream without rid, or with
    /// simulcast off (the answer refused the offer's layers).
    pub(super) fn incoming_layer(&mut self, now: Instant, rid: Option<Rid>, frame: &MediaFrame) -> Option<SimulcastLayer> {
        let rid = rid.filter(|_| self.config.simulcast && frame.media_type() == MediaType::Video)?;
        let tagged = self.published.tag(now, rid, frame.data.len(), frame.is_keyframe());
        if let Some(rid) = tagged.request_keyframe {
            tracing::debug!(%rid, "simulcast: a better primary layer, asking for its keyframe");
            self.request_own_keyframe(now, Some(rid));
        }
        Some(tagged.layer)
    }

    /// The spatial layers of an SVC frame received (simulcast on: measured
    /// and tagged): a VP9 frame's as str0m's payload descriptor parsing
    /// found them (`extra`), an AV1 temporal unit's from its OBUs; `None`
    /// without SVC.
    pub(super) fn incoming_spatial(&mut self, now: Instant, frame: &MediaFrame, extra: &CodecExtra) -> Option<SpatialLayers> {
        if !self.config.simulcast {
            return None;
        }
        match (frame.codec, extra) {
            (_, CodecExtra::Vp9(vp9)) => self.spatial_meter.tag(now, &vp9.layers_scheme),
            (Codec::Av1, _) => self.spatial_meter.tag(now, &kms_media::av1::spatial_layer_ends(&frame.data)),
            _ => None,
        }
    }

    /// The part of an SVC frame this endpoint's peer gets: `None` for the
    /// whole frame, else the frame cut after the highest spatial layer its
    /// estimate carries (a new frame: the data is copied).
    pub(super) fn spatial_cut(&mut self, now: Instant, layers: SpatialLayers, frame: &MediaFrame) -> Option<MediaFrame> {
        let keyframe = || frame.is_keyframe() != Some(false);
        let cut = self.spatial.cut(layers, frame.data.len(), keyframe, self.selector.budget());
        self.update_probing(now);
        if cut.wants_keyframe {
            self.queue.push_back(ElementOutput::KeyframeRequest);
        }
        (cut.end < frame.data.len()).then(|| MediaFrame { data: frame.data[..cut.end].into(), rtp: Default::default(), ..frame.clone() })
    }

    /// Whether a frame of simulcast `layer` goes to this endpoint's peer;
    /// on a switch the outgoing timeline continues from the old layer.
    pub(super) fn forwards_layer(&mut self, now: Instant, layer: SimulcastLayer, frame: &MediaFrame) -> bool {
        let pick = self.selector.pick(now, layer, || frame.is_keyframe());
        self.update_probing(now);
        match pick {
            Pick::Forward => true,
            Pick::Switch => {
                tracing::debug!(layer = layer.id, bitrate = layer.bitrate, "simulcast: switching layer");
                self.outgoing[outgoing_index(MediaType::Video)].timeline.source_changed();
                true
            }
            Pick::Drop { request } => {
                if let Some(wanted) = request {
                    self.queue.push_back(ElementOutput::LayerKeyframeRequest(wanted));
                }
                false
            }
        }
    }

    /// Video without layers sent with simulcast on: str0m's pacer sends at
    /// most a little over its estimate, so the estimator is asked to probe
    /// for twice the stream's rate (not bounded by `maxVideoSendBandwidth`,
    /// which bounds what goes upstream, not what is forwarded): a source
    /// that does not follow the REMB (a player, an RtpEndpoint) is not
    /// held back in the pacer's queue.
    pub(super) fn unlayered_video_sent(&mut self, now: Instant, len: usize) {
        let Some(rate) = self.unlayered.add(now, len) else { return };
        let desired = (u64::from(rate) * 2 / 1000).div_ceil(PROBE_STEP_KBPS) * PROBE_STEP_KBPS;
        if (0, desired) != self.probing && desired > 0 {
            self.probing = (0, desired);
            self.rtc.bwe().set_bitrate(Bitrate::kbps(0), Bitrate::kbps(desired));
        }
    }

    /// A new estimate of what the peer can receive (bits/s, bounded by the
    /// send bandwidth): the budget of the layer choice.
    pub(super) fn viewer_estimate(&mut self, bitrate: u64) {
        if self.config.simulcast {
            self.selector.set_budget(bitrate);
        }
    }

    /// Drives str0m's estimator as its docs ask of an SFU: padding may fill
    /// the link up to the next layer up with [`UP_MARGIN`] (minimum), and
    /// probes look for up to `maxVideoSendBandwidth` (desired; twice the
    /// top layer's rate when unlimited), so the estimate can grow past the
    /// layers sent now.
    fn update_probing(&mut self, now: Instant) {
        let rates = if self.spatial.current().is_some() { self.spatial.rates() } else { self.selector.rates(now) };
        let kbps = |b: Option<u32>, factor: f64| b.map_or(0, |b| ((f64::from(b) * factor / 1000.0) as u64).div_ceil(PROBE_STEP_KBPS) * PROBE_STEP_KBPS);
        let max = u64::from(self.config.bandwidth.max_send_kbps);
        let bound = |kbps: u64| if max == 0 { kbps } else { kbps.min(max) };
        let minimum = bound(kbps(rates.next.or(rates.current), UP_MARGIN));
        // Probes look past the top active layer: layers the publisher
        // paused come back only once some viewer's estimate makes room.
        let ceiling = if max == 0 { kbps(rates.top, 2.0) } else { max };
        let desired = bound(kbps(rates.top, 1.25).max(ceiling)).max(minimum);
        if (minimum, desired) != self.probing && desired > 0 {
            self.probing = (minimum, desired);
            self.rtc.bwe().set_bitrate(Bitrate::kbps(minimum), Bitrate::kbps(desired));
        }
    }

    /// The sinks' estimates reached this publisher: with simulcast, the
    /// best-served sink decides which layers are worth sending
    /// ([`crate::simulcast::PublishedLayers::wanted_bitrate`]); otherwise
    /// the slowest sink bounds the publisher, as in KMS.
    pub(super) fn sinks_estimates(&mut self, now: Instant, min: u64, max: u64) {
        let wanted = if self.published.is_simulcast() {
            self.published.wanted_bitrate(now, max)
        } else if self.spatial_meter.is_layered(now) {
            self.spatial_meter.wanted_bitrate(max)
        } else {
            min
        };
        self.remb.sinks_estimate(now, wanted);
        self.send_remb(now);
    }

    /// A sink asked for a keyframe of layer `id`.
    pub(super) fn layer_keyframe_request(&mut self, now: Instant, id: u8) {
        self.now = now;
        if let Some(rid) = self.published.rid(id) {
            self.last_own_keyframe_request.remove(&Some(rid));
            self.request_own_keyframe(now, Some(rid));
        }
    }

    /// getStats: the simulcast layer forwarded to the peer (its number at
    /// the publisher, or the highest SVC spatial layer sent, and its measured
    /// bitrate, bits/s) and the estimate it is chosen by (bits/s).
    pub fn forwarded_layer(&self) -> (Option<(u8, u32)>, Option<u64>) {
        if let Some(spatial) = self.spatial.current() {
            return (Some((spatial, self.spatial.rates().current.unwrap_or(0))), self.selector.budget());
        }
        let rate = self.selector.rates(self.now).current;
        (self.selector.current().map(|id| (id, rate.unwrap_or(0))), self.selector.budget())
    }
}
