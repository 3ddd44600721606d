//! Turning a workload and a cell into jobs: one job per request, or per conversation for multi-turn
//! chat. All choices are seeded. Lengths in tokens are calibrated against the engine (`tokenize`).

use super::client::RequestSpec;
use super::prompts::{self, Message, Prompt};
use super::sources;
use super::tokenize::Calibrator;
use crate::plan::Cell;
use crate::results::summary::BuildNote;
use crate::scenario::schema::{TokenLen, Workload, WorkloadKind};
use anyhow::Result;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::time::Duration;

/// Requests sent in order by one worker; later turns get the conversation so far prepended.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub specs: Vec<RequestSpec>,
    /// A trace replay: when each turn is due, in seconds of the trace from its start (the driver
    /// divides by the speed); a later turn is never sent before the previous answer arrived.
    pub at_s: Vec<f64>,
    /// A trace session's pause after an answer before the next turn (instead of its recorded time).
    pub think_s: Option<f64>,
}

impl Job {
    pub fn single(spec: RequestSpec) -> Job {
        Job { specs: vec![spec], ..Job::default() }
    }
}

pub struct Inputs<'a> {
    pub workload: &'a Workload,
    pub cell: &'a Cell,
    pub warmup: usize,
    pub measured: usize,
    pub seed: u64,
    pub scenario_seed: u64,
    pub base: &'a Path,
    pub model: Option<&'a str>,
    pub client: &'a reqwest::Client,
    /// The client that sends the load (also the calibration's one real request).
    pub load: &'a super::http::LoadClient,
    pub base_url: &'a str,
}

fn sample(len: TokenLen, rng: &mut impl Rng) -> usize {
    let (lo, hi) = len.bounds();
    rng.gen_range(lo..=hi.max(lo)) as usize
}

fn spec(i: &Inputs<'_>, index: usize, prompt: Prompt, max_tokens: u32) -> RequestSpec {
    let w = i.workload;
    RequestSpec {
        index,
        phase: warm_up_if(index < i.warmup),
        conversation: None,
        turn: 0,
        endpoint: w.endpoint,
        model: i.model.map(str::to_string),
        prompt,
        max_tokens,
        temperature: w.temperature,
        stream: w.stream,
        ignore_eos: w.ignore_eos,
        timeout: Duration::from_secs_f64(w.request_timeout_s),
        extra: w.extra_body.iter().filter_map(|(k, v)| serde_json::to_value(v).ok().map(|v| (k.clone(), v))).collect(),
    }
}

async fn calibrator(i: &Inputs<'_>, max_len: usize) -> Calibrator {
    Calibrator::new(i.client, i.load, i.base_url, i.model, max_len, i.scenario_seed).await
}

