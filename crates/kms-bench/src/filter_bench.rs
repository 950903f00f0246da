//! Filter benchmark: server CPU per filtered 640x360@30 stream, beside the
//! same elements in bare `gst-launch-1.0` on the same input.
//!
//! Ours: N pipelines, each a PlayerEndpoint of the VP8 clip into a filter
//! into a WEBM_VIDEO_ONLY RecorderEndpoint (decode, filter, encode VP8 at
//! the 300 kbit/s start bitrate, mux); the same N without the filter (play
//! and record, nothing decoded) is the cost of the rest. Bare: demux,
//! `clocksync`, the server's decoder, the filter's elements, the server's
//! encoder (same strings: [`kms_gst::launch_decoder`],
//! [`kms_gst::launch_encoder`], [`kms_gst::FACE_DETECT_STAGE`]) and the muxer.
//! The bare FaceOverlay run has no picture to draw (overlaycomposition
//! without a draw handler passes frames through): detection is the cost.
//!
//! The vision modules (ChromaFilter keying onto a picture, CrowdDetector
//! with two regions and direction events, PlateDetector, PointerDetector
//! calibrated and tracking) have no bare equivalent: their bare run is the
//! same pipeline without the module (decode, BGR conversion, encode), so
//! ours minus bare is what the module costs; the verdict is that cost
//! against a budget of [`MODULE_BUDGET`] % of a core per stream.

use crate::load::kurento;
use crate::measure::{self, Cost};
use crate::rpc::Rpc;
use crate::server::start_server;
use kms_media::Codec;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The encoders' start bitrate (KMS's `encoderBitrate`), used bare too.
const BITRATE: u64 = 300_000;
/// The goal: ours within this factor of bare per stream (as for transcoding).
const GOAL: f64 = 1.2;
/// A vision module's own cost per 640x360@30 stream (ours minus bare), in %
/// of one core: 10 ms a frame, so three modules fit a core beside their
/// decoders and encoders.
const MODULE_BUDGET: f64 = 30.0;

/// How a case is judged.
#[derive(Clone, Copy, PartialEq)]
enum Verdict {
    /// Ours within [`GOAL`] of the same elements bare.
    Ratio,
    /// A vision module: ours minus bare within [`MODULE_BUDGET`].
    ModuleBudget,
}

