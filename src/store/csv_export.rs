//! `capacity.csv`: one row per cell. The seeds' columns come first, then one column per server-flag
//! grid axis, then the rest. Pure: results in, bytes out.

use crate::results::records::CellResult;
use crate::results::summary::Dist;
use anyhow::Result;

const LEADING: &[&str] =
    &["gpu", "workload", "concurrency", "max_tokens", "p50_ttft_ms", "p95_ttft_ms", "p50_e2e_ms", "p95_e2e_ms", "throughput_tok_s"];
const TRAILING: &[&str] = &[
    "status",
    "server",
    "engine",
    "model",
    "requests",
    "errors",
    "error_rate",
    "p90_ttft_ms",
    "p99_ttft_ms",
    "p90_e2e_ms",
    "p99_e2e_ms",
    "mean_e2e_ms",
    "p50_itl_ms",
    "p95_itl_ms",
    "p99_itl_ms",
    "p50_tpot_ms",
    "p95_tpot_ms",
    "mean_user_tok_s",
    "requests_per_s",
    "output_tokens",
    "wall_s",
    "request_rate",
    "goodput_rps",
    "good_share",
    "p95_ttft_from_scheduled_ms",
    "p95_e2e_from_scheduled_ms",
    "mean_prompt_tokens",
    "cached_share",
    "slo_pass",
    "reason",
    "ready_s",
    "kv_cache_gib",
    "kv_cache_tokens",
    "max_concurrency",
    "engine_max_model_len",
    "mem_source",
    "mem_at_ready_mib",
    "peak_mem_mib",
    "gpu_util_pct",
    "kv_usage_max",
    "engine_running_max",
    "engine_running_mean",
    "engine_waiting_max",
    "preemptions",
    "prefix_cache_hit_rate",
    "runner_fds_max",
    "runner_rss_max_mib",
    "runner_cpu_pct",
    "new_connections",
    "no_visible_text",
    "p95_connect_ms",
    "others_cpu_pct",
    "engine_cpu_pct",
    "steal_pct",
    "disturbed",
    "unstable",
    "repeats",
    "p95_ttft_ms_min",
    "p95_ttft_ms_max",
    "p95_e2e_ms_min",
    "p95_e2e_ms_max",
    "throughput_tok_s_min",
    "throughput_tok_s_max",
    "trace_speed",
    "replay_lag_p99_ms",
    "replay_behind",
    "sessions",
    "peak_sessions_open",
    "peak_requests_in_flight",
    "cost_per_mtok",
    "imported_from",
    "cell_id",
];

const MIB: f64 = 1024.0 * 1024.0;

/// Peak memory of a cell from the configured source: the engine's GPU memory, else all GPU memory,
/// else the process group's RSS.
pub fn peak_memory_bytes(r: &CellResult) -> Option<u64> {
    r.telemetry.as_ref()?.memory.primary_peak_bytes()
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.3}"),
        _ => String::new(),
    }
}

fn pick(d: &Option<Dist>, f: fn(&Dist) -> f64) -> Option<f64> {
    d.as_ref().map(f)
}

/// A field a spreadsheet will not run: text starting with `=`, `+`, `-`, `@`, a tab or a carriage
/// return (a formula, in Excel, LibreOffice and Sheets) gets a leading `'`; numbers stay numbers.
fn inert(field: String) -> String {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if formula && field.parse::<f64>().is_err() {
        format!("'{field}")
    } else {
        field
    }
}

