//! `runner merge` and `runner fleet`: joining run folders, and writing a scheduler's files.

use crate::execute;
use crate::scenario::Loaded;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `runner fleet`'s options, as given.
pub(super) struct FleetArgs {
    pub scheduler: crate::fleet::Scheduler,
    pub shards: usize,
    pub gpu: Vec<crate::fleet::GpuClass>,
    pub out: Option<PathBuf>,
    pub results: String,
    pub fleet_id: Option<String>,
    pub image: Option<String>,
    pub pvc: String,
    pub bucket: Option<String>,
}

/// Merges `dirs` into `out`; exit 3 when cells are missing.
pub(super) fn merge(dirs: &[PathBuf], out: &Path, allow: &[String]) -> anyhow::Result<ExitCode> {
    let m = crate::store::merge::merge(dirs, out, allow)?;
    println!("merged {} cells on {} from {} folder(s) into {}", m.cells, m.gpus.join(" + "), m.sources.len(), m.out.display());
    for s in &m.sources {
        println!(
            "  {} (run {}, host {}{}, {}): {} cells",
            s.dir,
            s.run_id,
            s.host,
            s.shard.as_ref().map(|x| format!(", shard {x}")).unwrap_or_default(),
            s.gpu_label,
            s.cells
        );
    }
    if !m.missing.is_empty() {
        println!(
            "missing ({}): a shard did not finish; `runner run FILE --shard K/N --resume <its folder>`, then merge again",
            m.missing.len()
        );
        for x in &m.missing {
            println!("  {x}");
        }
        return Ok(ExitCode::from(3));
    }
    println!("report: runner report {}", m.out.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes the fleet's files for the scenario `l` (read from `file`) and prints how to submit and merge.
pub(super) fn fleet(l: &Loaded, file: &Path, a: FleetArgs) -> anyhow::Result<ExitCode> {
    let FleetArgs { scheduler, shards, gpu, out, results, fleet_id, image, pvc, bucket } = a;
    let gpus =
        if gpu.is_empty() { vec![crate::fleet::GpuClass { label: execute::gpu_label(&l.scenario), accelerator: None }] } else { gpu };
    let o = crate::fleet::Options {
        scheduler,
        shards,
        gpus,
        scenario_path: fleet_path(file, scheduler),
        scenario_text: l.text.clone(),
        // SLURM tasks run in the submitting folder: the results folder is made absolute.
        results: match scheduler {
            crate::fleet::Scheduler::Slurm if !results.starts_with('/') => std::env::current_dir()?.join(&results).display().to_string(),
            _ => results,
        },
        fleet_id: fleet_id.unwrap_or_else(|| format!("{}-{}", l.scenario.scenario.name, execute::new_run_id())),
        image,
        pvc,
        bucket,
    };
    let f = crate::fleet::generate(&l.scenario, &o)?;
    let dir = out.unwrap_or_else(|| PathBuf::from("fleet").join(&l.scenario.scenario.name));
    std::fs::create_dir_all(&dir)?;
    for x in &f.files {
        crate::store::atomic_write(&dir.join(&x.name), x.text.as_bytes())?;
        println!("wrote {}", dir.join(&x.name).display());
    }
    for (k, launches) in f.shards.iter().enumerate() {
        println!("shard {k}/{shards}: {}", launches.join(", "));
    }
    println!("submit (from {}):", dir.display());
    for c in &f.submit {
        println!("  {c}");
    }
    println!("then merge:\n  {}", f.merge);
    Ok(ExitCode::SUCCESS)
}

/// The scenario file as the fleet's machines see it: SLURM shares this machine's file system (an
/// absolute path); a SkyPilot VM gets the repository as its working folder (a path relative to it).
fn fleet_path(file: &Path, scheduler: crate::fleet::Scheduler) -> String {
    let abs = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    match scheduler {
        crate::fleet::Scheduler::Slurm => abs.display().to_string(),
        _ => std::env::current_dir()
            .ok()
            .and_then(|cwd| abs.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
            .unwrap_or_else(|| file.display().to_string()),
    }
}
