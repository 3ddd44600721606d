//! Hostile inputs: result folders, fleet arguments and servers from someone else. Each case states its
//! expected outcome: refused with an error naming the file and the field, or handled safely. None
//! destroys a file, leaks one, runs a command, hangs or crashes. (Hostile scenario files are in
//! tests/invalid/, `hostile_*.toml`, each with its expected message.)

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn runner() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runner"));
    c.stdin(Stdio::null());
    c
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const QUICKSTART: &str = "results/reference/quickstart_cpu/20261130T093718Z";
const SEARCH: &str = "results/reference/search_cpu/20261130T143706Z";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// Every file under `dir` (not following links) with its bytes, except those under `skip`.
fn snapshot(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            if p.starts_with(skip) {
                continue;
            }
            if t.is_dir() {
                stack.push(p);
            } else if t.is_symlink() {
                out.insert(p.clone(), std::fs::read_link(&p).unwrap().to_string_lossy().as_bytes().to_vec());
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn edit_json(path: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

/// `runner ARGS` from `dir`, killed after `limit`: (exit code, stdout + stderr, seconds).
fn run_within(dir: &Path, args: &[&str], limit: Duration) -> (Option<i32>, String, f64) {
    let t0 = Instant::now();
    let mut child = runner().current_dir(dir).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t0.elapsed() > limit {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("runner {args:?} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let o = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.code(), text, t0.elapsed().as_secs_f64())
}

/// A work folder with a copy of a reference run as `shard/`, a victim folder of files beside it,
/// and the merge's output path.
struct Scene {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    shard: PathBuf,
    victim: PathBuf,
    out: PathBuf,
}

fn scene(reference: &str) -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let shard = dir.join("shard");
    copy_dir(&repo().join(reference), &shard);
    let victim = dir.join("victim");
    std::fs::create_dir_all(victim.join("sub")).unwrap();
    std::fs::write(victim.join("precious.txt"), b"do not truncate me").unwrap();
    std::fs::write(victim.join("sub/id_rsa"), b"-----BEGIN PRIVATE KEY-----\nsecret\n").unwrap();
    let out = dir.join("merged");
    Scene { _tmp: tmp, dir, shard, victim, out }
}

impl Scene {
    /// Merges `shard` into `out`: it must fail, leave every file outside `out` byte for byte as
    /// it was, leave no temporary folder, and create no `out`.
    fn merge_refused(&self, why: &[&str]) -> String {
        let before = snapshot(&self.dir, &self.out);
        let (code, text, _) =
            run_within(&self.dir, &["merge", self.shard.to_str().unwrap(), "--out", self.out.to_str().unwrap()], Duration::from_secs(60));
        assert_ne!(code, Some(0), "the merge must fail: {text}");
        assert!(why.iter().all(|w| text.contains(w)), "want {why:?} in: {text}");
        assert_eq!(snapshot(&self.dir, &self.out), before, "a file outside --out changed");
        assert!(!self.out.exists(), "a failed merge wrote its output");
        let leftovers: Vec<_> =
            std::fs::read_dir(&self.dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".merging")).collect();
        assert!(leftovers.is_empty(), "a failed merge left {leftovers:?}");
        text
    }

    fn first_cell(&self) -> PathBuf {
        let mut cells: Vec<PathBuf> = std::fs::read_dir(self.shard.join("cells")).unwrap().flatten().map(|e| e.path()).collect();
        cells.sort();
        cells.remove(0)
    }
}

#[test]
fn merge_refuses_an_absolute_launch_id_and_touches_nothing() {
    let s = scene(QUICKSTART);
    let victim = s.victim.display().to_string();
    edit_json(&s.first_cell().join("summary.json"), |v| v["launch_id"] = victim.clone().into());
    s.merge_refused(&["launch id", "is not a plain folder name", "summary.json"]);
    assert_eq!(std::fs::read(s.victim.join("precious.txt")).unwrap(), b"do not truncate me");
}

#[test]
fn merge_refuses_absolute_and_parent_cell_ids() {
    for id in [None, Some("../../escape")] {
        let s = scene(QUICKSTART);
        let id = id.map_or_else(|| s.victim.display().to_string(), str::to_string);
        edit_json(&s.first_cell().join("summary.json"), |v| v["cell"]["id"] = id.clone().into());
        s.merge_refused(&["cell id", "is not a plain folder name"]);
        assert!(!s.dir.join("escape").exists() && !s.dir.parent().unwrap().join("escape").exists());
    }
    // A plain id that is not its folder's name is refused too (the copy would come from elsewhere).
    let s = scene(QUICKSTART);
    edit_json(&s.first_cell().join("summary.json"), |v| v["cell"]["id"] = "c001-l00-chat-conc1-mt64".into());
    s.merge_refused(&["is not the name of its folder"]);
}

#[test]
fn merge_refuses_a_crafted_search_id() {
    let s = scene(SEARCH);
    let mut searches: Vec<PathBuf> = std::fs::read_dir(s.shard.join("searches")).unwrap().flatten().map(|e| e.path()).collect();
    searches.sort();
    edit_json(&searches[0].join("search.json"), |v| v["target"]["id"] = "../../../victim".into());
    s.merge_refused(&["search id", "is not a plain folder name"]);
}

#[test]
fn merge_follows_no_symbolic_link_and_leaves_nothing_behind() {
    // A link to a private key inside a cell folder: never copied into the (shared) merged folder.
    let s = scene(QUICKSTART);
    std::os::unix::fs::symlink(s.victim.join("sub/id_rsa"), s.first_cell().join("notes.txt")).unwrap();
    s.merge_refused(&["symbolic link", "notes.txt"]);
    // A link loop.
    let s = scene(QUICKSTART);
    std::os::unix::fs::symlink(".", s.first_cell().join("loop")).unwrap();
    s.merge_refused(&["symbolic link", "loop"]);
    // A whole cell folder that is a link elsewhere is not read as a cell: the merge is incomplete
    // (exit 3, the cell listed missing) and copies nothing from the link's target.
    let s = scene(QUICKSTART);
    let cell = s.first_cell();
    let name = cell.file_name().unwrap().to_owned();
    std::fs::rename(&cell, s.dir.join("moved")).unwrap();
    std::os::unix::fs::symlink(&s.victim, s.shard.join("cells").join(&name)).unwrap();
    let (code, text, _) = run_within(&s.dir, &["merge", "shard", "--out", "merged"], Duration::from_secs(60));
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains(&format!("cell {}", name.to_string_lossy())), "{text}");
    let copied = snapshot(&s.out, Path::new("/nonexistent"));
    assert!(!copied.values().any(|b| b.windows(6).any(|w| w == b"secret")), "the key was copied");
}

#[test]
fn merge_refuses_an_output_inside_a_source_or_holding_one() {
    let s = scene(QUICKSTART);
    let before = snapshot(&s.dir, Path::new("/nonexistent"));
    for out in ["shard/cells/x", "."] {
        let (code, text, _) = run_within(&s.dir, &["merge", "shard", "--out", out], Duration::from_secs(60));
        assert_eq!(code, Some(1), "{text}");
        assert!(text.contains("overlaps the source folder"), "{text}");
    }
    assert_eq!(snapshot(&s.dir, Path::new("/nonexistent")), before);
}

#[test]
fn merge_refuses_shards_of_other_runner_versions_unless_told() {
    let s = scene(QUICKSTART);
    let other = s.dir.join("other");
    copy_dir(&s.shard, &other);
    edit_json(&other.join("manifest.json"), |v| v["runner_version"] = "9.9.9".into());
    let (code, text, _) = run_within(&s.dir, &["merge", "shard", "other", "--out", "merged"], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("different runner versions") && text.contains("0.1.0") && text.contains("9.9.9") && text.contains("--allow versions"),
        "{text}"
    );
    // Told: the versions may differ; the two folders then hold the same cells, which is refused.
    let (code, text, _) =
        run_within(&s.dir, &["merge", "shard", "other", "--out", "merged", "--allow", "versions"], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("measured in more than one folder"), "{text}");
}

/// 34 two-value server axes: expanded, 17 billion launches (it grew to 11-15 GB before).
fn huge_grid(text: &str) -> String {
    let axes: String = (0..34).map(|i| format!("axis_{i} = [1, 2]\n")).collect();
    format!("{text}\n[grid.server]\n{axes}")
}

#[test]
fn a_stored_scenario_is_validated_before_anything_is_expanded() {
    let s = scene(QUICKSTART);
    edit_json(&s.shard.join("manifest.json"), |v| v["scenario_text"] = huge_grid(v["scenario_text"].as_str().unwrap()).into());
    let text = s.merge_refused(&["manifest.json", "scenario_text", "the grid expands to"]);
    assert!(text.contains("more than the limit"), "{text}");
    // `runner report` names it and renders what the cells hold, in seconds and in bounded memory.
    let (code, text, secs) = run_within(&s.dir, &["report", "shard", "--out", "reports"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{text}");
    assert!(secs < 30.0, "{secs} s");
    let notes = std::fs::read_to_string(s.dir.join("reports/capacity_notes.md")).unwrap();
    assert!(notes.contains("no longer parses or passes this runner's validation") && notes.contains("the grid expands to"), "{notes}");
}

#[test]
fn a_chart_value_no_run_measures_does_not_hang_the_report() {
    let s = scene(QUICKSTART);
    for c in std::fs::read_dir(s.shard.join("cells")).unwrap().flatten() {
        edit_json(&c.path().join("summary.json"), |v| v["summary"]["throughput_tok_s"] = 1.4e308.into());
    }
    let (code, text, _) = run_within(&s.dir, &["report", "shard", "--out", "reports"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{text}");
    assert!(s.dir.join("reports/report.html").is_file());
}

#[test]
fn report_refuses_a_name_that_would_write_markdown_or_html() {
    let s = scene(QUICKSTART);
    let cell = s.first_cell();
    edit_json(&cell.join("summary.json"), |v| v["model"] = "tiny\n# Owned\n<script>alert(1)</script>".into());
    let (code, text, _) = run_within(&s.dir, &["report", "shard", "--out", "reports"], Duration::from_secs(60));
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("summary.json") && text.contains("`model`") && text.contains("the file was altered"), "{text}");
    assert!(!s.dir.join("reports").exists());
}

#[test]
fn a_launch_that_failed_for_the_machine_is_missing_not_measured() {
    let s = scene(QUICKSTART);
    let launch = s.shard.join("launches/l00-tiny-cpu/launch.json");
    edit_json(&launch, |v| {
        v["failure"] =
            serde_json::json!({ "reason": "port_in_use", "message": "127.0.0.1:8080 is already in use by another process", "log_tail": [] })
    });
    for c in std::fs::read_dir(s.shard.join("cells")).unwrap().flatten() {
        edit_json(&c.path().join("summary.json"), |v| {
            v["status"] = "infeasible".into();
            v["summary"] = serde_json::Value::Null;
        });
    }
    let (code, text, _) = run_within(&s.dir, &["merge", "shard", "--out", "merged"], Duration::from_secs(60));
    assert_eq!(code, Some(3), "the port was taken: nothing about the config was measured: {text}");
    assert!(text.contains("missing (8)"), "{text}");
    // A config that does not fit (a real result) is kept.
    edit_json(&launch, |v| v["failure"]["reason"] = "kv_cache_too_small".into());
    let (code, text, _) = run_within(&s.dir, &["merge", "shard", "--out", "merged2"], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{text}");
}

// ---- fleet files -------------------------------------------------------------------------------

/// A stub `runner` that writes each argument it got on a line of `$ARGV_OUT`.
fn stub(dir: &Path) -> PathBuf {
    let p = dir.join("stub-runner");
    std::fs::write(&p, "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$ARGV_OUT\"\n").unwrap();
    let mut perm = std::fs::metadata(&p).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&p, perm).unwrap();
    p
}

fn argv_of(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file).unwrap().lines().map(str::to_string).collect()
}

/// Nothing named `pwned` or `x` was created anywhere under `dir` (the payloads' files).
fn assert_nothing_ran(dir: &Path) {
    let made: Vec<PathBuf> =
        snapshot(dir, Path::new("/nonexistent")).into_keys().filter(|p| p.file_name().is_some_and(|n| n == "pwned" || n == "x")).collect();
    assert!(made.is_empty(), "a payload ran: {made:?}");
    assert!(!Path::new("pwned").exists() && !repo().join("x").exists());
}

#[test]
fn generated_fleet_scripts_run_the_right_argv_for_any_path_and_create_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let hostile = dir.join("a b/$(touch x)/'q\"");
    std::fs::create_dir_all(&hostile).unwrap();
    let text = std::fs::read_to_string(repo().join("scenarios/quickstart_cpu.toml")).unwrap();
    let scenario = common::write_scenario(&hostile, "s $(touch pwned).toml", &text);
    let results = dir.join("res $(touch pwned) `touch pwned`");
    let stub = stub(dir);
    let files = dir.join("files");
    let fleet = |scheduler: &str, extra: &[&str]| {
        let o = runner()
            .current_dir(dir)
            .args(["fleet", scenario.to_str().unwrap(), "--scheduler", scheduler, "--out", files.to_str().unwrap(), "--fleet-id", "t"])
            .args(["--results", results.to_str().unwrap()])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let scenario_arg = scenario.canonicalize().unwrap().display().to_string();
    let want = |path: &str, results: &str| {
        vec!["run", path, "--shard", "0/1", "--gpu", "cpu", "--output", results, "--run-id", "t-cpu-shard-0"]
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };

    // SLURM: the array script, run by bash as sbatch would, task 0.
    fleet("slurm", &[]);
    let argv_out = dir.join("argv-slurm");
    let st = Command::new("bash")
        .arg(files.join("quickstart_cpu-cpu.sbatch"))
        .current_dir(dir)
        .env("RUNNER", &stub)
        .env("ARGV_OUT", &argv_out)
        .env("SLURM_ARRAY_TASK_ID", "0")
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(argv_of(&argv_out), want(&scenario_arg, results.to_str().unwrap()));

    // Kubernetes: the container's `sh -c` command, with the pod's index.
    fleet("kubernetes", &["--image", "registry.example/runner:1"]);
    let yaml = std::fs::read_to_string(files.join("quickstart_cpu-cpu.k8s.yaml")).unwrap();
    let job: serde_json::Value = yaml.split("\n---\n").nth(2).map(|d| serde_norway::from_str(d).unwrap()).unwrap();
    let cmd: Vec<String> = serde_json::from_value(job["spec"]["template"]["spec"]["containers"][0]["command"].clone()).unwrap();
    assert_eq!(cmd[..2], ["sh", "-c"]);
    let argv_out = dir.join("argv-k8s");
    let st = Command::new("sh")
        .args(["-c", &cmd[2]])
        .current_dir(dir)
        .env("RUNNER", &stub)
        .env("ARGV_OUT", &argv_out)
        .env("JOB_COMPLETION_INDEX", "0")
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(argv_of(&argv_out), want("/scenario/s $(touch pwned).toml", "/results"));

    // SkyPilot: the task's `run` script, with the shard variables and a VM's home.
    fleet("skypilot", &[]);
    let task: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(files.join("quickstart_cpu-cpu.sky.yaml")).unwrap()).unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".cargo")).unwrap();
    std::fs::write(home.join(".cargo/env"), "").unwrap();
    let argv_out = dir.join("argv-sky");
    let st = Command::new("bash")
        .args(["-c", task["run"].as_str().unwrap()])
        .current_dir(dir)
        .env("HOME", &home)
        .env("RUNNER", &stub)
        .env("ARGV_OUT", &argv_out)
        .env("SHARD_INDEX", "0")
        .env("SHARD_COUNT", "1")
        .status()
        .unwrap();
    assert!(st.success());
    let relative = if scenario_arg.starts_with(&dir.canonicalize().unwrap().display().to_string()) {
        scenario.strip_prefix(dir).unwrap().display().to_string()
    } else {
        scenario.display().to_string()
    };
    let got = argv_of(&argv_out);
    assert!(got[1] == relative || got[1] == scenario.display().to_string() || got[1] == scenario_arg, "{got:?}");
    assert_eq!(got[2..], want("", "/results")[2..]);
    assert_nothing_ran(dir);
}

#[test]
fn fleet_refuses_hostile_labels_accelerators_and_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("files");
    let quickstart = repo().join("scenarios/quickstart_cpu.toml");
    for (args, want) in [
        (vec!["--gpu", "a100=A100\ntouch pwned"], "the accelerator"),
        (vec!["--gpu", "a100=A100;touch pwned"], "the accelerator"),
        (vec!["--gpu", "../../x=A100:1"], "give LABEL=ACCELERATOR"),
        (vec!["--fleet-id", "../../x"], "--fleet-id"),
    ] {
        let o = runner()
            .args(["fleet", quickstart.to_str().unwrap(), "--scheduler", "slurm", "--out", out.to_str().unwrap()])
            .args(&args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && text.contains(want), "{args:?}: {text}");
    }
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().count() == 0, "nothing was written");
    // A scenario whose gpu label carries a command is refused before any file is written.
    let o = runner()
        .args(["fleet", repo().join("tests/invalid/hostile_gpu_label.toml").to_str().unwrap(), "--scheduler", "slurm"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert_nothing_ran(tmp.path());
}

#[test]
fn fleet_files_pass_the_api_key_the_schedulers_way_and_never_its_value() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let text = "[scenario]\nname = \"ext\"\ngpu = \"cpu\"\n[[servers]]\nname = \"api\"\nengine = \"external\"\n\
                url = \"https://api.example.com\"\napi_key_env = \"OPENAI_API_KEY\"\n[[workloads]]\nname = \"chat\"\nrequests = 4\n\
                [grid]\nconcurrency = [1]\nmax_tokens = [8]\n";
    let scenario = common::write_scenario(dir, "ext.toml", text);
    let files = dir.join("files");
    for (scheduler, extra) in [("slurm", vec![]), ("kubernetes", vec!["--image", "r:1"]), ("skypilot", vec![])] {
        let o = runner()
            .current_dir(dir)
            .env("OPENAI_API_KEY", "sk-live-SHOULD-NEVER-BE-WRITTEN")
            .args(["fleet", scenario.to_str().unwrap(), "--scheduler", scheduler, "--out", files.to_str().unwrap(), "--fleet-id", "t"])
            .args(&extra)
            .output()
            .unwrap();
        let printed = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(o.status.success(), "{scheduler}: {}", String::from_utf8_lossy(&o.stderr));
        assert!(!printed.contains("SHOULD-NEVER"));
        if scheduler == "kubernetes" {
            assert!(
                printed.contains("kubectl create secret generic runner-api-keys --from-literal=OPENAI_API_KEY=\"$OPENAI_API_KEY\""),
                "{printed}"
            );
        }
        if scheduler == "skypilot" {
            assert!(printed.contains("--secret OPENAI_API_KEY"), "{printed}");
        }
    }
    let sbatch = std::fs::read_to_string(files.join("ext-cpu.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --export=ALL") && sbatch.contains("${OPENAI_API_KEY:?"), "{sbatch}");
    let k8s = std::fs::read_to_string(files.join("ext-cpu.k8s.yaml")).unwrap();
    assert!(k8s.contains("secretKeyRef") && k8s.contains("runner-api-keys") && k8s.contains("key: OPENAI_API_KEY"), "{k8s}");
    let sky = std::fs::read_to_string(files.join("ext-cpu.sky.yaml")).unwrap();
    assert!(sky.contains("secrets:") && sky.contains("OPENAI_API_KEY: null"), "{sky}");
    for f in std::fs::read_dir(&files).unwrap().flatten() {
        assert!(!std::fs::read_to_string(f.path()).unwrap().contains("SHOULD-NEVER"), "{}", f.path().display());
    }
    // And the SLURM task stops at once, naming the variable, when the key did not arrive.
    let o = Command::new("bash")
        .arg(files.join("ext-cpu.sbatch"))
        .env_remove("OPENAI_API_KEY")
        .env("SLURM_ARRAY_TASK_ID", "0")
        .output()
        .unwrap();
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("set OPENAI_API_KEY"));
}

