//! KMS's data-channel example module (`datachannelexample`), the GStreamer
//! half: KmsShowData draws the text of the data-channel messages it receives
//! over the video; KmsSendData sends a data-channel message for each bar or
//! QR code in the video. Both relay media and DATA as every filter does.
//!
//! As KMS's `kmsshowdata`: GStreamer's `textoverlay` with `font-desc`
//! "sans-serif, 26" and its defaults otherwise (white, outlined, centred at
//! the bottom, scaled to the frame's width against 640); each message
//! replaces the text, which stays until the next one (a message is read as
//! text up to its first NUL, as KMS's `g_strndup` does). As KMS's
//! `kmssenddata`: `zbar`, and for each code found the message "Code detected
//! in time <ns>, type <type>, symbol <text>".

use super::{Filter, FilterKind, Stage};
use crate::island::{Outbox, Waker};
use gstreamer as gst;
use gst::prelude::*;
use kms_media::{DataMessage, ElementOutput, MediaType};
use std::sync::{Arc, OnceLock};

/// KmsShowData's text overlay.
pub struct ShowData {
    overlay: gst::Element,
}

impl FilterKind for ShowData {
    const IDLE_WITHOUT_CONSUMERS: bool = true;

    fn on_data(&mut self, message: &DataMessage) {
        self.overlay.set_property("text", shown_text(&message.data));
    }
}

/// The text KMS shows for a message: up to the first NUL, invalid UTF-8 replaced.
fn shown_text(data: &[u8]) -> String {
    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    String::from_utf8_lossy(&data[..end]).into_owned()
}

/// datachannelexample.KmsShowData.
pub type ShowDataFilter = Filter<ShowData>;

impl ShowDataFilter {
    /// Fails when GStreamer's `textoverlay` (gstreamer1.0-x) is missing.
    pub fn new(waker: Waker) -> Result<ShowDataFilter, String> {
        crate::init()?;
        let overlay = gst::ElementFactory::make("textoverlay")
            .property("font-desc", "sans-serif, 26")
            .build()
            .map_err(|_| "GStreamer's textoverlay (gstreamer1.0-x) is not installed".to_owned())?;
        let (sink, src) = super::command::filter_pads(&overlay).ok_or("textoverlay without video_sink and src pads")?;
        Filter::build(ShowData { overlay: overlay.clone() }, MediaType::Video, Stage { elements: vec![overlay], sink, src }, waker, |_| None)
    }
}

/// KmsSendData's detector.
pub struct SendData;

impl FilterKind for SendData {
    const IDLE_WITHOUT_CONSUMERS: bool = false;
}

/// datachannelexample.KmsSendData.
pub type SendDataFilter = Filter<SendData>;

/// KMS's message for a code found at `timestamp` (ns).
fn code_message(timestamp: u64, code_type: &str, symbol: &str) -> DataMessage {
    let text = format!("Code detected in time {timestamp}, type {code_type}, symbol {symbol}");
    DataMessage { label: Arc::from(""), binary: false, data: Arc::from(text.as_bytes()) }
}

impl SendDataFilter {
    /// Fails when GStreamer's `zbar` is missing.
    pub fn new(waker: Waker) -> Result<SendDataFilter, String> {
        crate::init()?;
        let zbar = gst::ElementFactory::make("zbar").property("qos", false).build().map_err(|_| "GStreamer's zbar element is not installed".to_owned())?;
        let (sink, src) = super::command::filter_pads(&zbar).ok_or("zbar without sink and src pads")?;
        let outbox: Arc<OnceLock<Outbox>> = Arc::default();
        let sender = outbox.clone();
        let hook = move |msg: &gst::Message| {
            let s = msg.structure().filter(|s| s.name() == "barcode")?;
            let (code_type, symbol) = (s.get::<String>("type").ok()?, s.get::<String>("symbol").ok()?);
            let message = code_message(s.get::<u64>("timestamp").unwrap_or(0), &code_type, &symbol);
            sender.get()?.push(ElementOutput::Data(message));
            None
        };
        let filter = Filter::build(SendData, MediaType::Video, Stage { elements: vec![zbar], sink, src }, waker, hook)?;
        let _ = outbox.set(filter.outbox());
        Ok(filter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_kms_reads_them() {
        assert_eq!(shown_text(b"hello"), "hello");
        assert_eq!(shown_text(b"up to\0here"), "up to");
        assert_eq!(shown_text(&[0xff, b'a']), "\u{fffd}a");
        let m = code_message(42, "QR-Code", "hi");
        assert_eq!(&*m.data, b"Code detected in time 42, type QR-Code, symbol hi");
        assert!(!m.binary);
    }
}
