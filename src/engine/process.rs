//! The one place that spawns engine processes: through duct, from an argv, in their own process group,
//! output to a log file. Stopping sends SIGTERM to the whole group, waits a grace period, then SIGKILL,
//! and waits until the group is gone. A registry of live groups lets the CLI stop them on any exit path;
//! `Drop` stops a process that was not stopped explicitly (errors, panics).
//!
//! None of that runs when the runner itself is killed with SIGKILL. For that case every engine gets a
//! guard: a tiny `sh` in its own process group whose standard input is a pipe only the runner holds.
//! When the runner dies, the kernel closes the pipe, the guard reads end-of-file and stops the engine's
//! group (SIGTERM, up to 5 s, then SIGKILL). A normal stop tells the guard `done` first, so it exits
//! without signalling. A parent-death signal would not do: it reaches only the engine's first process,
//! and vLLM's EngineCore and Worker outlive their API server (../shared/DESIGN.md).

pub use crate::results::launch::StopOutcome;
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static LIVE_GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

fn register(pgid: i32) {
    if let Ok(mut g) = LIVE_GROUPS.lock() {
        g.push(pgid);
    }
}

fn unregister(pgid: i32) {
    if let Ok(mut g) = LIVE_GROUPS.lock() {
        g.retain(|p| *p != pgid);
    }
}

/// SIGKILLs every engine group still registered (last-resort cleanup on a second Ctrl-C or fatal error).
pub fn kill_all() {
    let groups = LIVE_GROUPS.lock().map(|g| g.clone()).unwrap_or_default();
    for pgid in groups {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}

/// True while any process of the group exists (zombies included).
pub fn group_alive(pgid: i32) -> bool {
    !matches!(killpg(Pid::from_raw(pgid), None), Err(Errno::ESRCH))
}

/// The guard's script: `$1` is the engine's process group. Anything but `done` on standard input
/// (end-of-file included: the runner died) stops the group.
/// `$2`, when not empty, is the launch's short scratch folder, removed once the group is gone.
const GUARD_SCRIPT: &str = r#"read -r line
[ "$line" = done ] && exit 0
if kill -s TERM -- "-$1" 2>/dev/null; then
  i=0
  while [ $i -lt 50 ] && kill -s 0 -- "-$1" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
  kill -s KILL -- "-$1" 2>/dev/null
fi
[ -n "$2" ] && rm -rf -- "$2"
exit 0"#;

/// Watches an engine group on the runner's behalf (see the module comment).
struct Guard {
    child: std::process::Child,
}

impl Guard {
    fn spawn(pgid: i32, scratch: Option<&Path>) -> Result<Guard> {
        let scratch = scratch.map(|p| p.display().to_string()).unwrap_or_default();
        let child = std::process::Command::new("sh")
            .args(["-c", GUARD_SCRIPT, "runner-engine-guard", &pgid.to_string(), &scratch])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            // Its own group: a Ctrl-C to the runner's terminal group must not end the guard early.
            .process_group(0)
            .spawn()
            .context("cannot start the engine guard (`sh`)")?;
        Ok(Guard { child })
    }

    /// The engine was stopped by the runner: the guard exits without signalling.
    fn release(mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"done\n");
        }
        let _ = self.child.wait();
    }
}

pub struct EngineProcess {
    handle: Option<duct::Handle>,
    guard: Option<Guard>,
    /// A scratch folder made for this launch outside its results folder (see `launch_env`), removed
    /// after the stop (or by the guard).
    scratch: Option<tempfile::TempDir>,
    pub pid: u32,
    pub pgid: i32,
    pub log_path: PathBuf,
    pub started: Instant,
    stop_grace: Duration,
}

