//! The load driver: one function for every load model. *When* a job starts is decided by the schedule
//! (closed loop: a fixed number of workers; open loop: seeded arrival times, optionally capped in
//! flight); *what* it sends is the job. One collector receives every record over a channel.
//! Cancellation stops new sends and marks requests in flight as `interrupted`.

use super::client::{send_via, RequestSpec, Target, Via};
use super::http::LoadClient;
use super::prompts::Message;
use super::slot::Slot;
use super::workload::Job;
use crate::results::record::RequestRecord;
use crate::scenario::schema::Arrival;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

/// When jobs start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// `concurrency` workers, each starting its next job when the previous one ends.
    Closed { concurrency: u32 },
    /// Jobs arrive at `rate` per second (Poisson, or gamma with shape `burstiness`); at most
    /// `max_in_flight` run at once when set, later ones wait (and that wait counts from the scheduled
    /// time); without a cap every job starts when it is due.
    Open { rate: f64, arrival: Arrival, burstiness: f64, seed: u64, max_in_flight: Option<u32> },
    /// A trace replay: each job is due at its first turn's trace time divided by `speed`, uncapped;
    /// a session's later turns keep their own trace times (or think times) after each answer.
    Trace { speed: f64 },
}

/// A trace replay's clock: the phase start and the speed-up its trace times are divided by.
#[derive(Debug, Clone, Copy)]
struct Pace {
    start: Instant,
    speed: f64,
}

impl Pace {
    /// Seconds from the phase start at which trace time `at_s` is due.
    fn offset_s(&self, at_s: f64) -> f64 {
        (at_s / self.speed).max(0.0)
    }
    fn due(&self, at_s: f64) -> Instant {
        self.start + Duration::from_secs_f64(self.offset_s(at_s))
    }
}

/// A check of the records so far: `Some(why)` ends the phase early.
pub type EarlyCheck = Arc<dyn Fn(&[RequestRecord]) -> Option<String> + Send + Sync>;

/// When a phase ends before its jobs run out: at a deadline, or when `early` says so (a probe that
/// is clearly failing). Requests in flight then are cancelled and marked as such.
#[derive(Clone, Default)]
pub struct Stop {
    pub deadline: Option<Duration>,
    pub early: Option<EarlyCheck>,
}

impl Stop {
    pub fn at(deadline: Option<Duration>) -> Self {
        Stop { deadline, early: None }
    }
}

/// Result of one phase (warm-up or measured) of a cell.
pub struct PhaseResult {
    pub records: Vec<RequestRecord>,
    /// When the phase started, in ms from the cell's start (the records' time base).
    pub start_ms: f64,
    pub wall_s: f64,
    pub interrupted: bool,
    /// Why the phase was stopped early (its in-flight requests carry `ErrorClass::StoppedEarly`).
    pub stopped_early: Option<String>,
}

/// Requests the early stop cancelled: not the server's failures.
pub const STOPPED_EARLY: &str = "cancelled: the probe was stopped early";

/// Arrival offsets in seconds from the phase start for `n` jobs. Pure and seeded.
pub fn arrivals(n: usize, rate: f64, arrival: Arrival, burstiness: f64, seed: u64) -> Vec<f64> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut t = 0.0;
    let mut out = Vec::with_capacity(n);
    let gaps: Box<dyn FnMut(&mut rand::rngs::StdRng) -> f64> = match arrival {
        Arrival::Poisson => {
            let d = Exp::new(rate).expect("positive rate (validated)");
            Box::new(move |r| d.sample(r))
        }
        Arrival::Gamma => {
            // Mean gap 1/rate: shape k, scale 1/(rate k).
            let d = Gamma::new(burstiness, 1.0 / (rate * burstiness)).expect("positive shape (validated)");
            Box::new(move |r| d.sample(r))
        }
    };
    let mut gaps = gaps;
    for i in 0..n {
        if i > 0 {
            t += gaps(&mut rng);
        }
        out.push(t);
    }
    out
}

