//! Linting a project's sources: every `bundles-src/*.toml` is compiled in memory through the
//! build pipeline (`build::compile_bundle`, nothing written) and linted like a zip, with findings
//! mapped back to the template, plan-script file or bundle TOML line they came from.
use super::target::{Origin, SourceFacts, Target};
use super::{LintOptions, Report, lint_target};
use crate::build::{CompiledBundle, Project, compile_bundle};
use crate::render::ScriptOrigin;
use crate::source::Layout;
use crate::source::profile::OsProfile;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Whether `root` looks like a project (has `bundles-src/`).
pub fn is_project(root: &Path) -> bool {
    Layout::new(root).bundles_dir().is_dir()
}

/// A hash of every source file of the project (the cache key of a whole-project lint).
pub fn sources_key(root: &Path) -> String {
    let layout = Layout::new(root);
    let mut hasher = Sha256::new();
    let dirs = [
        layout.bundles_dir(),
        layout.templates_dir(),
        layout.plan_scripts_dir(),
        root.join(Layout::PROFILES),
    ];
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| walkdir::WalkDir::new(d).into_iter().filter_map(|e| e.ok()))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .chain([layout.registry(), layout.project_file()])
        .collect();
    files.sort();
    for file in files {
        if let Ok(bytes) = std::fs::read(&file) {
            hasher.update(file.to_string_lossy().as_bytes());
            hasher.update([0]);
            hasher.update(Sha256::digest(&bytes));
        }
    }
    hex::encode(hasher.finalize())
}

/// Maps each rendered content line to a source line: the same text in the template (or a shared
/// piece it loaded), searching forward from the previous match so repeated lines map in order.
fn map_template_lines(
    content: &str,
    sources: &[(PathBuf, std::sync::Arc<str>)],
) -> Vec<Option<(PathBuf, usize)>> {
    let texts: Vec<Vec<&str>> = sources
        .iter()
        .map(|(_, t)| t.split('\n').map(|l| l.trim_end()).collect())
        .collect();
    let mut previous: Option<(usize, usize)> = None;
    content
        .split('\n')
        .map(|line| {
            let line = line.trim_end();
            if line.trim().is_empty() {
                return None;
            }
            let after_previous = previous.and_then(|(file, at)| {
                texts[file]
                    .iter()
                    .enumerate()
                    .skip(at + 1)
                    .find(|(_, l)| **l == line)
                    .map(|(i, _)| (file, i))
            });
            let anywhere = || {
                texts
                    .iter()
                    .enumerate()
                    .find_map(|(f, lines)| lines.iter().position(|l| *l == line).map(|i| (f, i)))
            };
            let found = after_previous.or_else(anywhere)?;
            previous = Some(found);
            Some((sources[found.0].0.clone(), found.1 + 1))
        })
        .collect()
}

fn script_origin(root: &Path, origin: &ScriptOrigin, content: &str) -> Origin {
    let join = |p: &Path| {
        if root == Path::new(".") || p.is_absolute() {
            p.to_path_buf()
        } else {
            root.join(p)
        }
    };
    match origin {
        ScriptOrigin::Plain { file, content_line } => Origin {
            file: join(file),
            entry: None,
            line: Some(*content_line),
            lines: (0..content.split('\n').count())
                .map(|i| Some((join(file), content_line + i)))
                .collect(),
        },
        ScriptOrigin::Template { file, sources } => {
            let sources: Vec<(PathBuf, std::sync::Arc<str>)> =
                sources.iter().map(|(p, t)| (join(p), t.clone())).collect();
            Origin {
                file: join(file),
                entry: None,
                line: None,
                lines: map_template_lines(content, &sources),
            }
        }
    }
}

/// Compiles and lints every bundle source of the project at `root`. A source that does not
/// compile is an error (the build would fail the same way), not a finding.
pub fn lint_project(root: &Path, options: &LintOptions) -> crate::Result<Report> {
    lint_project_bundles(root, None, options)
}

/// The project root of a bundle source `<root>/bundles-src/<name>.toml`.
pub fn bundle_source_root(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    let is_source = path.extension().is_some_and(|e| e == "toml")
        && dir.file_name().is_some_and(|n| n == Layout::BUNDLES);
    is_source.then(|| {
        dir.parent().map_or_else(
            || PathBuf::from("."),
            |p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            },
        )
    })
}

/// A bundle source compiled in memory, with where each of its artifacts came from.
pub struct CompiledSource {
    pub path: PathBuf,
    pub compiled: CompiledBundle,
    script_origins: Vec<Origin>,
    build_plan_origins: Vec<Origin>,
    deployment_plan_origins: Vec<Origin>,
    facts: SourceFacts,
}

