//! What the rules look at: a bundle, its plan scripts parsed once, and where each artifact came
//! from so findings can name the zip entry (or the source file and line).
use super::{Finding, Place};
use crate::bundle::read::LoadedBundle;
use crate::bundle::{BuildPlan, Bundle, EntryKind, PlanScript};
use crate::guestfish::{self, Script};
use crate::source::contract::Contract;
use crate::source::profile::Posture;
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// Where an artifact came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The zip, or the source file (template, plan-script file, bundle TOML).
    pub file: PathBuf,
    /// The zip entry, for artifacts read from a zip.
    pub entry: Option<String>,
    /// Where the artifact itself is declared (a line of `file`), for findings about it as a whole.
    pub line: Option<usize>,
    /// For sources: content line `i` (1-based) came from `lines[i - 1]` (file, line); `None` for
    /// a rendered line found in no source (it is then reported as `file!rendered content:i`).
    /// Empty means "content lines are the lines of `file`/`entry`".
    pub lines: Vec<Option<(PathBuf, usize)>>,
}

impl Origin {
    pub fn zip_entry(zip: impl Into<PathBuf>, entry: impl Into<String>) -> Self {
        Origin {
            file: zip.into(),
            entry: Some(entry.into()),
            line: None,
            lines: Vec::new(),
        }
    }

    /// The artifact as a whole.
    pub fn place(&self) -> Place {
        Place {
            file: self.file.clone(),
            entry: self.entry.clone(),
            line: self.line,
            column: None,
        }
    }

    /// The place of a content line (1-based) and that line's text.
    pub fn locate(
        &self,
        line: usize,
        column: Option<usize>,
        content: &str,
    ) -> (Place, Option<String>) {
        let text = content
            .split('\n')
            .nth(line.saturating_sub(1))
            .map(|l| l.trim_end_matches('\r').to_string());
        let place = match self.lines.get(line.wrapping_sub(1)) {
            Some(Some((file, source_line))) => Place {
                file: file.clone(),
                entry: None,
                line: Some(*source_line),
                column,
            },
            Some(None) => Place {
                file: self.file.clone(),
                entry: Some("rendered".into()),
                line: Some(line),
                column,
            },
            None => Place {
                file: self.file.clone(),
                entry: self.entry.clone(),
                line: Some(line),
                column,
            },
        };
        (place, text)
    }
}

/// A plan script, parsed, with its origin and inline allow comments.
#[derive(Debug, Clone)]
pub struct ScriptView<'a> {
    pub script: &'a PlanScript,
    pub parsed: Script,
    pub origin: Origin,
    /// `(content line, rule ids or codes, whole file?)` from `# i3s-lint: allow ...` comments.
    pub allows: Vec<(usize, Vec<String>, bool)>,
}

/// A bundle ready for linting.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The zip or the source the bundle came from (named in reports).
    pub path: PathBuf,
    pub bundle: &'a Bundle,
    /// One per `bundle.plan_scripts`, same order.
    pub scripts: Vec<ScriptView<'a>>,
    /// One per `bundle.build_plans`.
    pub build_plan_origins: Vec<Origin>,
    /// One per `bundle.deployment_plans`.
    pub deployment_plan_origins: Vec<Origin>,
    /// The zip as read, when linting a zip (format hygiene rules need it).
    pub loaded: Option<&'a LoadedBundle>,
    /// What only a project's sources know (contracts, the OS posture); `None` for a zip.
    pub sources: Option<SourceFacts>,
    /// Lookups the rules make per step, per finding or per plan, built once so that lint stays
    /// linear in the number of artifacts (a scan per lookup made 100,000 plan scripts take minutes).
    index: Index<'a>,
}

/// What a bundle's sources know beyond the bundle itself (the capability rules need it).
#[derive(Debug, Clone, Default)]
pub struct SourceFacts {
    /// One per `bundle.plan_scripts`, same order: the template's contract (empty for plain plan
    /// scripts) and the template file that declares it.
    pub contracts: Vec<(Contract, Option<PathBuf>)>,
    /// The OS profile's id and `[posture]`.
    pub os: Option<String>,
    pub posture: Option<Posture>,
    /// The project's `templates/consul-policies/` directory (role policies, `<plan slug>.hcl`).
    pub consul_policies: PathBuf,
}

