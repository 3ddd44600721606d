//! Predict before renting: from a model's architecture and a GPU, what vLLM will find (weights, KV
//! budget and tokens, maximum concurrency) and a decode roofline, per launch of a plan. Pure but for
//! `locate` (reading the model's config.json and safetensors headers).

pub mod catalog;
pub mod kv_demand;
pub mod paged_kv;

use crate::engine::spec::{spec, MemoryModel};
use crate::plan::Launch;
pub use crate::results::launch::{Prediction, WeightsFrom};
use crate::scenario::schema::{EngineKind, FlagValue, Scenario};
pub use paged_kv::Refusal;
use paged_kv::{Budget, Device, Request};
use std::path::{Path, PathBuf};

/// What is known of the model on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelFiles {
    /// Where the config.json came from: its path, or the built-in entry and its source.
    pub config: String,
    pub config_text: String,
    /// Tensor bytes from the checkpoint's safetensors headers, when the checkpoint is local.
    pub safetensors_bytes: Option<u64>,
}

/// Finds `model`'s config.json (`model_config` when the server sets it; else a local folder, the
/// local Hugging Face cache, or the built-in catalog) and, beside a local one, its weights.
pub fn locate(model: &str, model_config: Option<&str>, base: &Path) -> Result<Option<ModelFiles>, String> {
    let found = crate::model::hf::find_config(model, model_config, base, crate::engine::resolve::builtin_model_path(model))?;
    Ok(found.map(|f| ModelFiles {
        safetensors_bytes: f.dir.as_deref().and_then(crate::model::safetensors::safetensors_bytes),
        config: f.origin,
        config_text: f.text,
    }))
}

/// The GGUF file a llama.cpp server would load (the built-in tiny model, or a path relative to
/// `base`), when it exists.
pub fn gguf_path(model: &str, base: &Path) -> Option<PathBuf> {
    let p = crate::engine::resolve::builtin_model_path(model).unwrap_or_else(|| base.join(model));
    p.is_file().then_some(p)
}

/// llama.cpp: the KV cache is `ctx_size` cells of the model's KV per token, shared by `parallel`
/// slots (each gets ctx_size / parallel); weights are the GGUF file. Compute buffers are not modelled.
pub fn predict_llamacpp(s: &Scenario, launch: &Launch, gguf: &Path) -> Result<Prediction, String> {
    let (arch, size) = crate::model::gguf::read(gguf)?;
    let f = &launch.server.flags;
    let ctx = flag_f64(f, "ctx_size").map(|v| v as u64).or(arch.max_position_embeddings).unwrap_or(4096);
    let parallel = flag_f64(f, "parallel").map_or(1, |v| v.max(1.0) as u64);
    let type_bytes = crate::model::gguf::cache_type_bytes(match f.get("cache_type_k") {
        Some(FlagValue::Str(t)) => Some(t.as_str()),
        _ => None,
    });
    let per_token = (2 * arch.layers * arch.kv_heads * arch.head_dim) as f64 * type_bytes;
    let kv_bytes = (ctx as f64 * per_token) as u64;
    let request = Request {
        device: Device::Cpu,
        memory_gib: 0.0,
        utilization: 1.0,
        max_model_len: ctx / parallel,
        max_num_batched_tokens: 0,
        kv_dtype_bytes: type_bytes.ceil() as u64,
        explicit_kv_bytes: Some(kv_bytes),
        weights_bytes: size,
    };
    let budget = Budget {
        weights_gib: size as f64 / 1073741824.0,
        activation_gib: 0.0,
        overhead_gib: 0.0,
        kv_gib: kv_bytes as f64 / 1073741824.0,
        kv_bytes_per_token: per_token.round() as u64,
        kv_tokens: ctx,
        max_model_len: ctx / parallel,
        max_concurrency: parallel as f64,
        refusal: None,
    };
    Ok(Prediction {
        gpu: s.scenario.gpu.clone().unwrap_or_default(),
        request,
        budget,
        weights_from: WeightsFrom::Gguf,
        config: gguf.display().to_string(),
        roofline: Vec::new(),
        roofline_context: None,
        not_modelled: arch.not_modelled,
    })
}

/// The prediction of any launch: GGUF metadata for llama.cpp, the config.json for vLLM.
pub fn predict_launch(s: &Scenario, launch: &Launch, base: &Path, host_memory_gib: Option<f64>) -> Result<Prediction, String> {
    let model = launch.server.model.as_deref().unwrap_or_default();
    match spec(launch.server.engine).memory_model() {
        Some(MemoryModel::GgufContext) => predict_llamacpp(
            s,
            launch,
            &gguf_path(model, base).ok_or_else(|| format!("the GGUF file of `{model}` is not on this machine"))?,
        ),
        _ => {
            let files = locate(model, launch.server.model_config.as_deref(), base)?;
            predict_with(s, &catalog::scenario_gpus(s, base)?, launch, files.as_ref(), host_memory_gib)
        }
    }
}

