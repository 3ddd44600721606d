//! Who used this machine's CPU during a measured phase: the runner itself, the engine's process
//! group, and everything else (other jobs, plus the hypervisor's steal). A cell where others took
//! more than `[scenario] disturbed_above_pct` (default 25%) of the machine was measured on a
//! disturbed machine: its latencies may be another job's doing (docs/metrics.md). Reads /proc
//! (Linux); the arithmetic is pure.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// CPU use over one phase, in percent of all the machine's cores.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HostCpu {
    /// Everything but the runner and the engine: other processes' busy time plus steal.
    pub others_pct: f64,
    /// Of which the hypervisor's steal (time this VM wanted a CPU and another guest had it).
    pub steal_pct: f64,
    /// The engine's process group (0 for an external endpoint: then it counts as "others").
    pub engine_pct: f64,
}

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

fn ticks_per_s() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The host's busy and steal ticks from the `cpu` line of /proc/stat.
fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line.split_whitespace().skip(1).map(|x| x.parse().unwrap_or(0)).collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal guest guest_nice
    Some((at(0) + at(1) + at(2) + at(5) + at(6), at(7)))
}

/// utime + stime + cutime + cstime of one process, from /proc/<pid>/stat.
fn process_ticks(stat: &str) -> u64 {
    // Fields after the parenthesised command: state(3) ... utime(14) stime(15) cutime(16) cstime(17).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace().skip(11).take(4).map(|x| x.parse::<u64>().unwrap_or(0)).sum()
}

/// Reads the counters now; `pgid` is the engine's process group (None: an external endpoint).
pub fn snapshot(pgid: Option<i32>) -> Option<Snapshot> {
    let (busy, steal) = parse_stat(&std::fs::read_to_string("/proc/stat").ok()?)?;
    let runner = std::fs::read_to_string("/proc/self/stat").ok().map_or(0, |s| process_ticks(&s));
    let engine = pgid.map_or(0, |g| {
        super::memory::group_pids(g)
            .iter()
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/stat")).ok())
            .map(|s| process_ticks(&s))
            .sum()
    });
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
        wall * ticks_per_s() * cores as f64,
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
        let stat = "cpu  1000 10 300 5000 40 5 5 20 0 0\ncpu0 500 5 150 2500 20 3 2 10 0 0\n";
        assert_eq!(parse_stat(stat), Some((1320, 20)));
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
        let stat = "42 (my ) proc) S 1 42 42 0 -1 4194304 10 0 0 0 7 3 2 1 20 0 1 0";
        assert_eq!(process_ticks(stat), 13);
    }
}