/// See [`Target::index`].
#[derive(Debug, Clone, Default)]
struct Index<'a> {
    /// `scripts` index by lower-case plan script id (the first, like a scan would find);
    /// borrowed when the id already is lower case (the usual case).
    script_ids: HashMap<Cow<'a, str>, usize>,
    /// `scripts` indices by plan script name.
    script_names: HashMap<&'a str, Vec<usize>>,
    /// `scripts` indices of plan scripts no build plan step points at (by exact id).
    unused: Vec<usize>,
    /// `bundle.build_plans` index by name (the first).
    build_plans: HashMap<&'a str, usize>,
    golden_images: HashSet<&'a str>,
}

impl<'a> Index<'a> {
    fn of(bundle: &'a Bundle) -> Self {
        let mut index = Index::default();
        let step_ids: HashSet<&str> = bundle
            .build_plans
            .iter()
            .flat_map(|p| p.steps.iter().filter_map(|s| s.plan_script_id()))
            .collect();
        for (i, script) in bundle.plan_scripts.iter().enumerate() {
            let id = match script.id.bytes().any(|b| b.is_ascii_uppercase()) {
                true => Cow::Owned(script.id.to_ascii_lowercase()),
                false => Cow::Borrowed(script.id.as_str()),
            };
            index.script_ids.entry(id).or_insert(i);
            index
                .script_names
                .entry(script.name.as_str())
                .or_default()
                .push(i);
            if !step_ids.contains(script.id.as_str()) {
                index.unused.push(i);
            }
        }
        for (i, plan) in bundle.build_plans.iter().enumerate() {
            index.build_plans.entry(plan.name.as_str()).or_insert(i);
        }
        index.golden_images = bundle
            .golden_images
            .iter()
            .map(|g| g.image.name.as_str())
            .collect();
        index
    }
}

impl<'a> Target<'a> {
    /// A target for a bundle read from a zip: places are zip entries, lines are content lines.
    pub fn from_zip(loaded: &'a LoadedBundle) -> Self {
        let bundle = &loaded.bundle;
        let entry =
            |kind: EntryKind, id: &str| kind.entry_name(id).unwrap_or_else(|| id.to_string());
        let mut target = Target::new(
            loaded.path.clone(),
            bundle,
            bundle
                .plan_scripts
                .iter()
                .map(|s| Origin::zip_entry(&loaded.path, entry(EntryKind::PlanScript, &s.id)))
                .collect(),
            bundle
                .build_plans
                .iter()
                .map(|p| Origin::zip_entry(&loaded.path, entry(EntryKind::BuildPlan, &p.id)))
                .collect(),
            bundle
                .deployment_plans
                .iter()
                .map(|p| Origin::zip_entry(&loaded.path, entry(EntryKind::DeploymentPlan, &p.id)))
                .collect(),
        );
        target.loaded = Some(loaded);
        target
    }

    /// A target from any bundle model with explicit origins (one per artifact, same order).
    pub fn new(
        path: PathBuf,
        bundle: &'a Bundle,
        script_origins: Vec<Origin>,
        build_plan_origins: Vec<Origin>,
        deployment_plan_origins: Vec<Origin>,
    ) -> Self {
        let scripts = bundle
            .plan_scripts
            .iter()
            .zip(
                script_origins
                    .into_iter()
                    .chain(std::iter::repeat_with(Origin::default)),
            )
            .map(|(script, origin)| {
                let mut parsed = guestfish::parse(&script.content);
                // Held for every plan script while linting: no room left over from growing.
                parsed.commands.shrink_to_fit();
                ScriptView {
                    script,
                    parsed,
                    allows: inline_allows(&script.content),
                    origin,
                }
            })
            .collect();
        Target {
            path,
            bundle,
            scripts,
            build_plan_origins,
            deployment_plan_origins,
            loaded: None,
            sources: None,
            index: Index::of(bundle),
        }
    }

    pub fn build_plan_origin(&self, index: usize) -> Origin {
        self.build_plan_origins
            .get(index)
            .cloned()
            .unwrap_or_else(|| Origin {
                file: self.path.clone(),
                ..Default::default()
            })
    }