#[test]
fn a_key_sent_over_plain_http_to_another_host_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let text = "[scenario]\nname = \"ext\"\ngpu = \"cpu\"\n[[servers]]\nname = \"api\"\nengine = \"external\"\n\
                url = \"http://api.example.com:8000\"\napi_key_env = \"OPENAI_API_KEY\"\n[[workloads]]\nname = \"chat\"\nrequests = 4\n\
                [grid]\nconcurrency = [1]\nmax_tokens = [8]\n";
    let scenario = common::write_scenario(tmp.path(), "ext.toml", text);
    let o = runner().args(["validate", scenario.to_str().unwrap()]).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && err.contains("over plain http to api.example.com"), "{err}");
    let local = common::write_scenario(tmp.path(), "local.toml", &text.replace("api.example.com", "127.0.0.1"));
    let o = runner().args(["validate", local.to_str().unwrap()]).output().unwrap();
    assert!(!String::from_utf8_lossy(&o.stderr).contains("plain http"));
}

// ---- the CLI -------------------------------------------------------------------------------------

#[test]
fn closing_the_output_early_ends_quietly() {
    let tmp = tempfile::tempdir().unwrap();
    // An external server (nothing starts): 100 x 50 cells print far more than a pipe holds.
    let conc: Vec<String> = (1..=100).map(|c| c.to_string()).collect();
    let mt: Vec<String> = (1..=50).map(|c| c.to_string()).collect();
    let text = format!(
        "[scenario]\nname = \"big\"\n[[servers]]\nname = \"api\"\nengine = \"external\"\nurl = \"http://127.0.0.1:9\"\n\
         [[workloads]]\nname = \"chat\"\nrequests = 4\n[grid]\nconcurrency = [{}]\nmax_tokens = [{}]\n",
        conc.join(", "),
        mt.join(", ")
    );
    let scenario = common::write_scenario(tmp.path(), "big.toml", &text);
    let mut child = runner().args(["plan", scenario.to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut first = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(141), "{err}");
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}

#[test]
fn a_second_runner_on_one_folder_is_told_who_holds_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    std::fs::create_dir_all(&dir).unwrap();
    let _held = runner::store::lock::RunLock::acquire(&dir).unwrap();
    let text = "[scenario]\nname = \"ext\"\n[[servers]]\nname = \"api\"\nengine = \"external\"\nurl = \"http://127.0.0.1:9\"\n\
                [[workloads]]\nname = \"chat\"\nrequests = 4\n[grid]\nconcurrency = [1]\nmax_tokens = [8]\n";
    let scenario = common::write_scenario(tmp.path(), "ext.toml", text);
    let o = runner().args(["run", scenario.to_str().unwrap(), "--resume"]).arg(&dir).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("is in use by another runner") && err.contains(&format!("pid {}", std::process::id())), "{err}");
}

