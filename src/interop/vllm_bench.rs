//! `vllm bench serve --save-result` JSON (with or without `--save-detailed`). Its traps: the request
//! rate may be the string "inf"; percentile keys carry dots (`p99.9_ttft_ms`); per-request lists are
//! in seconds; its TTFT stops at the first chunk with `choices`, the role-only one included; `date`
//! is the local time of the machine that ran it, "YYYYMMDD-HHMMSS", without a zone.

use super::json::{nums, Doc};
use super::peer::{Figures, PeerCell, Sample};
use crate::plan::Load;
use crate::results::import::{Comparable, Metric, PeerTool};
use anyhow::{bail, Result};
use serde_json::Value;

/// Whether the document looks like a vllm bench serve result.
pub fn looks_like(d: &Doc) -> bool {
    ["completed", "request_throughput", "output_throughput"].iter().all(|k| d.at(k).is_some())
        && (d.at("backend").is_some() || d.at("endpoint_type").is_some() || d.at("date").is_some())
}

pub fn parse(d: &Doc) -> Result<PeerCell> {
    if !looks_like(d) {
        bail!(
            "{} is not a vllm bench serve result (it has no `completed`, `request_throughput` and `backend`){}",
            d.file,
            super::guess_hint(d)
        );
    }
    let mut c = PeerCell::new(PeerTool::VllmBench);
    c.tool_version = d.text("vllm_version")?;
    c.model = d.text("model_id")?;
    c.endpoint = d.text("backend")?.map(|b| if b.contains("chat") { "chat".into() } else { "completions".into() });
    c.started_at = d.text("date")?.as_deref().and_then(local_date);
    if c.started_at.is_some() {
        c.notes.push("`date` is the local time of the machine that ran it (the file has no time zone).".into());
    }
    c.load = Some(load(d, &mut c.notes)?);
    let completed = d.need_num("completed")? as usize;
    let failed = d.num("failed")?.unwrap_or(0.0) as usize;
    c.ok = completed;
    c.errors = failed;
    c.requests = completed + failed;
    c.duration_s = d.need_num("duration")?;
    c.input_tokens = d.num("total_input_tokens")?.map(|x| x as u64);
    c.output_tokens = d.num("total_output_tokens")?.map(|x| x as u64);
    c.throughput_tok_s = d.num("output_throughput")?;
    for (m, key) in [(Metric::Ttft, "ttft"), (Metric::Tpot, "tpot"), (Metric::Itl, "itl"), (Metric::E2e, "e2el")] {
        let f = figures(d, key, completed)?;
        match m {
            Metric::Ttft => c.ttft = f,
            Metric::Tpot => c.tpot = f,
            Metric::Itl => c.itl = f,
            _ => c.e2e = f,
        }
    }
    detail(d, &mut c)?;
    c.define(
        Metric::Ttft,
        "ttft (ms)",
        Comparable::Differs,
        "vLLM's TTFT stops at the first chunk with `choices`, the role-only chunk included; runner's at the first chunk with text. \
         Equal where the engine sends the role with the first token (llama-server does); much shorter where it sends the role first.",
    );
    c.define(Metric::Tpot, "tpot (ms)", Comparable::Same, "");
    c.define(
        Metric::Itl,
        "itl (ms)",
        Comparable::Differs,
        "gaps between chunks with `choices`: where the role chunk comes first, each request's first gap holds its prefill.",
    );
    c.define(Metric::E2e, "e2el (ms)", Comparable::Same, "");
    c.define(Metric::Throughput, "output_throughput (tok/s)", Comparable::Same, "");
    Ok(c)
}

