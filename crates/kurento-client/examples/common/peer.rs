//! The browser's part in the examples, played by str0m: a WebRTC peer on a
//! UDP socket of its own (127.0.0.1), running on its own thread. It offers
//! VP8 + Opus, takes the server's ICE candidates as they are found (trickle
//! ICE), sends synthetic frames when it publishes (VP8 frames whose header
//! marks keyframes, RFC 6386 §9.1; the server forwards them without
//! decoding) and counts what it receives.

use std::net::UdpSocket;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// What a peer saw by the time it stopped.
#[derive(Debug, Default, Clone)]
pub struct PeerReport {
    pub connected: bool,
    pub video_frames_sent: u64,
    pub video_frames_received: u64,
    pub audio_frames_received: u64,
}

/// A peer whose offer is out, waiting for the answer.
pub struct Offering {
    rtc: Rtc,
    socket: UdpSocket,
    pending: SdpPendingOffer,
    mids: (Mid, Mid),
    publish: bool,
}

/// A running peer: feed it the server's candidates, then stop it.
pub struct Peer {
    candidates: mpsc::Sender<String>,
    stop: mpsc::Sender<()>,
    thread: JoinHandle<PeerReport>,
}

/// A peer that publishes (`publish`: send and receive) or only watches
/// (receive only); returns it with its SDP offer.
pub fn offer(publish: bool) -> std::io::Result<(Offering, String)> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let local = socket.local_addr()?;
    let mut rtc = Rtc::builder().clear_codecs().enable_vp8(true).enable_opus(true, false).build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").map_err(std::io::Error::other)?);
    let direction = if publish { Direction::SendRecv } else { Direction::RecvOnly };
    let mut change = rtc.sdp_api();
    let audio = change.add_media(MediaKind::Audio, direction, None, None, None);
    let video = change.add_media(MediaKind::Video, direction, None, None, None);
    let (offer, pending) = change.apply().ok_or_else(|| std::io::Error::other("nothing to offer"))?;
    Ok((Offering { rtc, socket, pending, mids: (audio, video), publish }, offer.to_sdp_string()))
}

impl Offering {
    /// Applies the server's answer and starts the peer's thread.
    pub fn start(mut self, answer: &str) -> Result<Peer, String> {
        let answer = SdpAnswer::from_sdp_string(answer).map_err(|e| format!("bad answer: {e}"))?;
        self.rtc.sdp_api().accept_answer(self.pending, answer).map_err(|e| format!("cannot accept the answer: {e}"))?;
        let (candidates, candidate_rx) = mpsc::channel();
        let (stop, stop_rx) = mpsc::channel();
        let (rtc, socket, mids, publish) = (self.rtc, self.socket, self.mids, self.publish);
        let thread = std::thread::spawn(move || run(rtc, socket, mids, publish, candidate_rx, stop_rx));
        Ok(Peer { candidates, stop, thread })
    }
}

impl Peer {
    /// Where the candidates the server finds go (`IceCandidateFound`'s `candidate` line).
    pub fn candidate_sender(&self) -> mpsc::Sender<String> {
        self.candidates.clone()
    }

    /// Stops the peer and returns what it saw.
    pub fn stop(self) -> PeerReport {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

/// A 320x240 VP8 frame of `len` bytes: a keyframe header (P bit clear,
/// start code, size) or an interframe's (P bit set).
fn vp8_frame(keyframe: bool, len: usize) -> Vec<u8> {
    let mut frame = if keyframe { vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00] } else { vec![0x11, 0x02, 0x00] };
    frame.resize(len, 0x55);
    frame
}

fn run(mut rtc: Rtc, socket: UdpSocket, (audio, video): (Mid, Mid), publish: bool, candidates: mpsc::Receiver<String>, stop: mpsc::Receiver<()>) -> PeerReport {
    let local = socket.local_addr().expect("bound socket");
    let mut report = PeerReport::default();
    let started = Instant::now();
    let mut next_frame = started;
    let mut frame_no = 0u64;
    let mut buf = vec![0u8; 2000];
    while stop.try_recv().is_err() {
        while let Ok(line) = candidates.try_recv() {
            match Candidate::from_sdp_string(line.trim_start_matches("a=")) {
                Ok(c) => rtc.add_remote_candidate(c),
                Err(e) => eprintln!("peer: unreadable candidate {line}: {e}"),
            }
        }
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::Connected)) => report.connected = true,
                Ok(Output::Event(Event::MediaData(d))) => match d.params.spec().codec {
                    Codec::Vp8 => report.video_frames_received += 1,
                    Codec::Opus => report.audio_frames_received += 1,
                    _ => {}
                },
                Ok(Output::Event(_)) => {}
                Err(e) => {
                    eprintln!("peer: {e}");
                    return report;
                }
            }
        };
        let now = Instant::now();
        if publish && report.connected && now >= next_frame {
            // 30 fps video, a keyframe every second; a 20 ms Opus packet per frame (close enough for counting).
            let ts = now.duration_since(started);
            if let Some(writer) = rtc.writer(video) {
                let pt = writer.payload_params().find(|p| p.spec().codec == Codec::Vp8).map(|p| p.pt());
                if let Some(pt) = pt {
                    let rtp_time = MediaTime::from_90khz(ts.as_micros() as u64 * 9 / 100);
                    if writer.write(pt, now, rtp_time, vp8_frame(frame_no.is_multiple_of(30), 1200)).is_ok() {
                        report.video_frames_sent += 1;
                    }
                }
            }
            if let Some(writer) = rtc.writer(audio) {
                let pt = writer.payload_params().find(|p| p.spec().codec == Codec::Opus).map(|p| p.pt());
                if let Some(pt) = pt {
                    let rtp_time = MediaTime::new(ts.as_micros() as u64 * 48 / 1000, Frequency::FORTY_EIGHT_KHZ);
                    let _ = writer.write(pt, now, rtp_time, vec![0xfc, 0xff, 0xfe]);
                }
            }
            frame_no += 1;
            next_frame += Duration::from_millis(33);
            continue;
        }
        let until = if publish && report.connected { timeout.min(next_frame) } else { timeout };
        let wait = until.saturating_duration_since(now).clamp(Duration::from_millis(1), Duration::from_millis(50));
        let _ = socket.set_read_timeout(Some(wait));
        match socket.recv_from(&mut buf) {
            Ok((n, source)) => {
                if let Ok(contents) = buf[..n].try_into() {
                    let _ = rtc.handle_input(Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: local, contents }));
                }
            }
            Err(_) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
    report
}
