//! Each engine's flag table, and the check of a scenario's flag against it. The tables are data
//! taken from the engine's real CLI by `scripts/flag-tables.sh` (`flags/<engine>.toml`, generated,
//! never edited by hand); what the CLI does not carry (flags that were removed, ranges such as a
//! memory share in (0, 1]) is in a small hand-kept file beside each (`flags/<engine>-rules.toml`),
//! every entry with its source. Pure: the engine's module hands its tables in (`EngineSpec::flag_table`).

use crate::scenario::schema::FlagValue;
use serde::Deserialize;
use std::collections::BTreeMap;

/// What a flag's value must be, as the engine's parser reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A switch: `true` (or `false` where the engine has a `--no-` form).
    Bool,
    Int,
    Float,
    /// An integer, or a size with a suffix (`32k`, `1G`: vLLM's human-readable integers).
    Size,
    /// A size, or `auto` / -1.
    SizeOrAuto,
    /// An integer or a decimal number (llama.cpp writes both as `N`).
    Number,
    String,
    /// Text the parser converts itself (JSON, a dict, a mapping): any value but a switch.
    Any,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::Bool => "a switch (true or false)",
            Kind::Int => "an integer",
            Kind::Float | Kind::Number => "a number",
            Kind::Size => "an integer or a size such as \"32k\"",
            Kind::SizeOrAuto => "an integer, a size such as \"32k\", or \"auto\"",
            Kind::String => "a string",
            Kind::Any => "a value",
        }
    }
}

/// One flag of the table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    pub kind: Kind,
    #[serde(default)]
    pub choices: Vec<String>,
    /// Takes several values (`--flag a b`).
    #[serde(default)]
    pub list: bool,
    /// Other long names of the same flag (snake_case).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Has a `--no-` form (vLLM's BooleanOptionalAction): `false` can be written.
    #[serde(default)]
    pub negatable: bool,
    /// Only a `--no-` form exists (llama.cpp `--no-webui`): the key is the negative name.
    #[serde(default)]
    pub negative_only: bool,
}

/// A flag that the engine no longer has.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    /// The first version without it.
    pub since: String,
    pub replacement: Option<String>,
    pub source: String,
}

/// Bounds the CLI does not check by itself (or checks only after the launch).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: Option<f64>,
    #[serde(default)]
    pub min_exclusive: bool,
    pub max: Option<f64>,
    #[serde(default)]
    pub max_exclusive: bool,
    pub source: String,
}

