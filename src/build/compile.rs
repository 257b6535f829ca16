//! The compile pipeline, source → [`CompiledBundle`], one function per step: (1) which plan
//! scripts the bundle needs, (2) render them, (3) plan script artifacts, (4) build plans,
//! (4b) carried golden images, (5) deployment plans, (6) the manifest.
use super::ids::{IdKind, artifact_id};
use super::memo::{self, Memo, MemoScript, Reuse};
use super::model::{CompiledBundle, GoldenImageAttachment, Input, Project, ScriptInfo};
use super::naming::{self, TimeSource};
use crate::bundle::attribute::check_value;
use crate::bundle::{
    BuildPlan, BuildStep, Bundle, CustomAttribute, DeploymentPlan, EntryKind, GoldenImage,
    GoldenImageEntry, Manifest, Payload, PlanScript,
};
use crate::error::{Error, Location, Result};
use crate::render::attributes::apply_pin;
use crate::render::template::TemplateSource;
use crate::render::{Renderer, ScriptOrigin, StepUse, derive_attributes};
use crate::source::bundle_file::{DeploymentPlanSource, StepSource};
use crate::source::{BundleFile, Layout, OsProfile, PlainPlanScript, template_file_name};
use rayon::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a step points at, before rendering. Same template + same params = one plan script.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum ScriptKey {
    Template { file: String, params: String },
    Plain(String),
}

struct ScriptSpec {
    key: ScriptKey,
    params: toml::Table,
    /// The first step (or `plan_scripts` entry) that asked for it.
    named_at: Location,
}

struct RenderedScript {
    short_name: String,
    plan_type: String,
    description: String,
    content: String,
    pinned_id: Option<String>,
    origin: ScriptOrigin,
    plain_input: Option<Input>,
    contract: crate::source::contract::Contract,
    /// What a template's render read (itself first); empty for plain plan scripts.
    template_sources: Vec<Arc<TemplateSource>>,
    /// Taken from the previous build, not rendered (checked then).
    reused: bool,
}

/// Step 1's answer: the distinct plan scripts, and each build plan's steps as indices into them.
struct Needed {
    specs: Vec<ScriptSpec>,
    steps_of_plan: Vec<Vec<usize>>,
}

/// Step 3's answer: the plan script artifacts and which artifact each spec became.
struct Artifacts {
    plan_scripts: Vec<PlanScript>,
    scripts: Vec<ScriptInfo>,
    artifact_of_spec: Vec<usize>,
}

/// Step 4's answer.
struct BuiltPlans {
    build_plans: Vec<BuildPlan>,
    /// By the source's plan name, for the deployment plans.
    attributes_of_plan: BTreeMap<String, Vec<CustomAttribute>>,
    warnings: Vec<String>,
    used_attributes: BTreeSet<String>,
}

/// Every id the bundle gives out, with the name that took it: ids must be unique.
type Ids = HashMap<String, String>;

/// Compiles one `bundles-src/*.toml`.
pub fn compile_bundle(project: &Project, path: &Path) -> Result<CompiledBundle> {
    compile_bundle_reusing(project, path, None)
}

