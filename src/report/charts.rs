//! SVG charts for the HTML report, drawn with plotters' SVG backend (no fonts needed: text stays text).
//! Every label is reduced to safe characters first, so user-given names cannot inject markup.

use crate::analysis::capacity::CellView;
use crate::analysis::kv::KvScaling;
use crate::analysis::report::{Group, ReportData, Surface};
use crate::analysis::report::{Outcome, Verdict};
use crate::analysis::search::Pareto;
use crate::analysis::trace::TraceView;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

const W: u32 = 640;
const H: u32 = 360;

/// Keeps letters, digits and a few punctuation marks; everything else becomes a space.
pub fn safe(s: &str) -> String {
    s.chars().map(|c| if c.is_alphanumeric() || " .,:;=+-_/()%#".contains(c) { c } else { ' ' }).collect()
}

/// An axis tick: whole numbers without ".0", millions and billions as M and G (a KV budget of
/// 1073741824 bytes reads 1.1G), small fractions with two decimals.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn palette(i: usize) -> RGBColor {
    const C: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    C[i % C.len()]
}

type Series = Vec<(String, Vec<(f64, f64)>)>;

/// The largest magnitude a chart draws. Measured figures are far below it (tokens/s, ms, bytes of
/// a GPU); a stored figure beyond it (a crafted or corrupt summary: 1e308 overflows the axis range
/// to infinity and plotters never returns) means the chart is not drawn; the tables still show it.
const PLOT_MAX: f64 = 1e15;

fn plottable(x: f64, y: f64) -> bool {
    x.is_finite() && y.is_finite() && x.abs() <= PLOT_MAX && y.abs() <= PLOT_MAX
}

/// Draws the chart's legend (the series' labels) in a white box at `pos`.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    pos: SeriesLabelPosition,
) -> Option<()> {
    chart.configure_series_labels().position(pos).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().ok()
}

fn line_chart(title: &str, x_desc: &str, y_desc: &str, series: &Series, hline: Option<(f64, &str)>) -> Option<String> {
    let pts: Vec<(f64, f64)> = series.iter().flat_map(|(_, p)| p.iter().copied()).collect();
    if pts.is_empty() || !pts.iter().all(|p| plottable(p.0, p.1)) || hline.is_some_and(|(h, _)| !plottable(0.0, h)) {
        return None;
    }
    let (x0, x1) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let mut y1 = pts.iter().fold(0.0f64, |a, p| a.max(p.1));
    if let Some((h, _)) = hline {
        y1 = y1.max(h);
    }
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { (x0 - 1.0, x1 + 1.0) };
    // Headroom above the data for the legend (upper left, ~19 px a line of the ~280 px plot), so
    // that it never hides a point.
    let entries = series.len() + usize::from(hline.is_some());
    let legend_share = ((entries as f64 * 19.0 + 16.0) / 280.0).min(0.6);
    let y_top = y1 / (1.0 - legend_share) + 1e-9;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(safe(title), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1 + (x1 - x0) * 0.05, 0.0..y_top)
            .ok()?;
        chart.configure_mesh().x_desc(safe(x_desc)).y_desc(safe(y_desc)).x_label_formatter(&tick).y_label_formatter(&tick).draw().ok()?;
        for (i, (name, p)) in series.iter().enumerate() {
            let color = palette(i);
            chart
                .draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
                .ok()?
                .label(safe(name))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
            chart.draw_series(p.iter().map(|q| Circle::new(*q, 3, color.filled()))).ok()?;
        }
        if let Some((h, label)) = hline {
            chart
                .draw_series(LineSeries::new(vec![(x0, h), (x1, h)], RED.stroke_width(1)))
                .ok()?
                .label(safe(label))
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RED));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().ok()?;
    }
    Some(svg)
}

