//! The paged-KV memory model (`MemoryModel::PagedKv`): how much KV cache vLLM will find, before
//! launching it. Pure.
//!
//! GPU: KV = memory x gpu-memory-utilization - weights - activation peak - non-torch overhead, where
//! the activation peak of the profiling run is `max_num_batched_tokens x intermediate_size x element
//! size` and the rest is one constant. CPU build: KV = the explicit budget
//! (`VLLM_CPU_KVCACHE_SPACE` GiB or `--kv-cache-memory-bytes`), else host memory x utilization - non-KV
//! usage (weights plus one constant). The constants are calibrated on the vLLM startup logs this
//! project holds (docs/estimate.md): they are fitted, so the logs check consistency, not prediction
//! on unseen hardware.

use crate::model::arch::Arch;
pub use crate::results::launch::{Budget, Device, Refusal, Request};

/// GPU memory vLLM keeps beyond weights and activations (CUDA context, allocator, sampler buffers):
/// fitted on the RTX 2000 Ada log (real run) and the H100 log (constructed), same model.
pub const GPU_OVERHEAD_GIB: f64 = 1.65;
/// Host memory the CPU build uses beyond the weights (torch, oneDNN, buffers): fitted on the real
/// vLLM 0.32 CPU log with an automatic budget (1.13 GiB of non-KV usage for a 0.07 GiB checkpoint).
pub const CPU_OVERHEAD_GIB: f64 = 1.06;
/// KV block sizes: tokens per block on a GPU and on the CPU build.
pub const GPU_BLOCK: u64 = 16;
pub const CPU_BLOCK: u64 = 128;
const GIB: f64 = 1073741824.0;

/// vLLM's own default `max_num_batched_tokens` for the OpenAI server (V1): 8192 on GPUs of 70 GiB
/// and more, 2048 below.
pub fn default_batched_tokens(device: Device, memory_gib: f64) -> u64 {
    match device {
        Device::Gpu if memory_gib >= 70.0 => 8192,
        Device::Gpu => 2048,
        Device::Cpu => 4096,
    }
}

pub fn budget(arch: &Arch, r: &Request) -> Budget {
    let weights_gib = r.weights_bytes as f64 / GIB;
    let per_token = arch.kv_bytes_per_token(r.kv_dtype_bytes);
    let (block, activation_gib, overhead_gib) = match r.device {
        Device::Gpu => (GPU_BLOCK, (r.max_num_batched_tokens * arch.intermediate * arch.dtype_bytes) as f64 / GIB, GPU_OVERHEAD_GIB),
        Device::Cpu => (CPU_BLOCK, 0.0, CPU_OVERHEAD_GIB),
    };
    let allowed = r.memory_gib * r.utilization;
    let kv_gib = match r.explicit_kv_bytes {
        Some(b) => b as f64 / GIB,
        None => (allowed - weights_gib - activation_gib - overhead_gib).max(0.0),
    };
    let blocks = (kv_gib * GIB / (per_token * block) as f64).floor() as u64;
    let kv_tokens = blocks * block;
    // vLLM (V1) keeps one block aside as its null block: one request can use the others only. With
    // 1,000,000 bytes on CPU (7 blocks of 128) it estimates a maximum length of 768, not 896; with
    // 2 MiB (16 blocks) 1920, and refuses max_model_len 2048.
    let usable = blocks.saturating_sub(1) * block;
    let refusal = if r.explicit_kv_bytes.is_none() && weights_gib > allowed {
        Some(Refusal::WeightsDoNotFit { needed_gib: weights_gib, allowed_gib: allowed })
    } else if usable < r.max_model_len {
        Some(Refusal::KvCacheTooSmall { estimated_max_model_len: usable })
    } else {
        None
    };
    Budget {
        weights_gib,
        activation_gib,
        overhead_gib,
        kv_gib,
        kv_bytes_per_token: per_token,
        kv_tokens,
        max_model_len: r.max_model_len,
        max_concurrency: kv_tokens as f64 / r.max_model_len.max(1) as f64,
        refusal,
    }
}

/// Decode roofline: an upper bound for output tok/s at `concurrency` sequences of `context` tokens
/// each, when every decode step reads the weights once and every sequence's KV (memory-bound decode;
/// compute, batching limits and prefill are not modelled).
pub fn roofline_tok_s(weights_bytes: u64, kv_bytes_per_token: u64, bandwidth_gb_s: f64, concurrency: u32, context: u64) -> f64 {
    let bytes_per_step = weights_bytes as f64 + f64::from(concurrency) * (context * kv_bytes_per_token) as f64;
    f64::from(concurrency) * bandwidth_gb_s * 1e9 / bytes_per_step
}
