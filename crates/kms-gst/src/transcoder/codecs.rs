//! The GStreamer elements behind each codec: what decodes it, what encodes
//! it (with KMS's encoder settings, `kmsenctreebin.c`), and how an encoder's
//! bitrate is set.

use gstreamer as gst;
use gst::prelude::*;
use kms_media::{Codec, TargetFormat};
use std::sync::OnceLock;

/// The appsrc caps and decoder chain for frames of `codec`, as the router
/// carries them (Annex B access units for H.264, low-overhead OBU streams
/// with size fields for AV1 as str0m depacketizes them, Opus packets, G.711
/// bytes).
pub fn decoder(codec: Codec) -> Option<(&'static str, &'static str)> {
    Some(match codec {
        Codec::Vp8 => ("video/x-vp8", "vp8dec name=dec"),
        Codec::Vp9 => ("video/x-vp9", "vp9dec name=dec"),
        Codec::H264 => ("video/x-h264,stream-format=byte-stream,alignment=au", "h264parse ! avdec_h264 name=dec"),
        Codec::Opus => ("audio/x-opus,channel-mapping-family=0,channels=2,rate=48000", "opusparse ! opusdec name=dec plc=true use-inband-fec=true"),
        Codec::Pcmu => ("audio/x-mulaw,channels=1,rate=8000", "mulawdec name=dec"),
        Codec::Pcma => ("audio/x-alaw,channels=1,rate=8000", "alawdec name=dec"),
        Codec::Av1 => ("video/x-av1,stream-format=obu-stream,alignment=tu", "av1parse ! av1dec name=dec"),
        Codec::RawVideo | Codec::RawAudio => return None,
    })
}

/// The encoder chain producing `target` from raw frames, ending in an
/// element that outputs what the router carries (`name=enc` is the encoder).
/// Video: KMS's settings (one thread each, CBR, x264 zerolatency) in
/// real-time mode; H.264 as constrained baseline with SPS/PPS before every
/// IDR, which every WebRTC receiver decodes.
pub fn encoder(target: TargetFormat) -> Option<String> {
    // x264 writes the caps' frame rate into the SPS timing info; a
    // variable-rate source (0/1) gives a 1 ns time base there, which muxers
    // turn into an unusable track timescale: say the target rate, or 30 fps,
    // nominally. (A forced rate is applied by dropping frames before the
    // encoder, see `min_frame_interval`: GStreamer's videorate asserts, and
    // aborts the process, on buffers without a duration.)
    let rate = match (target.codec, target.framerate) {
        (Codec::H264, Some((n, d))) => format!("capssetter caps=video/x-raw,framerate={n}/{d} ! "),
        (Codec::H264, None) => "capssetter caps=video/x-raw,framerate=30/1 ! ".to_owned(),
        _ => String::new(),
    };
    let video = |enc: &str| format!("{rate}videoconvert ! video/x-raw,format=I420 ! {enc}");
    Some(match target.codec {
        Codec::Vp8 => video("vp8enc name=enc deadline=1 cpu-used=16 threads=1 end-usage=cbr resize-allowed=true error-resilient=default"),
        Codec::Vp9 => video("vp9enc name=enc deadline=1 cpu-used=8 threads=1 end-usage=cbr row-mt=false"),
        Codec::H264 => video(
            "x264enc name=enc speed-preset=veryfast tune=zerolatency threads=1 key-int-max=60 \
             ! video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au ! h264parse config-interval=-1",
        ),
        Codec::Opus => "audioconvert ! audioresample ! opusenc name=enc inband-fec=true perfect-timestamp=true frame-size=20".into(),
        Codec::Pcmu => "audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! mulawenc name=enc".into(),
        Codec::Pcma => "audioconvert ! audioresample ! audio/x-raw,rate=8000,channels=1 ! alawenc name=enc".into(),
        // libaom in real-time mode (KMS: one thread, cpu-used 4, CBR, a
        // keyframe every 90 frames; faster here, cpu-used 8, no look-ahead).
        // The quantizer range is explicit: av1enc's default (0..0) makes
        // Debian's libaom 3.6 abort the process in CBR (ratectrl.c assertion).
        Codec::Av1 => video(
            "av1enc name=enc usage-profile=realtime cpu-used=8 threads=1 end-usage=cbr min-quantizer=0 max-quantizer=63 \
             keyframe-max-dist=90 lag-in-frames=0 \
             ! av1parse ! video/x-av1,stream-format=obu-stream,alignment=tu",
        ),
        Codec::RawVideo | Codec::RawAudio => return None,
    })
}