fn by_max_tokens(cells: &[CellView], y: fn(&CellView) -> Option<f64>) -> Series {
    let mut mts: Vec<(u32, String)> =
        cells.iter().filter(|c| c.load.closed().is_some()).map(|c| (c.max_tokens, c.server_params.clone())).collect();
    mts.sort();
    mts.dedup();
    mts.into_iter()
        .map(|(mt, sp)| {
            let mut p: Vec<(f64, f64)> = cells
                .iter()
                .filter(|c| c.max_tokens == mt && c.server_params == sp && c.load.closed().is_some())
                .filter_map(|c| Some((f64::from(c.load.closed()?), y(c)?)))
                .collect();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            (format!("max_tokens {mt} {sp}"), p)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

/// One line per named series of (x, y) points (`runner compare`'s two frontiers).
pub fn lines(title: &str, x_desc: &str, y_desc: &str, series: &[(String, Vec<(f64, f64)>)]) -> Option<String> {
    line_chart(title, x_desc, y_desc, &series.to_vec(), None)
}

pub fn throughput(g: &Group) -> Option<String> {
    line_chart(
        &format!("{} / {}: output tok/s vs concurrency", g.gpu, g.workload),
        "concurrency",
        "tok/s",
        &by_max_tokens(&g.cells, |c| c.throughput_tok_s),
        None,
    )
}

pub fn latency(g: &Group) -> Option<String> {
    let slo = g.slo.as_ref().and_then(|s| s.p95_e2e_ms).map(|v| (v, "SLO p95 E2E"));
    line_chart(
        &format!("{} / {}: p95 E2E vs concurrency", g.gpu, g.workload),
        "concurrency",
        "p95 E2E ms",
        &by_max_tokens(&g.cells, |c| c.p95_e2e_ms),
        slo,
    )
}

/// Throughput vs concurrency of every GPU for one workload, at each GPU's sweet-spot server config
/// and max_tokens (one line per GPU: other configs are in the GPU's own throughput chart).
pub fn frontier(data: &ReportData, workload: &str) -> Option<String> {
    let series: Series = data
        .groups
        .iter()
        .filter(|g| g.workload == workload)
        .filter_map(|g| {
            let at = g.sweet_spot.as_ref().map(|p| &p.cell).or_else(|| g.cells.first())?;
            let (mt, sp) = (at.max_tokens, at.server_params.clone());
            let mut p: Vec<(f64, f64)> = g
                .cells
                .iter()
                .filter(|c| c.max_tokens == mt && c.server_params == sp && c.load.closed().is_some())
                .filter_map(|c| Some((f64::from(c.load.closed()?), c.throughput_tok_s?)))
                .collect();
            p.sort_by(|a, b| a.0.total_cmp(&b.0));
            let config = if sp.is_empty() { String::new() } else { format!(", {sp}") };
            Some((format!("{} ({}{config}, max_tokens {mt})", g.gpu, g.run_id), p))
        })
        .collect();
    line_chart(&format!("frontier: {workload}"), "concurrency", "tok/s", &series, None)
}

pub fn kv(k: &KvScaling) -> Option<String> {
    let mib = 1024.0 * 1024.0;
    let mut series: Series = vec![("memory at ready (MiB)".into(), k.points.iter().map(|p| (p.tokens, p.memory_bytes / mib)).collect())];
    if let Some(f) = k.memory_fit {
        let (a, b) = (k.points.first()?.tokens, k.points.last()?.tokens);
        series.push((
            format!("fit: {:.0} B/token, R2 {:.3}", f.slope, f.r2),
            vec![(a, (f.slope * a + f.intercept) / mib), (b, (f.slope * b + f.intercept) / mib)],
        ));
    }
    if k.points.iter().all(|p| p.engine_kv_bytes.is_some()) {
        series.push((
            "engine-reported KV (MiB)".into(),
            k.points.iter().map(|p| (p.tokens, p.engine_kv_bytes.unwrap_or(0.0) / mib)).collect(),
        ));
    }
    line_chart(&format!("{} / {}: memory vs {}", k.gpu, k.server, k.axis), &k.axis, "MiB", &series, None)
}

/// The points of a surface chart: (x, y) and the index of its class in `classes`; `x_ticks` holds
/// the axis values when x is their position (one numeric server axis).
struct SurfacePlot {
    pts: Vec<((f64, f64), usize)>,
    classes: Vec<&'static str>,
    x_desc: String,
    y_desc: String,
    x_ticks: Option<Vec<f64>>,
}

fn surface_plot(s: &Surface) -> Option<SurfacePlot> {
    let numbers = |r: &crate::analysis::report::SurfaceRow| -> Vec<f64> { r.axes.values().filter_map(|v| v.as_f64()).collect() };
    let names: Vec<String> = s.rows.first()?.axes.keys().cloned().collect();
    if !s.rows.iter().all(|r| numbers(r).len() == names.len()) {
        return None;
    }
    match names.len() {
        2 => Some(SurfacePlot {
            pts: s
                .rows
                .iter()
                .map(|r| {
                    let v = numbers(r);
                    ((v[0], v[1]), Outcome::ALL.iter().position(|o| *o == r.outcome).unwrap_or(0))
                })
                .collect(),
            classes: Outcome::ALL.iter().map(|o| o.as_str()).collect(),
            x_desc: names[0].clone(),
            y_desc: names[1].clone(),
            x_ticks: None,
        }),
        1 => {
            let mut values: Vec<f64> = s.rows.iter().map(|r| numbers(r)[0]).collect();
            values.sort_by(f64::total_cmp);
            values.dedup();
            let at = |v: f64| values.iter().position(|x| *x == v).unwrap_or(0) as f64 + 1.0;
            let verdicts = [Verdict::Safe, Verdict::Degrades, Verdict::Slow, Verdict::DiesUnderLoad, Verdict::RefusedAtStart];
            let pts = s
                .rows
                .iter()
                .flat_map(|r| {
                    let x = at(numbers(r)[0]);
                    r.cells.iter().filter_map(move |c| {
                        let class = verdicts.iter().position(|v| *v == c.verdict)?;
                        Some(((x, f64::from(c.concurrency?)), class))
                    })
                })
                .collect();
            Some(SurfacePlot {
                pts,
                classes: verdicts.iter().map(|v| v.as_str()).collect(),
                x_desc: names[0].clone(),
                y_desc: "concurrency".into(),
                x_ticks: Some(values),
            })
        }
        _ => None,
    }
}

/// OOM surface. Two numeric server axes: one point per config, coloured by its outcome. One numeric
/// axis: one point per config and concurrency (the axis' values evenly spaced), coloured by the
/// cell's verdict. Green is safe, yellow degrades, orange too slow, purple dies under load, red refused.
pub fn surface(s: &Surface) -> Option<String> {
    const COLOURS: [RGBColor; 5] =
        [RGBColor(44, 160, 44), RGBColor(230, 190, 0), RGBColor(255, 127, 14), RGBColor(148, 103, 189), RGBColor(214, 39, 40)];
    let SurfacePlot { pts, classes, x_desc, y_desc, x_ticks } = surface_plot(s)?;
    if pts.len() < 2 || !pts.iter().all(|((x, y), _)| plottable(*x, *y)) {
        return None;
    }
    let (x1, y1) = pts.iter().fold((0.0f64, 0.0f64), |(a, b), ((x, y), _)| (a.max(*x), b.max(*y)));
    let x_label = |v: &f64| match &x_ticks {
        Some(values) if v.fract() == 0.0 && *v >= 1.0 => values.get(*v as usize - 1).map(tick).unwrap_or_default(),
        Some(_) => String::new(),
        None => tick(v),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(safe(&format!("{} / {}: OOM surface", s.gpu, s.server)), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x1 * 1.15 + if x_ticks.is_some() { 0.5 } else { 0.0 }, 0.0..y1 * 1.15)
            .ok()?;
        chart
            .configure_mesh()
            .x_desc(safe(&x_desc))
            .y_desc(safe(&y_desc))
            .x_labels(x_ticks.as_ref().map_or(10, |v| v.len() * 2 + 2))
            .x_label_formatter(&x_label)
            .y_label_formatter(&tick)
            .draw()
            .ok()?;
        for (class, (name, color)) in classes.iter().zip(COLOURS).enumerate() {
            chart
                .draw_series(pts.iter().filter(|(_, k)| *k == class).map(|(p, _)| Circle::new(*p, 7, color.filled())))
                .ok()?
                .label(*name)
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().ok()?;
    }
    Some(svg)
}

/// The Pareto plane of a search: system tok/s against per-user tok/s for every undisturbed probe,
/// one colour per config; feasible probes filled, failing ones hollow; the frontier of the feasible
/// ones as a line; the per-user speed a TPOT threshold demands shaded as the SLO-feasible side.
pub fn pareto(p: &Pareto) -> Option<String> {
    let plottable_points = p.points.iter().all(|q| plottable(q.user_tok_s, q.system_tok_s));
    if p.points.is_empty() || !plottable_points || !plottable(p.min_user_tok_s.unwrap_or(0.0), 0.0) {
        return None;
    }
    let x1 = p.points.iter().fold(p.min_user_tok_s.unwrap_or(0.0), |a, q| a.max(q.user_tok_s)) * 1.1 + 1e-9;
    let y1 = p.points.iter().fold(0.0f64, |a, q| a.max(q.system_tok_s)) * 1.1 + 1e-9;
    let mut configs: Vec<&str> = p.points.iter().map(|q| q.config.as_str()).collect();
    configs.sort();
    configs.dedup();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (W, H)).into_drawing_area();
        root.fill(&WHITE).ok()?;
        let mut chart = ChartBuilder::on(&root)
            .caption(safe(&format!("{} / {}: system vs per-user tok/s (search probes)", p.gpu, p.workload)), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x1, 0.0..y1)
            .ok()?;
        chart
            .configure_mesh()
            .x_desc("per-user tok/s")
            .y_desc("system tok/s")
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()
            .ok()?;
        if let Some(min) = p.min_user_tok_s {
            let shade = RGBColor(44, 160, 44).mix(0.08);
            chart
                .draw_series(std::iter::once(Rectangle::new([(min, 0.0), (x1, y1)], shade.filled())))
                .ok()?
                .label(safe(&format!("TPOT SLO met: at least {min:.0} tok/s per user")))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], shade.filled()));
        }
        for (i, config) in configs.iter().enumerate() {
            let color = palette(i);
            let of = |feasible: bool| {
                p.points.iter().filter(move |q| q.config == *config && q.feasible == feasible).map(|q| (q.user_tok_s, q.system_tok_s))
            };
            chart
                .draw_series(of(true).map(|q| Circle::new(q, 5, color.filled())))
                .ok()?
                .label(safe(&format!("{config} (filled: meets the SLO)")))
                .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
            chart.draw_series(of(false).map(|q| Circle::new(q, 5, color.stroke_width(2)))).ok()?;
        }
        let mut front: Vec<(f64, f64)> = p.points.iter().filter(|q| q.on_frontier).map(|q| (q.user_tok_s, q.system_tok_s)).collect();
        front.sort_by(|a, b| a.0.total_cmp(&b.0));
        // One feasible probe can beat all the others on both axes: the frontier is then that one
        // point, ringed, with no line to draw.
        if !front.is_empty() {
            chart.draw_series(front.iter().map(|q| Circle::new(*q, 8, BLACK.stroke_width(1)))).ok()?;
            chart
                .draw_series(LineSeries::new(front, BLACK.stroke_width(2)))
                .ok()?
                .label("Pareto frontier (feasible, ringed)")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK.stroke_width(2)));
        }
        // Lower left: slow for each user and slow overall, where probes rarely land (low loads sit
        // lower right, high loads upper left).
        legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        root.present().ok()?;
    }
    Some(svg)
}

