//! What this machine is: CPU model and count, total memory (for the manifest and for the CPU build of
//! vLLM, which sizes its KV cache from the host's memory).

/// The first `key: value` line of a /proc file whose key starts with `key`.
fn read_first(path: &str, key: &str) -> Option<String> {
    let text = crate::bounded::read_text(std::path::Path::new(path), 8 << 20).ok()?;
    text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split(':').nth(1)).map(|v| v.trim().to_string())
}

pub fn cpu_model() -> Option<String> {
    read_first("/proc/cpuinfo", "model name")
}

pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

pub fn memory_total_bytes() -> Option<u64> {
    read_first("/proc/meminfo", "MemTotal")
        .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
        .map(|kib| kib * 1024)
}
