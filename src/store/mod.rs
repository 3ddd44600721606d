//! The results folder of one run: `results/<scenario>/<run-id>/` with `manifest.json`,
//! `launches/<id>/{launch.json,server.log,command.txt}`, `cells/<id>/{summary.json,requests.jsonl}`
//! and `capacity.csv`. Every file is written atomically (temp file + rename in the same folder).

pub mod csv_export;
pub mod manifest;
pub mod merge;
pub mod read;
pub mod records;
pub mod search;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: a reader sees the old file or the new one, never half of it.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("path without a parent folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Mode 0666 before the umask, as for any file a program creates: results are shared with
    // teammates and CI (a plain temp file would keep its private 0600 through the rename).
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .with_context(|| format!("creating a temp file in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    atomic_write(path, &bytes)
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// One run's folder.
#[derive(Debug, Clone)]
pub struct RunStore {
    pub dir: PathBuf,
}

impl RunStore {
    /// Creates a new, empty run folder; fails if it exists or cannot be written (checked before any
    /// server starts).
    pub fn create(dir: PathBuf) -> Result<Self> {
        if dir.exists() {
            bail!("run folder {} already exists; choose another --run-id", dir.display());
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create results folder {}", dir.display()))?;
        let probe = dir.join(".write-test");
        std::fs::write(&probe, b"ok").with_context(|| format!("results folder {} is not writable", dir.display()))?;
        std::fs::remove_file(&probe)?;
        Ok(RunStore { dir })
    }

    pub fn open(dir: PathBuf) -> Self {
        RunStore { dir }
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join("manifest.json")
    }
    pub fn launch_dir(&self, id: &str) -> PathBuf {
        self.dir.join("launches").join(id)
    }
    pub fn cell_dir(&self, id: &str) -> PathBuf {
        self.dir.join("cells").join(id)
    }
    pub fn csv_path(&self) -> PathBuf {
        self.dir.join("capacity.csv")
    }
    pub fn search_path(&self, id: &str) -> PathBuf {
        self.dir.join("searches").join(id).join("search.json")
    }
}

#[cfg(test)]
mod tests {
    use super::atomic_write;
    use std::os::unix::fs::PermissionsExt;

    /// The process's umask, read without changing it (Linux: /proc/self/status).
    fn umask() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("Umask:")).expect("Umask line (Linux >= 4.7)");
        u32::from_str_radix(line.split_whitespace().nth(1).unwrap(), 8).unwrap()
    }

    #[test]
    fn atomic_writes_respect_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("capacity.csv");
        atomic_write(&p, b"a,b\n").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !umask(), "mode {mode:o}, umask {:o}", umask());
        assert_eq!(std::fs::read(&p).unwrap(), b"a,b\n");
    }
}