/// [`compile_bundle`], taking from `reuse` (the bundle's previous build) the plan scripts whose
/// render would give the same (see [`super::memo`]).
pub fn compile_bundle_reusing(
    project: &Project,
    path: &Path,
    reuse: Option<&Reuse>,
) -> Result<CompiledBundle> {
    let layout = &project.layout;
    let (file, mut inputs, profile) = load_source(project, path)?;
    let context = memo::context(
        file.bundle.name.get_ref(),
        &file.bundle.version,
        profile.as_ref().map(|p| (p.id.as_str(), p.text.as_str())),
    );
    let reuse = reuse.filter(|r| r.same_context(&context));
    warm_templates(project, &file);
    let needed = needed_scripts(project, &file)?;
    let mut rendered = render_scripts(project, &file, profile.as_ref(), &needed.specs, reuse)?;
    let memo_sources = memo_sources(&rendered);
    record_sources(layout, &mut rendered, &mut inputs);
    for script in rendered.iter().filter(|s| !s.reused) {
        reject_host_escapes(script)?;
    }
    let mut ids = Ids::new();
    let artifacts = plan_script_artifacts(&file, &needed.specs, &rendered, &mut ids)?;
    let memo = memo_of(context, &needed.specs, &rendered, memo_sources, &artifacts);
    let mut built = build_plans(project, &file, &needed, &artifacts, &rendered, &mut ids)?;
    let golden_images = golden_images(layout, &file, &mut inputs)?;
    let mut deployment_plans = Vec::new();
    let mut attachments = Vec::new();
    for plan in &file.deployment_plans {
        let (plan, attachment) = deployment_plan(
            project,
            &file,
            plan,
            profile.as_ref(),
            &golden_images,
            &built.attributes_of_plan,
            &mut ids,
        )?;
        deployment_plans.push(plan);
        attachments.extend(attachment);
    }

    // 6. The manifest.
    let (time_stamp, time_source) = naming::time_stamp(&file, &project.time)?;
    if time_source == TimeSource::Fallback {
        built.warnings.push(format!(
            "{}: no SOURCE_DATE_EPOCH, no date in version {:?} and no git history: Time Stamp is 1980-01-01",
            file.path.display(),
            file.bundle.version
        ));
    }
    let manifest = Manifest::new(
        &naming::artifact_name(&file),
        &file.bundle.description,
        file.bundle.read_only,
        time_stamp,
    );
    let bundle = Bundle {
        manifest,
        checksum: file.checksum()?,
        plan_scripts: artifacts.plan_scripts,
        golden_images,
        build_plans: built.build_plans,
        deployment_plans,
    };
    Ok(CompiledBundle {
        zip_name: naming::zip_file_name(&file),
        file,
        bundle,
        inputs,
        time_source,
        used_attributes: built.used_attributes,
        warnings: built.warnings,
        attachments,
        scripts: artifacts.scripts,
        reused_scripts: rendered.iter().filter(|s| s.reused).count(),
        memo,
    })
}

/// Reads the bundle's templates and parses their front matter on every core, for step 1 to find
/// them read (a bundle of 1,000 templates, most taken from the previous build, spends its time
/// here). Errors are left to step 1, which reports them at the step.
fn warm_templates(project: &Project, file: &BundleFile) {
    let names: BTreeSet<String> = file
        .build_plans
        .iter()
        .flat_map(|plan| plan.steps.iter())
        .filter_map(|step| step.get_ref().template.as_deref())
        .map(template_file_name)
        .filter(|name| !name.starts_with('_') && !name.contains("/_"))
        .collect();
    names.par_iter().for_each(|name| {
        let _ = project.templates.front_matter(name);
    });
}

/// What each render read, by template name and SHA-256 (before [`record_sources`] moves it).
fn memo_sources(rendered: &[RenderedScript]) -> Vec<Vec<(String, String)>> {
    rendered
        .iter()
        .map(|r| {
            r.template_sources
                .iter()
                .map(|s| (s.name.clone(), s.sha256.clone()))
                .collect()
        })
        .collect()
}

/// The memo of this build's templated plan scripts (its zip's SHA-256 is filled in once written).
fn memo_of(
    context: String,
    specs: &[ScriptSpec],
    rendered: &[RenderedScript],
    sources: Vec<Vec<(String, String)>>,
    artifacts: &Artifacts,
) -> Memo {
    let mut scripts = Vec::new();
    for (index, ((spec, script), sources)) in specs.iter().zip(rendered).zip(sources).enumerate() {
        let ScriptKey::Template { file, params } = &spec.key else {
            continue;
        };
        let artifact = &artifacts.plan_scripts[artifacts.artifact_of_spec[index]];
        scripts.push(MemoScript {
            template: file.clone(),
            params: params.clone(),
            sources,
            short_name: script.short_name.clone(),
            plan_type: script.plan_type.clone(),
            description: script.description.clone(),
            entry: EntryKind::PlanScript
                .entry_name(&artifact.id)
                .unwrap_or_default(),
        });
    }
    Memo {
        tool: super::cache::tool_version(),
        zip_sha256: String::new(),
        context,
        scripts,
    }
}

