//! `i3s-bundle lint`: static checks that catch broken plans before an appliance does.
//!
//! The linter works on a [`Target`]: a bundle (the model from `bundle`) plus, for every artifact,
//! where it came from ([`Origin`]: a zip entry, or a source file with a line map). Every rule
//! family is one module with a `check(&Target, &mut Sink)` function; rule ids, severities and
//! help texts live in [`rules`]. Findings are filtered by allow lists ([`config`]) and rendered by
//! [`output`] (human, JSON, SARIF).
//!
//! Entry points: [`lint_zip`] for one bundle zip, [`lint_target`] for anything else, and
//! [`run`] for a list of paths with the result cache ([`cache`]).
pub mod attributes;
pub mod cache;
pub mod capability;
pub mod config;
pub mod consul;
pub mod contracts;
pub mod effects;
pub mod heredoc;
pub mod host;
pub mod hygiene;
pub mod output;
pub mod prose;
pub mod rules;
pub mod sarif;
pub mod secrets;
pub mod shell;
pub mod sources;
pub mod structure;
pub mod syntax;
pub mod systemd;
pub mod target;

pub use config::{Config, DenyLevel};
pub use rules::{RULES, Rule, rule};
pub use target::{Origin, ScriptView, Target};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

/// How bad a finding is. Ordered: `Note < Warning < Error`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// The kind of artifact a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ArtifactKind {
    PlanScript,
    BuildPlan,
    DeploymentPlan,
    GoldenImage,
    /// The bundle as a whole (manifest, checksum file, zip container).
    Bundle,
}

impl fmt::Display for ArtifactKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArtifactKind::PlanScript => "plan script",
            ArtifactKind::BuildPlan => "build plan",
            ArtifactKind::DeploymentPlan => "deployment plan",
            ArtifactKind::GoldenImage => "golden image",
            ArtifactKind::Bundle => "bundle",
        })
    }
}

/// Where a finding points: a file (a source file or a zip), optionally a zip entry, and a line
/// and column — for zips, within the plan script's `content`.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Place {
    pub file: PathBuf,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(entry) = &self.entry {
            write!(f, "!{entry}")?;
            if self.line.is_some() {
                write!(f, " content")?;
            }
        }
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        Ok(())
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    /// Stable rule id, e.g. `I3S031`.
    pub rule: String,
    /// A sub-code from an external tool (shellcheck's `SC2086`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub severity: Severity,
    pub artifact_kind: ArtifactKind,
    /// The artifact's name (plan script, build plan, …; the zip file name for the bundle).
    pub artifact: String,
    pub message: String,
    pub place: Place,
    /// The text of the line pointed at, for the caret display.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
    /// How many characters the caret spans (at least 1).
    #[serde(default = "one")]
    pub width: usize,
    /// The plan script and content line the finding points into (for inline allow comments).
    #[serde(skip)]
    pub in_script: Option<(String, usize)>,
}

fn one() -> usize {
    1
}

impl Finding {
    /// The rule's help text.
    pub fn help(&self) -> &'static str {
        rule(&self.rule).map_or("", |r| r.help)
    }
}

/// Collects findings; rule modules call it, it fills in severity and places.
#[derive(Debug, Default)]
pub struct Sink {
    pub findings: Vec<Finding>,
}

impl Sink {
    /// A finding at a line (1-based, within the script's content) of a plan script.
    pub fn at_script(
        &mut self,
        id: &str,
        view: &ScriptView,
        line: usize,
        column: Option<usize>,
        message: String,
    ) {
        self.at_script_as(
            id,
            view,
            ArtifactKind::PlanScript,
            &view.script.name,
            line,
            column,
            1,
            message,
        );
    }

    /// A finding pointing into a plan script but attributed to another artifact (a build plan).
    #[allow(clippy::too_many_arguments)]
    pub fn at_script_as(
        &mut self,
        id: &str,
        view: &ScriptView,
        kind: ArtifactKind,
        artifact: &str,
        line: usize,
        column: Option<usize>,
        width: usize,
        message: String,
    ) {
        let (place, snippet) = view.origin.locate(line, column, &view.script.content);
        self.push(id, kind, artifact, place, snippet, width, message);
        if let Some(last) = self.findings.last_mut() {
            last.in_script = Some((view.script.name.clone(), line));
        }
    }

    /// A finding about a whole artifact (no line).
    pub fn at_artifact(
        &mut self,
        id: &str,
        kind: ArtifactKind,
        artifact: &str,
        origin: &Origin,
        message: String,
    ) {
        self.push(id, kind, artifact, origin.place(), None, 1, message);
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: &str,
        kind: ArtifactKind,
        artifact: &str,
        place: Place,
        snippet: Option<String>,
        width: usize,
        message: String,
    ) {
        let rule = rule(id).unwrap_or_else(|| panic!("rule {id} is not in lint::rules::RULES"));
        self.findings.push(Finding {
            rule: rule.id.to_string(),
            code: None,
            severity: rule.severity,
            artifact_kind: kind,
            artifact: artifact.to_string(),
            message,
            place,
            snippet,
            width: width.max(1),
            in_script: None,
        });
    }

