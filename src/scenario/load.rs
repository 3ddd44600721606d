//! Reading a scenario file: TOML syntax and the serde schema (`strict`: every unknown key at once),
//! then semantic validation. Every problem is located at its file:line:column with its key path.

use super::diag::{Diagnostic, ScenarioErrors};
use super::schema::Scenario;
use super::strict;
use super::validate::{self, EngineCheck};
use std::path::{Path, PathBuf};

/// A parsed, validated scenario together with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub scenario: Scenario,
    pub path: PathBuf,
    pub text: String,
    /// What validation found worth saying that does not stop a run, located in the file.
    pub warnings: Vec<Diagnostic>,
}

impl Loaded {
    /// Directory that relative paths in the scenario are resolved against.
    pub fn base_dir(&self) -> PathBuf {
        self.path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(#[from] ScenarioErrors),
}

/// Reads, parses and validates a scenario file; `engine` is `engine::check` (the engines' own checks).
pub fn load(path: &Path, engine: EngineCheck) -> Result<Loaded, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.display().to_string(), source })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let (scenario, warnings) = parse_with(&path.display().to_string(), &text, Some(base), engine)?;
    Ok(Loaded { scenario, path: path.to_path_buf(), text, warnings })
}

/// Parses and validates scenario text. `file` is only used in messages; `base` resolves relative paths.
pub fn parse(file: &str, text: &str, base: &Path, engine: EngineCheck) -> Result<Scenario, ScenarioErrors> {
    parse_with(file, text, Some(base), engine).map(|(s, _)| s)
}

/// Parses a scenario stored in a results folder (another machine's data): every check of `runner
/// validate` (grid size, ranges, names, secrets) except the files it names, which stayed on the
/// machine that ran it. Nothing is expanded from a stored scenario before this passes.
pub fn parse_stored(file: &str, text: &str, engine: EngineCheck) -> Result<Scenario, ScenarioErrors> {
    parse_with(file, text, None, engine).map(|(s, _)| s)
}

/// The scenario and its located warnings, or every error at once (warnings are then not shown:
/// the errors come first).
fn parse_with(file: &str, text: &str, base: Option<&Path>, engine: EngineCheck) -> Result<(Scenario, Vec<Diagnostic>), ScenarioErrors> {
    let parsed = strict::parse::<Scenario>(file, text)?;
    let (warnings, errors): (Vec<_>, Vec<_>) = validate::validate(&parsed.value, base, engine).into_iter().partition(|i| i.warning);
    if errors.is_empty() {
        return Ok((parsed.value, strict::locate_all(file, text, &parsed.doc, warnings)));
    }
    Err(ScenarioErrors { file: file.to_string(), diagnostics: strict::locate_all(file, text, &parsed.doc, errors) })
}
