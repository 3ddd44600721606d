//! GPU prices: the scenario's `[prices]` tables over those of its `prices_file`. Each price carries
//! its date and source; nothing is built in.

use super::schema::{Price, PricesFile, Scenario};
use indexmap::IndexMap;
use std::path::Path;

/// Problems with one price (pure), as `key: message` pairs for the validator.
pub fn problems(label: &str, p: &Price) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if !(p.per_hour.is_finite() && p.per_hour > 0.0) {
        out.push((format!("prices.{label}.per_hour"), format!("per_hour = {} must be a positive price per GPU-hour", p.per_hour)));
    }
    if p.date.trim().is_empty() {
        out.push((format!("prices.{label}.date"), "a price needs the date it was seen (e.g. \"2026-11-30\")".into()));
    }
    if p.source.trim().is_empty() {
        out.push((format!("prices.{label}.source"), "a price needs its source (provider and offer)".into()));
    }
    out
}

/// Reads a prices file.
pub fn read_file(path: &Path) -> Result<IndexMap<String, Price>, String> {
    let f = super::strict::read_file::<PricesFile>(path, "prices file")?;
    for (label, p) in &f.prices {
        if let Some((key, msg)) = problems(label, p).into_iter().next() {
            return Err(format!("{}: {key}: {msg}", path.display()));
        }
    }
    Ok(f.prices)
}

/// Every price of the scenario: its `prices_file` (relative to `base`), then its own `[prices]`.
pub fn resolve(s: &Scenario, base: &Path) -> Result<IndexMap<String, Price>, String> {
    let mut out = match &s.scenario.prices_file {
        Some(f) => read_file(&base.join(f))?,
        None => IndexMap::new(),
    };
    out.extend(s.prices.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(out)
}

/// Cost of a million output tokens at `tok_s` on one GPU of `per_hour`.
pub fn cost_per_mtok(per_hour: f64, tok_s: f64) -> Option<f64> {
    (tok_s > 0.0).then(|| per_hour / (tok_s * 3600.0) * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_per_million_tokens() {
        // $0.36/h at 100 tok/s: 360,000 tokens an hour, $1 per million.
        assert!((cost_per_mtok(0.36, 100.0).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(cost_per_mtok(1.0, 0.0), None);
        let p = Price { per_hour: 0.0, currency: "USD".into(), date: String::new(), source: "x".into() };
        let keys: Vec<String> = problems("a100", &p).into_iter().map(|x| x.0).collect();
        assert_eq!(keys, ["prices.a100.per_hour", "prices.a100.date"]);
    }
}
