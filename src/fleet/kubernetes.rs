//! Kubernetes: a ConfigMap with the scenario and an Indexed Job (`completionMode: Indexed`), whose
//! pod `$JOB_COMPLETION_INDEX` runs that shard, writing to a PersistentVolumeClaim.

use super::{is_cpu_label, shard_command, FleetFile, GpuClass, Options};
use crate::scenario::schema::Scenario;
use anyhow::Result;
use serde_json::json;

pub(super) fn file(s: &Scenario, o: &Options, gpu: &GpuClass) -> Result<(FleetFile, Vec<String>)> {
    let name = format!("runner-{}-{}", crate::plan::slug(&s.scenario.name), gpu.label).to_lowercase().replace(['_', '.'], "-");
    let file_name = std::path::Path::new(&o.scenario_path).file_name().and_then(|f| f.to_str()).unwrap_or("scenario.toml").to_string();
    let config = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": { "name": format!("{name}-scenario") },
        "data": { file_name.clone(): o.scenario_text },
    });
    let mut resources = json!({ "requests": { "cpu": "2", "memory": "8Gi" } });
    if !is_cpu_label(&gpu.label) {
        resources["limits"] = json!({ "nvidia.com/gpu": "1" });
    }
    let mut pod = json!({
        "restartPolicy": "Never",
        "containers": [{
            "name": "runner",
            "image": o.image.clone().unwrap_or_default(),
            "command": ["sh", "-c", shard_command(o, gpu, "${JOB_COMPLETION_INDEX}", &o.shards.to_string(), &format!("/scenario/{file_name}"), "/results")],
            "resources": resources,
            "volumeMounts": [
                { "name": "scenario", "mountPath": "/scenario", "readOnly": true },
                { "name": "results", "mountPath": "/results" }
            ],
        }],
        "volumes": [
            { "name": "scenario", "configMap": { "name": format!("{name}-scenario") } },
            { "name": "results", "persistentVolumeClaim": { "claimName": o.pvc } }
        ],
    });
    if let Some(a) = gpu.accelerator.as_ref().filter(|_| !is_cpu_label(&gpu.label)) {
        // NVIDIA's GPU feature discovery labels nodes with their product name.
        pod["nodeSelector"] = json!({ "nvidia.com/gpu.product": a });
    }
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/name": "runner", "runner/scenario": crate::plan::slug(&s.scenario.name), "runner/gpu": gpu.label } },
        "spec": {
            "completionMode": "Indexed",
            "completions": o.shards,
            "parallelism": o.shards,
            "backoffLimitPerIndex": 1,
            "template": { "metadata": { "labels": { "app.kubernetes.io/name": "runner" } }, "spec": pod },
        },
    });
    let text = format!(
        "# {} on {}: {} shards as an Indexed Job (written by `runner fleet`). The results go to the\n# PersistentVolumeClaim `{}`; the image must hold `runner` and the engine.\n---\n{}---\n{}\n",
        s.scenario.name,
        gpu.label,
        o.shards,
        o.pvc,
        serde_norway::to_string(&config)?,
        serde_norway::to_string(&job)?
    );
    let file = format!("{}-{}.k8s.yaml", s.scenario.name, gpu.label);
    Ok((FleetFile { name: file.clone(), text }, vec![format!("kubectl apply -f {file}")]))
}
