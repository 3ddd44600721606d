//! Progress reporting, fed by events from `execute`; never inside measuring code. A bar per cell on a
//! terminal, plain lines otherwise (CI logs).

use crate::engine::StartFailure;
use crate::plan::{Cell, Launch};
use crate::results::records::CellResult;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

pub enum Event<'a> {
    LaunchStarting {
        launch: &'a Launch,
        command: Option<&'a str>,
        /// "6 cells", or "1 boundary search(es)".
        what: String,
    },
    LaunchReady {
        launch: &'a Launch,
        ready_s: f64,
    },
    LaunchFailed {
        launch: &'a Launch,
        failure: &'a StartFailure,
    },
    LaunchStopped {
        launch: &'a Launch,
    },
    CellStarted {
        cell: &'a Cell,
        requests: u64,
    },
    /// This many more requests of the running cell finished.
    RequestsDone(u64),
    CellFinished {
        result: &'a CellResult,
    },
}

pub trait Reporter {
    fn event(&mut self, e: Event<'_>);
}

pub struct Terminal {
    multi: MultiProgress,
    bar: Option<ProgressBar>,
    tty: bool,
}

impl Terminal {
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal();
        let target = if tty { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        Terminal { multi: MultiProgress::with_draw_target(target), bar: None, tty }
    }

    fn line(&self, msg: String) {
        if self.tty {
            let _ = self.multi.println(msg);
        } else {
            eprintln!("{msg}");
        }
    }
}

impl Default for Terminal {
    fn default() -> Self {
        Self::new()
    }
}

fn describe(r: &CellResult) -> String {
    let mut line = match &r.summary {
        Some(s) if s.ok > 0 => format!("{} | {} | {:.1} tok/s | {} err", r.status.as_str(), latency(s), s.throughput_tok_s, s.errors),
        _ => format!("{} ({})", r.status.as_str(), r.reason.clone().unwrap_or_default()),
    };
    if let Some(w) = r.telemetry.as_ref().and_then(|t| client_busy_warning(t.memory.runner_cpu_pct)) {
        line.push_str(" | ");
        line.push_str(&w);
    }
    line
}

/// p95 TTFT and E2E as the final table and the SLO verdict count them: from the scheduled send
/// (`CellSummary::ttft_seen`), and saying so.
fn latency(s: &crate::results::summary::CellSummary) -> String {
    let p95 = |d: Option<&crate::results::summary::Dist>| d.map_or("-".into(), |d| format!("{:.0}", d.p95));
    format!("p95 TTFT/E2E from scheduled send {}/{} ms", p95(s.ttft_seen()), p95(s.e2e_seen()))
}

/// A note when the runner itself used half the machine's CPU or more during a cell: its timings
/// may then include its own queueing (docs/performance.md).
pub fn client_busy_warning(runner_cpu_pct: Option<f64>) -> Option<String> {
    runner_cpu_pct
        .filter(|p| *p >= crate::telemetry::sampler::CLIENT_BUSY_PCT)
        .map(|p| format!("warning: the runner used {p:.0}% of this machine's CPU; TTFT/ITL tails may include client-side queueing"))
}

impl Reporter for Terminal {
    fn event(&mut self, e: Event<'_>) {
        match e {
            Event::LaunchStarting { launch, command, what } => {
                self.line(format!("==> launch {} ({what})", launch.id));
                if let Some(c) = command {
                    self.line(format!("    $ {c}"));
                }
            }
            Event::LaunchReady { launch, ready_s } => self.line(format!("    {} ready after {ready_s:.1} s", launch.id)),
            Event::LaunchFailed { launch, failure } => self.line(format!("    {} did not start: {failure}", launch.id)),
            Event::LaunchStopped { launch } => self.line(format!("    {} stopped", launch.id)),
            Event::CellStarted { cell, requests } => {
                let bar = self.multi.add(ProgressBar::new(requests));
                bar.set_style(
                    ProgressStyle::with_template("    {prefix} [{bar:30}] {pos}/{len} requests {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(cell.id.clone());
                self.bar = Some(bar);
            }
            Event::RequestsDone(n) => {
                if let Some(b) = &self.bar {
                    b.inc(n);
                }
            }
            Event::CellFinished { result } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                    self.multi.remove(&b);
                }
                self.line(format!("    {} {}", result.cell.id, describe(result)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::client_busy_warning;

    #[test]
    fn the_cell_line_counts_latency_from_the_scheduled_send() {
        use crate::results::record::RequestRecord;
        // Scheduled at 0, sent at 100 (an open loop's queueing), first token at 150, last at 300.
        let r = RequestRecord {
            scheduled_ms: 0.0,
            sent_ms: 100.0,
            first_token_ms: Some(150.0),
            chunk_offsets_ms: vec![50.0, 200.0],
            end_ms: 301.0,
            streamed: true,
            output_tokens: Some(2),
            ..Default::default()
        };
        let s = crate::results::summary::summarize(&[r], 1.0, None);
        assert_eq!(super::latency(&s), "p95 TTFT/E2E from scheduled send 150/300 ms");
    }

    #[test]
    fn a_busy_client_is_named_only_from_half_the_machine() {
        assert_eq!(client_busy_warning(None), None);
        assert_eq!(client_busy_warning(Some(49.9)), None);
        let w = client_busy_warning(Some(73.4)).unwrap();
        assert!(w.contains("73%") && w.contains("client-side queueing"), "{w}");
    }
}