/// Runs every job (each job's turns in order, carrying the conversation). `on_done(n)` reports
/// progress: n more requests finished (called every 100 ms at most, and at the end).
#[allow(clippy::too_many_arguments)]
pub async fn drive(
    client: &LoadClient,
    base_url: &str,
    jobs: Vec<Job>,
    schedule: Schedule,
    until: &Stop,
    t0: Instant,
    user_cancel: &CancellationToken,
    mut on_done: impl FnMut(u64),
) -> PhaseResult {
    let deadline = until.deadline;
    // The user's Ctrl-C and the early stop both end the phase; only the first is an interruption.
    let cancel = &user_cancel.child_token();
    let why_early: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
    let (early, why, stopper) = (until.early.clone(), why_early.clone(), cancel.clone());
    let (tx, rx) = mpsc::unbounded_channel();
    let target = Arc::new(Target::new(base_url));
    // A closed loop's slots each open their own connection before the phase starts: no slot waits
    // for another's, and no first-wave TTFT holds a connection set-up (docs/metrics.md).
    let slots = match schedule {
        Schedule::Closed { concurrency } => open_slots(client, &jobs, concurrency, &target, cancel).await,
        Schedule::Open { .. } | Schedule::Trace { .. } => Vec::new(),
    };
    let start = Instant::now();
    // Records are collected on a runtime worker: the caller may run on the thread that blocks on
    // the runtime, and waking that thread for every record costs the client ~20% more CPU per
    // request (benches/harness.rs, client CPU per request). The caller hears of progress every
    // 100 ms.
    let finished = Arc::new(AtomicUsize::new(0));
    let mut collector = tokio::spawn(collect(rx, finished.clone(), early, why, stopper, start));
    let mut reported = 0;
    let report = |on_done: &mut dyn FnMut(u64), reported: &mut usize| {
        let now = finished.load(Ordering::Relaxed);
        if now > *reported {
            on_done((now - *reported) as u64);
            *reported = now;
        }
    };
    let jobs = Arc::new(jobs);
    let mut handles = Vec::new();
    match schedule {
        Schedule::Closed { .. } => {
            let next = Arc::new(AtomicUsize::new(0));
            for slot in slots {
                // Each task watches its own child token: thousands of tasks polling one shared
                // token would all lock the same mutex on every wake-up.
                let cl = ClosedSlot {
                    jobs: jobs.clone(),
                    next: next.clone(),
                    target: target.clone(),
                    tx: tx.clone(),
                    cancel: cancel.child_token(),
                };
                handles.push(tokio::spawn(cl.run(slot, deadline, start, t0)));
            }
        }
        Schedule::Open { rate, arrival, burstiness, seed, max_in_flight } => {
            let times = arrivals(jobs.len(), rate, arrival, burstiness, seed);
            let open = Open { client, target: &target, jobs: &jobs, tx: &tx, cancel, t0, start, deadline, pace: None };
            handles = open.spawn(times, max_in_flight, &mut || report(&mut on_done, &mut reported)).await;
        }
        Schedule::Trace { speed } => {
            let pace = Pace { start, speed };
            let times = jobs.iter().map(|j| pace.offset_s(j.at_s.first().copied().unwrap_or(0.0))).collect();
            let open = Open { client, target: &target, jobs: &jobs, tx: &tx, cancel, t0, start, deadline, pace: Some(pace) };
            handles = open.spawn(times, None, &mut || report(&mut on_done, &mut reported)).await;
        }
    }
    drop(tx);
    let (mut records, wall_s) = loop {
        tokio::select! {
            done = &mut collector => break done.unwrap_or_default(),
            _ = tokio::time::sleep(Duration::from_millis(100)) => report(&mut on_done, &mut reported),
        }
    };
    report(&mut on_done, &mut reported);
    for h in handles {
        let _ = h.await;
    }
    records.sort_by_key(|r| r.index);
    let start_ms = start.saturating_duration_since(t0).as_secs_f64() * 1000.0;
    let interrupted = user_cancel.is_cancelled();
    let stopped_early = why_early.lock().expect("not poisoned").take().filter(|_| !interrupted);
    if stopped_early.is_some() {
        mark_stopped_early(&mut records);
    }
    PhaseResult { records, start_ms, wall_s, interrupted, stopped_early }
}