impl EngineProcess {
    pub fn spawn(
        argv: &[String],
        env: &BTreeMap<String, String>,
        log_path: &Path,
        stop_grace: Duration,
        scratch: Option<tempfile::TempDir>,
    ) -> Result<Self> {
        let (program, args) = argv.split_first().context("empty engine command")?;
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut expr = duct::cmd(program, args).stdin_null().stderr_to_stdout().stdout_path(log_path).unchecked().before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });
        for (k, v) in env {
            expr = expr.env(k, v);
        }
        let handle = expr.start().with_context(|| format!("cannot start `{program}` (is it installed and on PATH?)"))?;
        let pid = *handle.pids().first().context("engine started without a pid")?;
        let pgid = pid as i32;
        register(pgid);
        let guard = match Guard::spawn(pgid, scratch.as_ref().map(|d| d.path())) {
            Ok(g) => g,
            Err(e) => {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
                let _ = handle.wait();
                unregister(pgid);
                return Err(e);
            }
        };
        Ok(EngineProcess {
            handle: Some(handle),
            guard: Some(guard),
            scratch,
            pid,
            pgid,
            log_path: log_path.to_path_buf(),
            started: Instant::now(),
            stop_grace,
        })
    }

    /// The exit status if the leader process has exited (reaps it).
    pub fn exit_status(&self) -> Option<std::process::ExitStatus> {
        let h = self.handle.as_ref()?;
        h.try_wait().ok().flatten().map(|o| o.status)
    }

    /// SIGTERM to the group, grace period, SIGKILL; returns when no process of the group remains.
    pub fn stop(&mut self) -> StopOutcome {
        let outcome = self.stop_inner(self.stop_grace);
        unregister(self.pgid);
        outcome
    }

    fn stop_inner(&mut self, grace: Duration) -> StopOutcome {
        let outcome = self.stop_group(grace);
        // Only once the group is gone: a guard released earlier could not save a runner that dies
        // in the middle of a stop.
        if let Some(g) = self.guard.take() {
            g.release();
        }
        drop(self.scratch.take());
        outcome
    }

    fn stop_group(&mut self, grace: Duration) -> StopOutcome {
        let Some(handle) = self.handle.take() else { return StopOutcome::AlreadyExited };
        let pg = Pid::from_raw(self.pgid);
        let reap = |h: &duct::Handle| {
            let _ = h.try_wait();
        };
        reap(&handle);
        if !group_alive(self.pgid) {
            return StopOutcome::AlreadyExited;
        }
        let _ = killpg(pg, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            reap(&handle);
            if !group_alive(self.pgid) {
                return StopOutcome::Terminated;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = killpg(pg, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            reap(&handle);
            if !group_alive(self.pgid) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        StopOutcome::Killed
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        if self.handle.is_some() {
            let grace = self.stop_grace.min(Duration::from_secs(5));
            self.stop_inner(grace);
            unregister(self.pgid);
        }
    }
}

/// The most of a log read (its end: start-up facts come early, failures late; a long run's request
/// lines are not needed whole).
pub const MAX_LOG_BYTES: u64 = 32 << 20;

/// A log file as text, its last [`MAX_LOG_BYTES`] when it is longer (invalid UTF-8 replaced; empty
/// when it cannot be read).
pub fn read_log(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else { return String::new() };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    if len > MAX_LOG_BYTES && f.seek(SeekFrom::Start(len - MAX_LOG_BYTES)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    let _ = f.take(MAX_LOG_BYTES).read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Whether a process of group `pgid` holds the listening TCP socket of `port` (Linux: the socket's
/// inode in /proc/net/tcp{,6} among the group's open files). None when it cannot be told (no
/// /proc); Some(false) when another process answers on that port.
pub fn listens_in_group(pgid: i32, port: u16) -> Option<bool> {
    let (v4, v6) = (procfs::net::tcp(), procfs::net::tcp6());
    if v4.is_err() && v6.is_err() {
        return None;
    }
    let inodes: std::collections::HashSet<u64> = v4
        .into_iter()
        .chain(v6)
        .flatten()
        .filter(|e| e.local_address.port() == port && e.state == procfs::net::TcpState::Listen)
        .map(|e| e.inode)
        .collect();
    let holds = |p: &procfs::process::Process| {
        p.fd().is_ok_and(|fds| fds.flatten().any(|fd| matches!(fd.target, procfs::process::FDTarget::Socket(i) if inodes.contains(&i))))
    };
    procfs::process::all_processes().ok()?;
    Some(group(pgid).any(|p| holds(&p)))
}

/// The processes of group `pgid` (the engine and every child it did not move out).
fn group(pgid: i32) -> impl Iterator<Item = procfs::process::Process> {
    procfs::process::all_processes().into_iter().flatten().flatten().filter(move |p| p.stat().is_ok_and(|s| s.pgrp == pgid))
}

/// PIDs whose process group is `pgid`.
pub fn group_pids(pgid: i32) -> Vec<u32> {
    group(pgid).map(|p| p.pid as u32).collect()
}

/// The last `n` lines of a log file (for error messages when an engine dies).
pub fn tail_lines(path: &Path, n: usize) -> Vec<String> {
    let text = read_log(path);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].iter().map(|l| l.to_string()).collect()
}

/// Waits until nothing listens on host:port (a new bind succeeds), up to `timeout`.
pub fn wait_port_free(host: &str, port: u16, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if std::net::TcpListener::bind((host, port)).is_ok() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A free TCP port on `host` chosen by the kernel.
pub fn free_port(host: &str) -> Result<u16> {
    let l = std::net::TcpListener::bind((host, 0)).with_context(|| format!("cannot bind {host}:0 to find a free port"))?;
    Ok(l.local_addr()?.port())
}

#[cfg(test)]
mod listen_tests {
    use super::listens_in_group;

    #[test]
    fn the_listener_of_a_port_is_found_in_its_process_group_only() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let ours = nix::unistd::getpgrp().as_raw();
        assert_eq!(listens_in_group(ours, port), Some(true));
        // Another group (init's) does not hold it: the "someone else answered" case.
        assert_eq!(listens_in_group(1, port), Some(false));
        drop(l);
        assert_eq!(listens_in_group(ours, port), Some(false));
    }
}
