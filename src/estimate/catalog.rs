//! A built-in catalog of common GPUs, which a scenario's `[gpus.<label>]` tables extend or override.
//! Memory is the total the card reports (nvidia-smi, MiB); bandwidth and dense BF16 tensor TFLOPS are
//! from the vendor datasheets named in `source`. No price is built in: prices change, and a price is
//! the user's fact with its date (`[prices]`).

pub use crate::scenario::schema::GpuSpec as Gpu;

fn gpu(memory_mib: f64, bandwidth_gb_s: f64, bf16_tflops: Option<f64>, source: &str) -> Gpu {
    Gpu { memory_mib, bandwidth_gb_s, bf16_tflops, source: source.into() }
}

/// The built-in entries, by the labels the shipped scenarios use.
pub fn builtin() -> Vec<(&'static str, Gpu)> {
    vec![
        (
            "rtx2000ada-16gb",
            gpu(16380.0, 224.0, None, "NVIDIA RTX 2000 Ada Generation datasheet: 16 GB GDDR6, 224 GB/s (16,380 MiB reported: assumed)"),
        ),
        ("t4-16gb", gpu(15360.0, 320.0, None, "NVIDIA T4 datasheet: 16 GB GDDR6, 320 GB/s; no BF16 (65 TFLOPS FP16 mixed precision)")),
        ("l4-24gb", gpu(23034.0, 300.0, Some(121.0), "NVIDIA L4 datasheet: 24 GB GDDR6, 300 GB/s, BF16 121 TFLOPS dense (242 sparse)")),
        ("a10-24gb", gpu(23028.0, 600.0, Some(125.0), "NVIDIA A10 datasheet: 24 GB GDDR6, 600 GB/s, BF16 125 TFLOPS dense (250 sparse)")),
        ("a100-40gb", gpu(40960.0, 1555.0, Some(312.0), "NVIDIA A100 datasheet (SXM4 40 GB): 1,555 GB/s, BF16 312 TFLOPS dense")),
        ("a100-80gb", gpu(81920.0, 2039.0, Some(312.0), "NVIDIA A100 datasheet (SXM4 80 GB): 2,039 GB/s, BF16 312 TFLOPS dense")),
        (
            "h100-80gb",
            gpu(81559.0, 3350.0, Some(989.0), "NVIDIA H100 datasheet (SXM5 80 GB): 3.35 TB/s, BF16 989 TFLOPS dense (1,979 sparse)"),
        ),
    ]
}

/// The GPU of `label`: the scenario's own entry first, then the built-in one.
pub fn lookup(label: &str, extra: &indexmap::IndexMap<String, Gpu>) -> Option<Gpu> {
    extra.get(label).cloned().or_else(|| builtin().into_iter().find(|(l, _)| *l == label).map(|(_, g)| g))
}

pub use crate::scenario::gpus::scenario_gpus;
