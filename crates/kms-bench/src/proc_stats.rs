//! Resident memory, threads and CPU time of a process, from `/proc`.

/// (VmRSS in KiB, Threads) of `pid`.
pub fn rss_and_threads(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status.lines().find_map(|l| l.strip_prefix(name))?.split_whitespace().next()?.parse().ok()
    };
    Some((field("VmRSS:")?, field("Threads:")?))
}

/// Open file descriptors of `pid` (`/proc/<pid>/fd`).
pub fn open_fds(pid: u32) -> Option<usize> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count())
}

/// User + system CPU time of `pid` (all its threads) in seconds, from
/// `/proc/<pid>/stat` fields 14 and 15 (in clock ticks, `_SC_CLK_TCK`).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Some(ticks as f64 / hz as f64)
}

/// A point from which a process's CPU use is measured.
pub struct CpuSample {
    pid: u32,
    cpu: f64,
    at: std::time::Instant,
}

impl CpuSample {
    pub fn take(pid: u32) -> Result<CpuSample, String> {
        let cpu = cpu_seconds(pid).ok_or_else(|| format!("cannot read /proc/{pid}/stat"))?;
        Ok(CpuSample { pid, cpu, at: std::time::Instant::now() })
    }

    /// CPU used since the sample, in % of one core, and the seconds elapsed.
    pub fn percent(&self) -> Result<(f64, f64), String> {
        let now = CpuSample::take(self.pid)?;
        let seconds = now.at.duration_since(self.at).as_secs_f64();
        Ok(((now.cpu - self.cpu) / seconds * 100.0, seconds))
    }
}

/// `RcvbufErrors` of `/proc/net/snmp` (this network namespace): datagrams
/// dropped because a socket's receive buffer was full.
pub fn udp_receive_buffer_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let i = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(i)?.parse().ok()
}
