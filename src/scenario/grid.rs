//! The grid's axes as the scenario declares them, and how many cells they make. Pure; `plan` expands
//! them into cells, validation caps their number.

use super::schema::{Scenario, Server, Workload};

/// Whether workload `w` runs on server `srv` (all servers when its `servers` list is empty).
pub fn applies(w: &Workload, srv: &Server) -> bool {
    w.servers.is_empty() || w.servers.iter().any(|n| n == &srv.name)
}

/// The `concurrency` axis; None without one (closed loop then runs at 1, open loop uncapped). The
/// axes are read as TOML integers so that validation can point at a negative or huge value; a
/// validated scenario has none, and a value that does not fit a u32 is left out here, never mapped.
pub fn concurrency_values(s: &Scenario) -> Option<Vec<u32>> {
    s.grid.concurrency.as_ref().map(|v| counts(v))
}

fn counts(v: &[i64]) -> Vec<u32> {
    v.iter().filter_map(|&x| u32::try_from(x).ok()).collect()
}

/// The `request_rate` axis as open-loop rates; `[None]` (closed loop) without one.
pub fn rate_values(s: &Scenario) -> Vec<Option<f64>> {
    s.grid.request_rate.clone().map_or_else(|| vec![None], |r| r.into_iter().map(Some).collect())
}

/// The `max_tokens` axis, or the workload's own `max_tokens`; a trace workload has one (its
/// `max_output_tokens` or 0: it asks for the trace's recorded output lengths).
pub fn max_tokens_values(s: &Scenario, w: &Workload) -> Vec<u32> {
    if w.is_trace() {
        return vec![w.max_output_tokens.unwrap_or(0)];
    }
    s.grid.max_tokens.as_ref().map_or_else(|| vec![w.max_tokens], |v| counts(v))
}

/// A trace workload's speeds: the `trace_speed` axis, or its own `speed` (1 when absent).
pub fn trace_speeds(s: &Scenario, w: &Workload) -> Vec<f64> {
    s.grid.trace_speed.clone().unwrap_or_else(|| vec![w.speed.unwrap_or(1.0)])
}

/// Number of server-flag combinations (launches per server), saturating: 64 axes of 2 values are
/// "too many", never a product that wrapped to 0.
pub fn server_combinations(s: &Scenario) -> usize {
    s.grid.server.values().map(Vec::len).fold(1usize, usize::saturating_mul)
}

/// Number of cells the grid expands to, without building them (validation caps absurd grids cheaply).
pub fn count_cells(s: &Scenario) -> usize {
    let combos = server_combinations(s);
    if s.workloads.is_empty() {
        return s.servers.len().saturating_mul(combos);
    }
    let conc = concurrency_values(s).map_or(1, |v| v.len());
    let rates = rate_values(s).len();
    s.servers
        .iter()
        .map(|srv| {
            let per_launch: usize = s
                .workloads
                .iter()
                .filter(|w| applies(w, srv))
                .map(|w| match w.is_trace() {
                    true => trace_speeds(s, w).len(),
                    false => conc.saturating_mul(rates).saturating_mul(max_tokens_values(s, w).len()),
                })
                .sum();
            per_launch.saturating_mul(combos)
        })
        .fold(0usize, usize::saturating_add)
}
