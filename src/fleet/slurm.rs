//! SLURM: one array batch script per GPU class; task `$SLURM_ARRAY_TASK_ID` runs that shard into the
//! shared results folder.

use super::{is_cpu_label, shard_command, FleetFile, GpuClass, Options};
use crate::scenario::schema::Scenario;

pub(super) fn file(s: &Scenario, o: &Options, gpu: &GpuClass) -> (FleetFile, Vec<String>) {
    let name = format!("{}-{}.sbatch", s.scenario.name, gpu.label);
    let gres = match (&gpu.accelerator, is_cpu_label(&gpu.label)) {
        (_, true) => String::new(),
        (Some(a), false) => format!("#SBATCH --gres=gpu:{a}:1\n"),
        (None, false) => "#SBATCH --gres=gpu:1\n".into(),
    };
    // sbatch exports the submitting shell's environment (--export=ALL, SLURM's default, written out):
    // the key is set there, never in the script; the task checks that it arrived.
    let keys: String = super::key_vars(s)
        .iter()
        .map(|v| format!(": \"${{{v}:?set {v} in the shell that runs sbatch (the API key of api_key_env; sbatch exports it)}}\"\n"))
        .collect();
    let text = format!(
        "#!/bin/bash\n\
         # {scenario} on {label}: shard $SLURM_ARRAY_TASK_ID of {n} (written by `runner fleet`).\n\
         # A shard runs whole server launches; re-submitting a task resumes its folder.\n\
         #SBATCH --job-name=runner-{scenario}-{label}\n\
         #SBATCH --array=0-{last}\n\
         #SBATCH --ntasks=1\n\
         {gres}\
         #SBATCH --output=logs/%x-%a.out\n\
         #SBATCH --export=ALL\n\
         set -euo pipefail\n\
         {keys}\
         exec {cmd}\n",
        scenario = s.scenario.name,
        label = gpu.label,
        n = o.shards,
        last = o.shards - 1,
        cmd = shard_command(o, gpu, "SLURM_ARRAY_TASK_ID", &o.shards.to_string(), &o.scenario_path, &o.results),
    );
    (FleetFile { name: name.clone(), text }, vec![format!("mkdir -p logs && sbatch {name}")])
}