/// An open loop's arrivals: each job is sent at its time, through the pool, under the in-flight cap.
struct Open<'a> {
    client: &'a LoadClient,
    target: &'a Arc<Target>,
    jobs: &'a Arc<Vec<Job>>,
    tx: &'a mpsc::UnboundedSender<RequestRecord>,
    cancel: &'a CancellationToken,
    t0: Instant,
    start: Instant,
    deadline: Option<Duration>,
    pace: Option<Pace>,
}

impl Open<'_> {
    /// Spawns each job at its arrival time (until the deadline or a cancel); `tick` reports progress
    /// meanwhile. The schedule runs on a thread of its own that sleeps on the kernel's
    /// high-resolution timer (tens of µs late), not on tokio's timer wheel, which wakes a sleep at
    /// the next whole millisecond: the replay's send lag stays well under a millisecond
    /// (benches/harness.rs, "replay schedule").
    async fn spawn(&self, times: Vec<f64>, max_in_flight: Option<u32>, tick: &mut dyn FnMut()) -> Vec<tokio::task::JoinHandle<()>> {
        let permits = Arc::new(Semaphore::new(max_in_flight.map_or(Semaphore::MAX_PERMITS, |c| c.max(1) as usize)));
        let runtime = tokio::runtime::Handle::current();
        let (jobs, tx, cancel, client, target) =
            (self.jobs.clone(), self.tx.clone(), self.cancel.clone(), self.client.clone(), self.target.clone());
        let (t0, start, deadline, pace) = (self.t0, self.start, self.deadline, self.pace);
        let (done_tx, mut done) = tokio::sync::oneshot::channel();
        let dispatch = move || {
            let mut handles = Vec::new();
            for (i, at) in times.into_iter().enumerate() {
                let due = start + Duration::from_secs_f64(at);
                if deadline.is_some_and(|d| due.duration_since(start) >= d) || !sleep_until(due, &cancel) {
                    break;
                }
                let (jobs, tx, cancel, permits) = (jobs.clone(), tx.clone(), cancel.child_token(), permits.clone());
                let (client, target) = (client.clone(), target.clone());
                handles.push(runtime.spawn(async move {
                    let Ok(_permit) = permits.acquire_owned().await else { return };
                    run_job(&mut Via::Pool(&client), &target, &jobs[i], Sent { t0, scheduled: due, pace }, &cancel, &tx).await;
                }));
            }
            let _ = done_tx.send(handles);
        };
        if std::thread::Builder::new().name("runner-schedule".into()).spawn(dispatch).is_err() {
            return Vec::new();
        }
        loop {
            tokio::select! {
                handles = &mut done => return handles.unwrap_or_default(),
                _ = tokio::time::sleep(Duration::from_millis(100)) => tick(),
            }
        }
    }
}

/// Sleeps this (non-runtime) thread until `due`, looking for a cancel every 50 ms; false when
/// cancelled.
fn sleep_until(due: Instant, cancel: &CancellationToken) -> bool {
    loop {
        if cancel.is_cancelled() {
            return false;
        }
        let now = Instant::now();
        if now >= due {
            return true;
        }
        std::thread::sleep((due - now).min(Duration::from_millis(50)));
    }
}

