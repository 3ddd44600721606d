//! The results folder of one run: `results/<scenario>/<run-id>/` with `manifest.json`,
//! `launches/<id>/{launch.json,server.log,command.txt}`, `cells/<id>/{summary.json,requests.jsonl}`
//! and `capacity.csv`. Every file is written atomically (temp file + rename in the same folder).

pub mod csv_export;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod merge;
pub mod read;
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

/// Writes every request of a cell into its `requests.jsonl`, one JSON object a line (atomically).
pub fn write_requests(cell_dir: &Path, records: &[crate::results::record::RequestRecord]) -> Result<()> {
    let mut jsonl = Vec::new();
    for r in records {
        serde_json::to_writer(&mut jsonl, r)?;
        jsonl.push(b'\n');
    }
    atomic_write(&cell_dir.join(layout::REQUESTS), &jsonl)
}

/// The largest JSON record a run folder holds (a manifest with its scenario text, a cell summary
/// with its histograms): far above what a run writes, far below what would exhaust memory.
pub const MAX_JSON_BYTES: u64 = 64 << 20;

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = read_bounded(path, MAX_JSON_BYTES)?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Reads at most `max` bytes of `path`; a larger file is an error naming it and the limit (files
/// from other machines are read whole only when they are of a size a run writes).
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    crate::bounded::read(path, max).with_context(|| format!("reading {}", path.display()))
}

/// The longest id that becomes a folder name.
pub const MAX_ID_LEN: usize = 200;

/// Checks that an id read from a file (a cell, launch, search or run id) is one plain path component:
/// letters, digits and `_ - . = @ +`, not starting with `.`, at most [`MAX_ID_LEN`] bytes. Ids
/// become folder names only after this check, so a crafted `/abs/path` or `../x` cannot reach
/// outside the folder it names.
pub fn safe_id<'a>(what: &str, id: &'a str) -> Result<&'a str> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('.')
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '=' | '@' | '+'));
    if !ok {
        bail!(
            "{what} {:?} is not a plain folder name (letters, digits, `_-.=@+`, not starting with `.`, at most {MAX_ID_LEN} bytes); \
             the folder was not written by runner or was altered",
            id.chars().take(80).collect::<String>()
        );
    }
    Ok(id)
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
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create results folder {}", parent.display()))?;
        }
        // One step, so that of two runners creating the same folder exactly one succeeds.
        match std::fs::create_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("run folder {} already exists; choose another --run-id", dir.display())
            }
            r => r.with_context(|| format!("cannot create results folder {}", dir.display()))?,
        }
        let probe = dir.join(".write-test");
        std::fs::write(&probe, b"ok").with_context(|| format!("results folder {} is not writable", dir.display()))?;
        std::fs::remove_file(&probe)?;
        Ok(RunStore { dir })
    }

    pub fn open(dir: PathBuf) -> Self {
        RunStore { dir }
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.dir.join(layout::MANIFEST)
    }
    pub fn launch_dir(&self, id: &str) -> PathBuf {
        self.dir.join(layout::LAUNCHES).join(id)
    }
    pub fn cell_dir(&self, id: &str) -> PathBuf {
        self.dir.join(layout::CELLS).join(id)
    }
    pub fn csv_path(&self) -> PathBuf {
        self.dir.join(layout::CAPACITY_CSV)
    }
    pub fn search_path(&self, id: &str) -> PathBuf {
        self.dir.join(layout::SEARCHES).join(id).join(layout::SEARCH)
    }
}

#[cfg(test)]
mod tests {
    use super::atomic_write;
    use std::os::unix::fs::PermissionsExt;

    /// The process's umask, read without changing it (Linux >= 4.7: /proc/self/status).
    fn umask() -> u32 {
        procfs::process::Process::myself().unwrap().status().unwrap().umask.expect("Umask line")
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
