//! The client against the real server: the examples run as the programs
//! they are (cargo builds them for `cargo test`), typed calls and errors,
//! and a session that survives its socket being cut. The server binary
//! comes from the same target directory (scripts/test.sh builds it first);
//! everything listens on 127.0.0.1.

use kurento_client::{Error, KurentoClient, MediaPipeline, Options, PlayerEndpoint, ServerManager};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// `target/debug` (or release): this test runs from its `deps/`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent().and_then(Path::parent).expect("target directory").to_owned()
}

/// The server for one test, on a free port of 127.0.0.1; killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let binary = std::env::var_os("KMS_BIN").map(PathBuf::from).unwrap_or_else(|| target_dir().join("kurento-media-server"));
        assert!(binary.exists(), "{} is not built: cargo build --bin kurento-media-server", binary.display());
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/kurento.conf.json");
        let child = Command::new(binary)
            .args(["-f", config.to_str().expect("utf-8 path"), "--address", "127.0.0.1", "--port", &port.to_string()])
            .env("KMS_NETWORK_INTERFACES", "lo")
            .env("RUST_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("server starts");
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, port }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/kurento", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the example `name` with `args` (at most 60 s).
fn example(name: &str, args: &[&str]) -> Output {
    let path = target_dir().join("examples").join(name);
    assert!(path.exists(), "{} is not built (cargo test builds the examples)", path.display());
    let mut child = Command::new(&path).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("example starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("example output")
}

fn stdout(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The number after `key=` in `line`.
fn figure(line: &str, key: &str) -> u64 {
    line.split(key).nth(1).and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn hello_world_gets_its_own_video_back_through_the_server() {
    let server = Server::start();
    let out = example("hello_world", &[&server.url(), "3"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    let line = text.lines().find(|l| l.starts_with("hello_world:")).unwrap_or_default();
    assert!(line.contains("connected=true"), "{text}");
    let (sent, back) = (figure(line, "video sent="), figure(line, "received back="));
    assert!(sent >= 60 && back * 10 >= sent * 9, "most of the {sent} frames came back: {back}");
    assert!(figure(line, "audio received back=") > 0, "{text}");
}

#[test]
fn one2many_call_reaches_every_viewer() {
    let server = Server::start();
    let out = example("one2many_call", &[&server.url(), "3", "3"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    let viewers: Vec<&str> = text.lines().filter(|l| l.contains("viewer")).collect();
    assert_eq!(viewers.len(), 3, "{text}");
    for v in viewers {
        assert!(v.contains("connected=true") && figure(v, "video received=") >= 30 && figure(v, "audio received=") >= 30, "{v}");
    }
}

#[test]
fn recording_writes_a_file_that_decodes() {
    let server = Server::start();
    let dir = std::env::temp_dir().join(format!("kurento-client-recording-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (input, output) = (dir.join("in.webm"), dir.join("out.webm"));
    let made = Command::new("gst-launch-1.0")
        .args(["-q", "videotestsrc", "num-buffers=60", "!", "video/x-raw,width=320,height=240,framerate=30/1", "!", "vp8enc", "deadline=1", "!", "queue", "!", "webmmux", "name=m", "!", "filesink"])
        .arg(format!("location={}", input.display()))
        .args(["audiotestsrc", "num-buffers=100", "!", "opusenc", "!", "queue", "!", "m."])
        .status()
        .expect("gst-launch-1.0");
    assert!(made.success());
    let out = example("recording", &[&server.url(), "20", &format!("file://{}", input.display()), &format!("file://{}", output.display())]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Recording at Some") && text.contains("Stopped at Some"), "the recorder's events arrived typed: {text}");
    let probe = Command::new("gst-discoverer-1.0").arg(&output).output().expect("gst-discoverer-1.0");
    let probe = String::from_utf8_lossy(&probe.stdout).into_owned();
    assert!(probe.contains("video #") && probe.contains("VP8") && probe.contains("audio #"), "{probe}");
    let decoded = Command::new("timeout")
        .args(["30", "gst-launch-1.0", "-q", "playbin", &format!("uri=file://{}", output.display()), "video-sink=fakesink", "audio-sink=fakesink"])
        .status()
        .expect("decode");
    assert!(decoded.success(), "the recording decodes");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn typed_results_and_kurento_errors() {
    let server = Server::start();
    let client = KurentoClient::connect(&server.url()).await.expect("connect");
    let manager: ServerManager = client.server_manager();
    let info = manager.get_info().await.expect("getInfo");
    assert!(info.modules.iter().any(|m| m.name == "core"), "{info:?}");
    let pipeline = MediaPipeline::builder(&client).build().await.expect("pipeline");
    assert!(manager.get_pipelines().await.expect("getPipelines").iter().any(|p| p.object().id() == pipeline.object().id()));
    let player = PlayerEndpoint::builder(&pipeline, "file:///nonexistent.webm").build().await.expect("player");
    assert_eq!(player.get_uri().await.expect("getUri"), "file:///nonexistent.webm");
    player.set_name("typed").await.expect("setName");
    assert_eq!(player.get_name().await.expect("getName"), "typed");
    // A bad constructor parameter, then a released object: Kurento's codes, typed.
    let bad = PlayerEndpoint::builder(&pipeline, "file:///x.webm").network_cache(-5).build().await;
    assert!(matches!(bad, Err(ref e) if e.code().is_some()), "{bad:?}");
    pipeline.release().await.expect("release");
    let gone = player.get_uri().await;
    assert!(matches!(gone, Err(Error::Rpc { code: 40101, .. })), "{gone:?}");
}

/// A TCP proxy to `server` whose connections are all cut when `cut` changes.
async fn proxy(server: SocketAddr, cut: watch::Receiver<u32>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("proxy port");
    let addr = listener.local_addr().expect("proxy address");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let mut cut = cut.clone();
            cut.mark_unchanged();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(server).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cut.changed() => {
                        let _ = inbound.shutdown().await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn a_cut_socket_reconnects_to_the_same_session_and_its_subscriptions_go_on() {
    let server = Server::start();
    let (cut, cuts) = watch::channel(0u32);
    let addr = proxy(SocketAddr::from(([127, 0, 0, 1], server.port)), cuts).await;
    let options = Options { request_timeout: Duration::from_secs(10), ..Options::default() };
    let client = KurentoClient::connect_with(&format!("ws://{addr}/kurento"), options).await.expect("connect");
    let mut reconnections = client.reconnections();
    let first = MediaPipeline::builder(&client).build().await.expect("pipeline");
    let mut created = client.server_manager().on_object_created().await.expect("subscribe");

    cut.send_modify(|n| *n += 1);
    let second = MediaPipeline::builder(&client).build().await.expect("a request after the cut is served");
    let again = tokio::time::timeout(Duration::from_secs(10), reconnections.recv()).await.expect("reconnected").expect("event");
    assert!(again.same_session, "the server still had the session");
    let event = tokio::time::timeout(Duration::from_secs(10), created.next()).await.expect("ObjectCreated").expect("open").expect("typed");
    assert_eq!(event.object, second.object().id(), "the subscription made before the cut still delivers");
    // Objects of the session made before the cut are still there.
    first.get_latency_stats().await.expect("the first pipeline survived");
    first.release().await.expect("release");
    second.release().await.expect("release");
}
