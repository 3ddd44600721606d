//! Trace replay: read a recorded trace (streamed, located errors), select and reshape it, find its
//! sessions, synthesize prompts of its lengths with its shared prefix blocks, and turn it into jobs
//! due at the trace's own times (the driver divides them by the cell's speed).

pub mod shape;
pub mod text;

/// The trace file's reader lives with the scenario, whose validation reads it too.
pub use crate::scenario::trace_file as read;
pub use crate::scenario::trace_file::{entries, selection};

use super::client::RequestSpec;
use super::prompts::Prompt;
use super::tokenize::Calibrator;
use super::workload::{Inputs, Job};
use crate::results::record::Phase;
use crate::results::summary::{BuildNote, Dist};
use crate::results::trace::{self as figures, Calibration, TraceNote};
use crate::scenario::schema::{Endpoint, TraceFormat, Workload, DEFAULT_BLOCK_TOKENS};
use anyhow::Result;
use std::time::Duration;

/// Prompts checked on the engine's tokenizer after synthesis, and the shortest target checked (a
/// relative error of a few tokens says nothing).
const CALIBRATION_SAMPLE: usize = 16;
const CALIBRATION_MIN_TOKENS: u32 = 32;

/// A trace's reshaping as the workload declares it.
pub fn shaping(w: &Workload) -> shape::Shaping {
    shape::Shaping {
        scale: w.length_scale.unwrap_or(1.0),
        max_input: w.max_input_tokens,
        max_output: w.max_output_tokens,
        block_tokens: w.block_tokens.unwrap_or(DEFAULT_BLOCK_TOKENS),
    }
}

/// The sessions of the selection: one per request unless the workload replays sessions.
pub fn sessions(w: &Workload, entries: &[read::Entry]) -> Vec<Vec<usize>> {
    match (w.sessions, w.format) {
        (false, _) => (0..entries.len()).map(|j| vec![j]).collect(),
        (true, Some(TraceFormat::Mooncake)) => shape::by_blocks(entries),
        (true, _) => shape::by_id(entries),
    }
}

/// The cell's jobs (warm-up first: the trace's first requests on their own) and how they were made.
pub async fn build(i: &Inputs<'_>) -> Result<(Vec<Job>, BuildNote)> {
    let w = i.workload;
    let speed = i.cell.load.speed().unwrap_or(1.0);
    let entries = entries(w, i.base)?;
    let shaped = shape::shape(&entries, &shaping(w));
    let sessions = sessions(w, &entries);
    let prev = shape::previous(&sessions, entries.len());
    let longest = shaped.input.iter().max().copied().unwrap_or(1) as usize;
    let cal = Calibrator::new(i.client, i.load, i.base_url, i.model, longest.clamp(512, 4096), i.scenario_seed).await;
    let overhead = match w.endpoint {
        Endpoint::Chat => cal.overhead(&[], "").await.unwrap_or(0),
        Endpoint::Completions => 0,
    };
    // Each cell's text is its own (the speed is in the seed): a cell never finds the previous
    // cell's prompts in the engine's cache. Within a cell, equal blocks are equal text.
    let seed = i.scenario_seed ^ speed.to_bits().rotate_left(17);
    let spec = text::Spec { words_per_token: cal.words_per_token(), block_tokens: shaped.block_tokens, overhead: overhead as u32, seed };
    let texts = text::texts(&entries, &shaped.input, &shaped.output, &prev, &spec);
    // Warm-up requests: the first requests' lengths in text of their own, so that the measured
    // ones do not find them in the engine's cache.
    let firsts: Vec<usize> = (0..entries.len()).filter(|&j| prev[j].is_none()).take(i.warmup).collect();
    let warm_entries: Vec<read::Entry> = firsts.iter().map(|&j| read::Entry { blocks: Vec::new(), ..entries[j].clone() }).collect();
    let warm_input: Vec<u32> = firsts.iter().map(|&j| shaped.input[j]).collect();
    let warm_spec = text::Spec { seed: !seed, ..spec };
    let warm_texts = text::texts(&warm_entries, &warm_input, &warm_input, &vec![None; firsts.len()], &warm_spec);
    let calibration = if cal.exact() { check(&cal, &texts, &prev).await } else { None };
    let start_s = w.window.unwrap_or_default().start_s;
    let at_s = |j: usize| entries[j].at_ms / 1000.0 - start_s;
    let request = |j: usize, phase: Phase, conversation: Option<usize>, turn: usize| RequestSpec {
        index: j,
        phase,
        conversation,
        turn: turn as u32,
        endpoint: w.endpoint,
        model: i.model.map(str::to_string),
        prompt: Prompt::user(&texts[j % texts.len()].0),
        max_tokens: shaped.output[j % texts.len()],
        temperature: w.temperature,
        stream: w.stream,
        // The recorded output length, not the model's own stop.
        ignore_eos: true,
        timeout: Duration::from_secs_f64(w.request_timeout_s),
        extra: w.extra_body.iter().filter_map(|(k, v)| serde_json::to_value(v).ok().map(|v| (k.clone(), v))).collect(),
    };
    let n = entries.len();
    let mut jobs: Vec<Job> = firsts
        .iter()
        .enumerate()
        .map(|(k, &j)| {
            Job::single(RequestSpec { index: n + k, prompt: Prompt::user(&warm_texts[k].0), ..request(j, Phase::WarmUp, None, 0) })
        })
        .collect();
    for (s, turns) in sessions.iter().enumerate() {
        let conversation = w.sessions.then_some(s);
        jobs.push(Job {
            specs: turns.iter().enumerate().map(|(t, &j)| request(j, Phase::Measured, conversation, t)).collect(),
            at_s: turns.iter().map(|&j| at_s(j)).collect(),
            think_s: w.think_time_s,
        });
    }
    let note = note(w, &entries, &shaped, &sessions, speed, spec.words_per_token, calibration);
    Ok((jobs, BuildNote { exact_lengths: Some(cal.exact()), overhead_tokens: Some(overhead), trace: Some(note) }))
}