impl Range {
    fn holds(&self, v: f64) -> bool {
        let lo = self.min.is_none_or(|m| if self.min_exclusive { v > m } else { v >= m });
        let hi = self.max.is_none_or(|m| if self.max_exclusive { v < m } else { v <= m });
        lo && hi
    }
    fn text(&self) -> String {
        let lo = self.min.map_or("(-inf".to_string(), |m| format!("{}{m}", if self.min_exclusive { "(" } else { "[" }));
        let hi = self.max.map_or("inf)".to_string(), |m| format!("{m}{}", if self.max_exclusive { ")" } else { "]" }));
        format!("{lo}, {hi}")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generated {
    engine: String,
    version: String,
    source: String,
    flags: BTreeMap<String, Flag>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Rules {
    #[serde(default)]
    removed: BTreeMap<String, Removed>,
    #[serde(default)]
    range: BTreeMap<String, Range>,
}

/// An engine's table: the generated flags and the hand-kept rules.
#[derive(Debug, Clone)]
pub struct FlagTable {
    /// The engine's name as people write it ("vLLM").
    pub engine: &'static str,
    /// The engine version the table was taken from.
    pub version: String,
    /// Where it was taken from (the CLI, or the documentation for an engine not run here).
    pub source: String,
    /// The file it is in, for messages.
    pub file: &'static str,
    /// The engine writes `false` as `--no-<flag>` for every switch (vLLM), so a switch without that
    /// form cannot be `false`.
    pub false_is_no_form: bool,
    flags: BTreeMap<String, Flag>,
    /// alias -> name
    aliases: BTreeMap<String, String>,
    removed: BTreeMap<String, Removed>,
    range: BTreeMap<String, Range>,
}

impl FlagTable {
    /// Reads a checked-in table and its rules (both are compiled in; `tests` parse every one).
    pub fn parse(
        engine: &'static str,
        file: &'static str,
        false_is_no_form: bool,
        generated: &str,
        rules: &str,
    ) -> Result<FlagTable, String> {
        let g: Generated = toml::from_str(generated).map_err(|e| format!("{file}: {e}"))?;
        let r: Rules = toml::from_str(rules).map_err(|e| format!("{file} rules: {e}"))?;
        let mut aliases = BTreeMap::new();
        for (name, f) in &g.flags {
            for a in &f.aliases {
                aliases.insert(a.clone(), name.clone());
            }
        }
        for name in r.range.keys() {
            if !g.flags.contains_key(name) {
                return Err(format!("{file} rules: a range for `{name}`, which is not in the table"));
            }
        }
        for name in r.removed.keys() {
            if g.flags.contains_key(name) {
                return Err(format!("{file} rules: `{name}` is listed as removed but is in the table"));
            }
        }
        if !file.ends_with(&format!("/{}.toml", g.engine)) {
            return Err(format!("{file} holds the table of `{}`", g.engine));
        }
        Ok(FlagTable {
            engine,
            version: g.version,
            source: g.source,
            file,
            false_is_no_form,
            flags: g.flags,
            aliases,
            removed: r.removed,
            range: r.range,
        })
    }

    /// The flag a scenario key names (`max-model-len`, `max_model_len` or an alias).
    pub fn get(&self, key: &str) -> Option<&Flag> {
        let name = snake(key);
        self.flags.get(&name).or_else(|| self.aliases.get(&name).and_then(|n| self.flags.get(n)))
    }

    pub fn len(&self) -> usize {
        self.flags.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// "vLLM 0.32.0".
    pub fn named(&self) -> String {
        format!("{} {}", self.engine, self.version)
    }

    fn suggest(&self, key: &str) -> Option<String> {
        let name = snake(key);
        crate::scenario::diag::suggest(&name, self.flags.keys().chain(self.aliases.keys()).map(String::as_str))
    }
}

/// The table an engine's module compiles in, parsed once (`cell` is its own static). A table that
/// does not parse is a bug of the checked-in files, caught by `flag_check`'s tests.
pub fn compiled_in(
    cell: &'static std::sync::OnceLock<FlagTable>,
    engine: &'static str,
    file: &'static str,
    false_is_no_form: bool,
    generated: &str,
    rules: &str,
) -> &'static FlagTable {
    cell.get_or_init(|| FlagTable::parse(engine, file, false_is_no_form, generated, rules).unwrap_or_else(|e| panic!("{e}")))
}

/// How `false` is written for an engine that omits it except on a switch that has a `--no-` form
/// (llama.cpp, SGLang): `--no-<flag>` there, None (omitted) elsewhere.
pub fn no_form_if_negatable(t: &FlagTable, key: &str) -> Option<String> {
    t.get(key).is_some_and(|f| f.negatable).then(|| format!("--no-{}", key.replace('_', "-")))
}

/// A scenario key as the tables name flags: snake_case (`max-model-len` -> `max_model_len`).
pub fn snake(key: &str) -> String {
    key.replace('-', "_")
}

/// The value of flag `name` (snake_case) in a server's flags, however the key is written.
pub fn lookup<'a>(flags: &'a indexmap::IndexMap<String, FlagValue>, name: &str) -> Option<&'a FlagValue> {
    flags.iter().find(|(k, _)| snake(k) == name).map(|(_, v)| v)
}

/// A token count written as vLLM's human-readable integers read it: `4096`, `32k` (x1000), `32K`
/// (x1024), `1m`/`1M`, `1g`/`1G`.
pub fn parse_size(v: &FlagValue) -> Option<u64> {
    match v {
        FlagValue::Int(i) => u64::try_from(*i).ok(),
        FlagValue::Str(s) => {
            let t = s.trim();
            let (num, mult) = match t.chars().last()? {
                'k' => (&t[..t.len() - 1], 1e3),
                'K' => (&t[..t.len() - 1], 1024.0),
                'm' => (&t[..t.len() - 1], 1e6),
                'M' => (&t[..t.len() - 1], 1024.0 * 1024.0),
                'g' => (&t[..t.len() - 1], 1e9),
                'G' => (&t[..t.len() - 1], 1024.0 * 1024.0 * 1024.0),
                _ => (t, 1.0),
            };
            let n: f64 = num.parse().ok()?;
            (n >= 0.0 && n.is_finite()).then_some((n * mult) as u64)
        }
        _ => None,
    }
}

/// What the check found about one flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// A warning lets the scenario run.
    pub warning: bool,
    pub message: String,
    pub help: String,
}