pub async fn build(i: &Inputs<'_>) -> Result<(Vec<Job>, BuildNote)> {
    let w = i.workload;
    let n = i.warmup + i.measured;
    let mut rng = rand::rngs::StdRng::seed_from_u64(i.seed);
    let mut note = BuildNote::default();
    let mt = i.cell.max_tokens;
    let single = |specs: Vec<RequestSpec>| specs.into_iter().map(Job::single).collect::<Vec<_>>();
    if w.kind == WorkloadKind::Trace {
        return super::trace::build(i).await;
    }
    let jobs = match w.kind {
        WorkloadKind::Chat if w.prompt_tokens.is_some() || w.turns <= 1 => {
            let user_texts: Vec<Prompt> = match w.prompt_tokens {
                Some(len) => {
                    let cal = calibrator(i, len.bounds().1 as usize).await;
                    let over = cal.overhead(&[], "").await.unwrap_or(0);
                    note = BuildNote { exact_lengths: Some(cal.exact()), overhead_tokens: Some(over), trace: None };
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        let target = sample(len, &mut rng).saturating_sub(over as usize);
                        v.push(Prompt::user(&cal.text(target, rng.gen()).await));
                    }
                    v
                }
                None => prompts::choose(&prompts::load(&w.prompts, i.base)?, n, i.seed),
            };
            if w.turns <= 1 {
                single(user_texts.into_iter().enumerate().map(|(k, p)| spec(i, k, p, mt)).collect())
            } else {
                conversations(i, user_texts)
            }
        }
        WorkloadKind::Chat => {
            let set = prompts::load(&w.prompts, i.base)?;
            conversations(i, prompts::choose(&set, n * w.turns as usize, i.seed))
        }
        WorkloadKind::Batch => {
            let over_text = format!("{}\n\n", w.instruction);
            let docs: Vec<String> = match (&w.documents, w.prompt_tokens) {
                (Some(d), _) => {
                    let all = sources::documents(d, i.base)?;
                    (0..n).map(|_| all[rng.gen_range(0..all.len())].clone()).collect()
                }
                (None, len) => {
                    let len = len.unwrap_or(TokenLen::Fixed(2000));
                    let cal = calibrator(i, len.bounds().1 as usize).await;
                    let over = cal.overhead(&[], &over_text).await.unwrap_or(0);
                    note = BuildNote { exact_lengths: Some(cal.exact()), overhead_tokens: Some(over), trace: None };
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        let target = sample(len, &mut rng).saturating_sub(over as usize);
                        v.push(cal.text(target, rng.gen()).await);
                    }
                    v
                }
            };
            single(docs.into_iter().enumerate().map(|(k, d)| spec(i, k, Prompt::user(&format!("{over_text}{d}")), mt)).collect())
        }
        WorkloadKind::Prefix => {
            let longest = w.prefix_tokens.bounds().1.max(w.prompt_tokens.map_or(0, |l| l.bounds().1)) as usize;
            let cal = calibrator(i, longest).await;
            note.exact_lengths = Some(cal.exact());
            // Prefix texts depend on the scenario seed only, so every cell of a launch shares them.
            let mut prng = rand::rngs::StdRng::seed_from_u64(i.scenario_seed);
            let mut prefixes = Vec::new();
            for _ in 0..w.prefix_count.max(1) {
                let len = sample(w.prefix_tokens, &mut prng);
                prefixes.push(cal.text(len, prng.gen()).await);
            }
            let users: Vec<String> = match w.prompt_tokens {
                Some(len) => {
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        let l = sample(len, &mut rng);
                        v.push(cal.text(l, rng.gen()).await);
                    }
                    v
                }
                None => prompts::choose(&prompts::load(&w.prompts, i.base)?, n, i.seed).into_iter().map(|p| p.as_text()).collect(),
            };
            single(
                users
                    .into_iter()
                    .enumerate()
                    .map(|(k, u)| {
                        let system = prefixes[rng.gen_range(0..prefixes.len())].clone();
                        let p = Prompt {
                            messages: vec![Message { role: "system".into(), content: system }, Message { role: "user".into(), content: u }],
                        };
                        spec(i, k, p, mt)
                    })
                    .collect(),
            )
        }
        WorkloadKind::Trace => unreachable!("built by load::trace"),
        WorkloadKind::Dataset => {
            let entries = sources::dataset(w.dataset.as_deref().unwrap_or_default(), i.base)?;
            single(
                (0..n)
                    .map(|k| {
                        let e = &entries[rng.gen_range(0..entries.len())];
                        // The dataset's output length, capped by the cell's max_tokens.
                        let m = e.output_tokens.map_or(mt, |o| o.min(mt).max(1));
                        spec(i, k, e.prompt.clone(), m)
                    })
                    .collect(),
            )
        }
    };
    let mut jobs = jobs;
    if let Some(len) = w.output_tokens {
        // Output lengths drawn per request (seeded), never above the cell's max_tokens.
        let mut orng = rand::rngs::StdRng::seed_from_u64(i.seed ^ 0x07);
        for j in &mut jobs {
            for s in &mut j.specs {
                s.max_tokens = (sample(len, &mut orng) as u32).clamp(1, s.max_tokens.max(1));
            }
        }
    }
    Ok((jobs, note))
}

/// Groups user turns into conversations of `turns` requests (history is added by the driver).
fn conversations(i: &Inputs<'_>, users: Vec<Prompt>) -> Vec<Job> {
    let turns = i.workload.turns.max(1) as usize;
    let n = i.warmup + i.measured;
    (0..n)
        .map(|c| Job {
            at_s: Vec::new(),
            think_s: None,
            specs: (0..turns)
                .map(|t| {
                    let mut s = spec(i, c * turns + t, users[(c * turns + t) % users.len()].clone(), i.cell.max_tokens);
                    s.phase = warm_up_if(c < i.warmup);
                    s.conversation = Some(c);
                    s.turn = t as u32;
                    s
                })
                .collect(),
        })
        .collect()
}

/// The phase of a request that is among the warm-up ones or not.
fn warm_up_if(warm: bool) -> crate::results::record::Phase {
    if warm {
        crate::results::record::Phase::WarmUp
    } else {
        crate::results::record::Phase::Measured
    }
}