/// Each workload's KV demand on `launch` against its prediction (paged-KV engines only), as
/// `runner plan` and `runner estimate` print it: the preemption point, or why it is not predicted.
pub fn demand_lines(s: &Scenario, launch: &Launch, p: &Prediction) -> Vec<String> {
    if p.weights_from == WeightsFrom::Gguf || p.budget.refusal.is_some() {
        return Vec::new();
    }
    let f = &launch.server.flags;
    let block = kv_demand::block_tokens(p.request.device, f);
    let cap = crate::engine::flags::lookup(f, "max_num_seqs").and_then(FlagValue::as_f64).map(|v| v as u64);
    let concurrencies = &crate::scenario::grid::concurrency_values(s).unwrap_or_else(|| vec![1]);
    s.workloads
        .iter()
        .filter(|w| w.servers.is_empty() || w.servers.contains(&launch.server.name))
        .flat_map(|w| {
            crate::scenario::grid::max_tokens_values(s, w).into_iter().map(move |mt| {
                match kv_demand::demand(w, mt, &p.budget, block, cap) {
                    Ok(d) => format!("KV demand: {}", d.summary(concurrencies)),
                    Err(why) => format!("KV demand of {} not predicted: {why}", w.name),
                }
            })
        })
        .fold(Vec::new(), |mut v, l| {
            if v.last() != Some(&l) {
                v.push(l);
            }
            v
        })
}

/// `Prediction::summary` followed by the launch's KV-demand lines (`demand_lines`).
pub fn summary_with_demand(s: &Scenario, launch: &Launch, p: &Prediction) -> String {
    let mut text = p.summary();
    for l in demand_lines(s, launch, p) {
        text.push_str("\n    ");
        text.push_str(&l);
    }
    text
}

/// This machine's memory in GiB (the CPU build of vLLM sizes its KV cache from it).
pub fn host_memory_gib() -> Option<f64> {
    crate::telemetry::host::memory_total_bytes().map(|b| b as f64 / 1073741824.0)
}

