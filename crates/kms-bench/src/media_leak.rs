//! The media leak gate: cycles of create a pipeline with a PlayerEndpoint
//! and a WebRtcEndpoint, negotiate with a load-client peer, stream until the
//! peer receives media and a second more, release; the server's RSS,
//! threads and file descriptors are compared between two quiet states, after
//! a warm-up and after the cycles.

use crate::load::kurento::{add_viewers, start_source};
use crate::load::{start_media, Command};
use crate::proc_stats::{open_fds, rss_and_threads};
use crate::rpc::Rpc;
use crate::server::start_server;
use serde_json::json;
use std::path::Path;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// How long a cycle streams once its peer receives media.
const STREAM: Duration = Duration::from_secs(1);
/// Longest wait for a cycle's peer to receive media.
const FIRST_MEDIA: Duration = Duration::from_secs(10);
/// RSS growth the gate allows between the two quiet states.
const MAX_RSS_GROWTH: f64 = 0.05;

/// (RSS KiB, threads, fds) once the server is quiet: the duplicate-request
/// cache (20 s in KMS) has expired and a few cycles made it evict.
async fn quiet_state(pid: u32, url: &str, media: &Path, tx: &Sender<Command>) -> Result<(u64, u64, usize), String> {
    tokio::time::sleep(Duration::from_secs(21)).await;
    let mut rpc = Rpc::connect(url).await?;
    cycle(&mut rpc, media, 0, tx).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (rss, threads) = rss_and_threads(pid).ok_or("server /proc status")?;
    Ok((rss, threads, open_fds(pid).ok_or("server /proc fd")?))
}

/// One cycle with load-client peer `peer`.
async fn cycle(rpc: &mut Rpc, media: &Path, peer: usize, tx: &Sender<Command>) -> Result<(), String> {
    let (pipeline, player) = start_source(rpc, media).await?;
    add_viewers(rpc, &pipeline, &player, peer, 1, tx).await?;
    let deadline = Instant::now() + FIRST_MEDIA;
    loop {
        let receiving = tokio::task::block_in_place(|| crate::load::ask(tx, |reply| Command::Receiving { peer, reply }))?;
        if receiving {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("peer {peer} got no media within {FIRST_MEDIA:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(STREAM).await;
    rpc.call("release", json!({ "object": pipeline })).await?;
    tx.send(Command::Remove { peer }).map_err(|_| "media thread gone")?;
    Ok(())
}

/// `cycles` cycles on `concurrency` connections (peer slots 1..=concurrency).
async fn run_cycles(url: &str, media: &Path, cycles: usize, concurrency: usize, tx: &Sender<Command>) -> Result<(), String> {
    let mut tasks = Vec::new();
    for slot in 0..concurrency {
        let share = cycles / concurrency + usize::from(slot < cycles % concurrency);
        let (url, media, tx) = (url.to_owned(), media.to_owned(), tx.clone());
        tasks.push(tokio::spawn(async move {
            let mut rpc = Rpc::connect(&url).await?;
            for _ in 0..share {
                cycle(&mut rpc, &media, slot + 1, &tx).await?;
            }
            Ok::<_, String>(())
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    Ok(())
}

pub async fn run(bin: &Path, conf: &Path, media: &Path, cycles: usize, concurrency: usize) -> Result<(), String> {
    let server = start_server(bin, conf)?;
    let (tx, _progress, thread) = start_media()?;
    let result = async {
        let t0 = Instant::now();
        run_cycles(&server.url, media, cycles / 10, concurrency, &tx).await?;
        let before = quiet_state(server.pid(), &server.url, media, &tx).await?;
        let t1 = Instant::now();
        run_cycles(&server.url, media, cycles, concurrency, &tx).await?;
        let elapsed = t1.elapsed();
        let after = quiet_state(server.pid(), &server.url, media, &tx).await?;
        let growth = (after.0 as f64 - before.0 as f64) / before.0 as f64;
        println!("media leak gate: {cycles} cycles (create a pipeline with a PlayerEndpoint and a WebRtcEndpoint, negotiate, stream until the peer receives and 1 s more, release), {concurrency} at a time, in {:.0} s (warm-up of {} cycles first, {:.0} s in all)", elapsed.as_secs_f64(), cycles / 10, t0.elapsed().as_secs_f64());
        println!("| | RSS (KiB) | threads | fds |");
        println!("|---|---|---|---|");
        println!("| after the warm-up | {} | {} | {} |", before.0, before.1, before.2);
        println!("| after the cycles | {} | {} | {} |", after.0, after.1, after.2);
        println!("RSS {:+.1} % (the gate allows {:.0} %), threads {:+}, fds {:+}", growth * 100.0, MAX_RSS_GROWTH * 100.0, after.1 as i64 - before.1 as i64, after.2 as i64 - before.2 as i64);
        if growth > MAX_RSS_GROWTH || after.1 > before.1 || after.2 > before.2 {
            return Err("media leak gate failed: RSS, threads or file descriptors grew".to_owned());
        }
        Ok(())
    }
    .await;
    let _ = tx.send(Command::Stop);
    let _ = thread.join();
    result
}