/// A replay's arrivals per second over replay time (the trace as sent, at its speed).
pub fn trace_arrivals(v: &TraceView) -> Option<String> {
    let t = &v.trace;
    let pts: Vec<(f64, f64)> = t.arrivals_per_s.iter().enumerate().map(|(k, r)| (k as f64 * t.bin_s, *r)).collect();
    line_chart(
        &format!("{} / {}: the trace's arrivals at {}x speed", v.gpu, v.workload, t.speed),
        "replay time, s",
        "requests/s",
        &vec![(format!("arrivals per s ({} s bins)", t.bin_s), pts)],
        None,
    )
}

/// One line per figure of a replay's bins (by replay time); figures with no value left out.
type BinFigure = (&'static str, fn(&crate::results::trace::Bin) -> Option<f64>);

fn over_replay(v: &TraceView, figures: &[BinFigure]) -> Series {
    figures
        .iter()
        .map(|(name, f)| (name.to_string(), v.replay.over_time.iter().filter_map(|b| Some((b.start_s, f(b)?))).collect::<Vec<_>>()))
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

/// The engine's queue over a replay: requests running and waiting (peaks per bin, its own gauges).
pub fn trace_engine(v: &TraceView) -> Option<String> {
    let all = over_replay(v, &[("running (peak)", |b| b.engine_running_max), ("waiting (peak)", |b| b.engine_waiting_max)]);
    line_chart(&format!("{} / {}: the engine's queue over the replay", v.gpu, v.workload), "replay time, s", "requests", &all, None)
}

/// A replay's latency over replay time (from the scheduled sends).
pub fn trace_latency(v: &TraceView) -> Option<String> {
    let all = over_replay(v, &[("p50 TTFT", |b| b.p50_ttft_ms), ("p95 TTFT", |b| b.p95_ttft_ms), ("p95 E2E", |b| b.p95_e2e_ms)]);
    line_chart(&format!("{} / {}: latency over the replay", v.gpu, v.workload), "replay time, s", "ms", &all, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::search::{mark_frontier, Pareto, ParetoPoint};

    fn chart(points: &[(f64, f64, bool)]) -> String {
        let mut points: Vec<ParetoPoint> = points
            .iter()
            .map(|&(s, u, feasible)| ParetoPoint {
                config: "c".into(),
                load: 1.0,
                system_tok_s: s,
                user_tok_s: u,
                feasible,
                on_frontier: false,
            })
            .collect();
        mark_frontier(&mut points);
        pareto(&Pareto { gpu: "g".into(), workload: "w".into(), points, min_user_tok_s: None, svg_file: "p.svg".into() }).unwrap()
    }

    #[test]
    fn ticks_are_short() {
        let t: Vec<String> = [0.0, 2.0, 0.25, 1400.0, 1073741824.0, 2.5e6].iter().map(tick).collect();
        assert_eq!(t, ["0", "2", "0.25", "1400", "1.1G", "2.5M"]);
    }

    #[test]
    fn a_frontier_of_one_dominating_point_is_still_drawn() {
        // (200, 60) beats both other feasible probes on both axes.
        let svg = chart(&[(100.0, 50.0, true), (150.0, 55.0, true), (200.0, 60.0, true), (250.0, 20.0, false)]);
        assert!(svg.contains("Pareto frontier"), "{svg}");
        // Two feasible points trading one axis for the other: both on the line.
        let svg = chart(&[(100.0, 60.0, true), (200.0, 50.0, true)]);
        assert!(svg.contains("Pareto frontier") && svg.contains("<polyline"), "{svg}");
        // No feasible probe: no frontier claimed.
        assert!(!chart(&[(100.0, 60.0, false)]).contains("Pareto frontier"));
    }

    #[test]
    fn a_value_no_run_can_measure_is_not_drawn_and_never_hangs() {
        let series: Series = vec![("a".into(), vec![(1.0, 2.0), (2.0, 1.4e308)])];
        assert!(line_chart("t", "x", "y", &series, None).is_none());
        let series: Series = vec![("a".into(), vec![(1.0, 2.0), (2.0, f64::INFINITY)])];
        assert!(line_chart("t", "x", "y", &series, None).is_none());
        let series: Series = vec![("a".into(), vec![(1.0, 2.0), (2.0, 3.0)])];
        assert!(line_chart("t", "x", "y", &series, Some((1e300, "slo"))).is_none());
        assert!(line_chart("t", "x", "y", &series, None).is_some());
        let points =
            vec![ParetoPoint { config: "c".into(), load: 1.0, system_tok_s: 5.0, user_tok_s: 1e308, feasible: true, on_frontier: true }];
        assert!(pareto(&Pareto { gpu: "g".into(), workload: "w".into(), points, min_user_tok_s: None, svg_file: "p.svg".into() }).is_none());
    }
}