    /// Adds a finding built elsewhere (shellcheck results).
    pub fn push_finding(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

/// What to lint with.
#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    pub config: Config,
    /// Run shellcheck on uploaded bash/sh files (when installed).
    pub shellcheck: bool,
    /// Where shellcheck results are cached per script body (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
}

/// The outcome of linting some inputs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    /// Things the user must know that are not findings ("shellcheck is not installed").
    pub notices: Vec<String>,
    /// Inputs linted.
    pub inputs: Vec<PathBuf>,
    /// Findings dropped by allow lists.
    pub suppressed: usize,
}

impl Report {
    /// Number of findings at or above `level`.
    pub fn count_at_least(&self, level: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity >= level).count()
    }
    pub fn merge(&mut self, other: Report) {
        self.findings.extend(other.findings);
        for notice in other.notices {
            if !self.notices.contains(&notice) {
                self.notices.push(notice);
            }
        }
        self.inputs.extend(other.inputs);
        self.suppressed += other.suppressed;
    }
}

/// Runs every rule family on a target. Findings are de-duplicated (a plan script shared by
/// several build plans is reported once) and sorted by place; allow lists are applied.
pub fn lint_target(target: &Target, options: &LintOptions) -> Report {
    let mut sink = Sink::default();
    let mut notices = Vec::new();
    run_checks(
        target,
        &mut sink,
        &[
            structure::check,
            attributes::check,
            heredoc::check,
            syntax::check,
            host::check,
            systemd::check,
            contracts::check,
            shell::check,
        ],
    );
    if options.shellcheck {
        shell::shellcheck(
            target,
            &mut sink,
            &mut notices,
            options.cache_dir.as_deref(),
        );
    }
    run_checks(
        target,
        &mut sink,
        &[
            prose::check,
            secrets::check,
            capability::check,
            hygiene::check,
        ],
    );

    let mut seen = std::collections::HashSet::new();
    let mut findings: Vec<Finding> = sink
        .findings
        .into_iter()
        .filter(|f| seen.insert(f.clone()))
        .collect();
    let before = findings.len();
    findings.retain(|f| !options.config.allows(f) && !target.inline_allows(f));
    let suppressed = before - findings.len();
    findings.sort_by(|a, b| {
        (
            &a.place.file,
            &a.place.entry,
            a.place.line,
            a.place.column,
            &a.rule,
        )
            .cmp(&(
                &b.place.file,
                &b.place.entry,
                b.place.line,
                b.place.column,
                &b.rule,
            ))
    });
    Report {
        findings,
        notices,
        inputs: vec![target.path.clone()],
        suppressed,
    }
}

/// Runs rule families side by side (each into a sink of its own: a bundle of thousands of
/// scripts takes a while) and adds their findings in the order given, as one after the other would.
fn run_checks(target: &Target, sink: &mut Sink, checks: &[fn(&Target, &mut Sink)]) {
    use rayon::prelude::*;
    let sinks: Vec<Sink> = checks
        .par_iter()
        .map(|check| {
            let mut own = Sink::default();
            check(target, &mut own);
            own
        })
        .collect();
    for own in sinks {
        sink.findings.extend(own.findings);
    }
}

/// Lints one bundle zip. An unreadable zip is an error (exit 2), not a finding.
pub fn lint_zip(path: &Path, options: &LintOptions) -> crate::Result<Report> {
    let read_options = crate::bundle::ReadOptions {
        hash_payloads: true,
        ..Default::default()
    };
    let loaded = crate::bundle::read_bundle(path, &read_options)?;
    let target = Target::from_zip(&loaded);
    Ok(lint_target(&target, options))
}

/// One thing to lint, as resolved from the command line.
enum Unit {
    /// A project (or one bundle source of it) compiled in memory.
    Sources {
        input: PathBuf,
        root: PathBuf,
        only: Option<PathBuf>,
    },
    Zip(PathBuf),
}

/// Lints every input — a project root (its sources, compiled in memory), one bundle source
/// (`bundles-src/<name>.toml`), a bundle zip, or a directory searched for `*.zip` — using the
/// cache when given. Inputs the cache does not answer are loaded first and shellcheck runs once
/// over all of them; the report lists inputs in the order given.
pub fn run(
    inputs: &[PathBuf],
    options: &LintOptions,
    cache: Option<&cache::Cache>,
) -> crate::Result<Report> {
    let units = units_of(inputs)?;
    // 1. Cache look-ups; load what the cache does not answer.
    let looked_up = look_up(&units, options, cache)?;
    // 2. One shellcheck run over everything not cached, then the rules per bundle.
    let mut fresh = lint_loaded(&units, &looked_up, options);

    let mut report = Report::default();
    for (index, (cached, key)) in looked_up
        .reports
        .into_iter()
        .zip(looked_up.keys)
        .enumerate()
    {
        let one = match cached {
            Some(hit) => hit,
            None => {
                let one = fresh[index].take().unwrap_or_else(|| Report {
                    inputs: vec![unit_input(&units[index])],
                    ..Default::default()
                });
                if let Some(c) = cache {
                    c.put(&key, &one);
                }
                one
            }
        };
        report.merge(one);
    }
    Ok(report)
}

