//! SkyPilot: one task file per GPU class (accelerators, set-up installing the runner and the engine,
//! the shard command, a bucket for results), launched once per shard with `SHARD_INDEX` set.

use super::{is_cpu_label, shard_command, FleetFile, GpuClass, Options};
use crate::scenario::schema::{EngineKind, Scenario};
use anyhow::Result;
use serde_json::json;

/// Set-up commands for the engines the scenario launches, each engine's own (`EngineSpec::install_command`).
fn engine_setup(s: &Scenario) -> Vec<String> {
    let mut kinds: Vec<EngineKind> = s.servers.iter().map(|x| x.engine).collect();
    kinds.sort();
    kinds.dedup();
    kinds.iter().filter_map(|k| crate::engine::spec(*k).install_command()).collect()
}

/// Where the results bucket is mounted on the VM.
const MOUNT: &str = "/results";

/// The bucket: `--bucket`, or one named after the fleet (SkyPilot creates it when missing), in the
/// form bucket names take (lowercase letters, digits and '-', at most 63).
pub(super) fn bucket(o: &Options) -> String {
    o.bucket.clone().unwrap_or_else(|| super::dns_label(&format!("runner-{}", o.fleet_id), 63))
}

pub(super) fn file(s: &Scenario, o: &Options, gpu: &GpuClass) -> Result<(FleetFile, Vec<String>)> {
    let mut resources = json!({});
    match (&gpu.accelerator, is_cpu_label(&gpu.label)) {
        (Some(a), false) => resources["accelerators"] = json!(a),
        (None, false) => anyhow::bail!("--gpu {}: SkyPilot needs the accelerator, e.g. --gpu {}=A100:1", gpu.label, gpu.label),
        (_, true) => resources["cpus"] = json!("2+"),
    }
    let mut setup = vec![
        "set -e".to_string(),
        "command -v cargo >/dev/null || (curl -sSf https://sh.rustup.rs | sh -s -- -y)".to_string(),
        ". \"$HOME/.cargo/env\"".to_string(),
        "cargo install --locked --path .".to_string(),
    ];
    setup.extend(engine_setup(s));
    let keys = super::key_vars(s);
    let mut task = json!({
        "name": format!("runner-{}-{}", s.scenario.name, gpu.label).replace('_', "-"),
        "resources": resources,
        "num_nodes": 1,
        "workdir": ".",
        "envs": { "SHARD_INDEX": 0, "SHARD_COUNT": o.shards },
        "setup": setup.join("\n") + "\n",
        "run": format!("set -e\n. \"$HOME/.cargo/env\"\n{}\n", shard_command(o, gpu, "SHARD_INDEX", "SHARD_COUNT", &o.scenario_path, MOUNT)),
        // Every shard of every GPU class writes into one bucket; `runner merge` reads a copy of it.
        "file_mounts": { MOUNT: { "name": bucket(o), "mode": "MOUNT" } },
    });
    if !keys.is_empty() {
        // Declared as required secrets (null): `sky jobs launch --secret VAR` passes each from the
        // launching shell, and SkyPilot keeps its value out of logs and the dashboard.
        task["secrets"] = serde_json::Value::Object(keys.iter().map(|v| (v.clone(), serde_json::Value::Null)).collect());
    }
    let secrets: String = keys.iter().map(|v| format!(" --secret {v}")).collect();
    let file = format!("{}-{}.sky.yaml", s.scenario.name, gpu.label);
    let text = format!(
        "# {} on {} (written by `runner fleet`): launch once per shard, SHARD_INDEX from 0 to {}.\n# Run from the runner repository (workdir \".\" is synced to the VM).\n{}",
        s.scenario.name,
        gpu.label,
        o.shards - 1,
        serde_norway::to_string(&task)?
    );
    let submit = (0..o.shards)
        .map(|k| {
            format!(
                "sky jobs launch --yes -n runner-{}-{}-{k} --env SHARD_INDEX={k}{secrets} {file}",
                s.scenario.name.replace('_', "-"),
                gpu.label
            )
        })
        .collect();
    Ok((FleetFile { name: file, text }, submit))
}
