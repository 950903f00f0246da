//! Side-by-side cost measurements: the server's CPU, memory and threads
//! over a window, and the same for bare `gst-launch-1.0` processes.

use crate::proc_stats::{cpu_seconds, rss_and_threads, CpuSample};
use crate::rpc::Rpc;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Warm-up before a window is measured.
const WARM_UP: Duration = Duration::from_secs(3);

/// What one configuration cost: CPU in % of one core over the window, RSS
/// (KiB) and threads at its end (summed over processes for bare runs).
pub struct Cost {
    pub cpu: f64,
    pub rss: u64,
    pub threads: u64,
}

/// The server `pid` after a warm-up, over `window`.
pub async fn server(pid: u32, window: Duration) -> Result<Cost, String> {
    tokio::time::sleep(WARM_UP).await;
    let sample = CpuSample::take(pid)?;
    tokio::time::sleep(window).await;
    let cpu = sample.percent()?.0;
    let (rss, threads) = rss_and_threads(pid).ok_or("server /proc status")?;
    Ok(Cost { cpu, rss, threads })
}

/// `n` pipelines made by `build` (given the connection and the index, it
/// returns the pipeline's id), the server `pid` measured over `window`, then
/// every pipeline released.
pub async fn pipelines(url: &str, pid: u32, n: usize, window: Duration, mut build: impl AsyncFnMut(&mut Rpc, usize) -> Result<String, String>) -> Result<Cost, String> {
    let mut rpc = Rpc::connect(url).await?;
    let mut made = Vec::new();
    for i in 0..n {
        made.push(build(&mut rpc, i).await?);
    }
    let cost = server(pid, window).await?;
    for p in made {
        rpc.call("release", json!({ "object": p })).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(cost)
}

/// One `gst-launch-1.0 -q` process per description (each split on spaces),
/// started with `prefix` (e.g. `taskset -c 0`), measured together after a
/// warm-up over `window`, then killed.
pub async fn bare(descriptions: &[String], prefix: &[String], window: Duration) -> Result<Cost, String> {
    let mut children: Vec<Child> = Vec::new();
    let result = async {
        for description in descriptions {
            let mut command = match prefix.split_first() {
                Some((program, args)) => {
                    let mut c = Command::new(program);
                    c.args(args).arg("gst-launch-1.0");
                    c
                }
                None => Command::new("gst-launch-1.0"),
            };
            command.arg("-q").args(description.split(' ')).stdout(Stdio::null()).stderr(Stdio::null());
            children.push(command.spawn().map_err(|e| format!("gst-launch-1.0: {e}"))?);
        }
        tokio::time::sleep(WARM_UP).await;
        let pids: Vec<u32> = children.iter().map(Child::id).collect();
        let total = |pids: &[u32]| -> Result<f64, String> { pids.iter().map(|p| cpu_seconds(*p).ok_or_else(|| format!("bare process {p} ended early"))).sum() };
        let start = (Instant::now(), total(&pids)?);
        tokio::time::sleep(window).await;
        let cpu = (total(&pids)? - start.1) / start.0.elapsed().as_secs_f64() * 100.0;
        let (rss, threads) = pids.iter().filter_map(|p| rss_and_threads(*p)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        Ok(Cost { cpu, rss, threads })
    }
    .await;
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    result
}
