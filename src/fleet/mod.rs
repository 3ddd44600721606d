//! `runner fleet`: ready-to-submit files that spread one scenario's launches over N machines through
//! an existing scheduler (SLURM job arrays, Kubernetes Indexed Jobs, SkyPilot tasks), each machine
//! running `runner run --shard K/N`, and the `runner merge` command that joins their folders. The
//! runner never schedules anything itself. Pure: text from the scenario and the options.

mod kubernetes;
mod skypilot;
mod slurm;

use crate::scenario::gpus::is_cpu_label;

use crate::plan::{self, shard};
use crate::scenario::schema::Scenario;
use anyhow::{bail, Result};
use sha2::Digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scheduler {
    Slurm,
    Kubernetes,
    Skypilot,
}

/// A GPU class of the fleet: the label its results carry and the scheduler's name for it.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuClass {
    pub label: String,
    /// e.g. "A100:1" (SkyPilot), "a100" (a SLURM gres type), "NVIDIA-A100-SXM4-40GB" (a node label).
    pub accelerator: Option<String>,
}

impl std::str::FromStr for GpuClass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (label, acc) = match s.split_once('=') {
            Some((l, a)) => (l.trim(), Some(a.trim().to_string()).filter(|a| !a.is_empty())),
            None => (s.trim(), None),
        };
        if !crate::scenario::validate::is_slug(label) {
            return Err(format!(
                "--gpu {s:?}: give LABEL=ACCELERATOR, the label in letters, digits, `-`, `_` or `.` (e.g. a100-40gb=A100:1)"
            ));
        }
        if let Some(a) = acc.as_deref().filter(|a| !is_accelerator(a)) {
            return Err(format!(
                "--gpu {s:?}: the accelerator {a:?} may hold only letters, digits, `-`, `_`, `.` and `:` (e.g. A100:1, NVIDIA-A100-SXM4-40GB)"
            ));
        }
        Ok(GpuClass { label: label.into(), accelerator: acc })
    }
}

