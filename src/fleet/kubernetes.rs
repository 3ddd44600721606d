//! Kubernetes: a ConfigMap with the scenario and an Indexed Job (`completionMode: Indexed`), whose
//! pod `$JOB_COMPLETION_INDEX` runs that shard, writing to a PersistentVolumeClaim.

use super::{dns_label, is_cpu_label, label_value, shard_command, FleetFile, GpuClass, Options};
use crate::scenario::schema::Scenario;
use anyhow::Result;
use serde_json::json;

/// The longest Job name: an Indexed Job's pods take `<name>-<index>` as their hostname, a DNS label
/// of at most 63 characters (room for a 6-digit index).
const JOB_NAME_MAX: usize = 56;

pub(super) fn file(s: &Scenario, o: &Options, gpu: &GpuClass) -> Result<(FleetFile, Vec<String>)> {
    let name = dns_label(&format!("runner-{}-{}", s.scenario.name, gpu.label), JOB_NAME_MAX);
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
            "command": ["sh", "-c", shard_command(o, gpu, "JOB_COMPLETION_INDEX", &o.shards.to_string(), &format!("/scenario/{file_name}"), "/results")],
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
    let keys = super::key_vars(s);
    if !keys.is_empty() {
        // Each key from the Secret `runner-api-keys`, under the variable's own name.
        let env: Vec<serde_json::Value> = keys
            .iter()
            .map(|v| json!({ "name": v, "valueFrom": { "secretKeyRef": { "name": super::K8S_KEY_SECRET, "key": v } } }))
            .collect();
        pod["containers"][0]["env"] = json!(env);
    }
    if let Some(a) = gpu.accelerator.as_ref().filter(|_| !is_cpu_label(&gpu.label)) {
        // NVIDIA's GPU feature discovery labels nodes with their product name.
        pod["nodeSelector"] = json!({ "nvidia.com/gpu.product": a });
    }
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name, "labels": { "app.kubernetes.io/name": "runner", "runner/scenario": label_value(&s.scenario.name), "runner/gpu": label_value(&gpu.label) } },
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
    let mut submit = Vec::new();
    if !keys.is_empty() {
        let from: Vec<String> = keys.iter().map(|v| format!("--from-literal={v}=\"${v}\"")).collect();
        submit.push(format!("kubectl create secret generic {} {}   # once, from your shell", super::K8S_KEY_SECRET, from.join(" ")));
    }
    submit.push(format!("kubectl apply -f {file}"));
    Ok((FleetFile { name: file.clone(), text }, submit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_follow_kubernetes_rules_even_when_long() {
        assert_eq!(dns_label("runner-Chat_rtx16-a100.40gb", JOB_NAME_MAX), "runner-chat-rtx16-a100-40gb");
        let long = format!("runner-{}-h100-80gb", "capacity_plan_for_the_big_client_".repeat(3));
        let (a, b) = (dns_label(&long, JOB_NAME_MAX), dns_label(&long.replace("h100", "a100"), JOB_NAME_MAX));
        assert!(a.len() <= JOB_NAME_MAX && b.len() <= JOB_NAME_MAX && a != b, "{a} / {b}");
        let dns = |s: &str| {
            s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && s.starts_with(|c: char| c.is_ascii_alphanumeric())
                && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        };
        assert!(dns(&a) && dns(&b), "{a} / {b}");
        // The pods' hostnames, `<job>-<index>`, stay DNS labels up to a 6-digit index.
        assert!(format!("{a}-999999").len() <= 63);
        let v = label_value(&format!("_{}", "x.y_z-".repeat(20)));
        assert!(v.len() <= 63 && v.starts_with('x') && v.ends_with(|c: char| c.is_ascii_alphanumeric()), "{v}");
        assert_eq!(label_value("chat_rtx16"), "chat_rtx16");
    }
}