    pub fn deployment_plan_origin(&self, index: usize) -> Origin {
        self.deployment_plan_origins
            .get(index)
            .cloned()
            .unwrap_or_else(|| Origin {
                file: self.path.clone(),
                ..Default::default()
            })
    }

    /// The parsed view of the plan script a step points at.
    pub fn script_by_id(&self, id: &str) -> Option<&ScriptView<'a>> {
        let index = match id.bytes().any(|b| b.is_ascii_uppercase()) {
            true => *self
                .index
                .script_ids
                .get(id.to_ascii_lowercase().as_str())?,
            false => *self.index.script_ids.get(id)?,
        };
        self.scripts.get(index)
    }

    /// The plan scripts named `name`.
    fn scripts_named(&self, name: &str) -> impl Iterator<Item = &ScriptView<'a>> {
        let indices = self
            .index
            .script_names
            .get(name)
            .map_or(&[][..], Vec::as_slice);
        indices.iter().filter_map(|&i| self.scripts.get(i))
    }

    /// The (first) build plan named `name`.
    pub fn build_plan_by_name(&self, name: &str) -> Option<&'a BuildPlan> {
        let bundle: &'a Bundle = self.bundle;
        bundle.build_plans.get(*self.index.build_plans.get(name)?)
    }

    /// Whether the bundle carries a golden image named `name`.
    pub fn carries_golden_image(&self, name: &str) -> bool {
        self.index.golden_images.contains(name)
    }

    /// A build plan's steps as script views, in step order (`None` for dangling steps).
    pub fn steps(&self, plan: &BuildPlan) -> Vec<Option<&ScriptView<'a>>> {
        plan.steps
            .iter()
            .map(|s| s.plan_script_id().and_then(|id| self.script_by_id(id)))
            .collect()
    }

    /// Plan scripts no build plan uses (linted on their own by cross-step rules).
    pub fn unused_scripts(&self) -> Vec<&ScriptView<'a>> {
        self.index
            .unused
            .iter()
            .filter_map(|&i| self.scripts.get(i))
            .collect()
    }

    /// Whether an inline `# i3s-lint: allow ID` comment in the plan script the finding points
    /// into suppresses it (same line or the line before; `allow-file` for the whole script).
    pub fn inline_allows(&self, finding: &Finding) -> bool {
        let matches_rule = |ids: &Vec<String>| {
            ids.iter()
                .any(|id| *id == finding.rule || finding.code.as_deref() == Some(id.as_str()))
        };
        let Some((script, content_line)) = &finding.in_script else {
            // A finding about a plan script as a whole: only `allow-file` applies.
            return finding.artifact_kind == super::ArtifactKind::PlanScript
                && self.scripts_named(&finding.artifact).any(|v| {
                    v.allows
                        .iter()
                        .any(|(_, ids, whole)| *whole && matches_rule(ids))
                });
        };
        self.scripts_named(script).any(|view| {
            view.allows.iter().any(|(line, ids, whole)| {
                matches_rule(ids) && (*whole || *content_line == *line || *content_line == line + 1)
            })
        })
    }
}

/// Finds `i3s-lint: allow ID[,ID...]` and `i3s-lint: allow-file ID...` in comments.
pub fn inline_allows(content: &str) -> Vec<(usize, Vec<String>, bool)> {
    let mut found = Vec::new();
    for (i, line) in content.split('\n').enumerate() {
        let Some(at) = line.find("i3s-lint:") else {
            continue;
        };
        if !line[..at].trim_end().ends_with('#') && !line[..at].contains('#') {
            continue;
        }
        let rest = line[at + "i3s-lint:".len()..].trim();
        let (whole, ids) = if let Some(ids) = rest.strip_prefix("allow-file") {
            (true, ids)
        } else if let Some(ids) = rest.strip_prefix("allow") {
            (false, ids)
        } else {
            continue;
        };
        let ids: Vec<String> = ids
            .split([',', ' ', '\t'])
            .map(|s| s.trim().to_string())
            .take_while(|s| !s.starts_with('#') && !s.starts_with("--"))
            .filter(|s| !s.is_empty())
            .collect();
        if !ids.is_empty() {
            found.push((i + 1, ids, whole));
        }
    }
    found
}
