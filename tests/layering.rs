//! The direction of the flow, checked: every top-level module of `src/` may use only modules of a
//! lower layer (CONTRIBUTING.md, "Layers"). A new import that runs back up the flow, or a cycle between
//! two modules, fails this test with the file and the import named. Unit tests (`#[cfg(test)]`) are
//! not counted: a test may build its inputs with any module.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. A module may use the modules before it, never one after it.
const LAYERS: &[&str] = &[
    "bounded",   // bounded reads: a leaf
    "engines",   // the registry of engines: a leaf macro that scenario and engine expand
    "model",     // a model's own files: config.json and GGUF architecture, dtype sizes (no engine)
    "scenario",  // the scenario file: schema, parse, validate
    "plan",      // expansion into launches, cells, searches, shards
    "results",   // per-request records and the statistics over them (pure)
    "engine",    // one module per engine, the registry, process lifecycle
    "telemetry", // memory, host CPU, engine metrics during a cell
    "load",      // the load client, driver and workloads
    "estimate",  // memory and KV predictions before a launch
    "store",     // the results folder: files, records, CSV, merge
    "interop",   // the field's formats: import of peers' results, Benchmark Report export
    "progress",  // the executor's event interface and terminal reporter
    "execute",   // runs a plan: launch, cells, searches, resume
    "analysis",  // reads stored runs, builds report data
    "report",    // renders report data through templates
    "fleet",     // SLURM, Kubernetes, SkyPilot files for a sharded plan
    "cli",       // commands
];

fn rank(m: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == m)
}

/// The code of a file without its unit tests and comments.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The crate's top-level modules a piece of code names (`crate::x`, `use crate::{x, y::z}`).
fn uses(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let path = regex::Regex::new(r"crate::([a-z_]+)").unwrap();
    let group = regex::Regex::new(r"crate::\{([^}]*)\}").unwrap();
    for c in path.captures_iter(code) {
        out.insert(c[1].to_string());
    }
    for c in group.captures_iter(code) {
        for item in c[1].split(',') {
            let head = item.trim().split("::").next().unwrap_or_default().trim();
            if !head.is_empty() {
                out.insert(head.to_string());
            }
        }
    }
    out
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn every_import_points_down_the_flow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for f in &all {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let Some(own) = rank(&top) else {
            problems.push(format!("src/{top} is in no layer: add it to LAYERS here and in CONTRIBUTING.md"));
            continue;
        };
        seen.insert(top.clone());
        for m in uses(&code(&std::fs::read_to_string(f).unwrap())) {
            match rank(&m) {
                Some(r) if r < own || m == top => {}
                Some(_) => problems.push(format!("src/{}: `{top}` uses `crate::{m}`, a layer above it", rel.display())),
                None => {}
            }
        }
    }
    assert!(problems.is_empty(), "imports against the flow:\n{}", problems.join("\n"));
    let missing: Vec<&&str> = LAYERS.iter().filter(|l| !seen.contains(**l)).collect();
    assert!(missing.is_empty(), "layers without a module in src/: {missing:?}");
}

#[test]
fn the_check_sees_an_import_against_the_flow() {
    // What the check reads, on a sample: both forms of import are found, comments and tests are not.
    let sample =
        "use crate::{store::records, plan};\nfn f() { crate::report::x(); } // crate::cli\n#[cfg(test)]\nmod tests { use crate::fleet; }";
    assert_eq!(uses(&code(sample)).into_iter().collect::<Vec<_>>(), ["plan", "report", "store"]);
}

#[test]
fn contributing_lists_the_same_layers() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("CONTRIBUTING.md")).unwrap();
    let listed = doc.split("<!-- layers -->").nth(1).unwrap_or_default();
    let order: Vec<&str> = LAYERS.iter().copied().filter(|l| listed.contains(&format!("`{l}`"))).collect();
    assert_eq!(order, LAYERS, "CONTRIBUTING.md's layer list (after <!-- layers -->) names every layer");
    let positions: Vec<usize> = LAYERS.iter().map(|l| listed.find(&format!("`{l}`")).unwrap()).collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "CONTRIBUTING.md lists the layers lowest first, in this order");
}
