//! `build`: source → bundle model → `dist/`, make-style.
//!
//! - [`model`]: one `bundles-src/*.toml` → a [`crate::bundle::Bundle`] (render, derive, ids).
//! - [`ids`]: stable UUIDv5 identity. [`naming`]: version, names, Time Stamp.
//! - [`cache`]: what each output was built from; up-to-date checks; depfiles.
//! - [`archive`]: the deterministic release tar.gz. [`sidecar`]: `X.publish.json` next to each zip.
//! - [`memo`]: what a rebuild reuses from the previous zip. [`stamp`]: the no-op fast path.
//!
//! A build renders and validates every bundle that needs it before replacing any output: an error
//! leaves every earlier output (and the cache) as it was. Bundles compile in parallel; each is
//! written to a temporary file next to its zip as soon as it is compiled and then dropped, so
//! memory follows the largest bundle, not the project; the temporary files are renamed over the
//! zips only once every bundle has compiled.
pub mod archive;
pub mod cache;
pub mod compile;
pub mod ids;
pub mod memo;
pub mod model;
pub mod naming;
pub mod sidecar;
pub mod stamp;

pub use compile::compile_bundle;
pub use model::{CompiledBundle, GoldenImageAttachment, Project};

use crate::error::{Error, Result};
use crate::source::{BundleFile, Layout, ProjectFile};
use cache::{ArchiveRecord, Cache, Freshness, Record};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The project root (holds `bundles-src/`, `templates/`, `attributes.toml`, …).
    pub root: PathBuf,
    /// Output directory; `<root>/dist` by default.
    pub out: Option<PathBuf>,
    /// Only these bundles (file stem of `bundles-src/<stem>.toml` or `[bundle] name`).
    pub bundles: Vec<String>,
    /// Rebuild even when up to date.
    pub force: bool,
    /// Also write `<out>/<project>-<version>.tar.gz`.
    pub archive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Built,
    UpToDate,
}

