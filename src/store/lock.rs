//! One runner per run folder: `runner run` holds an exclusive lock on `<run>/.lock` while it writes
//! the folder (a re-submitted shard, a SLURM requeue, a second terminal). The second runner gets an
//! error naming the holder (pid, host, since when) instead of writing into the same files. The lock
//! is the kernel's (`flock`): it goes with the process, so a runner killed with SIGKILL leaves no
//! stale lock behind.

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::io::{Read, Seek, Write};
use std::path::Path;

/// The lock file's name inside a run folder.
pub const LOCK_FILE: &str = ".lock";

/// Held for as long as the run writes its folder.
#[derive(Debug)]
pub struct RunLock {
    _lock: Flock<std::fs::File>,
}

impl RunLock {
    /// Takes the folder's lock, or says who holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let path = dir.join(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open the run folder's lock {}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut lock) => {
                let holder = format!(
                    "pid {} on host {} since {}\n",
                    std::process::id(),
                    gethostname::gethostname().to_string_lossy(),
                    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
                );
                lock.set_len(0)?;
                lock.rewind()?;
                lock.write_all(holder.as_bytes())?;
                Ok(RunLock { _lock: lock })
            }
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = Read::by_ref(&mut file).take(1024).read_to_string(&mut holder);
                bail!(
                    "run folder {} is in use by another runner ({}); wait for it to finish, or give this run another --run-id",
                    dir.display(),
                    Some(holder.trim()).filter(|h| !h.is_empty()).unwrap_or("holder unknown")
                )
            }
            Err((_, e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RunLock;

    #[test]
    fn a_second_runner_is_refused_with_the_holder_named() {
        let dir = tempfile::tempdir().unwrap();
        let held = RunLock::acquire(dir.path()).unwrap();
        let e = RunLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains("in use by another runner") && e.contains(&format!("pid {}", std::process::id())), "{e}");
        drop(held);
        RunLock::acquire(dir.path()).unwrap();
    }
}