/// The GStreamer factories a chain needs, to tell whether this machine has them.
pub fn factories(codec: Codec, encode: bool) -> &'static [&'static str] {
    match (codec, encode) {
        (Codec::Vp8, false) => &["vp8dec"],
        (Codec::Vp9, false) => &["vp9dec"],
        (Codec::H264, false) => &["h264parse", "avdec_h264"],
        (Codec::Opus, false) => &["opusparse", "opusdec"],
        (Codec::Pcmu, false) => &["mulawdec"],
        (Codec::Pcma, false) => &["alawdec"],
        (Codec::Vp8, true) => &["vp8enc", "videoconvert"],
        (Codec::Vp9, true) => &["vp9enc", "videoconvert"],
        (Codec::H264, true) => &["x264enc", "h264parse", "videoconvert", "capssetter"],
        (Codec::Opus, true) => &["opusenc", "audioconvert", "audioresample"],
        (Codec::Pcmu, true) => &["mulawenc", "audioconvert", "audioresample"],
        (Codec::Pcma, true) => &["alawenc", "audioconvert", "audioresample"],
        (Codec::Av1, false) => &["av1parse", "av1dec"],
        (Codec::Av1, true) => &["av1enc", "av1parse", "videoconvert"],
        // Raw frames need neither a decoder nor an encoder.
        (Codec::RawVideo | Codec::RawAudio, _) => &[],
    }
}

/// Every codec the router carries, for [`supported`]'s table.
const CODECS: [Codec; 9] = [Codec::Opus, Codec::Pcmu, Codec::Pcma, Codec::Vp8, Codec::Vp9, Codec::H264, Codec::Av1, Codec::RawVideo, Codec::RawAudio];

/// Whether frames of `codec` can be produced (`encode`) or decoded here: a
/// chain exists (raw frames need none) and every factory of it is installed.
/// Worked out once per process — the router asks for every frame a sink
/// cannot take, and registry lookups have no place on that path.
pub fn supported(codec: Codec, encode: bool) -> bool {
    static TABLE: OnceLock<Vec<(Codec, bool, bool)>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let gst_ready = crate::init().is_ok();
        let compute = |c: Codec, enc: bool| {
            let raw = matches!(c, Codec::RawVideo | Codec::RawAudio);
            let chain = raw || if enc { encoder(TargetFormat::codec(c)).is_some() } else { decoder(c).is_some() };
            gst_ready && chain && factories(c, enc).iter().all(|f| gst::ElementFactory::find(f).is_some())
        };
        CODECS.iter().flat_map(|&c| [(c, false, compute(c, false)), (c, true, compute(c, true))]).collect()
    });
    table.iter().any(|&(c, enc, ok)| c == codec && enc == encode && ok)
}

/// The shortest time between two frames fed to an encoder of `target`, ns
/// (`setVideoFormat`'s frame rate as a ceiling); `None` when unlimited.
pub fn min_frame_interval(target: TargetFormat) -> Option<u64> {
    let (n, d) = target.framerate.filter(|(n, d)| *n > 0 && *d > 0)?;
    Some(1_000_000_000 * u64::from(d) / u64::from(n))
}