// ---- servers that misbehave --------------------------------------------------------------------

/// A TCP server that accepts and then says nothing (a TLS endpoint that never answers the
/// handshake, a wedged proxy). Its accepted sockets are kept open for the test's life.
fn silent_server() -> (String, std::thread::JoinHandle<()>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let mut keep = Vec::new();
        for s in l.incoming().take(64).flatten() {
            keep.push(s);
        }
        std::thread::sleep(Duration::from_secs(60));
    });
    (format!("https://{addr}"), h)
}

#[test]
fn a_server_that_never_answers_tls_fails_the_request_within_the_connect_timeout() {
    let (url, _h) = silent_server();
    let rt = runner::cli::runtime().unwrap();
    let client = runner::load::http::LoadClient::new(None);
    let mut spec = common::request_spec(0, runner::scenario::schema::Endpoint::Chat);
    spec.timeout = Duration::from_secs(600);
    let t0 = Instant::now();
    let rec = rt.block_on(runner::load::client::send(&client, &url, &spec, t0, t0));
    let took = t0.elapsed();
    assert_eq!(rec.error, Some(runner::results::record::ErrorClass::Connect), "{:?}", rec.error_detail);
    assert!(took >= runner::load::http::CONNECT_TIMEOUT && took < runner::load::http::CONNECT_TIMEOUT + Duration::from_secs(5), "{took:?}");
    // A closed loop's pre-connect to it ends at once on Ctrl-C.
    let cancel = tokio_util::sync::CancellationToken::new();
    let c2 = cancel.clone();
    let specs: Vec<_> = (0..4).map(|i| common::request_spec(i, runner::scenario::schema::Endpoint::Chat)).collect();
    let t0 = Instant::now();
    rt.block_on(async {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            c2.cancel();
        });
        runner::load::driver::closed_loop(&client, &url, specs, 4, t0, &cancel, |_| {}).await
    });
    assert!(t0.elapsed() < Duration::from_secs(5), "Ctrl-C waited for the connects: {:?}", t0.elapsed());
}

