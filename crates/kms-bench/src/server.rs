//! Starting the server binary under test.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server under test; killed (and reaped) when dropped, whatever way
/// the benchmark ends.
pub struct ServerProcess {
    child: Child,
    pub url: String,
}

impl ServerProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16, String> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port())
}

/// Starts the server on a free loopback port.
pub fn start_server(bin: &Path, conf: &Path) -> Result<ServerProcess, String> {
    start_server_with(bin, conf, &[])
}

/// Starts the server on a free loopback port with `env` added.
pub fn start_server_with(bin: &Path, conf: &Path, env: &[(&str, &str)]) -> Result<ServerProcess, String> {
    let port = free_port()?;
    let child = Command::new(bin)
        .args(["-f", conf.to_str().unwrap_or_default(), "--address", "127.0.0.1", "--port", &port.to_string()])
        .env("KMS_NETWORK_INTERFACES", "lo")
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start {}: {e}", bin.display()))?;
    let server = ServerProcess { child, url: format!("ws://127.0.0.1:{port}/kurento") };
    wait_listening(server, port)
}

/// Starts Redis (Debian's redis-server) on a free loopback port, without persistence.
pub fn start_redis() -> Result<ServerProcess, String> {
    let port = free_port()?;
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("start redis-server: {e}"))?;
    wait_listening(ServerProcess { child, url: format!("redis://127.0.0.1:{port}/") }, port)
}

fn wait_listening(mut server: ServerProcess, port: u16) -> Result<ServerProcess, String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("server exited at start: {status}"));
        }
        if Instant::now() > deadline {
            return Err("server did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(server)
}