/// Sets the encoder's bitrate (bits/s); each encoder has its own property
/// and unit, and its own range, which the value is clamped into (a bitrate
/// comes from the API, `setMin/MaxOutputBitrate` up to 2^31 - 1, and from
/// the sinks' estimates, a peer's REMB among them, which with
/// `maxVideoSendBandwidth` 0 nothing bounds: x264enc takes at most
/// 2,048,000 kbit/s, and glib refuses, gstreamer-rs panics on, a value out
/// of a property's range). G.711 has a fixed rate.
pub fn set_bitrate(encoder: &gst::Element, codec: Codec, bitrate: u64) {
    let bps = i64::try_from(bitrate).unwrap_or(i64::MAX).max(1);
    match codec {
        // vpxenc keeps whole kbit/s, and 0 means "by resolution".
        Codec::Vp8 | Codec::Vp9 => set_in_range(encoder, "target-bitrate", bps.max(1000)),
        Codec::Opus => set_in_range(encoder, "bitrate", bps),
        // kbit/s
        Codec::H264 => set_in_range(encoder, "bitrate", (bps / 1000).max(1)),
        Codec::Av1 => set_in_range(encoder, "target-bitrate", (bps / 1000).max(1)),
        Codec::Pcmu | Codec::Pcma | Codec::RawVideo | Codec::RawAudio => {}
    }
}

/// Sets the integer property `name` of `element` to `value` clamped into
/// the range the element declares for it (`gst-inspect-1.0` shows it);
/// nothing when the element has no such integer property.
fn set_in_range(element: &gst::Element, name: &str, value: i64) {
    let Some(pspec) = element.find_property(name) else { return };
    if let Some(p) = pspec.downcast_ref::<glib::ParamSpecUInt>() {
        element.set_property(name, value.clamp(i64::from(p.minimum()), i64::from(p.maximum())) as u32);
    } else if let Some(p) = pspec.downcast_ref::<glib::ParamSpecInt>() {
        element.set_property(name, value.clamp(i64::from(p.minimum()), i64::from(p.maximum())) as i32);
    }
}

/// The decoder of `input` as a gst-launch fragment: what the benchmarks run
/// in a bare `gst-launch-1.0` beside the server, so both run the same
/// elements with the same settings.
pub fn launch_decoder(input: Codec) -> Option<&'static str> {
    decoder(input).map(|(_, chain)| chain)
}

/// The encoder of `target` at `bitrate` bits/s as a gst-launch fragment (see
/// [`launch_decoder`]).
pub fn launch_encoder(target: Codec, bitrate: u64) -> Option<String> {
    let property = match target {
        Codec::Vp8 | Codec::Vp9 => format!("target-bitrate={bitrate}"),
        Codec::H264 => format!("bitrate={}", bitrate / 1000),
        Codec::Av1 => format!("target-bitrate={}", bitrate / 1000),
        Codec::Opus => format!("bitrate={bitrate}"),
        _ => String::new(),
    };
    Some(encoder(TargetFormat::codec(target))?.replace("name=enc", &format!("name=enc {property}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bitrates far outside each encoder's range are clamped into it, never
    /// refused (which would panic on the media worker).
    #[test]
    fn a_bitrate_out_of_an_encoders_range_is_clamped_into_it() {
        crate::init().unwrap();
        for (factory, codec, property, huge, tiny) in [
            ("x264enc", Codec::H264, "bitrate", 2_048_000u64, 1u64),
            ("vp8enc", Codec::Vp8, "target-bitrate", i32::MAX as u64, 1000),
            ("opusenc", Codec::Opus, "bitrate", 650_000, 4000),
            ("av1enc", Codec::Av1, "target-bitrate", u64::from(u32::MAX), 1),
        ] {
            let Ok(encoder) = gst::ElementFactory::make(factory).build() else { panic!("{factory} is missing: run scripts/install-deps.sh") };
            let read = |e: &gst::Element| -> u64 {
                let v = e.property_value(property);
                v.get::<u32>().map(u64::from).or_else(|_| v.get::<i32>().map(|i| i as u64)).unwrap()
            };
            set_bitrate(&encoder, codec, u64::MAX);
            // vp8enc keeps whole kbit/s.
            let top = read(&encoder);
            assert!(top <= huge && top + 1000 > huge, "{factory} at u64::MAX: {top}");
            set_bitrate(&encoder, codec, 3_000_000_000);
            assert!(read(&encoder) > 0, "{factory} at 3 Gbit/s");
            set_bitrate(&encoder, codec, 0);
            assert_eq!(read(&encoder), tiny, "{factory} at 0");
        }
    }
}