/// The bundle source, the inputs read so far (it, the registry, the OS profile) and the profile.
fn load_source(
    project: &Project,
    path: &Path,
) -> Result<(BundleFile, Vec<Input>, Option<OsProfile>)> {
    let layout = &project.layout;
    layout.check_inside([path])?;
    let file = BundleFile::load(path)?;
    let mut inputs = vec![Input::of(layout, path, &file.text)];
    if project.registry.path.is_file() {
        inputs.push(Input::of(
            layout,
            &project.registry.path,
            &project.registry.text,
        ));
    }
    let profile = match &file.bundle.os {
        Some(os) => {
            let profile = OsProfile::load(layout, os.get_ref(), &file.at(os))?;
            inputs.push(Input::of(layout, &profile.path, &profile.text));
            Some(profile)
        }
        None => None,
    };
    Ok((file, inputs, profile))
}

/// 1. Which plan scripts the bundle needs, in order: `plan_scripts` extras, then first use.
fn needed_scripts(project: &Project, file: &BundleFile) -> Result<Needed> {
    let layout = &project.layout;
    let mut specs: Vec<ScriptSpec> = Vec::new();
    let mut index_of: HashMap<ScriptKey, usize> = HashMap::new();
    let mut steps_of_plan: Vec<Vec<usize>> = Vec::new();
    let mut add = |spec: ScriptSpec, specs: &mut Vec<ScriptSpec>| -> usize {
        *index_of.entry(spec.key.clone()).or_insert_with(|| {
            specs.push(spec);
            specs.len() - 1
        })
    };
    for extra in &file.bundle.plan_scripts {
        let stem = extra.get_ref();
        check_plain_exists(layout, stem, &file.at(extra))?;
        add(
            ScriptSpec {
                key: ScriptKey::Plain(stem.clone()),
                params: toml::Table::new(),
                named_at: file.at(extra),
            },
            &mut specs,
        );
    }
    for plan in &file.build_plans {
        let mut indices = Vec::new();
        for step in &plan.steps {
            let spec = step_spec(project, step.get_ref(), file.at(step))?;
            indices.push(add(spec, &mut specs));
        }
        steps_of_plan.push(indices);
    }
    Ok(Needed {
        specs,
        steps_of_plan,
    })
}

/// What one build step asks for: a template with checked params, or a plain plan script.
fn step_spec(project: &Project, source: &StepSource, at: Location) -> Result<ScriptSpec> {
    let layout = &project.layout;
    let Some(template) = &source.template else {
        let stem = source.plan_script.clone().unwrap_or_default();
        check_plain_exists(layout, &stem, &at)?;
        return Ok(ScriptSpec {
            key: ScriptKey::Plain(stem),
            params: toml::Table::new(),
            named_at: at,
        });
    };
    let name = template_file_name(template);
    let exists = project
        .templates
        .source(&name)
        .map_err(|e| Error::at(at.clone(), e.to_string()))?
        .is_some();
    if !exists || name.starts_with('_') || name.contains("/_") {
        return Err(Error::at(
            at,
            format!(
                "unknown template {template:?}: there is no {}",
                layout.relative(&layout.template(template)).display()
            ),
        )
        .with_help(available(
            &layout.templates_dir(),
            Layout::TEMPLATE_EXTENSION,
            "templates",
        )));
    }
    let front = project.templates.front_matter(&name)?;
    let params = Renderer::merge_params(&front, &source.params)
        .map_err(|m| Error::at(at.clone(), format!("template {template:?}: {m}")))?;
    let canonical = serde_json::to_string(&params).unwrap_or_default();
    Ok(ScriptSpec {
        key: ScriptKey::Template {
            file: name,
            params: canonical,
        },
        params,
        named_at: at,
    })
}