/// A closed loop's slots, each with its own connection opened before the phase starts.
async fn open_slots(client: &LoadClient, jobs: &[Job], concurrency: u32, target: &Target, cancel: &CancellationToken) -> Vec<Slot> {
    let mut slots: Vec<Slot> = (0..(concurrency as usize).min(jobs.len()).max(1)).map(|_| Slot::new(client)).collect();
    let endpoint = jobs.first().and_then(|j| j.specs.first()).map(|s| s.endpoint);
    if let Some(uri) = endpoint.and_then(|e| target.url(e).ok()) {
        // A slot that cannot connect now connects with its first request, which then fails or
        // records the set-up as its own.
        // Each connect ends within the connector's timeout; Ctrl-C ends them all at once.
        tokio::select! {
            _ = futures_util::future::join_all(slots.iter_mut().map(|s| s.connect(uri))) => {}
            _ = cancel.cancelled() => {}
        }
    }
    slots
}

/// Collects the records as they come, counting them for progress, and stops the phase (`stopper`)
/// when the early check says it is clearly failing. Returns the records and the phase's wall time.
async fn collect(
    mut rx: mpsc::UnboundedReceiver<RequestRecord>,
    count: Arc<AtomicUsize>,
    early: Option<EarlyCheck>,
    why: Arc<std::sync::Mutex<Option<String>>>,
    stopper: CancellationToken,
    start: Instant,
) -> (Vec<RequestRecord>, f64) {
    let mut records = Vec::new();
    while let Some(rec) = rx.recv().await {
        records.push(rec);
        count.fetch_add(1, Ordering::Relaxed);
        if let Some(check) = early.as_ref().filter(|_| !stopper.is_cancelled()) {
            if let Some(reason) = check(&records) {
                *why.lock().expect("not poisoned") = Some(reason);
                stopper.cancel();
            }
        }
    }
    (records, start.elapsed().as_secs_f64())
}

/// One slot of a closed loop: takes the next job until none is left, the deadline passes or the
/// phase is cancelled.
struct ClosedSlot {
    jobs: Arc<Vec<Job>>,
    next: Arc<AtomicUsize>,
    target: Arc<Target>,
    tx: mpsc::UnboundedSender<RequestRecord>,
    cancel: CancellationToken,
}

impl ClosedSlot {
    async fn run(self, mut slot: Slot, deadline: Option<Duration>, start: Instant, t0: Instant) {
        loop {
            if self.cancel.is_cancelled() || deadline.is_some_and(|d| start.elapsed() >= d) {
                break;
            }
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = self.jobs.get(i) else { break };
            if !run_job(
                &mut Via::Slot(&mut slot),
                &self.target,
                job,
                Sent { t0, scheduled: Instant::now(), pace: None },
                &self.cancel,
                &self.tx,
            )
            .await
            {
                break;
            }
        }
    }
}

/// Requests the early stop cancelled become `StoppedEarly`: not the server's failures.
fn mark_stopped_early(records: &mut [RequestRecord]) {
    for r in records.iter_mut().filter(|r| r.error == Some(crate::results::record::ErrorClass::Interrupted)) {
        r.error = Some(crate::results::record::ErrorClass::StoppedEarly);
        r.error_detail = Some(STOPPED_EARLY.into());
    }
}

/// When a job's first request is due, on which clock, and how a trace paces its later turns.
struct Sent {
    t0: Instant,
    scheduled: Instant,
    pace: Option<Pace>,
}