/// The synthetic prompts' token counts on the engine's tokenizer against their targets, on a sample
/// of first turns spread over the trace.
async fn check(cal: &Calibrator, texts: &[(String, u32)], prev: &[Option<usize>]) -> Option<Calibration> {
    let firsts: Vec<usize> = (0..texts.len()).filter(|&j| prev[j].is_none() && texts[j].1 >= CALIBRATION_MIN_TOKENS).collect();
    let step = (firsts.len() / CALIBRATION_SAMPLE).max(1);
    let mut errors = Vec::new();
    for &j in firsts.iter().step_by(step).take(CALIBRATION_SAMPLE) {
        let (text, target) = &texts[j];
        let got = cal.tokenize(text).await?.len() as f64;
        errors.push((got - f64::from(*target)) / f64::from((*target).max(1)) * 100.0);
    }
    (!errors.is_empty()).then(|| Calibration {
        prompts: errors.len(),
        mean_error_pct: errors.iter().sum::<f64>() / errors.len() as f64,
        max_error_pct: errors.iter().map(|e| e.abs()).fold(0.0, f64::max),
    })
}

fn note(
    w: &Workload,
    entries: &[read::Entry],
    shaped: &shape::Shaped,
    sessions: &[Vec<usize>],
    speed: f64,
    wpt: f64,
    calibration: Option<Calibration>,
) -> TraceNote {
    let win = w.window.unwrap_or_default();
    let mut selection = Vec::new();
    if win.start_s > 0.0 || win.duration_s.is_some() {
        selection.push(match win.duration_s {
            Some(d) => format!("window {}-{} s of the trace", win.start_s, win.start_s + d),
            None => format!("from {} s of the trace", win.start_s),
        });
    }
    if let Some(n) = w.requests {
        selection.push(format!("the first {n} requests{}", if selection.is_empty() { "" } else { " of the window" }));
    }
    let first = entries.first().map_or(0.0, |e| e.at_ms);
    let offsets: Vec<f64> = entries.iter().map(|e| (e.at_ms - first) / 1000.0 / speed).collect();
    let recorded_span_s = entries.last().map_or(0.0, |e| (e.at_ms - first) / 1000.0);
    let replay_span_s = recorded_span_s / speed;
    let bin_s = figures::bin_width(replay_span_s);
    let refs: usize = entries.iter().map(|e| e.blocks.len()).sum();
    let distinct = entries.iter().flat_map(|e| e.blocks.iter()).collect::<std::collections::HashSet<_>>().len();
    TraceNote {
        file: w.trace.clone().unwrap_or_default(),
        format: w.format.map_or("jsonl", |f| f.into()).to_string(),
        requests: entries.len(),
        first_line: entries.first().map_or(0, |e| e.line),
        last_line: entries.last().map_or(0, |e| e.line),
        selection,
        changes: shaped.changes.clone(),
        speed,
        recorded_span_s,
        replay_span_s,
        bin_s,
        arrivals_per_s: figures::rate_bins(&offsets, bin_s),
        input_tokens: Dist::of(shaped.input.iter().map(|&v| f64::from(v))),
        output_tokens: Dist::of(shaped.output.iter().map(|&v| f64::from(v))),
        block_refs: refs,
        distinct_blocks: distinct,
        block_tokens: shaped.block_tokens,
        sessions: w.sessions.then_some(sessions.len()),
        longest_session: sessions.iter().map(Vec::len).max().unwrap_or(0),
        pacing: w.sessions.then(|| match w.think_time_s {
            Some(t) => format!("each next turn {t} s after the previous answer"),
            None => "each next turn at its recorded time (scaled), never before the previous answer".into(),
        }),
        words_per_token: wpt,
        calibration,
    }
}
