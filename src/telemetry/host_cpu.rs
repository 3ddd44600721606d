//! Who used this machine's CPU during a measured phase: the runner itself, the engine's process
//! group, and everything else (other jobs, plus the hypervisor's steal). A cell where others took
//! more than `[scenario] disturbed_above_pct` (default 25%) of the machine was measured on a
//! disturbed machine: its latencies may be another job's doing (docs/metrics.md). Reads /proc
//! through procfs (Linux); the arithmetic is pure.

pub use crate::results::telemetry::HostCpu;
use std::time::Instant;

impl HostCpu {
    /// Others used more than `above_pct` of all cores.
    pub fn disturbed(&self, above_pct: f64) -> bool {
        self.others_pct > above_pct
    }
}

/// Cumulative CPU counters at one instant, in clock ticks.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    at: Instant,
    /// Host busy time without steal: user + nice + system + irq + softirq (guest is inside user).
    busy: u64,
    steal: u64,
    runner: u64,
    engine: u64,
}

/// The host's busy and steal ticks from the `cpu` line of /proc/stat (parsed by procfs).
fn busy_and_steal(t: &procfs::CpuTime) -> (u64, u64) {
    // Busy: user nice system irq softirq (guest is inside user); idle and iowait are not.
    (t.user + t.nice + t.system + t.irq.unwrap_or(0) + t.softirq.unwrap_or(0), t.steal.unwrap_or(0))
}

/// utime + stime + cutime + cstime of one process, from its /proc/<pid>/stat.
fn process_ticks(stat: &procfs::process::Stat) -> u64 {
    stat.utime + stat.stime + stat.cutime.max(0) as u64 + stat.cstime.max(0) as u64
}

fn ticks_of(pid: i32) -> Option<u64> {
    procfs::process::Process::new(pid).and_then(|p| p.stat()).ok().map(|s| process_ticks(&s))
}

/// Reads the counters now; `pgid` is the engine's process group (None: an external endpoint).
pub fn snapshot(pgid: Option<i32>) -> Option<Snapshot> {
    use procfs::CurrentSI;
    let (busy, steal) = busy_and_steal(&procfs::KernelStats::current().ok()?.total);
    let runner = ticks_of(std::process::id() as i32).unwrap_or(0);
    let engine = pgid.map_or(0, |g| crate::engine::process::group_pids(g).iter().filter_map(|&p| ticks_of(p as i32)).sum());
    Some(Snapshot { at: Instant::now(), busy, steal, runner, engine })
}

/// The shares between two snapshots over `cores` cores.
pub fn between(a: &Snapshot, b: &Snapshot, cores: usize) -> Option<HostCpu> {
    let wall = b.at.saturating_duration_since(a.at).as_secs_f64();
    shares(
        b.busy.saturating_sub(a.busy),
        b.steal.saturating_sub(a.steal),
        b.runner.saturating_sub(a.runner),
        b.engine.saturating_sub(a.engine),
        wall * procfs::ticks_per_second() as f64 * cores as f64,
    )
}

/// Pure: the shares from tick deltas and the machine's capacity in ticks over the phase.
pub fn shares(busy: u64, steal: u64, runner: u64, engine: u64, capacity_ticks: f64) -> Option<HostCpu> {
    if capacity_ticks <= 0.0 {
        return None;
    }
    let pct = |t: f64| (100.0 * t / capacity_ticks).clamp(0.0, 100.0);
    // The runner's and the engine's ticks are counted per process and the host's per CPU: rounding
    // can make their sum exceed the host's busy time by a few ticks, never a negative share.
    let others = busy.saturating_sub(runner + engine) + steal;
    Some(HostCpu { others_pct: pct(others as f64), steal_pct: pct(steal as f64), engine_pct: pct(engine as f64) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_are_host_busy_minus_runner_and_engine_plus_steal() {
        use procfs::FromBufReadSI;
        let stat = "cpu  1000 10 300 5000 40 5 5 20 0 0\ncpu0 500 5 150 2500 20 3 2 10 0 0\nctxt 1\nbtime 1\nprocesses 1\n";
        let k = procfs::KernelStats::from_buf_read(stat.as_bytes(), procfs::current_system_info()).unwrap();
        assert_eq!(busy_and_steal(&k.total), (1320, 20));
        // 2 cores x 1 s x 100 ticks = 200 ticks: busy 150 of which runner 20 and engine 80; steal 10.
        let h = shares(150, 10, 20, 80, 200.0).unwrap();
        assert_eq!((h.others_pct, h.steal_pct, h.engine_pct), (30.0, 5.0, 40.0));
        assert!(h.disturbed(25.0) && !h.disturbed(50.0));
        let quiet = shares(105, 0, 20, 80, 200.0).unwrap();
        assert_eq!(quiet.others_pct, 2.5);
        assert!(!quiet.disturbed(25.0));
        assert_eq!(shares(1, 0, 5, 5, 200.0).unwrap().others_pct, 0.0, "never negative");
        assert_eq!(shares(1, 0, 0, 0, 0.0), None);
    }

    #[test]
    fn process_ticks_skip_the_command_name() {
        // pid (comm with ) and spaces) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
        // ... then the rest of a Linux 6 line (52 fields in all), as /proc/self/stat reads.
        let stat = "42 (my ) proc) S 1 42 42 0 -1 4194304 10 0 0 0 7 3 2 1 20 0 1 0 5396183 3133440 358 \
                    18446744073709551615 1 2 3 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 4 5 6 7 8 8 9 0";
        use procfs::FromRead;
        assert_eq!(process_ticks(&procfs::process::Stat::from_read(stat.as_bytes()).unwrap()), 13);
    }
}