impl CompiledSource {
    /// The lint target of this bundle.
    pub fn target(&self) -> Target<'_> {
        let mut target = Target::new(
            self.path.clone(),
            &self.compiled.bundle,
            self.script_origins.clone(),
            self.build_plan_origins.clone(),
            self.deployment_plan_origins.clone(),
        );
        target.sources = Some(self.facts.clone());
        target
    }
}

/// Contracts, posture and policy location of a compiled bundle source.
fn source_facts(
    project: &Project,
    root: &Path,
    compiled: &CompiledBundle,
) -> crate::Result<SourceFacts> {
    let contracts = compiled
        .bundle
        .plan_scripts
        .iter()
        .map(|s| match compiled.scripts.iter().find(|i| i.id == s.id) {
            Some(info) => (
                info.contract.clone(),
                match &info.origin {
                    ScriptOrigin::Template { file, .. } if root == Path::new(".") => {
                        Some(file.clone())
                    }
                    ScriptOrigin::Template { file, .. } => Some(root.join(file)),
                    ScriptOrigin::Plain { .. } => None,
                },
            ),
            None => Default::default(),
        })
        .collect();
    let file = &compiled.file;
    let profile = match &file.bundle.os {
        Some(os) => Some(OsProfile::load(
            &project.layout,
            os.get_ref(),
            &file.at(os),
        )?),
        None => None,
    };
    Ok(SourceFacts {
        contracts,
        os: profile.as_ref().map(|p| p.id.clone()),
        posture: profile.and_then(|p| p.posture),
        consul_policies: project.layout.templates_dir().join("consul-policies"),
    })
}

/// Compiles the project's bundle sources (only `only` when given) in memory.
pub fn compile_project(root: &Path, only: Option<&Path>) -> crate::Result<Vec<CompiledSource>> {
    let project = Project::load(root)?;
    let wanted = |path: &Path| only.is_none_or(|o| o.file_name() == path.file_name());
    let mut compiled_sources = Vec::new();
    for path in project
        .layout
        .bundle_files()?
        .into_iter()
        .filter(|p| wanted(p))
    {
        let compiled = compile_bundle(&project, &path)?;
        let bundle = &compiled.bundle;
        // By id, first wins (as a scan would): one lookup per script keeps this linear.
        let mut infos = std::collections::HashMap::new();
        for info in &compiled.scripts {
            infos.entry(info.id.as_str()).or_insert(info);
        }
        let script_origins = bundle
            .plan_scripts
            .iter()
            .map(|s| match infos.get(s.id.as_str()) {
                Some(info) => script_origin(root, &info.origin, &s.content),
                None => Origin {
                    file: path.clone(),
                    ..Default::default()
                },
            })
            .collect();
        let file = &compiled.file;
        let line_of = |location: crate::error::Location| Origin {
            file: path.clone(),
            line: location.line,
            ..Default::default()
        };
        let plan_origins = file
            .build_plans
            .iter()
            .map(|p| line_of(file.at(&p.name)))
            .chain(std::iter::repeat_with(|| line_of(Default::default())));
        let build_plan_origins = plan_origins.take(bundle.build_plans.len()).collect();
        let deployment_plan_origins = file
            .deployment_plans
            .iter()
            .map(|p| line_of(file.at(&p.name)))
            .chain(std::iter::repeat_with(|| line_of(Default::default())))
            .take(bundle.deployment_plans.len())
            .collect();
        let facts = source_facts(&project, root, &compiled)?;
        compiled_sources.push(CompiledSource {
            facts,
            path: path.clone(),
            script_origins,
            build_plan_origins,
            deployment_plan_origins,
            compiled,
        });
    }
    Ok(compiled_sources)
}

/// Like [`lint_project`], but only the bundle source `only` when given.
pub fn lint_project_bundles(
    root: &Path,
    only: Option<&Path>,
    options: &LintOptions,
) -> crate::Result<Report> {
    let sources = compile_project(root, only)?;
    let targets: Vec<Target> = sources.iter().map(CompiledSource::target).collect();
    if options.shellcheck {
        super::shell::prime(
            &targets.iter().collect::<Vec<_>>(),
            options.cache_dir.as_deref(),
        );
    }
    let mut report = Report::default();
    for target in &targets {
        report.merge(lint_target(target, options));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_lines_map_in_order() {
        let template: std::sync::Arc<str> =
            "{#- front -#}\necho a\n{% if x %}\necho b\n{% endif %}\necho a\n".into();
        let sources = vec![(PathBuf::from("t.j2"), template)];
        let lines = map_template_lines("echo a\necho b\necho a\n{{ rendered }}", &sources);
        let numbers: Vec<Option<usize>> =
            lines.iter().map(|l| l.as_ref().map(|(_, n)| *n)).collect();
        assert_eq!(numbers, [Some(2), Some(4), Some(6), None]);
    }
}