/// What each input is: a project or bundle source, or bundle zips (a directory's, sorted).
fn units_of(inputs: &[PathBuf]) -> crate::Result<Vec<Unit>> {
    let mut units = Vec::new();
    for input in inputs {
        let source_root = sources::bundle_source_root(input).filter(|_| input.is_file());
        if let Some(root) = source_root {
            units.push(Unit::Sources {
                input: input.clone(),
                root,
                only: Some(input.clone()),
            });
        } else if input.is_dir() && sources::is_project(input) {
            units.push(Unit::Sources {
                input: input.clone(),
                root: input.clone(),
                only: None,
            });
        } else if input.is_dir() {
            let mut found: Vec<PathBuf> = walkdir::WalkDir::new(input)
                .into_iter()
                .filter_map(|e| e.ok())
                .filter(|e| {
                    e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "zip")
                })
                .map(|e| e.into_path())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(crate::Error::Usage(format!(
                    "{}: no bundle zips found",
                    input.display()
                )));
            }
            units.extend(found.into_iter().map(Unit::Zip));
        } else if input.exists() {
            units.push(Unit::Zip(input.clone()));
        } else {
            return Err(crate::Error::Usage(format!(
                "{}: no such file or directory",
                input.display()
            )));
        }
    }
    Ok(units)
}

/// The cache's answers and keys per unit, and the units it did not answer, loaded.
struct LookedUp {
    reports: Vec<Option<Report>>,
    keys: Vec<String>,
    loaded_zips: Vec<(usize, crate::bundle::LoadedBundle)>,
    compiled: Vec<(usize, Vec<sources::CompiledSource>)>,
}

fn look_up(
    units: &[Unit],
    options: &LintOptions,
    cache: Option<&cache::Cache>,
) -> crate::Result<LookedUp> {
    let key_base = cache::options_key(options);
    let mut reports: Vec<Option<Report>> = Vec::new();
    let mut keys = Vec::new();
    let mut loaded_zips = Vec::new();
    let mut compiled = Vec::new();
    for (index, unit) in units.iter().enumerate() {
        let key = match unit {
            Unit::Sources { input, root, .. } => {
                cache::input_key(&key_base, input, sources::sources_key(root).as_bytes())
            }
            Unit::Zip(zip) => {
                cache::file_key(&key_base, zip).map_err(|e| crate::Error::io(zip, e))?
            }
        };
        let hit = cache.and_then(|c| c.get(&key));
        if hit.is_none() {
            match unit {
                Unit::Sources { root, only, .. } => {
                    compiled.push((index, sources::compile_project(root, only.as_deref())?));
                }
                Unit::Zip(zip) => {
                    let read_options = crate::bundle::ReadOptions {
                        hash_payloads: true,
                        ..Default::default()
                    };
                    loaded_zips.push((index, crate::bundle::read_bundle(zip, &read_options)?));
                }
            }
        }
        reports.push(hit);
        keys.push(key);
    }
    Ok(LookedUp {
        reports,
        keys,
        loaded_zips,
        compiled,
    })
}

/// Reports of the loaded units (`None` for those the cache answered).
fn lint_loaded(units: &[Unit], looked_up: &LookedUp, options: &LintOptions) -> Vec<Option<Report>> {
    let LookedUp {
        loaded_zips,
        compiled,
        ..
    } = looked_up;
    let mut targets: Vec<(usize, Target)> = loaded_zips
        .iter()
        .map(|(i, l)| (*i, Target::from_zip(l)))
        .collect();
    for (index, bundles) in compiled {
        targets.extend(bundles.iter().map(|b| (*index, b.target())));
    }
    if options.shellcheck {
        shell::prime(
            &targets.iter().map(|(_, t)| t).collect::<Vec<_>>(),
            options.cache_dir.as_deref(),
        );
    }
    let mut fresh: Vec<Option<Report>> = vec![None; units.len()];
    for (index, target) in &targets {
        fresh[*index]
            .get_or_insert_with(Report::default)
            .merge(lint_target(target, options));
    }
    for (index, unit) in units.iter().enumerate() {
        if let (Unit::Sources { input, .. }, Some(report)) = (unit, fresh[index].as_mut()) {
            report.inputs = vec![input.clone()];
        }
    }
    fresh
}

fn unit_input(unit: &Unit) -> PathBuf {
    match unit {
        Unit::Sources { input, .. } | Unit::Zip(input) => input.clone(),
    }
}