impl WeightsFrom {
    /// The stored name (the same as serde's: tests/names.rs checks every variant).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

fn flag_f64(flags: &indexmap::IndexMap<String, FlagValue>, k: &str) -> Option<f64> {
    flags.get(k).and_then(FlagValue::as_f64)
}

/// The prediction for one launch, or why there is none. `host_memory_gib` is this machine's memory
/// (the CPU build sizes its KV from it).
pub fn predict(s: &Scenario, launch: &Launch, files: Option<&ModelFiles>, host_memory_gib: Option<f64>) -> Result<Prediction, String> {
    predict_with(s, &s.gpus, launch, files, host_memory_gib)
}

/// `predict` with the scenario's GPU catalog already resolved (`catalog::scenario_gpus`).
pub fn predict_with(
    s: &Scenario,
    gpus: &indexmap::IndexMap<String, catalog::Gpu>,
    launch: &Launch,
    files: Option<&ModelFiles>,
    host_memory_gib: Option<f64>,
) -> Result<Prediction, String> {
    let srv = &launch.server;
    if spec(srv.engine).memory_model() != Some(MemoryModel::PagedKv) {
        let modelled: Vec<&str> = EngineKind::ALL.iter().filter(|e| spec(**e).memory_model().is_some()).map(|e| e.as_str()).collect();
        return Err(format!("{} launches are not estimated (only {} state a memory model)", srv.engine.as_str(), modelled.join(" and ")));
    }
    let model = srv.model.as_deref().unwrap_or_default();
    let files = files.ok_or_else(|| {
        let built_in: Vec<&str> = crate::model::catalog::ENTRIES.iter().map(|e| e.id).collect();
        format!(
            "no config.json for `{model}` on this machine (a local folder or the Hugging Face cache) and none built in ({}): set the server's `model_config` to one",
            built_in.join(", ")
        )
    })?;
    let arch = crate::model::arch::Arch::from_config(&files.config_text).map_err(|e| format!("{}: {e}", files.config))?;
    let label = s.scenario.gpu.clone().unwrap_or_default();
    let (device, memory_gib, bandwidth) = if crate::scenario::gpus::is_cpu_label(&label) {
        (Device::Cpu, host_memory_gib.ok_or("this machine's memory is unknown")?, None)
    } else {
        let g = catalog::lookup(&label, gpus)
            .ok_or_else(|| format!("GPU `{label}` is not in the catalog: add [gpus.{label}] with memory_mib, bandwidth_gb_s and source"))?;
        (Device::Gpu, g.memory_gib(), Some(g.bandwidth_gb_s))
    };
    let f = &srv.flags;
    let explicit_kv = flag_f64(f, "kv_cache_memory_bytes").map(|b| b as u64).or_else(|| {
        (device == Device::Cpu)
            .then(|| srv.env.get("VLLM_CPU_KVCACHE_SPACE").and_then(|v| v.trim().parse::<f64>().ok()))
            .flatten()
            .map(|g| (g * 1073741824.0) as u64)
    });
    let max_model_len = flag_f64(f, "max_model_len").map(|v| v as u64).or(arch.max_position_embeddings).unwrap_or(4096);
    let kv_dtype_bytes = match f.get("kv_cache_dtype") {
        Some(FlagValue::Str(d)) if d.starts_with("fp8") => 1,
        _ => arch.dtype_bytes,
    };
    let (weights_bytes, weights_from) = match files.safetensors_bytes {
        Some(b) => (b, WeightsFrom::Safetensors),
        None => (arch.weight_bytes(), WeightsFrom::Config),
    };
    let request = Request {
        device,
        memory_gib,
        utilization: flag_f64(f, "gpu_memory_utilization").unwrap_or(0.9),
        max_model_len,
        max_num_batched_tokens: flag_f64(f, "max_num_batched_tokens")
            .map_or_else(|| paged_kv::default_batched_tokens(device, memory_gib), |v| v as u64),
        kv_dtype_bytes,
        explicit_kv_bytes: explicit_kv,
        weights_bytes,
    };
    let budget = paged_kv::budget(&arch, &request);
    let context = roofline_context(s);
    let roofline = match (bandwidth, context) {
        (Some(bw), Some(ctx)) => crate::scenario::grid::concurrency_values(s)
            .unwrap_or_else(|| vec![1])
            .into_iter()
            .map(|c| (c, paged_kv::roofline_tok_s(weights_bytes, budget.kv_bytes_per_token, bw, c, ctx)))
            .collect(),
        _ => Vec::new(),
    };
    Ok(Prediction {
        gpu: label,
        request,
        budget,
        weights_from,
        config: files.config.clone(),
        roofline,
        roofline_context: context,
        not_modelled: arch.not_modelled,
    })
}

/// Tokens per sequence for the roofline: the first workload's mean prompt length (its
/// `prompt_tokens`, or 256) plus half its largest max_tokens.
fn roofline_context(s: &Scenario) -> Option<u64> {
    let w = s.workloads.first()?;
    let prompt = w.prompt_tokens.map_or(256, |t| {
        let (lo, hi) = t.bounds();
        u64::from(lo + hi) / 2
    });
    let mt = crate::scenario::grid::max_tokens_values(s, w).into_iter().max().unwrap_or(w.max_tokens);
    Some(prompt + u64::from(mt) / 2)
}

impl Prediction {
    /// One line for `runner plan` and `runner estimate`.
    pub fn summary(&self) -> String {
        let b = &self.budget;
        let mut line = if self.weights_from == WeightsFrom::Gguf {
            format!(
                "predicted (llama.cpp): weights {:.3} GiB (GGUF file), KV {:.1} MiB = {} cells ({} B/token), {} slot(s) of {} tokens",
                b.weights_gib,
                b.kv_gib * 1024.0,
                b.kv_tokens,
                b.kv_bytes_per_token,
                b.max_concurrency,
                b.max_model_len
            )
        } else {
            format!(
                "predicted on {}: weights {:.2} GiB ({}), KV {:.2} GiB = {} tokens ({} B/token), max concurrency {:.2} at max-model-len {}",
                self.gpu,
                b.weights_gib,
                self.weights_from.as_str(),
                b.kv_gib,
                b.kv_tokens,
                b.kv_bytes_per_token,
                b.max_concurrency,
                b.max_model_len
            )
        };
        match &b.refusal {
            Some(paged_kv::Refusal::KvCacheTooSmall { estimated_max_model_len }) => line.push_str(&format!(
                "\n    PREDICTED INFEASIBLE: kv_cache_too_small (the KV cache cannot hold one {}-token sequence; vLLM would estimate a maximum length of {estimated_max_model_len})",
                b.max_model_len
            )),
            Some(paged_kv::Refusal::WeightsDoNotFit { needed_gib, allowed_gib }) => line.push_str(&format!(
                "\n    PREDICTED INFEASIBLE: weights_oom (weights {needed_gib:.2} GiB > {allowed_gib:.2} GiB allowed by the memory utilization)"
            )),
            None => {}
        }
        if let (Some(ctx), false) = (self.roofline_context, self.roofline.is_empty()) {
            let pts: Vec<String> = self.roofline.iter().map(|(c, t)| format!("c{c} <= {t:.0}")).collect();
            line.push_str(&format!("\n    decode roofline (tok/s upper bound at {ctx} tokens/sequence): {}", pts.join(", ")));
        }
        for n in &self.not_modelled {
            line.push_str(&format!("\n    not modelled: {n}"));
        }
        line
    }
}