/// A raw HTTP server that answers every request with `response` (then closes).
fn raw_server(response: Vec<u8>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut s in l.incoming().take(8).flatten() {
            let r = response.clone();
            std::thread::spawn(move || {
                use std::io::{Read, Write};
                let mut buf = [0u8; 65536];
                let _ = s.read(&mut buf);
                let _ = s.write_all(&r);
                let _ = s.flush();
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn oversized_responses_are_recorded_as_such_not_read_whole() {
    use runner::results::record::ErrorClass;
    let rt = runner::cli::runtime().unwrap();
    let client = runner::load::http::LoadClient::new(None);
    let send = |url: &str, stream: bool| {
        let mut spec = common::request_spec(0, runner::scenario::schema::Endpoint::Chat);
        spec.stream = stream;
        let t0 = Instant::now();
        rt.block_on(runner::load::client::send(&client, url, &spec, t0, t0))
    };
    // A non-streamed body past 64 MiB.
    let n = runner::load::client::MAX_BODY + 1024;
    let mut big = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {n}\r\n\r\n").into_bytes();
    big.extend(std::iter::repeat_n(b' ', n));
    let rec = send(&raw_server(big), false);
    assert_eq!(rec.error, Some(ErrorClass::ResponseTooLarge), "{:?}", rec.error_detail);
    // An event stream whose line never ends.
    let mut sse = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"".to_vec();
    sse.extend(std::iter::repeat_n(b'a', runner::load::client::MAX_SSE_LINE + 1024));
    let rec = send(&raw_server(sse), true);
    assert_eq!(rec.error, Some(ErrorClass::ResponseTooLarge), "{:?}", rec.error_detail);
    // An error body of 8 MiB: classified, with a short detail.
    let n = 8 << 20;
    let mut err = format!("HTTP/1.1 500 Internal Server Error\r\ncontent-length: {n}\r\n\r\n").into_bytes();
    err.extend(std::iter::repeat_n(b'e', n));
    let rec = send(&raw_server(err), true);
    assert_eq!(rec.error, Some(ErrorClass::Http5xx));
    assert!(rec.error_detail.unwrap().len() < 400);
}

/// A launch that failed for a reason of the moment (the endpoint not ready in time) is launched
/// again by `--resume`; its cells are then measured, and the run is complete.
#[test]
fn resume_runs_again_the_cells_of_a_launch_that_failed_for_the_machine() {
    use axum::routing::{get, post};
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let h = healthy.clone();
    let app = axum::Router::new()
        .route(
            "/v1/models",
            get(move || {
                let up = h.load(std::sync::atomic::Ordering::SeqCst);
                async move {
                    if up {
                        (axum::http::StatusCode::OK, axum::Json(serde_json::json!({"data": [{"id": "mock-model"}]})))
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, axum::Json(serde_json::json!({})))
                    }
                }
            }),
        )
        .route("/v1/chat/completions", post(common::completions))
        .with_state(std::sync::Arc::new(common::Mock::default()));
    let url = common::serve_on_own_thread(app);
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "[scenario]\nname = \"later\"\n[[servers]]\nname = \"api\"\nengine = \"external\"\nurl = \"{url}\"\nready_timeout_s = 1\n\
         [[workloads]]\nname = \"chat\"\nrequests = 4\nwarmup = 0\n[grid]\nconcurrency = [1, 2]\nmax_tokens = [4]\n"
    );
    let scenario = common::write_scenario(tmp.path(), "later.toml", &text);
    let out = tmp.path().join("res");
    let run = |extra: &[&str]| {
        runner().args(["run", scenario.to_str().unwrap(), "--output", out.to_str().unwrap(), "--run-id", "r"]).args(extra).output().unwrap()
    };
    let o = run(&[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = out.join("later/r");
    let status = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir.join("cells"))
            .unwrap()
            .flatten()
            .map(|e| {
                serde_json::from_slice::<serde_json::Value>(&std::fs::read(e.path().join("summary.json")).unwrap()).unwrap()["status"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(status(&dir), ["infeasible", "infeasible"]);
    healthy.store(true, std::sync::atomic::Ordering::SeqCst);
    let o = runner().args(["run", scenario.to_str().unwrap(), "--resume", dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(status(&dir), ["ok", "ok"], "the ready timeout was the moment's, not the config's");
}