/// One filter: its name, how it is created, and its bare stage.
struct Case {
    name: &'static str,
    create: Value,
    /// An operation to invoke on it after creation (name, params).
    setup: Option<(&'static str, Value)>,
    stage: String,
    verdict: Verdict,
}

/// N player -> filter (or nothing) -> recorder pipelines, measured.
async fn ours(url: &str, pid: u32, media: &Path, case: Option<&Case>, n: usize, dir: &Path, window: Duration) -> Result<Cost, String> {
    measure::pipelines(url, pid, n, window, async |rpc: &mut Rpc, i| {
        let (pipeline, player) = kurento::create_source(rpc, media).await?;
        let uri = format!("file://{}/ours-{}-{i}.webm", dir.display(), case.map_or("plain", |c| c.name));
        let recorder = rpc
            .create(json!({ "type": "RecorderEndpoint", "constructorParams": { "mediaPipeline": pipeline, "uri": uri, "mediaProfile": "WEBM_VIDEO_ONLY" } }))
            .await?;
        let mut upstream = player.clone();
        if let Some(c) = case {
            let mut create = c.create.clone();
            create["constructorParams"]["mediaPipeline"] = json!(pipeline);
            let filter = rpc.create(create).await?;
            if let Some((operation, params)) = &c.setup {
                kurento::invoke(rpc, &filter, operation, params.clone()).await?;
            }
            kurento::invoke(rpc, &upstream, "connect", json!({ "sink": filter })).await?;
            upstream = filter;
        }
        kurento::invoke(rpc, &upstream, "connect", json!({ "sink": recorder })).await?;
        kurento::invoke(rpc, &recorder, "record", json!({})).await?;
        kurento::invoke(rpc, &player, "play", json!({})).await?;
        Ok(pipeline)
    })
    .await
}

/// Measures each filter at every count (video-only VP8 WebM `media`; `image`
/// is the picture FaceOverlayFilter draws); true when every filter is within
/// the 1.2x goal at the largest count.
pub async fn run(bin: &Path, conf: &Path, media: &Path, image: &Path, counts: &[usize], window: Duration, bare_prefix: &[String]) -> Result<bool, String> {
    let decode = kms_gst::launch_decoder(Codec::Vp8).ok_or("no VP8 decoder")?;
    let encode = kms_gst::launch_encoder(Codec::Vp8, BITRATE).ok_or("no VP8 encoder")?;
    let cases = [
        Case {
            name: "videoflip",
            create: json!({ "type": "GStreamerFilter", "constructorParams": { "command": "videoflip video-direction=horiz", "filterType": "VIDEO" } }),
            setup: None,
            stage: "videoconvert ! videoflip video-direction=horiz ! videoconvert".into(),
            verdict: Verdict::Ratio,
        },
        Case {
            name: "faceoverlay",
            create: json!({ "type": "FaceOverlayFilter", "constructorParams": {} }),
            setup: Some(("setOverlayedImage", json!({ "uri": format!("file://{}", image.display()), "offsetXPercent": 0.0, "offsetYPercent": -0.6, "widthPercent": 1.0, "heightPercent": 0.8 }))),
            stage: format!("videoconvert ! {} ! videoconvert", kms_gst::FACE_DETECT_STAGE),
            verdict: Verdict::Ratio,
        },
    ];
    let vision = vision_cases(image);
    let dir = std::env::temp_dir().join(format!("kms-bench-filters-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let server = start_server(bin, conf)?;
    let (pid, url) = (server.pid(), server.url.clone());
    let result = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("filters on a 640x360@30 VP8 clip, re-encoded to VP8 at {} kbit/s; window {window:?}", BITRATE / 1000);
        let mut ok = true;
        for case in cases.iter().chain(&vision) {
            let (mut last_ratio, mut last_module) = (f64::MAX, f64::MAX);
            for &n in counts {
                let plain = ours(&url, pid, media, None, n, &dir, window).await?;
                let filtered = ours(&url, pid, media, Some(case), n, &dir, window).await?;
                let descriptions: Vec<String> = (0..n)
                    .map(|i| {
                        let out = dir.join(format!("bare-{}-{i}.webm", case.name));
                        format!("filesrc location={} ! matroskademux ! clocksync ! {decode} ! {} ! {encode} ! webmmux ! filesink location={}", media.display(), case.stage, out.display())
                    })
                    .collect();
                let bare = measure::bare(&descriptions, bare_prefix, window).await?;
                let per = |c: &Cost| c.cpu / n as f64;
                last_ratio = per(&filtered) / per(&bare).max(0.01);
                last_module = per(&filtered) - per(&bare);
                println!(
                    "{} x{n}: ours {:.2}% of one core per stream (play + decode + filter + encode + record; {:.2}% playing and recording alone), bare gst-launch {:.2}% -> {:.2}x (ours - bare {:.1}%); server threads {}",
                    case.name,
                    per(&filtered),
                    per(&plain),
                    per(&bare),
                    last_ratio,
                    last_module,
                    filtered.threads,
                );
            }
            let verdict = match case.verdict {
                Verdict::Ratio => {
                    let within = last_ratio <= GOAL;
                    println!("VERDICT {}: ours/bare {last_ratio:.2} ({} the {GOAL}x goal)", case.name, if within { "within" } else { "over" });
                    within
                }
                Verdict::ModuleBudget => {
                    let within = last_module <= MODULE_BUDGET;
                    let word = if within { "within" } else { "over" };
                    println!("VERDICT {}: the module costs {last_module:.1}% of a core per stream ({word} the {MODULE_BUDGET}% budget)", case.name);
                    within
                }
            };
            ok &= verdict;
        }
        Ok(ok)
    }
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// The four vision modules, each doing its full work on the clip; bare is
/// the pipeline around them (BGR conversion included, as they work in BGR).
fn vision_cases(image: &Path) -> Vec<Case> {
    let bare = "videoconvert ! video/x-raw,format=BGR ! videoconvert".to_owned();
    let window = json!({ "topRightCornerX": 20, "topRightCornerY": 20, "width": 40, "height": 40 });
    let region = |id: &str, x0: f64, x1: f64| {
        let points: Vec<Value> = [(x0, 0.1), (x1, 0.1), (x1, 0.9), (x0, 0.9)].iter().map(|(x, y)| json!({ "x": x, "y": y })).collect();
        json!({ "id": id, "points": points, "regionOfInterestConfig": { "sendOpticalFlowEvent": true } })
    };
    let case = |name, create: Value, setup| Case { name, create, setup, stage: bare.clone(), verdict: Verdict::ModuleBudget };
    vec![
        case(
            "chroma",
            json!({ "type": "chroma.ChromaFilter", "constructorParams": { "window": window, "backgroundImage": format!("file://{}", image.display()) } }),
            None,
        ),
        case("crowddetector", json!({ "type": "crowddetector.CrowdDetectorFilter", "constructorParams": { "rois": [region("left", 0.0, 0.5), region("right", 0.5, 1.0)] } }), None),
        case("platedetector", json!({ "type": "platedetector.PlateDetectorFilter", "constructorParams": {} }), None),
        case(
            "pointerdetector",
            json!({ "type": "pointerdetector.PointerDetectorFilter", "constructorParams": { "calibrationRegion": window, "windows": [
                { "id": "a", "upperRightX": 100, "upperRightY": 100, "width": 100, "height": 100 },
                { "id": "b", "upperRightX": 400, "upperRightY": 100, "width": 100, "height": 100 } ] } }),
            Some(("trackColorFromCalibrationRegion", json!({}))),
        ),
    ]
}
