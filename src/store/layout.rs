//! The names of every file and folder of a run's results folder: the one place that says them
//! (README, "Where results go", describes each). Writers, readers and merge all use these names; a
//! new file of the folder is added here first.

/// The run's manifest: scenario text, plan, host, versions, shard.
pub const MANIFEST: &str = "manifest.json";
/// One row per cell, rewritten after every cell.
pub const CAPACITY_CSV: &str = "capacity.csv";
/// `launches/<launch id>/`: one folder per server config.
pub const LAUNCHES: &str = "launches";
/// The launch's record: argv, facts, start failure, stop outcome, prediction.
pub const LAUNCH: &str = "launch.json";
/// The engine's own output, bounded.
pub const SERVER_LOG: &str = "server.log";
/// The launch's command line, as a shell would take it.
pub const COMMAND: &str = "command.txt";
/// `cells/<cell id>/`: one folder per cell.
pub const CELLS: &str = "cells";
/// The cell's result: status, summary, SLO verdicts.
pub const SUMMARY: &str = "summary.json";
/// Every request of the cell, one JSON object a line.
pub const REQUESTS: &str = "requests.jsonl";
/// `searches/<search id>/`: one folder per boundary search.
pub const SEARCHES: &str = "searches";
/// The search's probes and its decision, rewritten after every probe.
pub const SEARCH: &str = "search.json";
/// The data every report is rendered from (in a report folder).
pub const REPORT_DATA: &str = "report_data.json";

/// The cell's telemetry of one repeat (memory, host CPU, engine metrics).
pub fn telemetry(repeat: u32) -> String {
    if repeat == 0 {
        "telemetry.json".to_string()
    } else {
        format!("telemetry.repeat{repeat}.json")
    }
}