/// `request_rate` ("inf" or a number), `max_concurrency` and `burstiness` as runner's load.
fn load(d: &Doc, notes: &mut Vec<String>) -> Result<Load> {
    let conc = d.num("max_concurrency")?.map(|x| x as u32);
    let rate = match d.at("request_rate") {
        None => None,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("inf") => None,
        Some(Value::Number(n)) => n.as_f64().filter(|x| x.is_finite()),
        Some(v) => bail!("{}: `request_rate` should be a number or \"inf\", found {}", d.file, super::json::kind(v)),
    };
    if let Some(b) = d.num("burstiness")?.filter(|b| (*b - 1.0).abs() > 1e-9) {
        notes.push(format!("arrivals had burstiness {b} (gamma; 1 is Poisson)."));
    }
    Ok(match (rate, conc) {
        (Some(rate), cap) => Load::Open { rate, max_in_flight: cap },
        (None, Some(c)) => Load::Closed { concurrency: c },
        (None, None) => {
            let n = d.need_num("num_prompts")? as u32;
            notes.push(format!("request rate inf without max_concurrency: all {n} requests were sent at once; stored as concurrency {n}."));
            Load::Closed { concurrency: n }
        }
    })
}

/// `mean_/median_/std_/pX_<key>_ms`, X with or without a decimal point.
fn figures(d: &Doc, key: &str, n: usize) -> Result<Figures> {
    let mut f = Figures { n, mean: d.num(&format!("mean_{key}_ms"))?, p50: d.num(&format!("median_{key}_ms"))?, ..Default::default() };
    let Some(map) = d.root.as_object() else { return Ok(f) };
    for (k, v) in map {
        let Some(p) = k.strip_prefix('p').and_then(|r| r.strip_suffix(&format!("_{key}_ms"))) else { continue };
        let Ok(q) = p.parse::<f64>() else { continue };
        let x = v.as_f64().filter(|x| x.is_finite());
        match q {
            50.0 => f.p50 = f.p50.or(x),
            90.0 => f.p90 = x,
            95.0 => f.p95 = x,
            99.0 => f.p99 = x,
            _ => {} // e.g. p99.9: runner keeps p50/p90/p95/p99 only
        }
    }
    Ok(f)
}

/// `--save-detailed`: per-request `ttfts`, `itls`, `latencies` (seconds), `input_lens`,
/// `output_lens`, `start_times`, `errors`. Fills the figures the summary keys left out, checks the
/// file's own median against its samples, and keeps every request.
fn detail(d: &Doc, c: &mut PeerCell) -> Result<()> {
    let file = d.file.as_str();
    let (Some(ttfts), Some(lat)) = (nums(file, d.at("ttfts"), "ttfts")?, nums(file, d.at("latencies"), "latencies")?) else {
        c.notes.push("saved without --save-detailed: no per-request data, so min, max and the percentiles the file did not list are not shown, and `runner compare` cannot test its latencies for noise.".into());
        return Ok(());
    };
    let n = ttfts.len();
    let errors: Vec<String> = match d.at("errors") {
        Some(Value::Array(a)) => a.iter().map(|e| e.as_str().unwrap_or_default().to_string()).collect(),
        _ => vec![String::new(); n],
    };
    let starts = nums(file, d.at("start_times"), "start_times")?.unwrap_or_default();
    let inputs = nums(file, d.at("input_lens"), "input_lens")?.unwrap_or_default();
    let outputs = nums(file, d.at("output_lens"), "output_lens")?.unwrap_or_default();
    let itls: Vec<Option<Vec<f64>>> = match d.at("itls") {
        Some(Value::Array(a)) => a.iter().enumerate().map(|(i, v)| nums(file, Some(v), &format!("itls.{i}"))).collect::<Result<_>>()?,
        _ => vec![None; n],
    };
    if lat.len() != n || errors.len() != n || itls.len() != n {
        bail!("{file}: the per-request lists `ttfts`, `latencies`, `itls` and `errors` differ in length; the file was altered");
    }
    let t0 = starts.iter().copied().filter(|x| x.is_finite()).fold(f64::INFINITY, f64::min);
    for i in 0..n {
        let ok = errors[i].is_empty();
        let out = outputs.get(i).map(|x| *x as u64);
        let gaps: Option<Vec<f64>> = itls[i].as_ref().map(|g| g.iter().map(|x| x * 1000.0).collect());
        c.samples.push(Sample {
            start_ms: starts.get(i).map_or(0.0, |s| (s - t0) * 1000.0),
            ok,
            error: (!ok).then(|| errors[i].clone()),
            ttft_ms: ok.then(|| ttfts[i] * 1000.0),
            e2e_ms: ok.then(|| lat[i] * 1000.0),
            gaps_ms: gaps,
            input_tokens: inputs.get(i).map(|x| *x as u64),
            output_tokens: out,
        });
    }
    let ok: Vec<&Sample> = c.samples.iter().filter(|s| s.ok).collect();
    let ttft: Vec<f64> = ok.iter().filter_map(|s| s.ttft_ms).collect();
    let e2e: Vec<f64> = ok.iter().filter_map(|s| s.e2e_ms).collect();
    let tpot: Vec<f64> = ok
        .iter()
        .filter_map(|s| {
            let o = s.output_tokens? as f64;
            let (e, t) = (s.e2e_ms?, s.ttft_ms?);
            (o > 1.0).then(|| (e - t) / (o - 1.0))
        })
        .collect();
    let itl: Vec<f64> = ok.iter().flat_map(|s| s.gaps_ms.clone().unwrap_or_default()).collect();
    check_median(file, "ttft", c.ttft.p50, &ttft)?;
    check_median(file, "e2el", c.e2e.p50, &e2e)?;
    c.ttft = std::mem::take(&mut c.ttft).filled_from(&ttft);
    c.e2e = std::mem::take(&mut c.e2e).filled_from(&e2e);
    c.tpot = std::mem::take(&mut c.tpot).filled_from(&tpot);
    c.itl = Figures { n: itl.len(), ..std::mem::take(&mut c.itl) }.filled_from(&itl);
    if let Some(note) = first_gap_note(&ok) {
        c.notes.push(note);
    }
    Ok(())
}