/// Sends a job's requests in order; false when the collector is gone or the run was cancelled.
async fn run_job(
    via: &mut Via<'_>,
    target: &Target,
    job: &Job,
    sent: Sent,
    cancel: &CancellationToken,
    tx: &mpsc::UnboundedSender<RequestRecord>,
) -> bool {
    let Sent { t0, mut scheduled, pace } = sent;
    let mut history: Vec<Message> = Vec::new();
    for (turn, spec) in job.specs.iter().enumerate() {
        // Later turns carry the conversation so far; a single request is sent as it is.
        let spec: std::borrow::Cow<RequestSpec> = if history.is_empty() {
            std::borrow::Cow::Borrowed(spec)
        } else {
            let mut s = spec.clone();
            s.prompt.messages = std::mem::take(&mut history).into_iter().chain(spec.prompt.messages.iter().cloned()).collect();
            std::borrow::Cow::Owned(s)
        };
        let rec = tokio::select! {
            r = send_via(via, target, &spec, t0, scheduled) => r,
            _ = cancel.cancelled() => interrupted(&spec, t0, scheduled),
        };
        let ok = rec.ok();
        if turn + 1 < job.specs.len() {
            history = spec.prompt.messages.clone();
            history.push(Message { role: "assistant".into(), content: rec.text.clone() });
        }
        if tx.send(rec).is_err() || cancel.is_cancelled() {
            return false;
        }
        if !ok {
            // A conversation cannot go on without the previous answer.
            break;
        }
        scheduled = next_turn(job, turn + 1, pace);
        if scheduled > Instant::now() {
            tokio::select! {
                _ = tokio::time::sleep_until(scheduled.into()) => {}
                _ = cancel.cancelled() => return false,
            }
        }
    }
    true
}

/// When turn `turn` of a job is due, its previous answer having just arrived: after the think
/// time, or at its trace time (never before now); at once outside a trace.
fn next_turn(job: &Job, turn: usize, pace: Option<Pace>) -> Instant {
    let now = Instant::now();
    match (job.think_s, pace, job.at_s.get(turn)) {
        (Some(think), _, _) => now + Duration::from_secs_f64(think),
        (None, Some(p), Some(&at)) => p.due(at).max(now),
        _ => now,
    }
}

fn interrupted(spec: &RequestSpec, t0: Instant, scheduled: Instant) -> RequestRecord {
    let ms = |t: Instant| t.saturating_duration_since(t0).as_secs_f64() * 1000.0;
    RequestRecord {
        index: spec.index,
        phase: spec.phase,
        conversation: spec.conversation,
        turn: spec.turn,
        scheduled_ms: ms(scheduled),
        sent_ms: ms(scheduled),
        end_ms: ms(Instant::now()),
        streamed: spec.stream,
        error: Some(crate::results::record::ErrorClass::Interrupted),
        error_detail: Some("the run was interrupted while this request was in flight".into()),
        ..RequestRecord::default()
    }
}

/// Closed loop over single-request jobs (kept for callers that have plain specs).
pub async fn closed_loop(
    client: &LoadClient,
    base_url: &str,
    specs: Vec<RequestSpec>,
    concurrency: u32,
    t0: Instant,
    cancel: &CancellationToken,
    on_done: impl FnMut(u64),
) -> PhaseResult {
    let jobs = specs.into_iter().map(Job::single).collect();
    drive(client, base_url, jobs, Schedule::Closed { concurrency }, &Stop::default(), t0, cancel, on_done).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_have_the_requested_rate_and_are_seeded() {
        let a = arrivals(20_000, 10.0, Arrival::Poisson, 1.0, 3);
        assert_eq!(a, arrivals(20_000, 10.0, Arrival::Poisson, 1.0, 3));
        let rate = (a.len() - 1) as f64 / a[a.len() - 1];
        assert!((rate - 10.0).abs() < 0.3, "{rate}");
        let g = arrivals(20_000, 10.0, Arrival::Gamma, 0.25, 3);
        let grate = (g.len() - 1) as f64 / g[g.len() - 1];
        assert!((grate - 10.0).abs() < 0.5, "{grate}");
        // Burstier: the gaps' coefficient of variation is about 1/sqrt(shape) = 2.
        let gaps: Vec<f64> = g.windows(2).map(|w| w[1] - w[0]).collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let sd = (gaps.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
        assert!((sd / mean - 2.0).abs() < 0.2, "cv {}", sd / mean);
    }
}
