//! What this machine is: CPU model and count, total memory (for the manifest and for the CPU build of
//! vLLM, which sizes its KV cache from the host's memory).

pub fn cpu_model() -> Option<String> {
    use procfs::Current;
    procfs::CpuInfo::current().ok()?.model_name(0).map(|m| m.trim().to_string())
}

pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn memory_total_bytes() -> Option<u64> {
    use procfs::Current;
    procfs::Meminfo::current().ok().map(|m| m.mem_total)
}
