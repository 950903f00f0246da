//! The soak: for a while, applications come and go as separate processes,
//! each a call with media (a pipeline where a PlayerEndpoint feeds a
//! WebRtcEndpoint watched by a load-client peer) that streams for a few
//! seconds and then either releases its pipeline or is killed with SIGKILL
//! mid-call, leaving its session for the server's garbage collector
//! (`garbageCollectorPeriod`, set short here). The server's pipelines, RSS,
//! threads and file descriptors are printed over time. The verdict: no
//! pipeline left once every application ended and the collector ran;
//! threads and fds in the quiet state after the soak not above the quiet
//! state after a warm-up (a third of the soak's length); the quiet RSS
//! within 25 % of the warm-up's
//! (allocator and plugin retention); and, in runs with enough samples
//! ([`MIN_TREND_SAMPLES`]), RSS not trending up during the soak (the mean of
//! the last quarter of samples within 10 % of the second quarter's).

use crate::load::kurento::{add_viewers, start_source};
use crate::load::{ask, start_media, Command};
use crate::proc_stats::{open_fds, rss_and_threads};
use crate::rpc::Rpc;
use crate::server::{start_server, ServerProcess};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// The server's garbage collector period during the soak (seconds): a
/// killed application's session is collected within two periods.
const GC_PERIOD_S: u64 = 3;
/// RSS growth allowed between the quiet states (retention, not a trend).
const MAX_RSS_GROWTH: f64 = 0.25;
/// RSS growth allowed from the second to the last quarter of the soak.
const MAX_RSS_TREND: f64 = 0.10;
/// Samples the RSS trend needs to be judged: in a short run RSS follows how
/// many calls happen to be up at each sample (+50 % between two samples of
/// a 2-minute run), which is no trend.
const MIN_TREND_SAMPLES: usize = 20;
/// How long an application streams, at least and at most (seconds).
const STREAM_S: (u64, u64) = (2, 8);

/// What one soak runs: its length, the applications alive at once, the
/// share of them killed with SIGKILL, the sampling period.
pub struct Soak {
    pub duration: Duration,
    pub clients: usize,
    pub kill_percent: u64,
    pub sample: Duration,
}

/// A small deterministic generator (xorshift64*): the soak's choices repeat from run to run.
struct Choices(u64);

