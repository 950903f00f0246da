//! The server's media workers as its `/metrics` report them after a run:
//! how the pipelines were spread and how busy each worker was, to show that
//! several workers share the load (`scripts/bench-workers.sh`).

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// GETs `/metrics` from the server whose Kurento URL is `ws_url` and
/// summarises the per-worker families: one line per worker.
pub async fn scrape(ws_url: &str) -> Result<String, String> {
    let authority = ws_url.trim_start_matches("ws://").split('/').next().ok_or("no address in the URL")?;
    let mut stream = tokio::net::TcpStream::connect(authority).await.map_err(|e| e.to_string())?;
    let request = format!("GET /metrics HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.map_err(|e| e.to_string())?;
    Ok(summary(&text))
}

/// `media workers: worker 0: 1 pipelines, busy 41.2 s; worker 1: ...`.
fn summary(text: &str) -> String {
    let value = |name: &str, worker: &str| {
        let key = format!("{name}{{worker=\"{worker}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&key)).and_then(|v| v.trim().parse::<f64>().ok())
    };
    let mut parts = Vec::new();
    for i in 0.. {
        let worker = i.to_string();
        let Some(pipelines) = value("kms_media_worker_pipelines", &worker) else { break };
        let busy = value("kms_media_worker_busy_seconds_total", &worker).unwrap_or(0.0);
        parts.push(format!("worker {i}: {pipelines} pipelines, busy {busy:.1} s since start"));
    }
    format!("media workers: {}", if parts.is_empty() { "none reported".to_owned() } else { parts.join("; ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_each_worker() {
        let text = "# HELP x\nkms_media_worker_pipelines{worker=\"0\"} 1\nkms_media_worker_pipelines{worker=\"1\"} 2\n\
                    kms_media_worker_busy_seconds_total{worker=\"0\"} 3.25\nkms_media_worker_busy_seconds_total{worker=\"1\"} 4\n";
        assert_eq!(summary(text), "media workers: worker 0: 1 pipelines, busy 3.2 s since start; worker 1: 2 pipelines, busy 4.0 s since start");
    }
}
