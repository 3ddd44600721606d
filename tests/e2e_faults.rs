//! Faults survived with real processes: an engine that never becomes ready, endpoints that answer 5xx,
//! malformed SSE, mid-stream errors and connection resets, and an API key that must never be written.

mod common;

use common::{assert_no_engine_left, read_csv, run_dir, start_mock, Mock};
use std::os::unix::fs::PermissionsExt;

fn run(dir: &std::path::Path, text: &str, envs: &[(&str, &str)]) -> (std::path::PathBuf, std::process::Output) {
    let path = common::write_scenario(dir, "faults.toml", text);
    let out = dir.join("results");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_runner"));
    cmd.args(["run", path.to_str().unwrap(), "--output", out.to_str().unwrap()]);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    let name = text.lines().find_map(|l| l.strip_prefix("name = \"")).unwrap().trim_end_matches('"');
    (run_dir(&out, name), output)
}

const TAIL: &str = r#"
[[workloads]]
name = "chat"
requests = 4

[grid]
concurrency = [2]
max_tokens = [8]
"#;

/// The fake engine (`engine = "fake"`) runs the script `binary` names: no engine or model is needed.
#[test]
fn engine_that_never_becomes_ready_hits_its_deadline_and_is_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("never-ready-engine.sh");
    std::fs::write(&script, "#!/bin/sh\n# accepts any flags, never listens\nexec sleep 600\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!(
        "[scenario]\nname = \"never\"\n\n[[servers]]\nname = \"stuck\"\nengine = \"fake\"\nbinary = \"{}\"\nready_timeout_s = 2\nstop_grace_s = 1\n{TAIL}",
        script.display()
    );
    let (run, out) = run(dir.path(), &text, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = read_csv(&run.join("capacity.csv"));
    assert_eq!(rows[0]["status"], "infeasible");
    assert!(rows[0]["reason"].contains("ready_timeout"), "{:?}", rows[0]);
    // The stuck process (its whole group) is gone.
    assert!(common::processes_with(&["sleep 600"]).iter().all(|p| {
        let cmd = std::fs::read_to_string(format!("/proc/{p}/cmdline")).unwrap_or_default();
        !cmd.contains(script.to_str().unwrap())
    }));
    assert!(common::processes_with(&[script.to_str().unwrap()]).is_empty(), "engine left behind");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_endpoints_become_failed_cells_with_reasons() {
    let modes = [
        ("five-hundred", Mock { status: Some(503), ..Mock::default() }, "http_5xx"),
        ("malformed", Mock { malformed: true, ..Mock::default() }, "malformed_sse"),
        ("midstream", Mock { error_after: Some(2), ..Mock::default() }, "stream_error"),
        ("reset", Mock { cut_after: Some(3), ..Mock::default() }, "connection_reset"),
    ];
    let mut servers = String::new();
    for (name, mock, _) in &modes {
        let url = start_mock(mock.clone()).await;
        servers.push_str(&format!("[[servers]]\nname = \"{name}\"\nengine = \"external\"\nurl = \"{url}\"\nready_timeout_s = 5\n\n"));
    }
    let text = format!("[scenario]\nname = \"endpoints\"\n\n{servers}{TAIL}");
    let dir = tempfile::tempdir().unwrap();
    let (run, out) = tokio::task::spawn_blocking({
        let d = dir.path().to_path_buf();
        move || run(&d, &text, &[])
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = read_csv(&run.join("capacity.csv"));
    assert_eq!(rows.len(), 4, "every cell recorded");
    for (name, _, reason) in modes {
        let r = rows.iter().find(|r| r["server"] == name).unwrap();
        assert_eq!(r["status"], "failed", "{r:?}");
        assert!(r["reason"].contains(&format!("{reason} x4")), "{name}: {}", r["reason"]);
    }
}

#[test]
#[cfg_attr(runner_no_engine, ignore = "needs llama-server and the tiny model: run scripts/setup-cpu-engine.sh")]
fn api_key_is_sent_but_never_written() {
    common::engine();
    let key = format!("sk-runner-test-{}", std::process::id());
    let text = format!(
        "[scenario]\nname = \"keyed\"\n\n[[servers]]\nname = \"tiny\"\nengine = \"llamacpp\"\nmodel = \"builtin:tiny-qwen2\"\napi_key_env = \"RUNNER_TEST_API_KEY\"\nready_timeout_s = 60\n[servers.flags]\nctx_size = 2048\nparallel = 2\n{TAIL}"
    );
    let dir = tempfile::tempdir().unwrap();
    // Without the variable nothing starts.
    let (_, refused) = {
        let path = common::write_scenario(dir.path(), "faults.toml", &text);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_runner"))
            .args(["run", path.to_str().unwrap(), "--output", dir.path().join("none").to_str().unwrap()])
            .env_remove("RUNNER_TEST_API_KEY")
            .output()
            .unwrap();
        ((), out)
    };
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("RUNNER_TEST_API_KEY"));
    assert!(!dir.path().join("none").exists());
    // Proxy variables pointing nowhere change nothing: the runner connects directly.
    let nowhere = "http://127.0.0.1:9";
    let envs =
        [("RUNNER_TEST_API_KEY", key.as_str()), ("HTTP_PROXY", nowhere), ("http_proxy", nowhere), ("ALL_PROXY", nowhere), ("NO_PROXY", "")];
    let (run, out) = run(dir.path(), &text, &envs);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = read_csv(&run.join("capacity.csv"));
    // The engine demanded the key (LLAMA_API_KEY) and the requests carried it.
    assert_eq!(rows[0]["status"], "ok", "{:?}", rows[0]);
    let mut leaked = Vec::new();
    let mut stack = vec![run.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if std::fs::read(e.path()).unwrap().windows(key.len()).any(|w| w == key.as_bytes()) {
                leaked.push(e.path());
            }
        }
    }
    assert!(leaked.is_empty(), "the key was written to {leaked:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key) && !String::from_utf8_lossy(&out.stderr).contains(&key));
    assert_no_engine_left(&run);
}

/// The warm-up runs with the cell's own load: at concurrency 1100 its 1100 slots each open a
/// connection (the warm-up was once capped at 1024 in flight without a word).
#[test]
fn warmup_runs_at_the_cells_concurrency_beyond_1024() {
    runner::cli::raise_open_files_limit();
    let mock = common::start_raw_timing_mock(
        std::time::Duration::from_millis(5),
        std::time::Duration::from_millis(1),
        2,
        std::time::Duration::ZERO,
    );
    let text = format!(
        "[scenario]\nname = \"wide\"\n\n[[servers]]\nname = \"raw\"\nengine = \"external\"\nurl = \"{}\"\nready_timeout_s = 10\n\n\
         [[workloads]]\nname = \"chat\"\nrequests = 1\nwarmup = 1100\n\n[grid]\nconcurrency = [1100]\nmax_tokens = [2]\n",
        mock.url
    );
    let dir = tempfile::tempdir().unwrap();
    let before = mock.accepted.load(std::sync::atomic::Ordering::Relaxed);
    let (run, out) = run(dir.path(), &text, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let accepted = mock.accepted.load(std::sync::atomic::Ordering::Relaxed) - before;
    let rows = read_csv(&run.join("capacity.csv"));
    assert_eq!(rows[0]["status"], "ok", "{:?}", rows[0]);
    // 1100 warm-up slots and the measured phase's one (readiness and model probes come on top).
    assert!(accepted >= 1101, "{accepted} connections: the warm-up did not run 1100 at once");
}
