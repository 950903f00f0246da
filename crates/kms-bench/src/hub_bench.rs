//! Composite benchmark: server CPU of one Composite of N 640x360@30 VP8 +
//! Opus inputs, beside a bare `gst-launch-1.0` compositor + audiomixer
//! doing the same composition.
//!
//! Ours: one pipeline, N PlayerEndpoints of the clip into N HubPorts of a
//! Composite (800x600 at 15 fps, KMS's defaults) and one more port into a
//! WEBM RecorderEndpoint: N VP8 and N Opus decodes, the grid, one VP8
//! encode at the 300 kbit/s start bitrate, the recorder port's mix encoded
//! to Opus, muxing. KMS's audio rule gives every port its own mix of the
//! others (N + 1 mixers; only the recorded one is encoded). Bare: the same
//! N files demuxed, clock-synced and decoded with the server's decoder
//! strings, one `compositor` with the same grid and output caps, one
//! `audiomixer` of all inputs, the same encoders, one muxer.

use crate::load::kurento;
use crate::measure::{self, Cost};
use crate::rpc::Rpc;
use crate::server::start_server;
use kms_media::{Codec, ElementId};
use serde_json::json;
use std::path::Path;
use std::time::Duration;

/// Composite's output (KMS's constructor defaults).
const OUTPUT: (i32, i32, i32) = (800, 600, 15);
/// The video encoder's start bitrate (KMS's `encoderBitrate`), used bare too.
const BITRATE: u64 = 300_000;
/// The goal: ours within this factor of bare.
const GOAL: f64 = 1.2;

/// One Composite of `n` playing inputs recorded through one more port.
async fn ours(url: &str, pid: u32, media: &Path, n: usize, out: &Path, window: Duration) -> Result<Cost, String> {
    measure::pipelines(url, pid, 1, window, async |rpc: &mut Rpc, _| {
        let (pipeline, first) = kurento::create_source(rpc, media).await?;
        let composite = rpc.create(json!({ "type": "Composite", "constructorParams": { "mediaPipeline": pipeline } })).await?;
        let mut players = vec![first];
        for _ in 1..n {
            let uri = format!("file://{}", media.display());
            players.push(rpc.create(json!({ "type": "PlayerEndpoint", "constructorParams": { "mediaPipeline": pipeline, "uri": uri } })).await?);
        }
        for player in &players {
            let port = rpc.create(json!({ "type": "HubPort", "constructorParams": { "hub": composite } })).await?;
            kurento::invoke(rpc, player, "connect", json!({ "sink": port })).await?;
        }
        let port = rpc.create(json!({ "type": "HubPort", "constructorParams": { "hub": composite } })).await?;
        let uri = format!("file://{}", out.display());
        let recorder = rpc.create(json!({ "type": "RecorderEndpoint", "constructorParams": { "mediaPipeline": pipeline, "uri": uri, "mediaProfile": "WEBM" } })).await?;
        kurento::invoke(rpc, &port, "connect", json!({ "sink": recorder })).await?;
        kurento::invoke(rpc, &recorder, "record", json!({})).await?;
        for player in &players {
            kurento::invoke(rpc, player, "play", json!({})).await?;
        }
        Ok(pipeline)
    })
    .await
}

/// The bare gst-launch-1.0 description of the same composition.
fn bare_description(media: &Path, n: usize, out: &Path) -> Result<String, String> {
    let decode = kms_gst::launch_decoder(Codec::Vp8).ok_or("no VP8 decoder")?;
    let encode = kms_gst::launch_encoder(Codec::Vp8, BITRATE).ok_or("no VP8 encoder")?;
    let opus = kms_gst::launch_encoder(Codec::Opus, 64_000).ok_or("no Opus encoder")?.replace("name=enc", "name=aenc");
    let opus_decode = kms_gst::launch_decoder(Codec::Opus).ok_or("no Opus decoder")?;
    let (w, h, fps) = OUTPUT;
    let inputs: Vec<ElementId> = (0..n as u64).map(ElementId).collect();
    let mut d = String::from("compositor name=c background=black latency=100000000");
    for (i, (_, r)) in kms_gst::grid(&inputs, w, h).iter().enumerate() {
        d += &format!(" sink_{i}::xpos={} sink_{i}::ypos={} sink_{i}::width={} sink_{i}::height={} sink_{i}::sizing-policy=keep-aspect-ratio", r.x, r.y, r.width, r.height);
    }
    d += &format!(" ! video/x-raw,format=I420,width={w},height={h},framerate={fps}/1 ! {encode} ! queue ! webmmux name=m ! filesink location={}", out.display());
    d += &format!(" audiomixer name=a latency=100000000 ! {} ! {opus} ! queue ! m.", kms_gst::AUDIO_MIX_CAPS);
    for i in 0..n {
        d += &format!(
            " filesrc location={} ! matroskademux name=d{i} d{i}.video_0 ! queue ! clocksync ! {} ! c.sink_{i} d{i}.audio_0 ! queue ! clocksync ! {} ! audioconvert ! audioresample ! a.",
            media.display(),
            decode.replace("name=dec", &format!("name=vdec{i}")),
            opus_decode.replace("name=dec", &format!("name=adec{i}")),
        );
    }
    Ok(d)
}

/// Measures a Composite at every input count on the VP8 + Opus `media`;
/// true when ours is within the 1.2x goal at the largest count.
pub async fn run(bin: &Path, conf: &Path, media: &Path, counts: &[usize], window: Duration, bare_prefix: &[String]) -> Result<bool, String> {
    let dir = std::env::temp_dir().join(format!("kms-bench-hubs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let media = media.canonicalize().map_err(|e| format!("{}: {e}", media.display()))?;
    let server = start_server(bin, conf)?;
    let (pid, url) = (server.pid(), server.url.clone());
    let result = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (w, h, fps) = OUTPUT;
        println!("Composite of N inputs ({}), output {w}x{h}@{fps} VP8 at {} kbit/s + Opus, recorded; window {window:?}", media.display(), BITRATE / 1000);
        let mut ratio = f64::MAX;
        for &n in counts {
            let cost = ours(&url, pid, &media, n, &dir.join(format!("ours-{n}.webm")), window).await?;
            let bare = measure::bare(&[bare_description(&media, n, &dir.join(format!("bare-{n}.webm")))?], bare_prefix, window).await?;
            ratio = cost.cpu / bare.cpu.max(0.01);
            println!(
                "composite x{n}: ours {:.1}% of one core ({} MiB RSS, {} threads), bare gst-launch compositor + audiomixer {:.1}% ({} MiB) -> {ratio:.2}x",
                cost.cpu,
                cost.rss / 1024,
                cost.threads,
                bare.cpu,
                bare.rss / 1024,
            );
        }
        let verdict = ratio <= GOAL;
        println!("VERDICT composite: ours/bare {ratio:.2} ({} the {GOAL}x goal)", if verdict { "within" } else { "over" });
        Ok(verdict)
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
