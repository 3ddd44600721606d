//! Memory and utilisation of the engine: GPU through NVML (`nvml-wrapper`) when a GPU is present, and
//! always the resident memory of the engine's whole process group from /proc. NVML absence is normal.

pub use crate::results::telemetry::{GpuInfo, MemorySample, MemorySource};
use nvml_wrapper::Nvml;

impl MemorySource {
    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl MemorySample {
    /// The memory figure the analysis uses: the engine's GPU memory, else all GPU memory, else RSS.
    pub fn primary_bytes(&self) -> Option<u64> {
        self.gpu_process_bytes.filter(|b| *b > 0).or(self.gpu_used_bytes).or(self.rss_bytes)
    }
}

pub struct MemoryProbe {
    nvml: Option<Nvml>,
    /// Why NVML is not used, when it is not.
    pub nvml_note: Option<String>,
}

impl MemoryProbe {
    pub fn new() -> Self {
        match Nvml::init() {
            Ok(n) => match n.device_count() {
                Ok(c) if c > 0 => MemoryProbe { nvml: Some(n), nvml_note: None },
                Ok(_) => MemoryProbe { nvml: None, nvml_note: Some("NVML loaded but reports no GPU".into()) },
                Err(e) => MemoryProbe { nvml: None, nvml_note: Some(format!("NVML device count failed: {e}")) },
            },
            Err(e) => MemoryProbe { nvml: None, nvml_note: Some(format!("NVML not available ({e}); using process RSS")) },
        }
    }

    /// NVML when GPU memory is measured, the process tree's RSS otherwise.
    pub fn source(&self) -> MemorySource {
        if self.nvml.is_some() {
            MemorySource::Nvml
        } else {
            MemorySource::ProcessRss
        }
    }

    pub fn gpu_info(&self) -> Option<GpuInfo> {
        let n = self.nvml.as_ref()?;
        let count = n.device_count().ok()?;
        let d = n.device_by_index(0).ok()?;
        Some(GpuInfo {
            name: d.name().unwrap_or_else(|_| "unknown GPU".into()),
            memory_total_bytes: d.memory_info().map(|m| m.total).unwrap_or(0),
            driver_version: n.sys_driver_version().ok(),
            count,
        })
    }

    /// GPU memory in use on all devices now (None without NVML).
    pub fn gpu_used_bytes(&self) -> Option<u64> {
        let n = self.nvml.as_ref()?;
        let count = n.device_count().ok()?;
        Some((0..count).filter_map(|i| n.device_by_index(i).ok()?.memory_info().ok().map(|m| m.used)).sum())
    }

    /// After an engine stopped: waits until GPU memory is back within 256 MiB of `before` (what was in
    /// use before the launch), up to `timeout`. Returns the seconds it took, None without NVML or on
    /// timeout.
    pub fn wait_gpu_released(&self, before: Option<u64>, timeout: std::time::Duration) -> Option<f64> {
        let before = before?;
        let t0 = std::time::Instant::now();
        while t0.elapsed() < timeout {
            if self.gpu_used_bytes()? <= before + 256 * 1024 * 1024 {
                return Some(t0.elapsed().as_secs_f64());
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        None
    }

    /// One sample; `pgid` is the engine's process group (None for external endpoints).
    pub fn sample(&self, pgid: Option<i32>, t_ms: f64) -> MemorySample {
        let pids = pgid.map(crate::engine::process::group_pids).unwrap_or_default();
        let mut s = MemorySample {
            t_ms,
            rss_bytes: pgid.map(|_| rss_of(&pids)),
            runner_fds: procfs::process::Process::myself().and_then(|p| p.fd_count()).ok().map(|n| n as u64),
            runner_rss_bytes: Some(rss_of(&[std::process::id()])),
            ..MemorySample::default()
        };
        if let Some(n) = &self.nvml {
            let count = n.device_count().unwrap_or(0);
            let (mut used, mut proc_bytes, mut util, mut power) = (0u64, 0u64, None, None);
            for i in 0..count {
                let Ok(d) = n.device_by_index(i) else { continue };
                if let Ok(m) = d.memory_info() {
                    used += m.used;
                }
                if let Ok(u) = d.utilization_rates() {
                    util = Some(util.map_or(u.gpu, |x: u32| x.max(u.gpu)));
                }
                if let Ok(p) = d.power_usage() {
                    power = Some(power.unwrap_or(0.0) + f64::from(p) / 1000.0);
                }
                if let Ok(procs) = d.running_compute_processes() {
                    for p in procs {
                        if pids.contains(&p.pid) {
                            if let nvml_wrapper::enums::device::UsedGpuMemory::Used(b) = p.used_gpu_memory {
                                proc_bytes += b;
                            }
                        }
                    }
                }
            }
            s.gpu_used_bytes = Some(used);
            s.gpu_process_bytes = (!pids.is_empty()).then_some(proc_bytes);
            s.gpu_util_pct = util;
            s.power_w = power;
        }
        s
    }
}

impl Default for MemoryProbe {
    fn default() -> Self {
        Self::new()
    }
}

/// Sum of resident memory of `pids` (from /proc/<pid>/statm).
pub fn rss_of(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|&p| procfs::process::Process::new(p as i32).and_then(|p| p.statm()).ok())
        .map(|m| m.resident * procfs::page_size())
        .sum()
}
