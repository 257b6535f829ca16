//! `import`: an exported bundle zip → source (a bundle TOML, one `plan-scripts/` file per plan
//! script, registry entries for its attributes), so appliance-made content can move into git.
//!
//! The source pins what the appliance already knows — every uuid, the MANIFEST Time Stamp and each
//! build plan's declared attribute list (hand-made and sometimes wrong) — so `build` of the
//! imported source gives an equivalent bundle; later edits then warn about attribute drift.
//!
//! A bundle is untrusted input (issue #19): import refuses what it cannot write faithfully
//! (uuids that differ only in case, attribute names a placeholder cannot spell), escapes every
//! string it writes into TOML, derives file names that are safe on every file system, and is
//! transactional: everything is staged in a temp dir inside the project, then moved into place;
//! on any failure what was moved is taken back, so the project is left as it was.
use super::plan_script_file::PlainPlanScript;
use super::registry::Registry;
use super::{Layout, read_text};
use crate::bundle::attribute::check_value;
use crate::bundle::{AttributeType, Bundle, CustomAttribute, ReadOptions, read_bundle};
use crate::error::{Error, Location, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
pub struct ImportReport {
    pub bundle_file: PathBuf,
    /// Plan script files written.
    pub plan_scripts: Vec<PathBuf>,
    /// Plan script files that already held the same script (shared with an earlier import).
    pub reused: Vec<PathBuf>,
    /// Attribute names added to the registry.
    pub registry_added: Vec<String>,
    pub warnings: Vec<String>,
}

/// A TOML string literal (the `toml` crate's own escaping).
fn q(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A TOML key as the `toml` crate's serializer writes it: bare when TOML allows, else quoted and
/// escaped on one line (a multi-line string, fine for values, is not a valid key).
fn key(name: &str) -> String {
    let mut table = toml::Table::new();
    table.insert(name.to_string(), toml::Value::Boolean(true));
    let line = toml::to_string(&table).unwrap_or_default();
    match line.trim_end().strip_suffix(" = true") {
        Some(key) => key.to_string(),
        None => unreachable!("a one-key table serializes as `KEY = true`: {line:?}"),
    }
}

/// Text for a `#` comment line: control characters (a newline would end the comment) become `?`.
fn comment_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The longest stem [`file_stem`] returns: far below every file system's 255-byte name limit,
/// leaving room for an extension and a `-N` collision suffix.
pub const MAX_STEM: usize = 100;

/// A file stem from an artifact name, safe on every file system: `[A-Za-z0-9._-]`, everything
/// else `_`; no leading or trailing dot; longer than [`MAX_STEM`] → the first 91 characters, `-`
/// and 8 hex digits of the SHA-256 of the whole name (stable, and distinct names stay distinct);
/// a Windows device name (`CON`, `nul`, `COM1`, …) gets a trailing `_`.
pub fn file_stem(name: &str) -> String {
    use sha2::Digest;
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut stem = stem.trim_matches('.').to_string();
    if stem.is_empty() {
        stem = "plan-script".to_string();
    }
    if stem.len() > MAX_STEM {
        let hash = hex::encode(&sha2::Sha256::digest(name.as_bytes())[..4]);
        stem = format!("{}-{hash}", stem[..MAX_STEM - 9].trim_end_matches('.'));
    }
    let device = stem.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(device.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((device.starts_with("COM") || device.starts_with("LPT"))
            && device.len() == 4
            && device.as_bytes()[3].is_ascii_digit());
    if reserved {
        stem.push('_');
    }
    stem
}

/// `HudsonAlpha_Artifact_Bundle_CentOS7.4_2018-06-09` → (`…_CentOS7.4`, `2018-06-09`).
pub fn split_artifact_name(artifact_name: &str) -> (String, String) {
    let re = regex::Regex::new(r"^(.+)_(\d[0-9A-Za-z.\-]*)$").expect("version pattern");
    match re.captures(artifact_name) {
        Some(c) => (c[1].to_string(), c[2].to_string()),
        None => (artifact_name.to_string(), String::new()),
    }
}

/// A file import writes (path, text), all or nothing.
type FileToWrite = (PathBuf, String);

/// What the registry knows of each attribute: type, description, encoded constraints, default.
type Registered = HashMap<String, (AttributeType, String, String, Option<String>)>;

/// Imports `zip` into the project at `into` (created as needed). Refuses to overwrite an existing
/// bundle TOML; reuses identical plan-script files; appends new registry entries.
pub fn import_bundle(zip: &Path, into: &Path) -> Result<ImportReport> {
    let loaded = read_bundle(
        zip,
        &ReadOptions {
            hash_payloads: false,
            ..ReadOptions::default()
        },
    )?;
    refuse_unfaithful(zip, &loaded)?;
    let bundle = &loaded.bundle;
    let layout = Layout::new(into);
    let mut report = ImportReport::default();
    let zip_label = comment_text(
        &zip.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
    );

    let bundle_path = layout.bundles_dir().join(format!(
        "{}.toml",
        file_stem(&bundle.manifest.artifact_name)
    ));
    // Case-insensitively: on macOS and Windows `X.toml` and `x.toml` are one file.
    if let Some(existing) = existing_case_insensitive(&bundle_path) {
        return Err(Error::Usage(format!(
            "{} already exists; remove it or import into another directory",
            existing.display()
        )));
    }
    let registry_path = layout.registry();
    let existing = if registry_path.is_file() {
        Registry::load(&registry_path)?
    } else {
        Registry::default()
    };
    let (registry_text, registered) =
        registry_additions(bundle, &existing, &zip_label, &mut report)?;
    let (stem_of_id, mut files_to_write) = plan_script_files(&layout, bundle, &mut report)?;
    let toml = bundle_toml(bundle, &zip_label, &stem_of_id, &registered, &mut report)?;

    // Write: plan scripts, registry, then the bundle file, all or nothing.
    if !registry_text.is_empty() {
        let mut text = if registry_path.is_file() {
            read_text(&registry_path)?
        } else {
            "# The attribute registry: every custom attribute (docs/source-format.md).\n"
                .to_string()
        };
        text.push_str(&registry_text);
        files_to_write.push((registry_path.clone(), text));
    }
    files_to_write.push((bundle_path.clone(), toml));
    commit(into, &files_to_write)?;
    report.bundle_file = layout.relative(&bundle_path);
    Ok(report)
}

/// What import cannot write faithfully is refused before anything is decided.
fn refuse_unfaithful(zip: &Path, loaded: &crate::bundle::LoadedBundle) -> Result<()> {
    let problems = crate::bundle::verify::identity_problems(loaded);
    let Some(first) = problems.first() else {
        return Ok(());
    };
    let all: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.entry, p.message))
        .collect();
    Err(Error::at(
        Location::entry(zip, &first.entry),
        format!(
            "cannot import this bundle faithfully, nothing was written:\n  {}",
            all.join("\n  ")
        ),
    )
    .with_help("`i3s-bundle verify` lists every problem; fix the bundle, then import again"))
}

/// Registry: the existing entries, then one new entry per attribute name not yet known, and one
/// per placeholder the scripts use that no build plan declares. Returns the text to append and
/// what the registry then knows.
fn registry_additions(
    bundle: &Bundle,
    existing: &Registry,
    zip_label: &str,
    report: &mut ImportReport,
) -> Result<(String, Registered)> {
    let (order, new_entries) = new_attributes(bundle, existing, zip_label)?;
    // Placeholders the scripts use but no build plan declares still need a registry entry (the
    // pinned lists keep the bundle as it was; `build` warns about the drift).
    let mut undeclared: Vec<String> = Vec::new();
    for script in &bundle.plan_scripts {
        for used in crate::placeholder::used_names(&script.content).into_keys() {
            if existing.get(&used).is_none()
                && !new_entries.contains_key(&used)
                && !undeclared.contains(&used)
            {
                undeclared.push(used);
            }
        }
    }
    let mut registry_text = String::new();
    let mut registered: Registered = existing
        .entries
        .values()
        .map(|e| {
            (
                e.name.clone(),
                (
                    e.attribute_type.clone(),
                    e.description.clone(),
                    e.constraints.encode(),
                    e.default.clone(),
                ),
            )
        })
        .collect();
    if !order.is_empty() || !undeclared.is_empty() {
        let _ = writeln!(registry_text, "\n# Imported from {zip_label}");
    }
    for name in &order {
        let entry = registry_entry(name, &new_entries[name], &mut registry_text, report);
        registered.insert(name.clone(), entry);
        report.registry_added.push(name.clone());
    }
    for name in &undeclared {
        let _ = writeln!(
            registry_text,
            "\n# Used as @{name}@ by a plan script but declared by no build plan of the bundle."
        );
        let _ = writeln!(
            registry_text,
            "[{}]\ntype = \"string\"\ndescription = \"\"",
            key(name)
        );
        registered.insert(
            name.clone(),
            (AttributeType::String, String::new(), "{}".to_string(), None),
        );
        report.registry_added.push(name.clone());
        report.warnings.push(format!("@{name}@ is used by a plan script but declared by no build plan; registered as a string"));
    }
    Ok((registry_text, registered))
}

/// The bundle's attributes the registry does not know yet, in first-use order.
fn new_attributes(
    bundle: &Bundle,
    existing: &Registry,
    zip_label: &str,
) -> Result<(Vec<String>, BTreeMap<String, CustomAttribute>)> {
    let mut new_entries: BTreeMap<String, CustomAttribute> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let all_attributes = bundle
        .build_plans
        .iter()
        .flat_map(|p| &p.custom_attributes)
        .chain(
            bundle
                .deployment_plans
                .iter()
                .flat_map(|p| &p.custom_attributes),
        );
    for attribute in all_attributes {
        if existing.get(&attribute.name).is_none() && !new_entries.contains_key(&attribute.name) {
            if let AttributeType::Other(other) = &attribute.attribute_type {
                return Err(Error::Other(format!(
                    "{zip_label}: attribute {} has type {other:?}, which the registry does not know",
                    attribute.name
                )));
            }
            order.push(attribute.name.clone());
            new_entries.insert(attribute.name.clone(), attribute.clone());
        }
    }
    Ok((order, new_entries))
}

/// Writes one registry entry for a declared attribute (a secret's default never); returns what
/// the registry then knows of it.
fn registry_entry(
    name: &str,
    a: &CustomAttribute,
    registry_text: &mut String,
    report: &mut ImportReport,
) -> (AttributeType, String, String, Option<String>) {
    let secret = a.attribute_type.is_secret();
    let mut default = a.default_value().map(str::to_string).filter(|_| !secret);
    if let Some(d) = &default
        && check_value(&a.attribute_type, &a.constraints, d).is_err()
    {
        report.warnings.push(format!("{name}: default {d:?} is not valid for its type; kept as the build plan's pinned value only"));
        default = None;
    }
    let constraints = a.constraints.encode();
    let _ = writeln!(registry_text, "\n[{}]", key(name));
    let _ = writeln!(registry_text, "type = {}", q(a.attribute_type.as_str()));
    let _ = writeln!(
        registry_text,
        "description = {}",
        q(a.description.as_deref().unwrap_or(""))
    );
    if constraints != "{}" && !constraints.is_empty() {
        let _ = writeln!(registry_text, "constraints = {}", q(&constraints));
    }
    if let Some(d) = &default {
        let _ = writeln!(registry_text, "default = {}", q(d));
    }
    (
        a.attribute_type.clone(),
        a.description.clone().unwrap_or_default(),
        constraints,
        default,
    )
}

/// Plan scripts: one file each, reusing an identical existing file. Returns each script's file
/// stem by lower-case id, and the files to write.
fn plan_script_files(
    layout: &Layout,
    bundle: &Bundle,
    report: &mut ImportReport,
) -> Result<(HashMap<String, String>, Vec<FileToWrite>)> {
    let mut stem_of_id: HashMap<String, String> = HashMap::new();
    let mut files_to_write: Vec<FileToWrite> = Vec::new();
    // Stems compare case-insensitively (one file on macOS and Windows): a later script whose stem
    // differs only in case from a taken one, or from another file already there, gets `-2`, `-3`….
    let mut taken: HashSet<String> = HashSet::new();
    let on_disk = existing_files(&layout.plan_scripts_dir())?;
    for script in &bundle.plan_scripts {
        let base = file_stem(&script.name);
        let mut n = 1;
        let stem = loop {
            let stem = if n == 1 {
                base.clone()
            } else {
                format!("{base}-{n}")
            };
            let file_name = layout
                .plan_script(&stem)
                .file_name()
                .map(|f| f.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            if taken.contains(&stem.to_ascii_lowercase()) {
                n += 1;
                continue;
            }
            if let Some(existing) = on_disk.get(&file_name) {
                let path = layout.plan_scripts_dir().join(existing);
                if holds_script(&path, script) {
                    report.reused.push(layout.relative(&path));
                    break existing
                        .strip_suffix(&format!(".{}", Layout::PLAN_SCRIPT_EXTENSION))
                        .unwrap_or(existing)
                        .to_string();
                }
                n += 1;
                continue;
            }
            let path = layout.plan_script(&stem);
            let text = PlainPlanScript::render_file(
                &script.name,
                &script.plan_type,
                script.description.as_deref().unwrap_or(""),
                Some(&script.id),
                &script.content,
            );
            files_to_write.push((path.clone(), text));
            report.plan_scripts.push(layout.relative(&path));
            break stem;
        };
        taken.insert(stem.to_ascii_lowercase());
        stem_of_id.insert(script.id.to_ascii_lowercase(), stem);
    }
    Ok((stem_of_id, files_to_write))
}

/// Whether the plan-script file at `path` already holds `script` (name, content, id, type,
/// description).
fn holds_script(path: &Path, script: &crate::bundle::PlanScript) -> bool {
    read_text(path)
        .ok()
        .and_then(|t| PlainPlanScript::parse(path, t).ok())
        .is_some_and(|old| {
            old.name == script.name
                && old.content == script.content
                && old.id.as_deref() == Some(script.id.as_str())
                && old.plan_type == script.plan_type
                && old.description == script.description.as_deref().unwrap_or("")
        })
}

/// The bundle TOML: `[bundle]`, then each build plan and deployment plan.
fn bundle_toml(
    bundle: &Bundle,
    zip_label: &str,
    stem_of_id: &HashMap<String, String>,
    registered: &Registered,
    report: &mut ImportReport,
) -> Result<String> {
    let (name, version) = split_artifact_name(&bundle.manifest.artifact_name);
    let mut toml = String::new();
    let _ = writeln!(
        toml,
        "# Imported from {zip_label} by `i3s-bundle import`: uuids, the Time Stamp and the"
    );
    let _ = writeln!(
        toml,
        "# declared attribute lists are pinned so a build reproduces the bundle.\n"
    );
    let _ = writeln!(toml, "[bundle]");
    let _ = writeln!(toml, "name = {}", q(&name));
    let _ = writeln!(toml, "version = {}", q(&version));
    let _ = writeln!(toml, "description = {}", q(&bundle.manifest.description));
    let _ = writeln!(toml, "checksum = {}", q(&bundle.checksum.to_string()));
    let _ = writeln!(toml, "read_only = {}", bundle.manifest.read_only);
    let _ = writeln!(toml, "time_stamp = {}", q(&bundle.manifest.time_stamp));
    let _ = writeln!(toml, "plan_scripts = [");
    for script in &bundle.plan_scripts {
        let _ = writeln!(
            toml,
            "  {},",
            q(&stem_of_id[&script.id.to_ascii_lowercase()])
        );
    }
    let _ = writeln!(toml, "]");
    for plan in &bundle.build_plans {
        build_plan_toml(&mut toml, plan, zip_label, stem_of_id, registered, report)?;
    }
    for plan in &bundle.deployment_plans {
        deployment_plan_toml(&mut toml, plan, report);
    }
    if bundle.golden_images.iter().any(|g| g.payload.is_some()) {
        report
            .warnings
            .push("the bundle carries golden image payloads; import does not extract them".into());
    }
    Ok(toml)
}

fn build_plan_toml(
    toml: &mut String,
    plan: &crate::bundle::BuildPlan,
    zip_label: &str,
    stem_of_id: &HashMap<String, String>,
    registered: &Registered,
    report: &mut ImportReport,
) -> Result<()> {
    let _ = writeln!(toml, "\n[[build_plan]]");
    let _ = writeln!(toml, "name = {}", q(&plan.name));
    let _ = writeln!(
        toml,
        "type = {}",
        q(if plan.build_plan_type.is_empty() {
            "deploy"
        } else {
            &plan.build_plan_type
        })
    );
    let _ = writeln!(
        toml,
        "description = {}",
        q(plan.description.as_deref().unwrap_or(""))
    );
    let _ = writeln!(toml, "id = {}", q(&plan.id.to_ascii_lowercase()));
    let _ = writeln!(toml, "steps = [");
    for step in &plan.steps {
        let stem = step.plan_script_id().and_then(|id| stem_of_id.get(&id.to_ascii_lowercase())).ok_or_else(|| {
            Error::Other(format!("{zip_label}: build plan {:?} step {} points at {}, which the bundle does not carry", plan.name, step.serial_number, step.plan_script_uri))
        })?;
        let _ = writeln!(toml, "  {{ plan_script = {} }},", q(stem));
    }
    let _ = writeln!(toml, "]");
    let _ = writeln!(toml, "attributes = [");
    for a in &plan.custom_attributes {
        let _ = writeln!(
            toml,
            "  {},",
            pinned_attribute(a, registered, &mut report.warnings)
        );
    }
    let _ = writeln!(toml, "]");
    Ok(())
}

fn deployment_plan_toml(
    toml: &mut String,
    plan: &crate::bundle::DeploymentPlan,
    report: &mut ImportReport,
) {
    let _ = writeln!(toml, "\n[[deployment_plan]]");
    let _ = writeln!(toml, "name = {}", q(&plan.name));
    let _ = writeln!(toml, "build_plan = {}", q(&plan.build_plan));
    let _ = writeln!(
        toml,
        "description = {}",
        q(plan.description.as_deref().unwrap_or(""))
    );
    let _ = writeln!(toml, "id = {}", q(&plan.id.to_ascii_lowercase()));
    match plan.golden_image_name() {
        Some(image) => {
            let _ = writeln!(toml, "golden_image = {}", q(image));
            report.warnings.push(format!("deployment plan {:?}: golden image {image:?} is not imported; `publish` attaches it by name", plan.name));
        }
        None => {
            let _ = writeln!(toml, "golden_image = false");
        }
    }
    for a in &plan.custom_attributes {
        let _ = writeln!(toml, "[deployment_plan.attributes.{}]", key(&a.name));
        if let Some(v) = &a.value {
            let _ = writeln!(toml, "value = {}", q(v));
        }
        if let Some(v) = a.visible {
            let _ = writeln!(toml, "visible = {v}");
        }
        if let Some(v) = a.editable {
            let _ = writeln!(toml, "editable = {v}");
        }
        if let Some(id) = &a.id {
            let _ = writeln!(toml, "id = {}", q(&id.to_ascii_lowercase()));
        }
    }
}

/// `{ name = "X", value = "…" }` plus any field that differs from the registry entry.
fn pinned_attribute(
    a: &CustomAttribute,
    registered: &Registered,
    warnings: &mut Vec<String>,
) -> String {
    let mut parts = vec![format!("name = {}", q(&a.name))];
    match &a.value {
        Some(v) if a.attribute_type.is_secret() && !v.is_empty() => {
            warnings.push(format!(
                "{}: a default for a secret attribute is dropped",
                a.name
            ));
        }
        Some(v) => parts.push(format!("value = {}", q(v))),
        None => warnings.push(format!("{}: value null becomes \"\"", a.name)),
    }
    if let Some((t, description, constraints, _)) = registered.get(&a.name) {
        if *t != a.attribute_type {
            parts.push(format!("type = {}", q(a.attribute_type.as_str())));
        }
        if description != a.description.as_deref().unwrap_or("") {
            parts.push(format!(
                "description = {}",
                q(a.description.as_deref().unwrap_or(""))
            ));
        }
        let encoded = a.constraints.encode();
        if *constraints != encoded {
            parts.push(format!("constraints = {}", q(&encoded)));
        }
    }
    format!("{{ {} }}", parts.join(", "))
}

/// File names in `dir` by lower-case name (empty when `dir` does not exist yet).
fn existing_files(dir: &Path) -> Result<HashMap<String, String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut names = HashMap::new();
    for entry in entries {
        let name = entry
            .map_err(|e| Error::io(dir, e))?
            .file_name()
            .to_string_lossy()
            .into_owned();
        names.insert(name.to_ascii_lowercase(), name);
    }
    Ok(names)
}

/// The existing file that `path` would be on a case-insensitive file system.
fn existing_case_insensitive(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    existing_files(dir)
        .ok()?
        .get(&name)
        .map(|existing| dir.join(existing))
}

/// Writes `files` all or nothing: stages each in a temp dir inside `root` (same file system, so
/// the moves are renames), then moves them into place in order. On a failure, files moved so far
/// are removed (or, for one that replaced a file, the old bytes put back), directories made for
/// them removed again, and the stage dropped, so the project is as it was.
fn commit(root: &Path, files: &[(PathBuf, String)]) -> Result<()> {
    let made_root = !root.exists();
    std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    let stage = match tempfile::Builder::new()
        .prefix(".i3s-bundle-import-")
        .tempdir_in(root)
    {
        Ok(stage) => stage,
        Err(e) => {
            if made_root {
                let _ = std::fs::remove_dir(root);
            }
            return Err(Error::io(root, e));
        }
    };
    let mut done: Vec<(PathBuf, Option<Vec<u8>>)> = Vec::new();
    let mut made_dirs: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<()> {
        let mut staged = Vec::new();
        for (index, (_, text)) in files.iter().enumerate() {
            let path = stage.path().join(index.to_string());
            crate::fs::write_atomic(&path, text.as_bytes())?;
            staged.push(path);
        }
        for ((target, _), staged) in files.iter().zip(&staged) {
            if let Some(parent) = target.parent()
                && !parent.exists()
            {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                made_dirs.push(parent.to_path_buf());
            }
            let previous = match std::fs::read(target) {
                Ok(bytes) => Some(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io(target, e)),
            };
            std::fs::rename(staged, target).map_err(|e| Error::io(target, e))?;
            done.push((target.clone(), previous));
        }
        Ok(())
    })();
    if result.is_err() {
        for (target, previous) in done.iter().rev() {
            let _ = match previous {
                Some(bytes) => crate::fs::write_atomic(target, bytes),
                None => std::fs::remove_file(target).map_err(|e| Error::io(target, e)),
            };
        }
        for dir in made_dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
        drop(stage);
        if made_root {
            let _ = std::fs::remove_dir(root);
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_comments_cannot_change_the_toml_structure() {
        let evil = "ZZ]\ndefault = \"injected\"\n[SERVER_FQDN";
        let text = format!(
            "# {}\n[{}]\ntype = {}\n",
            comment_text("a\n[x]\nb"),
            key(evil),
            q("string")
        );
        let table: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(table.len(), 1, "{text}");
        assert_eq!(table[evil]["type"].as_str(), Some("string"));
        assert_eq!(key("SERVER_FQDN"), "SERVER_FQDN");
        for name in ["a\u{7f}\"b'c", "x = 1", "", "é\t\\"] {
            let table: toml::Table = toml::from_str(&format!("{} = 1", key(name))).unwrap();
            assert_eq!(table.keys().collect::<Vec<_>>(), [name]);
        }
    }

    #[test]
    fn file_stems_are_bounded_stable_and_avoid_device_names() {
        let long = "é".repeat(3000);
        let stem = file_stem(&long);
        assert_eq!(stem.len(), MAX_STEM);
        assert_eq!(stem, file_stem(&long));
        assert_ne!(stem, file_stem(&format!("{long}x")));
        assert_eq!(file_stem("nul.txt"), "nul.txt_");
        assert_eq!(file_stem("COM1"), "COM1_");
        assert_eq!(file_stem("COMMON"), "COMMON");
        assert_eq!(file_stem(".."), "plan-script");
    }
}