/// The file's median against the median of its own samples (a file whose summary and samples
/// disagree was altered, or is of a vLLM version that defines them otherwise).
fn check_median(file: &str, key: &str, stated: Option<f64>, samples: &[f64]) -> Result<()> {
    let (Some(stated), Some(d)) = (stated, crate::results::summary::Dist::of(samples.iter().copied())) else { return Ok(()) };
    if (stated - d.p50).abs() > 1e-6 * stated.abs().max(1.0) {
        bail!("{file}: `median_{key}_ms` is {stated} but the file's own per-request values give {}; the file was altered", d.p50);
    }
    Ok(())
}

/// "20261207-224132" as "2026-12-07T22:41:32" (local time, no zone).
fn local_date(s: &str) -> Option<String> {
    chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d-%H%M%S").ok().map(|t| t.format("%Y-%m-%dT%H:%M:%S").to_string())
}

/// What the first gap of each request says of its TTFT: vLLM's TTFT stops at the first chunk with
/// `choices`; when that chunk is a role-only one sent before prefill ends, the first gap holds the
/// rest of the wait for the first token. Measured from the file's own gaps (medians over requests).
fn first_gap_note(ok: &[&Sample]) -> Option<String> {
    let med = |mut v: Vec<f64>| {
        (!v.is_empty()).then(|| {
            v.sort_by(f64::total_cmp);
            crate::results::summary::percentile(&v, 50.0)
        })
    };
    let first = med(ok.iter().filter_map(|s| s.gaps_ms.as_ref()?.first().copied()).collect())?;
    let rest = med(ok.iter().flat_map(|s| s.gaps_ms.iter().flat_map(|g| g.iter().skip(1).copied())).collect())?;
    Some(if first < 0.2 * rest {
        format!(
            "the first gap of each request is a median {first:.3} ms against {rest:.2} ms for the others: the first chunk came with the first \
             token (or just before it), so this file's TTFT is close to runner's definition here."
        )
    } else {
        format!(
            "the first gap of each request is a median {first:.2} ms against {rest:.2} ms for the others: the first chunk came before the \
             first token (a role-only chunk), so this file's TTFT is shorter than runner's by about that first gap."
        )
    })
}