/// One bundle in the build report.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BundleReport {
    pub bundle: String,
    pub version: String,
    /// The bundle source, relative to the project root.
    pub source: PathBuf,
    /// The zip written (relative to the project root when inside it).
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub status: Status,
    /// Why it was rebuilt (absent when up to date).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub time_stamp: String,
    /// Golden images `publish` attaches to the deployment plans by name.
    pub golden_images: Vec<GoldenImageAttachment>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ArchiveReport {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub status: Status,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BuildReport {
    pub tool: String,
    pub bundles: Vec<BundleReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<ArchiveReport>,
    pub warnings: Vec<String>,
}

impl BuildReport {
    pub fn up_to_date(&self) -> bool {
        self.bundles.iter().all(|b| b.status == Status::UpToDate)
            && self
                .archive
                .as_ref()
                .is_none_or(|a| a.status == Status::UpToDate)
    }
}

/// The output directory of a build.
pub fn out_dir(options: &BuildOptions) -> PathBuf {
    options
        .out
        .clone()
        .unwrap_or_else(|| options.root.join("dist"))
}

/// Selects bundle sources by file stem or `[bundle] name`; all when `wanted` is empty.
pub fn select_bundles(layout: &Layout, wanted: &[String]) -> Result<Vec<PathBuf>> {
    let all = layout.bundle_files()?;
    if wanted.is_empty() {
        if all.is_empty() {
            return Err(Error::Usage(format!(
                "no bundles: {} holds no *.toml",
                layout.bundles_dir().display()
            )));
        }
        return Ok(all);
    }
    let mut selected = BTreeSet::new();
    for want in wanted {
        let by_stem = all
            .iter()
            .find(|p| p.file_stem().is_some_and(|s| s.to_string_lossy() == *want));
        let found = match by_stem {
            Some(p) => Some(p.clone()),
            None => all
                .iter()
                .find(|p| BundleFile::load(p).is_ok_and(|f| f.bundle.name.get_ref() == want))
                .cloned(),
        };
        match found {
            Some(p) => {
                selected.insert(p);
            }
            None => {
                let names: Vec<String> = all
                    .iter()
                    .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .collect();
                return Err(Error::Usage(format!(
                    "no bundle {want:?} in {} (have: {})",
                    layout.bundles_dir().display(),
                    names.join(", ")
                )));
            }
        }
    }
    Ok(selected.into_iter().collect())
}

fn display_path(layout: &Layout, path: &Path) -> PathBuf {
    layout.relative(path)
}

/// A bundle to build: (source, cache key, why it is stale).
type Stale = (PathBuf, String, String);

/// A bundle compiled and written to a temporary file next to its zip, not yet renamed over it.
struct Staged {
    key: String,
    reason: String,
    temp: crate::fs::TempFile,
    /// Complete but for the zip's mtime, known once it is renamed.
    record: Record,
    memo: memo::Memo,
    warnings: Vec<String>,
}

/// Builds the bundles of a project. See the module docs.
pub fn build(options: &BuildOptions) -> Result<BuildReport> {
    let layout = Layout::new(&options.root);
    let out = out_dir(options);
    if options.archive && !options.bundles.is_empty() {
        return Err(Error::Usage(
            "--archive packs every bundle; drop --bundle".into(),
        ));
    }
    let sources = select_bundles(&layout, &options.bundles)?;
    // Temporary files of a killed earlier build, even when this one has nothing to write.
    crate::fs::sweep_stale(&out);
    let time = naming::TimeEnvironment::from_env(&options.root);
    let keys: Vec<String> = sources
        .iter()
        .map(|s| layout.relative(s).to_string_lossy().into_owned())
        .collect();
    let question = stamp::Question::new(&options.root, &keys, &time)?;
    if !options.force
        && !options.archive
        && let Some(report) = stamp::up_to_date(&out, &question, &time)
    {
        return Ok(report);
    }
    let mut cache = Cache::load(&out);
    // What this run started from: only its own changes are merged into the cache at the end.
    let loaded_cache = cache.clone();
    let mut cache_dirty = false;

    // 1. Which bundles are stale (checked in parallel: a no-op build is mostly stat calls).
    let freshness = check_freshness(options, &out, &time, &mut cache, &keys);
    let mut stale: Vec<Stale> = Vec::new();
    for ((source, key), fresh) in sources.iter().zip(&keys).zip(freshness) {
        match fresh {
            Freshness::UpToDate { restat } => cache_dirty |= restat,
            Freshness::Stale(reason) => stale.push((source.clone(), key.clone(), reason)),
        }
    }

    // 2. Compile every stale bundle, each written to its temporary file, before replacing any.
    let (staged, warnings) = compile_all(options, &layout, &out, time, &stale, &cache, &keys)?;

    // 3. Rename the zips into place, write depfiles, then the cache.
    let reasons = persist_all(&layout, &out, staged, &mut cache)?;
    cache_dirty |= !reasons.is_empty();

    // Forget bundles whose source is gone (their zips stay: a build never deletes outputs).
    if options.bundles.is_empty() {
        let before = cache.bundles.len();
        let wanted: HashSet<&String> = keys.iter().collect();
        cache.bundles.retain(|key, _| wanted.contains(key));
        cache_dirty |= cache.bundles.len() != before;
    }

    let bundles = bundle_reports(&layout, &out, &sources, &cache, &reasons)?;
    let archive = if options.archive {
        Some(build_archive(
            &layout,
            &out,
            &bundles,
            &mut cache,
            &mut cache_dirty,
            options.force,
        )?)
    } else {
        None
    };
    if cache_dirty {
        cache.save_merged(&loaded_cache, &out)?;
    }
    if !options.archive {
        stamp::write(&out, question, &cache, &bundles)?;
    }
    Ok(BuildReport {
        tool: cache::tool_version(),
        bundles,
        archive,
        warnings,
    })
}

/// Compiles and stages the stale bundles (nothing when none is): the staged bundles and their
/// warnings, with the registry entries no bundle uses when every bundle is built.
fn compile_all(
    options: &BuildOptions,
    layout: &Layout,
    out: &Path,
    time: naming::TimeEnvironment,
    stale: &[Stale],
    cache: &Cache,
    keys: &[String],
) -> Result<(Vec<Staged>, Vec<String>)> {
    let mut warnings = Vec::new();
    if stale.is_empty() {
        return Ok((Vec::new(), warnings));
    }
    let mut project = Project::load(&options.root)?;
    project.time = time;
    // The previous builds to reuse (none with --force: a clean build).
    let previous = |key: &str| {
        let record = cache.bundles.get(key).filter(|_| !options.force)?;
        memo::Reuse::load(
            out,
            &record.zip_name,
            &record.sha256,
            &cache::tool_version(),
        )
    };
    let staged = compile_stale(&project, out, stale, &previous)?;
    for s in &staged {
        warnings.extend(s.warnings.iter().cloned());
    }
    // Registry entries no bundle uses (only meaningful when every bundle is known).
    if options.bundles.is_empty() {
        warnings.extend(unused_attributes(layout, &project, &staged, cache, keys));
    }
    Ok((staged, warnings))
}

/// Each bundle's freshness by its cache record (all stale with --force).
fn check_freshness(
    options: &BuildOptions,
    out: &Path,
    time: &naming::TimeEnvironment,
    cache: &mut Cache,
    keys: &[String],
) -> Vec<Freshness> {
    if options.force {
        return keys
            .iter()
            .map(|_| Freshness::Stale("--force".into()))
            .collect();
    }
    let wanted: HashSet<&String> = keys.iter().collect();
    let checked: std::collections::BTreeMap<String, Freshness> = cache
        .bundles
        .par_iter_mut()
        .filter(|(key, _)| wanted.contains(key))
        .map(|(key, record)| {
            (
                key.clone(),
                Cache::record_freshness(record, &options.root, out, time),
            )
        })
        .collect();
    keys.iter()
        .map(|k| {
            checked
                .get(k)
                .cloned()
                .unwrap_or_else(|| Freshness::Stale("never built".into()))
        })
        .collect()
}

/// Compiles and stages the stale bundles in parallel; every error is reported, and two bundles
/// may not write one zip. On an error the staged temporary files are removed (dropped).
fn compile_stale(
    project: &Project,
    out: &Path,
    stale: &[Stale],
    previous: &(dyn Fn(&str) -> Option<memo::Reuse> + Sync),
) -> Result<Vec<Staged>> {
    let results: Vec<Result<Staged>> = stale
        .par_iter()
        .map(|(source, key, reason)| {
            let reuse = previous(key);
            let compiled = compile::compile_bundle_reusing(project, source, reuse.as_ref())?;
            write_compiled(out, compiled, key, reason, reuse.as_ref())
        })
        .collect();
    let mut staged = Vec::new();
    let mut errors = Vec::new();
    for result in results {
        match result {
            Ok(s) => staged.push(s),
            Err(e) => errors.push(e),
        }
    }
    // One error keeps its location (for `--json`); several are said together.
    if errors.len() == 1 {
        return Err(errors.remove(0));
    }
    if !errors.is_empty() {
        let all: Vec<String> = errors.iter().map(Error::to_string).collect();
        return Err(Error::Other(all.join("\n")));
    }
    let mut zips = BTreeSet::new();
    for s in &staged {
        if !zips.insert(s.record.zip_name.clone()) {
            return Err(Error::Other(format!(
                "{}: another bundle also writes {}",
                s.key, s.record.zip_name
            )));
        }
    }
    Ok(staged)
}

/// Warnings for registry entries neither a rebuilt bundle nor an up-to-date one uses.
fn unused_attributes(
    layout: &Layout,
    project: &Project,
    staged: &[Staged],
    cache: &Cache,
    keys: &[String],
) -> Vec<String> {
    let mut used: BTreeSet<String> = staged
        .iter()
        .flat_map(|s| s.record.used_attributes.iter().cloned())
        .collect();
    let rebuilt: BTreeSet<&str> = staged.iter().map(|s| s.key.as_str()).collect();
    let wanted: HashSet<&String> = keys.iter().collect();
    for (key, record) in &cache.bundles {
        if wanted.contains(key) && !rebuilt.contains(key.as_str()) {
            used.extend(record.used_attributes.iter().cloned());
        }
    }
    project
        .registry
        .entries
        .values()
        .filter(|entry| !used.contains(&entry.name))
        .map(|entry| {
            format!(
                "{}:{}: attribute {} is used by no bundle",
                layout.relative(&project.registry.path).display(),
                entry.line,
                entry.name
            )
        })
        .collect()
}

/// Renames every staged zip over its target (in parallel), writes its depfile and records it in
/// the cache; returns why each was built, by cache key.
fn persist_all(
    layout: &Layout,
    out: &Path,
    staged: Vec<Staged>,
    cache: &mut Cache,
) -> Result<std::collections::BTreeMap<String, String>> {
    let written: Vec<Result<(String, String, Record)>> = staged
        .into_par_iter()
        .map(|s| {
            let record = persist(layout, out, s.temp, s.record, &s.memo)?;
            Ok((s.key, s.reason, record))
        })
        .collect();
    let mut reasons = std::collections::BTreeMap::new();
    for result in written {
        let (key, reason, record) = result?;
        reasons.insert(key.clone(), reason);
        cache.bundles.insert(key, record);
    }
    Ok(reasons)
}

/// Writes one compiled bundle's zip to its temporary file next to `<out>/<zip>` (renamed by
/// [`persist`]) and drops the bundle; returns what the cache will record.
fn write_compiled(
    out: &Path,
    c: CompiledBundle,
    key: &str,
    reason: &str,
    reuse: Option<&memo::Reuse>,
) -> Result<Staged> {
    let path = out.join(&c.zip_name);
    let previous = reuse.map(memo::Reuse::previous);
    let (temp, report) = crate::bundle::write::write_bundle_reusing(&c.bundle, &path, previous)?;
    // Says how much an incremental rebuild did (a rebuild without a usable memo renders all).
    let reason = match reuse {
        Some(_) => format!(
            "{reason} (incremental: {} of {} templated plan scripts rendered again)",
            c.memo.scripts.len() - c.reused_scripts,
            c.memo.scripts.len()
        ),
        None => reason.to_string(),
    };
    let memo = memo::Memo {
        zip_sha256: report.sha256.clone(),
        ..c.memo
    };
    let record = Record {
        bundle: c.file.bundle.name.get_ref().clone(),
        version: c.file.bundle.version.clone(),
        time_stamp: c.bundle.manifest.time_stamp.clone(),
        time_source: c.time_source.clone(),
        sha256: report.sha256,
        size: report.size,
        mtime_ns: 0,
        used_attributes: c.used_attributes.iter().cloned().collect(),
        zip_name: c.zip_name,
        inputs: c.inputs,
        attachments: c.attachments,
    };
    Ok(Staged {
        key: key.to_string(),
        reason,
        temp,
        record,
        memo,
        warnings: c.warnings,
    })
}

/// Renames a staged zip over its target and writes its sidecar and depfile; returns its cache
/// record.
fn persist(
    layout: &Layout,
    out: &Path,
    temp: crate::fs::TempFile,
    record: Record,
    memo: &memo::Memo,
) -> Result<Record> {
    let path = out.join(&record.zip_name);
    temp.persist(&path)?;
    sidecar::write(&path, &record.sha256, &record.attachments)?;
    memo.write(out, &record.zip_name)?;
    let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
    let target = display_path(layout, &path);
    crate::fs::write_atomic(
        &out.join(format!("{}.d", record.zip_name)),
        cache::depfile_text(&target, &record.inputs).as_bytes(),
    )?;
    Ok(Record {
        mtime_ns: crate::fs::mtime_ns(&meta),
        ..record
    })
}

/// One report per selected source, from its cache record (built now or up to date).
fn bundle_reports(
    layout: &Layout,
    out: &Path,
    sources: &[PathBuf],
    cache: &Cache,
    reasons: &std::collections::BTreeMap<String, String>,
) -> Result<Vec<BundleReport>> {
    let mut bundles = Vec::new();
    for source in sources {
        let key = layout.relative(source).to_string_lossy().into_owned();
        let record = cache
            .bundles
            .get(&key)
            .ok_or_else(|| Error::other(format!("{key}: no build record")))?;
        bundles.push(BundleReport {
            bundle: record.bundle.clone(),
            version: record.version.clone(),
            source: PathBuf::from(&key),
            path: display_path(layout, &out.join(&record.zip_name)),
            sha256: record.sha256.clone(),
            size: record.size,
            status: if reasons.contains_key(&key) {
                Status::Built
            } else {
                Status::UpToDate
            },
            reason: reasons.get(&key).cloned(),
            time_stamp: record.time_stamp.clone(),
            golden_images: record.attachments.clone(),
        });
    }
    Ok(bundles)
}

fn build_archive(
    layout: &Layout,
    out: &Path,
    bundles: &[BundleReport],
    cache: &mut Cache,
    dirty: &mut bool,
    force: bool,
) -> Result<ArchiveReport> {
    let project = ProjectFile::load(layout)?
        .map(|(p, _)| p)
        .unwrap_or_default();
    let name = project.name.unwrap_or_else(|| "bundles".to_string());
    let version = match project.version {
        Some(v) => v,
        None => bundles
            .iter()
            .map(|b| b.version.clone())
            .max()
            .unwrap_or_default(),
    };
    let file_name = if version.is_empty() {
        format!("{name}.tar.gz")
    } else {
        format!("{name}-{version}.tar.gz")
    };
    let report = archive::ReleaseReport {
        project: name,
        version,
        tool: format!("i3s-bundle {}", env!("CARGO_PKG_VERSION")),
        bundles: bundles
            .iter()
            .map(|b| archive::ReleaseBundle {
                bundle: b.bundle.clone(),
                version: b.version.clone(),
                file: b
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                sha256: b.sha256.clone(),
                size: b.size,
                time_stamp: b.time_stamp.clone(),
                golden_images: b.golden_images.clone(),
            })
            .collect(),
    };
    let digest = archive::inputs_digest(&report, &file_name);
    let path = out.join(&file_name);
    if !force
        && let Some(record) = &cache.archive
        && record.file_name == file_name
        && record.inputs_digest == digest
        && std::fs::metadata(&path)
            .is_ok_and(|m| m.len() == record.size && crate::fs::mtime_ns(&m) == record.mtime_ns)
    {
        return Ok(ArchiveReport {
            path: display_path(layout, &path),
            sha256: record.sha256.clone(),
            size: record.size,
            status: Status::UpToDate,
        });
    }
    let (path, sha256, size) = archive::write_archive(&report, out, &file_name)?;
    let meta = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
    cache.archive = Some(ArchiveRecord {
        file_name,
        inputs_digest: digest,
        sha256: sha256.clone(),
        size,
        mtime_ns: crate::fs::mtime_ns(&meta),
    });
    *dirty = true;
    Ok(ArchiveReport {
        path: display_path(layout, &path),
        sha256,
        size,
        status: Status::Built,
    })
}

/// A rendered plan script for `render`: the artifact and the bundle it belongs to.
pub struct RenderedScript {
    pub bundle: CompiledBundle,
    pub index: usize,
}

impl RenderedScript {
    pub fn script(&self) -> &crate::bundle::PlanScript {
        &self.bundle.bundle.plan_scripts[self.index]
    }

    /// Default values for its placeholders: the first build plan using it that declares one.
    pub fn attribute_default(&self, name: &str) -> Option<String> {
        let id = &self.script().id;
        self.bundle
            .bundle
            .build_plans
            .iter()
            .filter(|p| p.steps.iter().any(|s| s.plan_script_id() == Some(id)))
            .flat_map(|p| p.custom_attributes.iter())
            .find(|a| a.name == name)
            .and_then(|a| a.default_value().map(str::to_string))
    }
}

/// Compiles one bundle (by stem or name) and finds a plan script in it by artifact name, short
/// name, template (`nic-bond` / `nic-bond.j2`) or plain plan-script file stem.
pub fn render_plan_script(root: &Path, bundle: &str, plan_script: &str) -> Result<RenderedScript> {
    let layout = Layout::new(root);
    let source = select_bundles(&layout, &[bundle.to_string()])?.remove(0);
    let project = Project::load(root)?;
    let compiled = compile_bundle(&project, &source)?;
    let template = crate::source::template_file_name(plan_script);
    let matches: Vec<usize> = compiled
        .scripts
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.artifact_name == plan_script
                || s.short_name == plan_script
                || s.source_name == plan_script
                || s.source_name == template
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [index] => {
            let id = &compiled.scripts[*index].id;
            let index = compiled
                .bundle
                .plan_scripts
                .iter()
                .position(|p| &p.id == id)
                .expect("scripts mirror plan_scripts");
            Ok(RenderedScript {
                bundle: compiled,
                index,
            })
        }
        [] => {
            let names: Vec<&str> = compiled
                .scripts
                .iter()
                .map(|s| s.artifact_name.as_str())
                .collect();
            Err(Error::Usage(format!(
                "bundle {bundle:?} has no plan script {plan_script:?} (it has: {})",
                names.join(", ")
            )))
        }
        many => {
            let names: Vec<&str> = many
                .iter()
                .map(|&i| compiled.scripts[i].artifact_name.as_str())
                .collect();
            Err(Error::Usage(format!(
                "{plan_script:?} matches several plan scripts; name one: {}",
                names.join(", ")
            )))
        }
    }
}