impl Finding {
    fn error(message: String, help: String) -> Self {
        Finding { warning: false, message, help }
    }
}

/// How a version compares with the table's: numbers of `0.32.0` or `b11434`, left to right.
fn version_numbers(v: &str) -> Vec<u64> {
    v.trim_start_matches(['v', 'b']).split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty()).filter_map(|p| p.parse().ok()).collect()
}

/// Whether `v` is a version a table can be compared with (`0.33.0`, `v0.33`, `b11500`).
pub fn is_version(v: &str) -> bool {
    let t = v.trim_start_matches(['v', 'b']);
    !t.is_empty() && t.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())) && t.split('.').count() <= 4
}

/// Compares two versions number by number (missing numbers count as 0).
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (x, y) = (version_numbers(a), version_numbers(b));
    (0..x.len().max(y.len()))
        .map(|i| x.get(i).unwrap_or(&0).cmp(y.get(i).unwrap_or(&0)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// Checks one flag of a scenario. `target` is the engine version the server says it is written for:
/// when it is not the table's, a name or a choice the table does not know is a warning, as the
/// engine may have it.
pub fn check(t: &FlagTable, key: &str, v: &FlagValue, target: Option<&str>) -> Option<Finding> {
    if let Some(f) = check_name(t, key, target) {
        return Some(f);
    }
    let other_version = target.filter(|x| version_cmp(x, &t.version).is_ne());
    t.get(key).and_then(|flag| value(t, key, flag, v, other_version))
}

/// The name alone: removed, unknown (an error, or a warning for another target version), or None
/// when the table has it (or a target before its removal may use it).
pub fn check_name(t: &FlagTable, key: &str, target: Option<&str>) -> Option<Finding> {
    let other_version = target.filter(|x| version_cmp(x, &t.version).is_ne());
    let name = snake(key);
    if let Some(r) = t.removed.get(&name) {
        if target.is_none_or(|x| version_cmp(x, &r.since).is_ge()) {
            let fix = match &r.replacement {
                Some(n) => format!("use `{n}` instead, or remove it (source: {})", r.source),
                None => format!("remove it (source: {})", r.source),
            };
            return Some(Finding::error(
                format!("`{key}` was removed from {} in {}: the server would exit at start", t.engine, r.since),
                fix,
            ));
        }
        return None;
    }
    if t.get(key).is_some() {
        return None;
    }
    let did = t.suggest(key).map(|s| format!("did you mean `{s}`? ")).unwrap_or_default();
    if let Some(x) = other_version {
        return Some(Finding {
            warning: true,
            message: format!("`{key}` is not a flag of {}; passed unchecked as the server targets {x}", t.named()),
            help: format!(
                "{did}if {} {x} has no such flag either, the server will exit at start ({} flags: {})",
                t.engine,
                t.named(),
                t.file
            ),
        });
    }
    Some(Finding::error(
        format!("`{key}` is not a flag of {}", t.named()),
        format!(
            "{did}{} flags are in {} (from {}); for a newer {} set engine_version = \"...\" on the server, or list the flag in unchecked_flags to pass it as written",
            t.named(),
            t.file,
            t.source,
            t.engine
        ),
    ))
}

fn value(t: &FlagTable, key: &str, flag: &Flag, v: &FlagValue, other_version: Option<&str>) -> Option<Finding> {
    match v {
        FlagValue::Bool(b) => {
            if flag.kind != Kind::Bool {
                return Some(Finding::error(
                    format!("`{key}` takes {}, not a bare switch", flag.kind.what()),
                    format!("give it a value, e.g. {key} = {}", example(flag)),
                ));
            }
            if !b && flag.kind == Kind::Bool && !flag.negatable && t.false_is_no_form {
                return Some(Finding::error(
                    format!("`{key} = false` would be written --no-{}, which {} does not have", key.replace('_', "-"), t.named()),
                    "remove the key: the switch is off unless given".to_string(),
                ));
            }
            None
        }
        FlagValue::List(items) => {
            if !flag.list {
                return Some(Finding::error(format!("`{key}` takes one value, not a list"), format!("e.g. {key} = {}", example(flag))));
            }
            items.iter().find_map(|i| scalar(t, key, flag, i, other_version))
        }
        other => scalar(t, key, flag, other, other_version),
    }
}

fn scalar(t: &FlagTable, key: &str, flag: &Flag, v: &FlagValue, other_version: Option<&str>) -> Option<Finding> {
    if flag.kind == Kind::Bool {
        let fix = match v {
            FlagValue::Str(s) if matches!(s.to_ascii_lowercase().as_str(), "yes" | "no" | "true" | "false" | "on" | "off" | "1" | "0") => {
                let on = matches!(s.to_ascii_lowercase().as_str(), "yes" | "true" | "on" | "1");
                format!("write {key} = {on} (a TOML boolean, without quotes)")
            }
            _ => format!("write {key} = true or {key} = false"),
        };
        return Some(Finding::error(format!("`{key}` is a switch; {} would be passed as a stray argument", shown(v)), fix));
    }
    let ok = match (flag.kind, v) {
        (Kind::Int, FlagValue::Int(_)) => true,
        (Kind::Int, FlagValue::Str(s)) => s.trim().parse::<i64>().is_ok(),
        (Kind::Float | Kind::Number, FlagValue::Int(_) | FlagValue::Float(_)) => true,
        (Kind::Float | Kind::Number, FlagValue::Str(s)) => s.trim().parse::<f64>().is_ok(),
        (Kind::Size, FlagValue::Int(_)) => true,
        (Kind::Size, FlagValue::Str(s)) => is_size(s),
        (Kind::SizeOrAuto, FlagValue::Int(_)) => true,
        (Kind::SizeOrAuto, FlagValue::Str(s)) => is_size(s) || s == "auto" || s == "-1",
        (Kind::String | Kind::Any, FlagValue::Str(_) | FlagValue::Int(_) | FlagValue::Float(_)) => true,
        _ => false,
    };
    if !ok {
        let e = match v {
            FlagValue::Float(f) if flag.kind == Kind::Int && f.is_finite() => format!("{}", f.round()),
            _ => example(flag),
        };
        return Some(Finding::error(format!("`{key}` takes {}, not {}", flag.kind.what(), shown(v)), format!("e.g. {key} = {e}")));
    }
    let text = v.render().join(" ");
    if !flag.choices.is_empty() && !flag.choices.contains(&text) {
        let did = crate::scenario::diag::suggest(&text, flag.choices.iter().map(String::as_str)).map(|s| format!("did you mean \"{s}\"? "));
        let choices = flag.choices.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        if let Some(x) = other_version {
            return Some(Finding {
                warning: true,
                message: format!("`{key}` = {} is not a choice of {}; passed unchecked as the server targets {x}", shown(v), t.named()),
                help: format!("{}{} knows {choices}", did.unwrap_or_default(), t.named()),
            });
        }
        return Some(Finding::error(
            format!("`{key}` = {} is not one of its choices in {}", shown(v), t.named()),
            format!("{}use one of {choices}", did.unwrap_or_default()),
        ));
    }
    if let (Some(r), Some(x)) = (t.range.get(&snake(key)), v.as_f64()) {
        if !r.holds(x) {
            return Some(Finding::error(
                format!("`{key}` = {x} is outside {} for {}", r.text(), t.engine),
                format!("use a value in {} (source: {})", r.text(), r.source),
            ));
        }
    }
    None
}

/// `32k`, `1.5G`, `4096` (vLLM's human-readable integers).
fn is_size(s: &str) -> bool {
    let t = s.trim();
    let digits = t.trim_end_matches(['k', 'K', 'm', 'M', 'g', 'G', 't', 'T']);
    (t.len() - digits.len()) <= 1 && !digits.is_empty() && digits.parse::<f64>().is_ok_and(|v| v >= 0.0 || digits == "-1")
}

fn shown(v: &FlagValue) -> String {
    match v {
        FlagValue::Str(s) => format!("\"{}\"", s.escape_debug()),
        FlagValue::List(_) => format!("[{}]", v.render().join(", ")),
        other => other.label(),
    }
}

fn example(flag: &Flag) -> String {
    if let Some(c) = flag.choices.first() {
        return format!("\"{c}\"");
    }
    match flag.kind {
        Kind::Bool => "true",
        Kind::Int | Kind::Size | Kind::SizeOrAuto => "4096",
        Kind::Float | Kind::Number => "0.9",
        Kind::String | Kind::Any => "\"...\"",
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> FlagTable {
        FlagTable::parse(
            "vLLM",
            "flags/vllm.toml",
            true,
            r#"
engine = "vllm"
version = "0.32.0"
source = "test"
[flags]
enforce_eager = { kind = "bool", negatable = true }
headless = { kind = "bool" }
max_model_len = { kind = "size" }
max_num_seqs = { kind = "int" }
gpu_memory_utilization = { kind = "float", aliases = ["device_memory_utilization"] }
dtype = { kind = "string", choices = ["auto", "half", "bfloat16"] }
cudagraph_capture_sizes = { kind = "int", list = true }
"#,
            r#"
[removed.disable_log_requests]
since = "0.12.0"
replacement = "enable_log_requests"
source = "vllm#29402"
[range.gpu_memory_utilization]
min = 0.0
min_exclusive = true
max = 1.0
source = "CacheConfig"
"#,
        )
        .unwrap()
    }

    fn err(key: &str, v: FlagValue) -> Finding {
        check(&table(), key, &v, None).expect("a finding")
    }

    #[test]
    fn good_values_pass() {
        let t = table();
        for (k, v) in [
            ("enforce_eager", FlagValue::Bool(true)),
            ("enforce-eager", FlagValue::Bool(false)),
            ("max_model_len", FlagValue::Str("32k".into())),
            ("max_model_len", FlagValue::Int(4096)),
            ("max_num_seqs", FlagValue::Int(8)),
            ("device_memory_utilization", FlagValue::Float(0.9)),
            ("gpu_memory_utilization", FlagValue::Int(1)),
            ("dtype", FlagValue::Str("half".into())),
            ("cudagraph_capture_sizes", FlagValue::List(vec![FlagValue::Int(1), FlagValue::Int(2)])),
        ] {
            assert_eq!(check(&t, k, &v, None), None, "{k}");
        }
    }

    #[test]
    fn each_rule_refuses_its_case() {
        assert!(err("enforce_eager", FlagValue::Str("yes".into())).help.contains("enforce_eager = true"));
        assert!(err("max_num_seqs", FlagValue::Float(8.5)).message.contains("an integer"));
        assert!(err("max_num_seqs", FlagValue::Bool(true)).message.contains("not a bare switch"));
        assert!(err("dtype", FlagValue::Str("bf16".into())).help.contains("\"bfloat16\""));
        assert!(err("gpu_memory_utilization", FlagValue::Float(1.5)).message.contains("(0, 1]"));
        assert!(err("gpu_memory_utilization", FlagValue::Float(0.0)).message.contains("outside"));
        let r = err("disable_log_requests", FlagValue::Bool(true));
        assert!(r.message.contains("removed from vLLM in 0.12.0") && r.help.contains("enable_log_requests"), "{r:?}");
        let u = err("max_num_seq", FlagValue::Int(8));
        assert!(!u.warning && u.message.contains("vLLM 0.32.0") && u.help.contains("did you mean `max_num_seqs`"), "{u:?}");
        assert!(err("headless", FlagValue::Bool(false)).message.contains("--no-headless"));
        assert!(err("max_num_seqs", FlagValue::List(vec![FlagValue::Int(1)])).message.contains("not a list"));
    }

    #[test]
    fn a_newer_target_turns_unknown_names_and_choices_into_warnings() {
        let t = table();
        let w = check(&t, "brand_new_flag", &FlagValue::Bool(true), Some("0.33.0")).unwrap();
        assert!(w.warning && w.message.contains("targets 0.33.0"), "{w:?}");
        let c = check(&t, "dtype", &FlagValue::Str("fp4".into()), Some("0.33.0")).unwrap();
        assert!(c.warning, "{c:?}");
        // The table's own version: still an error; types are never relaxed.
        assert!(!check(&t, "brand_new_flag", &FlagValue::Bool(true), Some("0.32")).unwrap().warning);
        assert!(!check(&t, "enforce_eager", &FlagValue::Str("yes".into()), Some("0.33.0")).unwrap().warning);
        // A recipe for a version before the removal may use the removed flag.
        assert_eq!(check(&t, "disable_log_requests", &FlagValue::Bool(true), Some("0.11.2")), None);
    }

    #[test]
    fn versions_compare_by_number() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("0.32.0", "0.32"), Equal);
        assert_eq!(version_cmp("0.33.0", "0.32.0"), Greater);
        assert_eq!(version_cmp("0.9.2", "0.12.0"), Less);
        assert_eq!(version_cmp("b11500", "b11434"), Greater);
        assert!(is_version("0.33.0") && is_version("b11500") && is_version("v0.33"));
        assert!(!is_version("latest") && !is_version("0.33.") && !is_version(""));
    }

    #[test]
    fn sizes() {
        assert!(is_size("32k") && is_size("1.5G") && is_size("4096"));
        assert!(!is_size("32kb") && !is_size("big") && !is_size("k"));
    }
}
