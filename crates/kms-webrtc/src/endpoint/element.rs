//! WebRtcEndpoint as a pipeline element: datagrams in, media routed by
//! codec per sink, feedback and events out.

use super::*;

fn receive<'a>(datagram: &Datagram<'a>) -> Option<Receive<'a>> {
    Some(Receive {
        proto: match datagram.transport {
            Transport::Udp => Protocol::Udp,
            Transport::Tcp => Protocol::Tcp,
        },
        source: datagram.source,
        destination: datagram.destination,
        contents: datagram.contents.try_into().ok()?,
    })
}

/// How far ahead of the endpoint's now a timeout str0m asks for counts as
/// "at once": its pacer asks for one a microsecond after its last, so that
/// time advances between the packets it lets out.
const IMMEDIATE: Duration = Duration::from_micros(1);

/// Timeouts str0m may ask for at once in a row, within one
/// [`Element::poll_output`] call, before the rest is left to the worker's
/// timer (see the `Output::Timeout` arms there).
const IMMEDIATE_TIMEOUTS: u32 = 4;

impl Element for WebRtcEndpoint {
    /// The codecs negotiated on our sending m-line of `media_type`, in the
    /// peer's order of preference; `None` until negotiated. Frames of any
    /// other codec reach this endpoint through a transcoder.
    fn input_codecs(&self, media_type: MediaType) -> Option<&[Codec]> {
        self.sdp.send_codecs.iter().find(|(t, _)| *t == media_type).map(|(_, c)| c.as_slice())
    }

    fn accepts(&self, now: Instant, datagram: &Datagram) -> bool {
        self.ice.gatherer.accepts(datagram) || receive(datagram).is_some_and(|r| self.rtc.accepts(&Input::Receive(now, r)))
    }

