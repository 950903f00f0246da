//! Transcoding benchmark: server CPU and memory per transcoded 640x360@30
//! stream, side by side with the same decode + encode in bare
//! `gst-launch-1.0` on the same input.
//!
//! Ours: N pipelines, each a PlayerEndpoint of the input into a
//! RecorderEndpoint whose profile takes the other codec (VP8 into
//! MP4_VIDEO_ONLY becomes H.264, H.264 into WEBM_VIDEO_ONLY becomes VP8), so
//! every stream has its own transcoder. The same N pipelines with a profile
//! that takes the input as it is (no transcoder) give the cost of playing
//! and recording alone. Bare: N `gst-launch-1.0` processes running demux,
//! real-time pacing (`clocksync`), the very decoder and encoder chain the
//! server builds ([`kms_gst::launch_decoder`], [`kms_gst::launch_encoder`]: same settings and bitrate) and
//! the muxer into a file. Both are pinned to the same core by the script.
//!
//! [`kms_gst::launch_decoder`]: the same chain strings the server builds.

use crate::load::kurento;
use crate::measure::{self, Cost};
use crate::proc_stats::rss_and_threads;
use crate::rpc::Rpc;
use crate::server::start_server;
use kms_media::Codec;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// KMS's starting encoder bitrate (`encoderBitrate`), which the server's
/// encoders keep without receiver feedback: the bare encoders get the same.
const BITRATE: u64 = 300_000;
/// The goal: ours within this factor of bare GStreamer per stream.
const GOAL: f64 = 1.2;

/// One transcoding direction.
struct Direction {
    name: &'static str,
    input: PathBuf,
    input_codec: Codec,
    target: Codec,
    demux: &'static str,
    mux: &'static str,
    /// Recorder profile that takes the input as it is, and one that needs the target.
    same_profile: &'static str,
    target_profile: &'static str,
    ext: &'static str,
}

/// Runs N player -> recorder(`profile`) pipelines and measures the server.
async fn ours(url: &str, pid: u32, d: &Direction, profile: &str, n: usize, dir: &Path, window: Duration) -> Result<Cost, String> {
    let ext = if profile.starts_with("MP4") { "mp4" } else { "webm" };
    measure::pipelines(url, pid, n, window, async |rpc: &mut Rpc, i| {
        let (pipeline, player) = kurento::create_source(rpc, &d.input).await?;
        let uri = format!("file://{}/ours-{profile}-{i}.{ext}", dir.display());
        let recorder = rpc.create(json!({ "type": "RecorderEndpoint", "constructorParams": { "mediaPipeline": pipeline, "uri": uri, "mediaProfile": profile } })).await?;
        kurento::invoke(rpc, &player, "connect", json!({ "sink": recorder })).await?;
        kurento::invoke(rpc, &recorder, "record", json!({})).await?;
        kurento::invoke(rpc, &player, "play", json!({})).await?;
        Ok(pipeline)
    })
    .await
}

/// Runs N bare gst-launch-1.0 processes of the direction's chain.
async fn bare(d: &Direction, n: usize, dir: &Path, prefix: &[String], window: Duration) -> Result<Cost, String> {
    let decode = kms_gst::launch_decoder(d.input_codec).ok_or("no decoder for this direction")?;
    let encode = kms_gst::launch_encoder(d.target, BITRATE).ok_or("no encoder for this direction")?;
    let descriptions: Vec<String> = (0..n)
        .map(|i| {
            let out = dir.join(format!("bare-{}-{i}.{}", d.name, d.ext));
            format!("filesrc location={} ! {} ! clocksync ! {decode} ! {encode} ! {} ! filesink location={}", d.input.display(), d.demux, d.mux, out.display())
        })
        .collect();
    measure::bare(&descriptions, prefix, window).await
}

/// Measures both directions at every count; true when the last count of
/// every direction meets the goal (ours within 1.2x of bare per stream).
pub async fn run(bin: &Path, conf: &Path, vp8: &Path, h264: &Path, counts: &[usize], window: Duration, bare_prefix: &[String]) -> Result<bool, String> {
    let directions = [
        Direction {
            name: "vp8-h264",
            input: vp8.to_owned(),
            input_codec: Codec::Vp8,
            target: Codec::H264,
            demux: "matroskademux",
            mux: "mp4mux",
            same_profile: "WEBM_VIDEO_ONLY",
            target_profile: "MP4_VIDEO_ONLY",
            ext: "mp4",
        },
        Direction {
            name: "h264-vp8",
            input: h264.to_owned(),
            input_codec: Codec::H264,
            target: Codec::Vp8,
            demux: "qtdemux",
            mux: "webmmux",
            same_profile: "MP4_VIDEO_ONLY",
            target_profile: "WEBM_VIDEO_ONLY",
            ext: "webm",
        },
    ];
    let dir = std::env::temp_dir().join(format!("kms-bench-transcode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let server = start_server(bin, conf)?;
    let (pid, url) = (server.pid(), server.url.clone());
    let result = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let idle = rss_and_threads(pid).ok_or("server /proc status")?;
        println!("server idle: RSS {} KiB, {} threads; window {window:?}; encoders at {} kbit/s", idle.0, idle.1, BITRATE / 1000);
        let mut ok = true;
        for d in &directions {
            let mut last_ratio = f64::MAX;
            for &n in counts {
                let same = ours(&url, pid, d, d.same_profile, n, &dir, window).await?;
                let transcoded = ours(&url, pid, d, d.target_profile, n, &dir, window).await?;
                let bare = bare(d, n, &dir, bare_prefix, window).await?;
                let per = |c: &Cost| c.cpu / n as f64;
                last_ratio = per(&transcoded) / per(&bare).max(0.01);
                let memory = transcoded.rss.saturating_sub(same.rss) as f64 / n as f64;
                println!(
                    "{} x{n}: ours {:.2}% of one core per stream (play + transcode + record; {:.2}% without transcoding), bare gst-launch {:.2}% -> {last_ratio:.2}x; \
                     transcoder memory {memory:.0} KiB, {:.1} threads each; server RSS {} KiB, threads {}; bare {} KiB per process",
                    d.name,
                    per(&transcoded),
                    per(&same),
                    per(&bare),
                    transcoded.threads.saturating_sub(same.threads) as f64 / n as f64,
                    transcoded.rss,
                    transcoded.threads,
                    bare.rss / n as u64,
                );
                if per(&transcoded) > 0.0 {
                    println!("{} x{n}: one core holds about {:.0} such streams in real time (100 % / CPU per stream)", d.name, (100.0 / per(&transcoded)).floor());
                }
            }
            let released = rss_and_threads(pid).ok_or("server /proc status")?;
            println!("{}: after every pipeline was released: server RSS {} KiB, {} threads", d.name, released.0, released.1);
            let verdict = last_ratio <= GOAL;
            ok &= verdict;
            println!("VERDICT {}: ours/bare {last_ratio:.2} ({} the {GOAL}x goal)", d.name, if verdict { "within" } else { "over" });
        }
        Ok(ok)
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}
