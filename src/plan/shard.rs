//! Sharding a plan over N machines: whole launches (a server config's cells never split), assigned
//! by expected cost so the shards take about as long. Pure and deterministic: every machine of a
//! fleet computes the same assignment from the same scenario, with nothing of its own (no earlier
//! runs, no clock) in it.

use super::{search::Spec, Plan};
use crate::scenario::schema::Scenario;
use serde::{Deserialize, Serialize};

/// Shard `k` of `n` (0-based: SLURM array task ids and Kubernetes completion indexes count from 0).
/// Stored as its "K/N" text (the manifest's `shard.shard`, a merged cell's origin), and checked when
/// read back: a folder from another machine cannot hold shard 5 of 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("--shard {s:?}: give K/N with 0 <= K < N, e.g. 0/3 (K counts from 0, like SLURM_ARRAY_TASK_ID)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (k.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl TryFrom<String> for Shard {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse::<Shard>().map_err(|_| format!("shard {s:?} is not K/N with 0 <= K < N"))
    }
}

impl From<Shard> for String {
    fn from(s: Shard) -> String {
        s.to_string()
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}

/// The expected cost of a launch: the requests its cells send (warm-up and repeats included) times
/// the tokens each asks for; a search counts the most probes it can take.
pub fn cost(s: &Scenario, plan: &Plan, launch: usize) -> f64 {
    let per = |workload: &str, max_tokens: u32| {
        super::workload(s, workload).map_or(1.0, |w| f64::from(w.warmup + w.requests() * w.repeats.max(1)) * f64::from(max_tokens.max(1)))
    };
    let cells: f64 = plan.cells_of(launch).map(|c| per(&c.workload, c.max_tokens)).sum();
    let probes = s.search.as_ref().map_or(0, |x| Spec::of(x).most_probes()) as f64;
    let searches: f64 = plan.searches_of(launch).map(|t| probes * per(&t.workload, t.max_tokens)).sum();
    // A launch with no load still costs its start-up.
    (cells + searches).max(1.0)
}

/// The shard of every launch (by launch index): the costliest launch first, each to the shard with
/// the least cost so far (ties: the lower launch index, the lower shard).
pub fn assign(s: &Scenario, plan: &Plan, n: usize) -> Vec<usize> {
    let mut order: Vec<(usize, f64)> = plan.launches.iter().map(|l| (l.index, cost(s, plan, l.index))).collect();
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut load = vec![0.0f64; n.max(1)];
    let mut of = vec![0; plan.launches.len()];
    for (launch, c) in order {
        let k = (0..load.len()).min_by(|&a, &b| load[a].total_cmp(&load[b]).then(a.cmp(&b))).unwrap_or(0);
        load[k] += c;
        of[launch] = k;
    }
    of
}

/// The part of `plan` shard `shard` runs: its launches with their cells and searches, ids and indexes
/// unchanged (so the shards' folders merge back into the whole).
pub fn part(s: &Scenario, plan: &Plan, shard: Shard) -> Plan {
    let of = assign(s, plan, shard.n);
    let mine = |launch: usize| of.get(launch) == Some(&shard.k);
    Plan {
        launches: plan.launches.iter().filter(|l| mine(l.index)).cloned().collect(),
        cells: plan.cells.iter().filter(|c| mine(c.launch)).cloned().collect(),
        searches: plan.searches.iter().filter(|t| mine(t.launch)).cloned().collect(),
        shard: Some(shard),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::checks::parse;
    use std::path::Path;

    #[test]
    fn a_shard_is_stored_as_its_text_and_checked_when_read() {
        let sh: Shard = "1/3".parse().unwrap();
        assert_eq!(serde_json::to_string(&sh).unwrap(), "\"1/3\"");
        assert_eq!(serde_json::from_str::<Shard>("\"1/3\"").unwrap(), sh);
        for bad in ["\"5/3\"", "\"1/0\"", "\"x\"", "{\"k\":0,\"n\":1}"] {
            assert!(serde_json::from_str::<Shard>(bad).is_err(), "{bad}");
        }
    }

    const TEXT: &str = r#"
[scenario]
name = "shards"
[[servers]]
name = "a"
engine = "llamacpp"
model = "m.gguf"
[[workloads]]
name = "chat"
requests = 10
[grid]
concurrency = [1, 2]
[grid.server]
parallel = [1, 2, 4, 8, 16]
"#;

    #[test]
    fn shards_cover_every_launch_once_and_balance() {
        let s = parse("s.toml", &TEXT.replace("m.gguf", "builtin:tiny-qwen2"), Path::new(".")).unwrap();
        let plan = crate::plan::expand(&s);
        let parts: Vec<Plan> = (0..3).map(|k| part(&s, &plan, Shard { k, n: 3 })).collect();
        let mut ids: Vec<String> = parts.iter().flat_map(|p| p.cells.iter().map(|c| c.id.clone())).collect();
        ids.sort();
        let mut all: Vec<String> = plan.cells.iter().map(|c| c.id.clone()).collect();
        all.sort();
        assert_eq!(ids, all, "every cell in exactly one shard");
        // Equal launches: 5 over 3 shards is 2, 2, 1; a launch's cells stay together.
        assert_eq!(parts.iter().map(|p| p.launches.len()).collect::<Vec<_>>(), [2, 2, 1]);
        for p in &parts {
            assert!(p.cells.iter().all(|c| p.launches.iter().any(|l| l.index == c.launch)));
        }
        assert_eq!(assign(&s, &plan, 3), assign(&s, &plan, 3), "deterministic");
        // Unequal launches: a second server whose workload sends 10x the requests. The shards' costs
        // differ by at most one launch's cost (greedy, costliest first).
        let heavy = format!(
            "{}[[servers]]\nname = \"b\"\nengine = \"llamacpp\"\nmodel = \"builtin:tiny-qwen2\"\n[[workloads]]\nname = \"long\"\nservers = [\"b\"]\nrequests = 100\n",
            TEXT.replace("m.gguf", "builtin:tiny-qwen2").replace("[[workloads]]\nname = \"chat\"", "[[workloads]]\nname = \"chat\"\nservers = [\"a\"]")
        );
        let s2 = parse("s.toml", &heavy, Path::new(".")).unwrap();
        let p2 = crate::plan::expand(&s2);
        assert_eq!(p2.launches.len(), 10);
        let of = assign(&s2, &p2, 3);
        let totals: Vec<f64> =
            (0..3).map(|k| p2.launches.iter().filter(|l| of[l.index] == k).map(|l| cost(&s2, &p2, l.index)).sum()).collect();
        let biggest = p2.launches.iter().map(|l| cost(&s2, &p2, l.index)).fold(0.0, f64::max);
        let (lo, hi) = (totals.iter().copied().fold(f64::MAX, f64::min), totals.iter().copied().fold(0.0, f64::max));
        assert!(hi - lo <= biggest && biggest > cost(&s2, &p2, 0), "{totals:?}");
    }

    #[test]
    fn shard_text_is_checked() {
        assert_eq!("2/3".parse::<Shard>(), Ok(Shard { k: 2, n: 3 }));
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