/// Renders the CSV. `server_axes` are the grid's server-flag keys (one column each); with a `price`,
/// `cost_per_mtok` is the cost of a million output tokens at the cell's throughput.
pub fn capacity_csv(
    gpu: &str,
    server_axes: &[String],
    price: Option<&crate::scenario::schema::Price>,
    results: &[CellResult],
) -> Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = LEADING.iter().map(|s| s.to_string()).collect();
    header.extend(server_axes.iter().cloned());
    header.extend(TRAILING.iter().map(|s| s.to_string()));
    w.write_record(&header)?;
    for r in results {
        let s = r.summary.as_ref();
        let ttft = s.and_then(|s| s.ttft_ms.clone());
        let e2e = s.and_then(|s| s.e2e_ms.clone());
        let itl = s.and_then(|s| s.itl_ms.clone());
        let tpot = s.and_then(|s| s.tpot_ms.clone());
        let mut row = vec![
            gpu.to_string(),
            r.cell.workload.clone(),
            r.cell.load.concurrency().map_or(String::new(), |c| c.to_string()),
            r.cell.max_tokens.to_string(),
            num(pick(&ttft, |d| d.p50)),
            num(pick(&ttft, |d| d.p95)),
            num(pick(&e2e, |d| d.p50)),
            num(pick(&e2e, |d| d.p95)),
            num(s.map(|s| s.throughput_tok_s)),
        ];
        row.extend(server_axes.iter().map(|k| r.cell.params.get(k).map(|v| v.label()).unwrap_or_default()));
        row.extend([
            r.status.as_str().to_string(),
            r.server.clone(),
            r.engine.as_str().to_string(),
            r.model.clone().unwrap_or_default(),
            s.map_or(String::new(), |s| s.requests.to_string()),
            s.map_or(String::new(), |s| s.errors.to_string()),
            num(s.map(|s| s.error_rate)),
            num(pick(&ttft, |d| d.p90)),
            num(pick(&ttft, |d| d.p99)),
            num(pick(&e2e, |d| d.p90)),
            num(pick(&e2e, |d| d.p99)),
            num(pick(&e2e, |d| d.mean)),
            num(pick(&itl, |d| d.p50)),
            num(pick(&itl, |d| d.p95)),
            num(pick(&itl, |d| d.p99)),
            num(pick(&tpot, |d| d.p50)),
            num(pick(&tpot, |d| d.p95)),
            num(s.and_then(|s| s.mean_user_tok_s)),
            num(s.map(|s| s.requests_per_s)),
            s.map_or(String::new(), |s| s.output_tokens.to_string()),
            num(s.map(|s| s.wall_s)),
            r.cell.load.rate().map_or(String::new(), |x| x.to_string()),
            num(s.and_then(|s| s.goodput_rps)),
            num(s.and_then(|s| s.good_share)),
            num(s.and_then(|s| s.ttft_from_scheduled_ms.as_ref().map(|d| d.p95))),
            num(s.and_then(|s| s.e2e_from_scheduled_ms.as_ref().map(|d| d.p95))),
            num(s.and_then(|s| s.prompt_tokens_per_request.as_ref().map(|d| d.mean))),
            num(s.and_then(|s| s.cached_share)),
            r.verdict.as_ref().map_or(String::new(), |v| v.pass.to_string()),
            r.reason.clone().unwrap_or_default(),
        ]);
        let st = r.startup.as_ref();
        let facts = st.map(|s| &s.facts);
        let eng = r.telemetry.as_ref().map(|t| &t.engine);
        row.extend([
            num(st.and_then(|s| s.ready_s)),
            facts.and_then(|f| f.kv_cache_gib).map_or(String::new(), |v| format!("{v:.6}")),
            facts.and_then(|f| f.kv_cache_tokens).map_or(String::new(), |v| v.to_string()),
            num(facts.and_then(|f| f.max_concurrency)),
            facts.and_then(|f| f.context_len).map_or(String::new(), |v| v.to_string()),
            st.map_or(String::new(), |s| s.memory_source.as_str().to_string()),
            num(st.and_then(|s| s.memory_at_ready.as_ref()).and_then(|m| m.primary_bytes()).map(|b| b as f64 / MIB)),
            num(peak_memory_bytes(r).map(|b| b as f64 / MIB)),
            num(r.telemetry.as_ref().and_then(|t| t.memory.mean_gpu_util_pct)),
            num(eng.and_then(|e| e.kv_cache_usage_max)),
            num(eng.and_then(|e| e.running_max)),
            num(eng.and_then(|e| e.running_mean)),
            num(eng.and_then(|e| e.waiting_max)),
            num(eng.and_then(|e| e.preemptions)),
            num(eng.and_then(|e| e.prefix_cache_hit_rate)),
            r.telemetry.as_ref().and_then(|t| t.memory.runner_fds_max).map_or(String::new(), |v| v.to_string()),
            num(r.telemetry.as_ref().and_then(|t| t.memory.runner_rss_max_bytes).map(|b| b as f64 / MIB)),
            num(r.telemetry.as_ref().and_then(|t| t.memory.runner_cpu_pct)),
            s.and_then(|s| s.new_connections).map_or(String::new(), |n| n.to_string()),
            s.map_or(String::new(), |s| s.no_visible_text.to_string()),
            num(s.and_then(|s| s.connect_ms.as_ref().map(|d| d.p95))),
            num(r.quality.others_cpu_pct),
            num(r.telemetry.as_ref().and_then(|t| t.memory.host_cpu).map(|h| h.engine_pct)),
            num(r.telemetry.as_ref().and_then(|t| t.memory.host_cpu).map(|h| h.steal_pct)),
            r.quality.disturbed.to_string(),
            r.quality.unstable.to_string(),
            r.quality.repeats.len().to_string(),
        ]);
        let spread = r.quality.spread.as_ref();
        for range in [spread.and_then(|s| s.p95_ttft_ms), spread.and_then(|s| s.p95_e2e_ms), spread.and_then(|s| s.throughput_tok_s)] {
            row.extend([num(range.map(|x| x.min)), num(range.map(|x| x.max))]);
        }
        let replay = s.and_then(|s| s.replay.as_ref());
        row.extend([
            r.cell.load.speed().map_or(String::new(), |x| x.to_string()),
            num(replay.and_then(|x| x.lag_ms.as_ref()).map(|d| d.p99)),
            replay.map_or(String::new(), |x| x.behind.to_string()),
            replay.and_then(|x| x.sessions).map_or(String::new(), |n| n.to_string()),
            replay.and_then(|x| x.peak_sessions_open).map_or(String::new(), |n| n.to_string()),
            replay.map_or(String::new(), |x| x.peak_requests_in_flight.to_string()),
        ]);
        row.push(num(price.zip(s).and_then(|(p, s)| crate::scenario::prices::cost_per_mtok(p.per_hour, s.throughput_tok_s))));
        row.push(r.import.as_ref().map_or(String::new(), |i| i.source_label()));
        row.push(r.cell.id.clone());
        w.write_record(row.into_iter().map(inert))?;
    }
    w.into_inner().map_err(|e| anyhow::anyhow!("csv: {e}"))
}

#[cfg(test)]
mod tests {
    use super::inert;

    #[test]
    fn a_field_a_spreadsheet_would_run_is_made_text_and_numbers_stay_numbers() {
        assert_eq!(inert("=HYPERLINK(\"http://x\")".into()), "'=HYPERLINK(\"http://x\")");
        assert_eq!(inert("+cmd|' /C calc'!A0".into()), "'+cmd|' /C calc'!A0");
        assert_eq!(inert("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(inert("-2+3".into()), "'-2+3");
        assert_eq!(inert("-1.500".into()), "-1.500");
        assert_eq!(inert("chat".into()), "chat");
        assert_eq!(inert(String::new()), "");
    }
}