    fn handle_datagram(&mut self, now: Instant, datagram: Datagram) {
        self.now = now;
        if self.ice.gatherer.accepts(&datagram) {
            if let Some((peer, relay, payload)) = self.ice.gatherer.handle_datagram(now, &datagram) {
                // Relayed: str0m sees the peer sending to our relay address.
                self.handle_datagram(now, Datagram { transport: Transport::Udp, source: peer, destination: relay, contents: payload });
            }
            return;
        }
        // Garbage that does not even demultiplex as STUN/DTLS/RTP is dropped here.
        let Some(r) = receive(&datagram) else { return };
        match self.rtc.handle_input(Input::Receive(now, r)) {
            // str0m runs a timeout after every datagram it takes: media
            // written before it has been taken.
            Ok(()) => self.written = false,
            Err(e) => tracing::debug!(source = %datagram.source, "datagram rejected: {e}"),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        self.ice.gatherer.handle_timeout(now);
        if self.ice.disconnected_at.is_some_and(|t| now >= t + ICE_FAILED_AFTER) {
            self.fail(now);
        }
        self.send_remb(now);
        if self.next_timeout.is_some_and(|t| t <= now) {
            self.rtc_timeout(now);
        }
        for event in self.flow.check(now) {
            self.event(event);
        }
    }

    fn handle_data(&mut self, _now: Instant, message: &DataMessage) {
        if !self.ice.connected || !self.config.data_channels {
            return;
        }
        let Some(id) = self.data.route(&message.label) else { return };
        // A message larger than the SCTP send buffer's free space is dropped,
        // as an overflowing browser channel would be closed.
        if let Some(Ok(true)) = self.rtc.channel(id).map(|mut c| c.write(message.binary, &message.data)) {
            self.data.sent(id, message.data.len());
        }
    }

    fn handle_media(&mut self, now: Instant, frame: &MediaFrame) {
        self.now = now;
        // A recvonly endpoint has no sending m-line (see direction.rs), so the
        // lookup below drops its media.
        if !self.ice.connected {
            return;
        }
        let media_type = frame.media_type();
        let Some(mid) = self.sdp.send_mids.iter().find(|(_, t)| *t == media_type).map(|(m, _)| *m) else { return };
        if let Some(layer) = frame.layer.filter(|_| self.config.simulcast) {
            if !self.forwards_layer(now, layer, frame) {
                return;
            }
        }
        let cut = frame.spatial.filter(|_| self.config.simulcast).and_then(|layers| self.spatial_cut(now, layers, frame));
        let frame = cut.as_ref().unwrap_or(frame);
        if self.config.simulcast && media_type == MediaType::Video && frame.layer.is_none() && frame.spatial.is_none() {
            self.unlayered_video_sent(now, frame.data.len());
        }
        // Payload types differ per peer: map by codec, not by the source's PT.
        let Some(pt) = self.rtc.writer(mid).and_then(|w| w.payload_params().find(|p| codec_of(p.spec().codec) == Some(frame.codec)).map(|p| p.pt())) else {
            return;
        };
        match self.send_frame(mid, pt, frame) {
            Sent::Written => {
                // str0m takes written media at its next timeout (its pacer's
                // queue snapshot; the packetizer of the codecs it cuts) and
                // asks for one at once: given before `poll_output` polls
                // str0m, the packets leave in this drain of the pipeline
                // rather than at the worker's next wake-up, and the frames
                // written to this peer since the last drain (audio and video
                // of one datagram batch) share it. (Leaving it to the
                // at-once rule in `poll_output` costs a whole str0m poll
                // before the timeout: 5 % more instructions per sent packet
                // at 20 viewers.)
                self.written = true;
                if let Some(event) = self.flow.frame_out(now, media_type) {
                    self.event(event);
                }
            }
            // A new source's delta frame: ask for the keyframe that starts it
            // (the pipeline throttles the requests).
            Sent::NeedsKeyframe => self.queue.push_back(ElementOutput::KeyframeRequest),
            Sent::Unsendable => {}
        }
    }

    fn handle_keyframe_request(&mut self, now: Instant) {
        self.now = now;
        self.request_keyframe();
    }

    fn handle_layer_keyframe_request(&mut self, now: Instant, layer: u8) {
        self.layer_keyframe_request(now, layer);
    }

    /// With simulcast on, this endpoint picks its peer's layer itself.
    fn selects_layers(&self) -> bool {
        self.config.simulcast
    }

    fn handle_source_changed(&mut self, _now: Instant, media_type: MediaType) {
        if media_type != MediaType::Data {
            self.outgoing[outgoing_index(media_type)].timeline.source_changed();
        }
    }

    fn handle_bitrate_estimate(&mut self, now: Instant, bitrate: u64) {
        self.sinks_estimates(now, bitrate, bitrate);
    }

    fn handle_sink_estimates(&mut self, now: Instant, min: u64, max: u64) {
        self.sinks_estimates(now, min, max);
    }

    fn poll_output(&mut self) -> Option<ElementOutput> {
        let mut immediate = 0;
        loop {
            self.collect_candidates();
            if let Some(t) = self.ice.gatherer.poll_transmit(self.now) {
                return Some(ElementOutput::Transmit(t));
            }
            if let Some(out) = self.queue.pop_front() {
                return Some(out);
            }
            if !self.rtc.is_alive() {
                self.next_timeout = None;
                return None;
            }
            if self.written {
                self.rtc_timeout(self.now);
            }
            match self.rtc.poll_output() {
                // str0m asks for a timeout at once after some outputs (its
                // pacer, after each packet it lets out, before it picks the
                // next): given then, it goes on in this drain instead of at
                // the worker's next timer pass. Bounded, in case a timeout
                // leaves it asking for another at once.
                Ok(Output::Timeout(t)) if t <= self.now + IMMEDIATE && immediate < IMMEDIATE_TIMEOUTS => {
                    immediate += 1;
                    self.rtc_timeout(t.max(self.now));
                }
                Ok(Output::Timeout(t)) => {
                    self.next_timeout = Some(t);
                    return None;
                }
                Ok(Output::Transmit(t)) => {
                    if self.ice.gatherer.route(self.now, t.source, t.destination, &t.contents) {
                        continue;
                    }
                    return Some(ElementOutput::Transmit(Transmit {
                        transport: match t.proto {
                            Protocol::Tcp => Transport::Tcp,
                            _ => Transport::Udp,
                        },
                        source: t.source,
                        destination: t.destination,
                        // Moves str0m's buffer: no copy per packet.
                        contents: t.contents.into(),
                    }))
                }
                Ok(Output::Event(e)) => self.handle_rtc_event(e),
                Err(e) => {
                    tracing::warn!("peer connection failed: {e}");
                    self.set_dtls_state(DtlsState::Failed);
                    self.rtc.disconnect();
                    if std::mem::replace(&mut self.ice.connected, false) {
                        self.event(ElementEvent::ConnectionState { connected: false });
                        self.event(ElementEvent::MediaState { connected: false });
                    }
                }
            }
        }
    }

    fn is_media_flowing_in(&self, media_type: MediaType) -> bool {
        self.flow.is_flowing_in(media_type)
    }

    fn is_media_flowing_out(&self, media_type: MediaType) -> bool {
        self.flow.is_flowing_out(media_type)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.next_timeout, self.flow.next_check(), self.remb.poll_timeout(), self.ice.disconnected_at.map(|t| t + ICE_FAILED_AFTER), self.ice.gatherer.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

impl WebRtcEndpoint {
    /// Lets str0m act on `now` (`Input::Timeout`); its outputs follow in
    /// [`Element::poll_output`].
    fn rtc_timeout(&mut self, now: Instant) {
        self.now = now;
        self.written = false;
        if let Err(e) = self.rtc.handle_input(Input::Timeout(now)) {
            tracing::debug!("timeout handling failed: {e}");
        }
    }
}

impl kms_media::SdpNegotiation for WebRtcEndpoint {
    fn generate_offer(&mut self, receive_audio: bool, receive_video: bool) -> Result<String, WebRtcError> {
        WebRtcEndpoint::generate_offer(self, receive_audio, receive_video)
    }

    fn process_offer(&mut self, offer: &str) -> Result<String, WebRtcError> {
        WebRtcEndpoint::process_offer(self, offer)
    }

    fn process_answer(&mut self, answer: &str) -> Result<String, WebRtcError> {
        WebRtcEndpoint::process_answer(self, answer)
    }

    fn local_sdp(&self) -> Option<&str> {
        WebRtcEndpoint::local_sdp(self)
    }

    fn remote_sdp(&self) -> Option<&str> {
        WebRtcEndpoint::remote_sdp(self)
    }

    /// Both states follow the ICE + DTLS transport here.
    fn connection_connected(&self) -> bool {
        self.is_connected()
    }

    fn media_connected(&self) -> bool {
        self.is_connected()
    }

    fn set_bandwidth(&mut self, bandwidth: crate::Bandwidth) {
        WebRtcEndpoint::set_bandwidth(self, bandwidth);
    }

    fn set_remb_params(&mut self, params: kms_media::remb::RembParams) {
        WebRtcEndpoint::set_remb_params(self, params);
    }
}