impl RenderedScript {
    /// Substitutes placeholders as the appliance would: `values` first, then the build plan's
    /// defaults, then the placeholder's own default. Values are checked against the attribute's
    /// type and constraints. Unresolved placeholders are an error listing them.
    pub fn substitute(
        &self,
        values: &std::collections::BTreeMap<String, String>,
    ) -> Result<String> {
        let script = self.script();
        let used = crate::placeholder::used_names(&script.content);
        for (name, value) in values {
            let attribute = self
                .bundle
                .bundle
                .build_plans
                .iter()
                .flat_map(|p| p.custom_attributes.iter())
                .find(|a| &a.name == name);
            if let Some(a) = attribute
                && let Err(problem) = a.check_value(value)
            {
                return Err(Error::Usage(format!("--attr {name}: {problem}")));
            }
        }
        let lookup = |key: &str| -> Option<String> {
            values.get(key).cloned().or_else(|| {
                let name = key.split('.').next().unwrap_or(key);
                if key.contains('.') {
                    None
                } else {
                    self.attribute_default(name)
                }
            })
        };
        crate::placeholder::substitute(&script.content, &lookup).map_err(|missing| {
            let mut names: Vec<String> = missing.iter().map(|p| p.key()).collect();
            names.dedup();
            Error::Usage(format!(
                "{} has no value for {} (give --attr NAME=VALUE; it uses {})",
                script.name,
                names
                    .iter()
                    .map(|n| format!("@{n}@"))
                    .collect::<Vec<_>>()
                    .join(", "),
                used.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }
}