/// An accelerator name as schedulers write them (`A100:1`, `a100`, `NVIDIA-A100-SXM4-40GB`): it is
/// written into scheduler directives, so nothing else passes.
fn is_accelerator(a: &str) -> bool {
    a.len() <= 128 && a.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// What the generated files need to know.
#[derive(Debug, Clone)]
pub struct Options {
    pub scheduler: Scheduler,
    pub shards: usize,
    /// One or more GPU classes; without `--gpu`, the scenario's own label.
    pub gpus: Vec<GpuClass>,
    /// The scenario file as the machines of the fleet see it (relative to where they run).
    pub scenario_path: String,
    /// Its text (Kubernetes ships it in a ConfigMap).
    pub scenario_text: String,
    /// Where the shards write (a shared folder or a bucket mount).
    pub results: String,
    /// Names this fleet's run folders: `<fleet_id>-<gpu>-shard-<k>`, merged into `<fleet_id>`.
    pub fleet_id: String,
    /// Kubernetes: the container image holding `runner` and the engine.
    pub image: Option<String>,
    /// Kubernetes: the PersistentVolumeClaim the results go to.
    pub pvc: String,
    /// SkyPilot: the bucket the results go to.
    pub bucket: Option<String>,
}

/// One written file.
pub struct FleetFile {
    pub name: String,
    pub text: String,
}

/// The files, and what to type to submit them and to merge the results.
pub struct Fleet {
    pub files: Vec<FleetFile>,
    pub submit: Vec<String>,
    pub merge: String,
    /// Which launches each shard runs, for the record.
    pub shards: Vec<Vec<String>>,
}

pub(crate) fn run_dir_name(o: &Options, gpu: &str, k: &str) -> String {
    format!("{}-{gpu}-shard-{k}", o.fleet_id)
}

/// The shell command one shard runs; `k` is the scheduler's variable for the shard index (a name
/// like `SLURM_ARRAY_TASK_ID`), `n` the shard count (a number, or a variable's name). Every value is
/// quoted: a scenario path or results folder with spaces, quotes, `$` or newlines arrives as one
/// argument, and only the two variables are expanded.
pub(crate) fn shard_command(o: &Options, gpu: &GpuClass, k: &str, n: &str, scenario_path: &str, results: &str) -> String {
    let var = |v: &str| if v.chars().all(|c| c.is_ascii_digit()) { v.to_string() } else { format!("\"${{{v}}}\"") };
    format!(
        "\"${{RUNNER:-runner}}\" run {scenario} --shard {k}/{n} --gpu {label} --output {results} --run-id {run_id}{k}",
        scenario = quote(scenario_path),
        k = var(k),
        n = var(n),
        label = quote(&gpu.label),
        results = quote(results),
        run_id = quote(&run_dir_name(o, &gpu.label, "")),
    )
}

/// A value as one shell word.
pub(crate) fn quote(s: &str) -> String {
    shell_words::quote(s).into_owned()
}

/// The environment variables the scenario's servers read their API key from (`api_key_env`), in
/// order, once each: each scheduler's file passes them its own way, never their values.
pub(crate) fn key_vars(s: &Scenario) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in s.servers.iter().filter_map(|x| x.api_key_env.clone()) {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// The Kubernetes Secret holding the API keys (`kubectl create secret generic ...`).
pub const K8S_KEY_SECRET: &str = "runner-api-keys";

/// Fits `text` to the naming rules of Kubernetes and of cloud buckets: characters `keep` refuses
/// become '-', the ends are letters or digits, and a text longer than `max` keeps its start and ends
/// with 8 hex digits of its SHA-256, so that two long names stay apart.
fn fit(text: &str, max: usize, keep: impl Fn(char) -> bool) -> String {
    let alnum_ends = |s: &str| s.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string();
    let mapped = alnum_ends(&text.chars().map(|c| if keep(c) { c } else { '-' }).collect::<String>());
    if mapped.len() <= max {
        return mapped;
    }
    let hash: String = sha2::Sha256::digest(text.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("{}-{hash}", alnum_ends(&mapped[..max - 9]))
}

/// A DNS label (Kubernetes Job and ConfigMap names, bucket names): lowercase letters, digits and '-'.
fn dns_label(text: &str, max: usize) -> String {
    fit(&text.to_lowercase(), max, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A Kubernetes label value: at most 63 letters, digits, '-', '_' and '.'.
fn label_value(text: &str) -> String {
    fit(text, 63, |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

pub fn generate(s: &Scenario, o: &Options) -> Result<Fleet> {
    if o.shards == 0 {
        bail!("--shards must be at least 1");
    }
    if !crate::scenario::validate::is_slug(&o.fleet_id) {
        bail!("--fleet-id {:?}: it names run folders; use letters, digits, `_`, `-` or `.`, at most 64 characters", o.fleet_id);
    }
    let plan = plan::expand(s);
    if o.shards > plan.launches.len() {
        bail!(
            "--shards {}: the scenario has {} launch(es), and a shard runs whole launches; use --shards {} or fewer",
            o.shards,
            plan.launches.len(),
            plan.launches.len()
        );
    }
    if o.scheduler == Scheduler::Kubernetes && o.image.is_none() {
        bail!("--scheduler kubernetes needs --image: a container image with `runner` on PATH and the scenario's engine installed");
    }
    let of = shard::assign(s, &plan, o.shards);
    let shards = (0..o.shards).map(|k| plan.launches.iter().filter(|l| of[l.index] == k).map(|l| l.id.clone()).collect()).collect();
    let mut files = Vec::new();
    let mut submit = Vec::new();
    for gpu in &o.gpus {
        let (f, cmds) = match o.scheduler {
            Scheduler::Slurm => slurm::file(s, o, gpu),
            Scheduler::Kubernetes => kubernetes::file(s, o, gpu)?,
            Scheduler::Skypilot => skypilot::file(s, o, gpu)?,
        };
        files.push(f);
        submit.extend(cmds);
    }
    let folder = format!("{}/{}", o.results, s.scenario.name);
    let inputs: Vec<String> = o.gpus.iter().map(|g| format!("{}/{}*", quote(&folder), quote(&run_dir_name(o, &g.label, "")))).collect();
    let allow = if o.gpus.len() > 1 { " --allow gpu" } else { "" };
    let mut merge = format!("runner merge {} --out {}{allow}", inputs.join(" "), quote(&format!("{folder}/{}", o.fleet_id)));
    if o.scheduler == Scheduler::Skypilot {
        merge = format!("(copy the bucket `{}` into {}/ first, e.g. with your cloud's CLI)\n  {merge}", skypilot::bucket(o), o.results);
    }
    Ok(Fleet { files, submit, merge, shards })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_classes_parse() {
        assert_eq!("a100-40gb=A100:1".parse::<GpuClass>(), Ok(GpuClass { label: "a100-40gb".into(), accelerator: Some("A100:1".into()) }));
        assert_eq!("cpu".parse::<GpuClass>().unwrap().accelerator, None);
        assert!("a b=A100".parse::<GpuClass>().is_err());
        assert!("a100=A100\n touch x".parse::<GpuClass>().is_err());
        assert!("a100=A100;id".parse::<GpuClass>().is_err());
        assert!("..=A100".parse::<GpuClass>().is_err());
    }
}
