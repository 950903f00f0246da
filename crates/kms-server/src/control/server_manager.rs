//! ServerManager (`manager_ServerManager`): server info, pipelines, sessions,
//! kmd, and process figures read from `/proc` (KMS `ServerManagerImpl.cpp`).

use super::events::register;
use super::OpResult;
use kms_api::ServerManagerOp;
use super::Server;
use kms_idl::Idl;
use kms_protocol::{ErrorCode, KurentoError, ObjectId};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The version we report: KMS's API version, since that is the contract served.
pub const KMS_API_VERSION: &str = "7.3.0";

/// ServerManager operations.
pub async fn invoke(server: &Server, op: ServerManagerOp<'_>) -> Option<OpResult> {
    Some(match op {
        ServerManagerOp::GetInfo => Ok(Some(info())),
        ServerManagerOp::GetPipelines => {
            let ids = server.lock().registry.pipelines();
            Ok(Some(json!(ids.iter().map(ObjectId::as_str).collect::<Vec<_>>())))
        }
        ServerManagerOp::GetSessions => Ok(Some(json!(server.lock().sessions.ids()))),
        ServerManagerOp::GetMetadata => Ok(Some(json!(server.config.metadata.as_ref().map_or(String::new(), Value::to_string)))),
        ServerManagerOp::GetKmd { module_name } => kmd(module_name),
        ServerManagerOp::GetCpuCount => Ok(Some(json!(std::thread::available_parallelism().map_or(1, |n| n.get())))),
        ServerManagerOp::GetUsedCpu { interval } => used_cpu(interval).await,
        ServerManagerOp::GetUsedMemory => Ok(Some(json!(resident_kib().unwrap_or(0)))),
    })
}

/// ServerInfo: version, type KMS, capabilities, and every module with its factories.
pub fn info() -> Value {
    let modules: Vec<Value> = Idl::get()
        .modules()
        .iter()
        .map(|m| {
            register(
                "ModuleInfo",
                json!({ "name": m.name, "version": m.version, "generationTime": env!("CARGO_PKG_VERSION"), "factories": m.factories }),
            )
        })
        .collect();
    register("ServerInfo", json!({ "version": KMS_API_VERSION, "type": "KMS", "capabilities": ["transactions"], "modules": modules }))
}

fn kmd(name: &str) -> OpResult {
    let module = Idl::get()
        .module(name)
        .ok_or_else(|| KurentoError::new(ErrorCode::ServerManagerErrorKmdNotFound, format!("Module '{name}' not found")))?;
    Ok(Some(json!(module.kmd)))
}

/// getUsedCpu(interval ms): process CPU % of one core over `interval` (KMS blocks
/// for the interval too; we only suspend this request).
async fn used_cpu(interval: i32) -> OpResult {
    let interval = interval.clamp(1, 60_000) as u64;
    let (t0, c0) = (Instant::now(), cpu_time());
    tokio::time::sleep(Duration::from_millis(interval)).await;
    let (wall, cpu) = (t0.elapsed(), cpu_time().saturating_sub(c0));
    let percent = 100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    Ok(Some(json!(percent)))
}

/// User + system CPU time of this process, from `/proc/self/stat`.
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Duration::ZERO };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// Resident set size in KiB, from `/proc/self/status` (KMS returns KiB).
pub fn resident_kib() -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}