/// 2. Render them (in parallel: this is where big bundles spend their time). The specs of one
///    template render with one scoped copy of the build's renderer: the template compiles once for
///    the bundle and is dropped when its specs are done, so a thread holds one compiled capability
///    template at a time. Results (and the error reported) follow the specs' order.
fn render_scripts(
    project: &Project,
    file: &BundleFile,
    profile: Option<&OsProfile>,
    specs: &[ScriptSpec],
    reuse: Option<&Reuse>,
) -> Result<Vec<RenderedScript>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    for (index, spec) in specs.iter().enumerate() {
        match &spec.key {
            ScriptKey::Template { file: name, .. } => {
                let group = *group_of.entry(name).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[group].push(index);
            }
            ScriptKey::Plain(_) => groups.push(vec![index]),
        }
    }
    // The profile as a template value once per bundle, not once per render.
    let os = profile.map(|p| crate::render::template::table_value(&p.values));
    let os = os.as_ref();
    let mut results: Vec<(usize, Result<RenderedScript>)> = groups
        .par_iter()
        .flat_map_iter(|group| {
            let renderer = project.renderer.scoped();
            group
                .iter()
                .map(|&i| {
                    let reused = reuse.and_then(|r| reused_render(project, r, &specs[i]));
                    let result = match reused {
                        Some(script) => Ok(script),
                        None => render_spec(project, file, os, &renderer, &specs[i]),
                    };
                    (i, result)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, result)| result).collect()
}

fn render_spec(
    project: &Project,
    file: &BundleFile,
    os: Option<&minijinja::Value>,
    renderer: &Renderer,
    spec: &ScriptSpec,
) -> Result<RenderedScript> {
    let layout = &project.layout;
    let ScriptKey::Template { file: name, .. } = &spec.key else {
        let ScriptKey::Plain(stem) = &spec.key else {
            unreachable!("a spec is a template or a plain plan script")
        };
        return render_plain(layout, stem);
    };
    let r = renderer.render_with(
        name,
        os,
        &spec.params,
        (
            file.bundle.name.get_ref().as_str(),
            file.bundle.version.as_str(),
        ),
    )?;
    Ok(RenderedScript {
        short_name: r.name,
        plan_type: r.plan_type,
        description: r.description,
        content: r.content,
        contract: r.contract,
        template_sources: r.sources,
        reused: false,
        pinned_id: None,
        origin: ScriptOrigin::Template {
            file: layout.relative(&project.templates.path_of(name)),
            sources: Vec::new(),
        },
        plain_input: None,
    })
}

/// A templated plan script as its previous build rendered it, when every file that render read
/// is unchanged (the context was checked by the caller).
fn reused_render(project: &Project, reuse: &Reuse, spec: &ScriptSpec) -> Option<RenderedScript> {
    let ScriptKey::Template { file: name, params } = &spec.key else {
        return None;
    };
    let memo = reuse.script(name, params)?;
    let mut sources = Vec::with_capacity(memo.sources.len());
    for (source, sha256) in &memo.sources {
        let read = project.templates.source(source).ok().flatten()?;
        if &read.sha256 != sha256 {
            return None;
        }
        sources.push(read);
    }
    let content = reuse.content(&memo.entry)?;
    let contract = project.templates.front_matter(name).ok()?.contract.clone();
    Some(RenderedScript {
        short_name: memo.short_name.clone(),
        plan_type: memo.plan_type.clone(),
        description: memo.description.clone(),
        content,
        contract,
        template_sources: sources,
        reused: true,
        pinned_id: None,
        origin: ScriptOrigin::Template {
            file: project.layout.relative(&project.templates.path_of(name)),
            sources: Vec::new(),
        },
        plain_input: None,
    })
}

fn render_plain(layout: &Layout, stem: &str) -> Result<RenderedScript> {
    let path = layout.plan_script(stem);
    layout.check_inside([&path])?;
    let script = PlainPlanScript::load(&path)?;
    Ok(RenderedScript {
        plain_input: Some(Input::of(layout, &path, &script.text)),
        short_name: script.name,
        plan_type: script.plan_type,
        description: script.description,
        content: script.content,
        contract: Default::default(),
        template_sources: Vec::new(),
        reused: false,
        pinned_id: script.id,
        origin: ScriptOrigin::Plain {
            file: layout.relative(&path),
            content_line: script.content_line,
        },
    })
}

/// Template origins list the template, then what its render included or imported; every file
/// rendering read becomes an input (sorted, once each). Linear in the scripts: each script looks
/// at its own sources only, and each file's relative path is made once.
fn record_sources(layout: &Layout, rendered: &mut [RenderedScript], inputs: &mut Vec<Input>) {
    let mut relative: HashMap<String, PathBuf> = HashMap::new();
    let mut read: BTreeMap<PathBuf, Arc<TemplateSource>> = BTreeMap::new();
    for script in rendered.iter_mut() {
        let ScriptOrigin::Template { sources, .. } = &mut script.origin else {
            continue;
        };
        *sources = script
            .template_sources
            .iter()
            .map(|source| {
                let path = relative
                    .entry(source.name.clone())
                    .or_insert_with(|| layout.relative(&source.path))
                    .clone();
                read.entry(path.clone()).or_insert_with(|| source.clone());
                (path, source.text.clone())
            })
            .collect();
        script.template_sources = Vec::new();
    }
    for (path, source) in read {
        inputs.push(Input {
            path,
            sha256: source.sha256.clone(),
            size: source.size,
            mtime_ns: source.mtime_ns,
        });
    }
    for script in rendered.iter() {
        if let Some(input) = &script.plain_input {
            inputs.push(input.clone());
        }
    }
    inputs.sort_by(|a, b| a.path.cmp(&b.path));
    inputs.dedup_by(|a, b| a.path == b.path);
}

/// 3. Plan script artifacts: one per distinct name; the same name with other content is an
///    error.
fn plan_script_artifacts(
    file: &BundleFile,
    specs: &[ScriptSpec],
    rendered: &[RenderedScript],
    ids: &mut Ids,
) -> Result<Artifacts> {
    let mut plan_scripts: Vec<PlanScript> = Vec::new();
    let mut scripts: Vec<ScriptInfo> = Vec::new();
    let mut artifact_of_spec: Vec<usize> = Vec::with_capacity(specs.len());
    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (spec, script) in specs.iter().zip(rendered) {
        let name = naming::artifact_display_name(file, &script.short_name);
        if let Some(&existing) = by_name.get(&name) {
            let other = &plan_scripts[existing];
            if other.content != script.content
                || other.plan_type != script.plan_type
                || other.description.as_deref() != Some(&script.description)
            {
                return Err(Error::at(
                    spec.named_at.clone(),
                    format!("this step renders plan script {name:?} differently from {} (same name, other content)", describe(&specs[index_of_spec(&artifact_of_spec, existing)].named_at)),
                )
                .with_help("give the template's `name` a parameter-dependent part, e.g. \"Bond ({{ params.addressing }})\""));
            }
            artifact_of_spec.push(existing);
            continue;
        }
        let id = match &script.pinned_id {
            Some(id) => id.clone(),
            None => artifact_id(
                IdKind::PlanScript,
                &naming::identity_name(file, &script.short_name),
            ),
        };
        if let Some(first) = ids.insert(id.clone(), name.clone()) {
            return Err(Error::at(
                spec.named_at.clone(),
                format!("plan script {name:?} has the same id {id} as {first:?}"),
            ));
        }
        by_name.insert(name.clone(), plan_scripts.len());
        artifact_of_spec.push(plan_scripts.len());
        scripts.push(ScriptInfo {
            id: id.clone(),
            artifact_name: name.clone(),
            short_name: script.short_name.clone(),
            source_name: match &spec.key {
                ScriptKey::Template { file, .. } => file.clone(),
                ScriptKey::Plain(stem) => stem.clone(),
            },
            origin: script.origin.clone(),
            contract: script.contract.clone(),
        });
        plan_scripts.push(PlanScript::new(
            id,
            name,
            script.description.clone(),
            &script.plan_type,
            script.content.clone(),
        ));
    }
    Ok(Artifacts {
        plan_scripts,
        scripts,
        artifact_of_spec,
    })
}

/// 4. Build plans: steps in order, attributes derived (or pinned).
fn build_plans(
    project: &Project,
    file: &BundleFile,
    needed: &Needed,
    artifacts: &Artifacts,
    rendered: &[RenderedScript],
    ids: &mut Ids,
) -> Result<BuiltPlans> {
    let mut out = BuiltPlans {
        build_plans: Vec::new(),
        attributes_of_plan: BTreeMap::new(),
        warnings: Vec::new(),
        used_attributes: BTreeSet::new(),
    };
    for (plan, indices) in file.build_plans.iter().zip(&needed.steps_of_plan) {
        let name = naming::artifact_display_name(file, plan.name.get_ref());
        let id = match &plan.id {
            Some(id) => id.get_ref().to_ascii_lowercase(),
            None => artifact_id(
                IdKind::BuildPlan,
                &naming::identity_name(file, plan.name.get_ref()),
            ),
        };
        if let Some(first) = ids.insert(id.clone(), name.clone()) {
            return Err(Error::at(
                file.at(&plan.name),
                format!("build plan {name:?} has the same id {id} as {first:?}"),
            ));
        }
        let mut built = BuildPlan::new(
            id,
            name.clone(),
            plan.description.clone(),
            plan.plan_type.get_ref(),
        );
        let mut uses = Vec::new();
        for (serial, &spec_index) in indices.iter().enumerate() {
            let script = &artifacts.plan_scripts[artifacts.artifact_of_spec[spec_index]];
            built.steps.push(BuildStep::new(serial + 1, script));
            uses.push(StepUse {
                content: &script.content,
                origin: &rendered[spec_index].origin,
            });
        }
        let derived = derive_attributes(&name, &uses, &project.registry)?;
        out.warnings.extend(derived.warnings.iter().cloned());
        out.used_attributes.extend(derived.used.iter().cloned());
        built.custom_attributes = match &plan.attributes {
            Some(pinned) => {
                let pins: Vec<_> = pinned
                    .iter()
                    .map(|p| (p.get_ref().clone(), file.at(p)))
                    .collect();
                let (attributes, drift) = apply_pin(&name, &derived, &pins, &project.registry)?;
                for pin in &pins {
                    out.used_attributes.insert(pin.0.name().to_string());
                }
                out.warnings.extend(
                    drift
                        .into_iter()
                        .map(|w| format!("{}: {w}", file.at(&plan.name))),
                );
                attributes
            }
            None => derived.attributes,
        };
        out.attributes_of_plan
            .insert(plan.name.get_ref().clone(), built.custom_attributes.clone());
        out.build_plans.push(built);
    }
    Ok(out)
}

/// 4b. Golden images the bundle carries: metadata plus a payload streamed from disk.
fn golden_images(
    layout: &Layout,
    file: &BundleFile,
    inputs: &mut Vec<Input>,
) -> Result<Vec<GoldenImageEntry>> {
    let mut golden_images: Vec<GoldenImageEntry> = Vec::new();
    for source in &file.golden_images {
        let image_name = source.name.get_ref();
        if golden_images.iter().any(|g| &g.image.name == image_name) {
            return Err(Error::at(
                file.at(&source.name),
                format!("golden image {image_name:?} is declared twice"),
            ));
        }
        let payload = layout.root.join(source.payload.get_ref());
        if payload.exists() {
            layout
                .check_inside([&payload])
                .map_err(|e| Error::at(file.at(&source.payload), e.to_string()))?;
        }
        let meta = std::fs::metadata(&payload).map_err(|e| {
            Error::at(
                file.at(&source.payload),
                format!("golden image payload {}: {e}", payload.display()),
            )
            .with_help("make it with `i3s-bundle golden-image pack IMAGE --name NAME --out FILE`")
        })?;
        if !meta.is_file() {
            return Err(Error::at(
                file.at(&source.payload),
                format!("{} is not a file", payload.display()),
            ));
        }
        let digest = crate::fs::hash_file(&payload).map_err(|e| Error::io(&payload, e))?;
        inputs.push(Input {
            path: layout.relative(&payload),
            sha256: digest,
            size: meta.len(),
            mtime_ns: crate::fs::mtime_ns(&meta),
        });
        let id = match &source.id {
            Some(pinned) => pinned.get_ref().to_ascii_lowercase(),
            None => artifact_id(IdKind::GoldenImage, image_name),
        };
        golden_images.push(GoldenImageEntry {
            image: GoldenImage::new(id, image_name.clone(), source.description.clone()),
            payload: Some(Payload::File(payload)),
        });
    }
    Ok(golden_images)
}

/// 5. One deployment plan, and the golden image `publish` must attach when the bundle does not
///    carry it.
fn deployment_plan(
    project: &Project,
    file: &BundleFile,
    plan: &DeploymentPlanSource,
    profile: Option<&OsProfile>,
    golden_images: &[GoldenImageEntry],
    attributes_of_plan: &BTreeMap<String, Vec<CustomAttribute>>,
    ids: &mut Ids,
) -> Result<(DeploymentPlan, Option<GoldenImageAttachment>)> {
    let name = naming::artifact_display_name(file, plan.name.get_ref());
    let identity = naming::identity_name(file, plan.name.get_ref());
    let id = match &plan.id {
        Some(id) => id.get_ref().to_ascii_lowercase(),
        None => artifact_id(IdKind::DeploymentPlan, &identity),
    };
    if let Some(first) = ids.insert(id.clone(), name.clone()) {
        return Err(Error::at(
            file.at(&plan.name),
            format!("deployment plan {name:?} has the same id {id} as {first:?}"),
        ));
    }
    let build_plan_name = naming::artifact_display_name(file, plan.build_plan.get_ref());
    let golden = golden_image_of(file, plan, profile)?;
    // A deployment plan names its golden image inside the bundle only when the bundle
    // carries it; otherwise `publish` attaches the image by name on the appliance.
    let carried = golden
        .as_ref()
        .filter(|g| golden_images.iter().any(|c| &c.image.name == *g));
    let attachment = match (&golden, carried) {
        (Some(image), None) => Some(GoldenImageAttachment {
            deployment_plan: name.clone(),
            golden_image: image.clone(),
        }),
        _ => None,
    };
    let mut built = DeploymentPlan::new(
        id,
        name,
        plan.description.clone(),
        build_plan_name,
        carried.cloned().unwrap_or_default(),
    );
    let plan_attributes = attributes_of_plan
        .get(plan.build_plan.get_ref())
        .cloned()
        .unwrap_or_default();
    for (attr_name, setting) in &plan.attributes {
        if !plan_attributes.iter().any(|a| &a.name == attr_name) {
            return Err(Error::at(
                file.at(setting),
                format!(
                    "build plan {:?} has no attribute {attr_name}",
                    plan.build_plan.get_ref()
                ),
            ));
        }
    }
    for attribute in plan_attributes {
        let a = deployment_attribute(project, file, plan, &identity, attribute)?;
        built.custom_attributes.push(a);
    }
    Ok((built, attachment))
}

/// The golden image a deployment plan names: its own, or (absent or `true`) the OS profile's.
fn golden_image_of(
    file: &BundleFile,
    plan: &DeploymentPlanSource,
    profile: Option<&OsProfile>,
) -> Result<Option<String>> {
    Ok(match plan.golden_image.as_ref().map(|g| (g, g.get_ref())) {
        None => profile.and_then(|p| p.golden_image.clone()),
        Some((g, toml::Value::Boolean(true))) => {
            match profile.and_then(|p| p.golden_image.clone()) {
                Some(image) => Some(image),
                None => {
                    return Err(Error::at(
                        file.at(g),
                        "golden_image = true, but the bundle's OS profile names no golden_image",
                    ));
                }
            }
        }
        Some((_, toml::Value::String(s))) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

/// A build plan attribute as the deployment plan sets it: value (never a secret's), id,
/// visible, editable.
fn deployment_attribute(
    project: &Project,
    file: &BundleFile,
    plan: &DeploymentPlanSource,
    identity: &str,
    mut a: CustomAttribute,
) -> Result<CustomAttribute> {
    let setting = plan.attributes.get(&a.name);
    let secret =
        project.registry.get(&a.name).is_some_and(|e| e.secret) || a.attribute_type.is_secret();
    if let Some(value) = setting.and_then(|s| s.get_ref().value.clone()) {
        let at = file.at(setting.expect("value comes from a setting"));
        if secret && !value.is_empty() {
            return Err(Error::at(
                at,
                format!(
                    "{} is secret: its value must not ship in the bundle",
                    a.name
                ),
            ));
        }
        if !value.is_empty()
            && let Err(problem) = check_value(&a.attribute_type, &a.constraints, &value)
        {
            return Err(Error::at(at, format!("{}: {problem}", a.name)));
        }
        a.value = Some(value);
    }
    a.id = Some(match setting.and_then(|s| s.get_ref().id.clone()) {
        Some(pinned) => pinned.to_ascii_lowercase(),
        None => artifact_id(
            IdKind::DeploymentPlanAttribute,
            &format!("{identity}/{}", a.name),
        ),
    });
    a.visible = Some(setting.and_then(|s| s.get_ref().visible).unwrap_or(true));
    a.editable = Some(setting.and_then(|s| s.get_ref().editable).unwrap_or(true));
    Ok(a)
}

/// A plan script must change the image only: constructs that reach the machine running
/// guestfish (`!`, `<!`, `| cmd`, host file arguments, host built-ins) are build errors.
fn reject_host_escapes(script: &RenderedScript) -> Result<()> {
    let parsed = crate::guestfish::parse(&script.content);
    let Some(escape) = crate::guestfish::host::host_escapes(&parsed)
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    Err(Error::at(
        script.origin.locate_line(&script.content, escape.line),
        format!(
            "plan script {:?} (rendered line {}): `{}` {}",
            script.short_name, escape.line, escape.construct, escape.effect
        ),
    )
    .with_help(
        "a plan script changes the image only (`i3s-bundle lint --explain I3S044`): write files with `upload -<<END path`, never run host commands",
    ))
}

fn index_of_spec(artifact_of_spec: &[usize], artifact: usize) -> usize {
    artifact_of_spec
        .iter()
        .position(|&a| a == artifact)
        .unwrap_or(0)
}

fn describe(location: &Location) -> String {
    format!("the step at {location}")
}

fn check_plain_exists(layout: &Layout, stem: &str, at: &Location) -> Result<()> {
    let path = layout.plan_script(stem);
    if stem.is_empty() || stem.contains(['/', '\\']) || !path.is_file() {
        return Err(Error::at(
            at.clone(),
            format!(
                "unknown plan script {stem:?}: there is no {}",
                layout.relative(&path).display()
            ),
        )
        .with_help(available(
            &layout.plan_scripts_dir(),
            Layout::PLAN_SCRIPT_EXTENSION,
            "plan scripts",
        )));
    }
    Ok(())
}

/// "available templates: a, b, c" (at most 20 names).
fn available(dir: &Path, extension: &str, what: &str) -> String {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| PathBuf::from(e.file_name()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .filter(|s| !s.starts_with('_'))
        .collect();
    names.sort();
    if names.is_empty() {
        return format!("there are no {what} in {}", dir.display());
    }
    let more = names.len().saturating_sub(20);
    names.truncate(20);
    format!(
        "available {what}: {}{}",
        names.join(", "),
        if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        }
    )
}