impl Choices {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// One application process and when it is killed, if it is.
struct App {
    child: Child,
    kill_at: Option<Instant>,
}

/// (pipelines, RSS KiB, threads, fds) of the server now.
async fn state(server: &ServerProcess) -> Result<(usize, u64, u64, usize), String> {
    let mut rpc = Rpc::connect(&server.url).await?;
    let pipelines = rpc.call("invoke", json!({ "object": "manager_ServerManager", "operation": "getPipelines", "operationParams": {} })).await?;
    let pipelines = pipelines["value"].as_array().map_or(0, Vec::len);
    let (rss, threads) = rss_and_threads(server.pid()).ok_or("server /proc status")?;
    Ok((pipelines, rss, threads, open_fds(server.pid()).ok_or("server /proc fd")?))
}

/// The quiet state: every killed session collected, the request cache (20 s) expired.
async fn quiet(server: &ServerProcess) -> Result<(usize, u64, u64, usize), String> {
    tokio::time::sleep(Duration::from_secs(21.max(2 * GC_PERIOD_S + 1))).await;
    state(server).await
}

fn spawn_app(url: &str, media: &Path, seconds: u64) -> Result<Child, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    std::process::Command::new(me)
        .args(["soak-app", "--url", url, "--media", media.to_str().unwrap_or_default(), "--seconds", &seconds.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start an application: {e}"))
}

/// Runs applications for `duration`, then waits for the last ones; returns
/// (started, killed, the RSS samples taken when `print`).
async fn churn(server: &ServerProcess, media: &Path, soak: &Soak, choices: &mut Choices, duration: Duration, print: bool) -> Result<(u64, u64, Vec<u64>), String> {
    let mut samples = Vec::new();
    let start = Instant::now();
    let (mut started, mut killed, mut failed) = (0u64, 0u64, 0u64);
    let mut apps: Vec<App> = Vec::new();
    let mut next_sample = start;
    while start.elapsed() < duration || !apps.is_empty() {
        let now = Instant::now();
        apps.retain_mut(|app| match app.child.try_wait() {
            Ok(Some(status)) => {
                // A killed application's status is the signal; any other failure counts.
                if app.kill_at.is_none() && !status.success() {
                    failed += 1;
                }
                false
            }
            Ok(None) => {
                if app.kill_at.is_some_and(|t| now >= t) {
                    let _ = app.child.kill();
                    let _ = app.child.wait();
                    killed += 1;
                    return false;
                }
                true
            }
            Err(_) => false,
        });
        while start.elapsed() < duration && apps.len() < soak.clients {
            let seconds = STREAM_S.0 + choices.below(STREAM_S.1 - STREAM_S.0 + 1);
            let kill_at = (choices.below(100) < soak.kill_percent).then(|| now + Duration::from_millis(1500 + choices.below(seconds * 1000)));
            apps.push(App { child: spawn_app(&server.url, media, seconds)?, kill_at });
            started += 1;
        }
        if print && now >= next_sample {
            let (pipelines, rss, threads, fds) = state(server).await?;
            println!("| {:.0} | {} | {} | {} | {} | {} | {} | {} |", start.elapsed().as_secs_f64(), apps.len(), started, killed, pipelines, rss, threads, fds);
            if start.elapsed() < duration {
                samples.push(rss);
            }
            next_sample += soak.sample;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if failed > 0 {
        return Err(format!("{failed} applications failed (not killed): their calls did not get media or a request failed"));
    }
    Ok((started, killed, samples))
}

/// Mean of the second and of the last quarter of `samples` (enough of them).
fn quarters(samples: &[u64]) -> Option<(f64, f64)> {
    if samples.len() < MIN_TREND_SAMPLES {
        return None;
    }
    let q = samples.len() / 4;
    let mean = |s: &[u64]| s.iter().sum::<u64>() as f64 / s.len() as f64;
    Some((mean(&samples[q..2 * q]), mean(&samples[samples.len() - q..])))
}

pub async fn run(bin: &Path, media: &Path, soak: Soak) -> Result<(), String> {
    let conf: PathBuf = std::env::temp_dir().join(format!("kms-soak-{}.conf.json", std::process::id()));
    std::fs::write(&conf, format!(r#"{{"mediaServer":{{"resources":{{"garbageCollectorPeriod":{GC_PERIOD_S}}}}}}}"#)).map_err(|e| e.to_string())?;
    let server = start_server(bin, &conf);
    let _ = std::fs::remove_file(&conf);
    let server = server?;
    let mut choices = Choices(0x9e37_79b9_7f4a_7c15);
    // Warm-up (a third of the soak, 30 s at least) before the baseline: plugins
    // loaded, pools and arenas at their working size.
    churn(&server, media, &soak, &mut choices, (soak.duration / 3).max(Duration::from_secs(30)), false).await?;
    let before = quiet(&server).await?;
    println!("soak: {:.0} s, {} applications at a time (each a call streaming {}-{} s), {} % killed with SIGKILL mid-call, garbageCollectorPeriod {GC_PERIOD_S} s", soak.duration.as_secs_f64(), soak.clients, STREAM_S.0, STREAM_S.1, soak.kill_percent);
    println!("| s | running | started | killed | pipelines | RSS (KiB) | threads | fds |");
    println!("|---|---|---|---|---|---|---|---|");
    let (started, killed, samples) = churn(&server, media, &soak, &mut choices, soak.duration, true).await?;
    let after = quiet(&server).await?;
    let growth = (after.1 as f64 - before.1 as f64) / before.1 as f64;
    let trend = quarters(&samples).map(|(second, last)| (last - second) / second);
    println!("quiet states: after the warm-up {} pipelines, {} KiB, {} threads, {} fds; after the soak {} pipelines, {} KiB, {} threads, {} fds", before.0, before.1, before.2, before.3, after.0, after.1, after.2, after.3);
    println!("{started} applications, {killed} killed; quiet RSS {:+.1} % (allowed {:.0} %), RSS trend from the second to the last quarter {} (allowed {:.0} %), threads {:+}, fds {:+}", growth * 100.0, MAX_RSS_GROWTH * 100.0, trend.map_or(format!("not judged ({} samples, {MIN_TREND_SAMPLES} needed)", samples.len()), |t| format!("{:+.1} %", t * 100.0)), MAX_RSS_TREND * 100.0, after.2 as i64 - before.2 as i64, after.3 as i64 - before.3 as i64);
    if after.0 > 0 {
        return Err(format!("soak failed: {} pipelines left after every application ended and the garbage collector ran", after.0));
    }
    if growth > MAX_RSS_GROWTH || trend.is_some_and(|t| t > MAX_RSS_TREND) || after.2 > before.2 || after.3 > before.3 {
        return Err("soak failed: RSS, threads or file descriptors grew".to_owned());
    }
    Ok(())
}

/// One application (a `soak-app` process): a call with media for `seconds`,
/// then the pipeline is released (unless the soak kills it first).
pub async fn app(url: &str, media: &Path, seconds: u64) -> Result<(), String> {
    let (tx, _progress, thread) = start_media()?;
    let result = async {
        let mut rpc = Rpc::connect(url).await?;
        let (pipeline, player) = start_source(&mut rpc, media).await?;
        add_viewers(&mut rpc, &pipeline, &player, 0, 1, &tx).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !tokio::task::block_in_place(|| ask(&tx, |reply| Command::Receiving { peer: 0, reply }))? {
            if Instant::now() > deadline {
                return Err("the call got no media within 10 s".to_owned());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        rpc.call("release", json!({ "object": pipeline })).await.map(drop)
    }
    .await;
    let _ = tx.send(Command::Stop);
    let _ = thread.join();
    result
}
