//! `verify`: checksums, manifest and references of a bundle as read.
use super::checksum::ChecksumFile;
use super::read::LoadedBundle;
use super::{BuildPlan, Bundle, EntryKind, PlanScript, ScriptIndex};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// Which part of the format a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    Checksum,
    Manifest,
    Reference,
    Entry,
    /// A plan script that reaches the machine running guestfish (`!`, `| cmd`, host files).
    Script,
    /// Custom attribute declarations (names a placeholder cannot spell).
    Attribute,
}

/// One problem: which entry, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Problem {
    pub severity: Severity,
    pub area: Area,
    pub entry: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct VerifyReport {
    pub path: std::path::PathBuf,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }
    pub fn is_clean(&self) -> bool {
        self.errors().next().is_none()
    }
}

/// The checksum-order rule (a warning here, I3S105 in lint): the appliance writes one line per
/// entry in zip order; a file listing every entry in another order was repacked by hand.
pub fn lines_out_of_order(loaded: &LoadedBundle, sums: &ChecksumFile) -> bool {
    let own = sums.flavour.file_name();
    let zip_order: Vec<&str> = loaded
        .entries
        .iter()
        .filter(|e| e.kind != EntryKind::Checksum)
        .map(|e| e.name.as_str())
        .collect();
    let sum_order: Vec<&str> = sums
        .lines
        .iter()
        .map(|l| l.entry.as_str())
        .filter(|n| *n != own)
        .collect();
    zip_order.len() == sum_order.len() && zip_order != sum_order
}

/// The problems found so far; each check reports in its own area.
struct Found {
    problems: Vec<Problem>,
}

impl Found {
    fn report(&mut self, severity: Severity, area: Area, entry: &str, message: String) {
        self.problems.push(Problem {
            severity,
            area,
            entry: entry.to_string(),
            message,
        })
    }
}

pub fn verify(loaded: &LoadedBundle) -> VerifyReport {
    let mut found = Found {
        problems: Vec::new(),
    };
    check_checksums(loaded, &mut found);
    check_manifest(loaded, &mut found);
    check_references(&loaded.bundle, &mut found);
    let mut problems = found.problems;
    problems.extend(identity_problems(loaded));
    for entry in loaded.unknown_entries() {
        problems.push(Problem {
            severity: Severity::Warning,
            area: Area::Entry,
            entry: entry.name.clone(),
            message: "unknown entry (kept, not an artifact)".into(),
        });
    }
    problems.extend(host_escapes(&loaded.bundle.plan_scripts));
    VerifyReport {
        path: loaded.path.clone(),
        problems,
    }
}

/// Checksums: exactly one checksum file, its lines well-formed, every entry listed and matching.
fn check_checksums(loaded: &LoadedBundle, found: &mut Found) {
    use Severity::{Error, Warning};
    let area = Area::Checksum;
    let Some((sums, rest)) = loaded.checksum_files.split_first() else {
        found.report(
            Error,
            area,
            "SHA256SUM.sha256sum",
            "no checksum file (SHA256SUM.sha256sum or SHA1SUM.sha1sum)".into(),
        );
        return;
    };
    for other in rest {
        found.report(
            Error,
            area,
            other.flavour.file_name(),
            format!(
                "a second checksum file next to {}",
                sums.flavour.file_name()
            ),
        );
    }
    let own_name = sums.flavour.file_name();
    for (line, text) in &sums.malformed {
        found.report(
            Error,
            area,
            own_name,
            format!(
                "line {line} is not <entry><TAB><{} hex digest>: {text:?}",
                sums.flavour
            ),
        );
    }
    check_checksum_lines(loaded, sums, found);
    check_entry_digests(loaded, sums, found);
    if lines_out_of_order(loaded, sums) {
        found.report(
            Warning,
            area,
            own_name,
            "lines are not in zip entry order".into(),
        );
    }
    if !sums.ends_with_newline && !sums.lines.is_empty() {
        found.report(
            Warning,
            area,
            own_name,
            "does not end with a newline".into(),
        );
    }
}

/// Each checksum line: listed once, not the checksum file itself, an entry of the zip.
fn check_checksum_lines(loaded: &LoadedBundle, sums: &ChecksumFile, found: &mut Found) {
    use Severity::{Error, Warning};
    let area = Area::Checksum;
    let own_name = sums.flavour.file_name();
    let in_zip: HashSet<&str> = loaded.entries.iter().map(|e| e.name.as_str()).collect();
    let mut listed = HashSet::new();
    for line in &sums.lines {
        if !listed.insert(line.entry.as_str()) {
            found.report(
                Error,
                area,
                own_name,
                format!("line {} lists {} a second time", line.line, line.entry),
            );
        }
        if line.entry == own_name {
            found.report(
                Warning,
                area,
                own_name,
                format!(
                    "line {} lists the checksum file itself (tolerated: it can never match)",
                    line.line
                ),
            );
        } else if !in_zip.contains(line.entry.as_str()) {
            found.report(
                Error,
                area,
                &line.entry,
                format!(
                    "listed in {own_name} (line {}) but missing from the zip",
                    line.line
                ),
            );
        }
    }
}

/// Each entry but the checksum file: listed, and its digest matching.
fn check_entry_digests(loaded: &LoadedBundle, sums: &ChecksumFile, found: &mut Found) {
    use Severity::{Error, Warning};
    let area = Area::Checksum;
    let own_name = sums.flavour.file_name();
    let listed_digest: HashMap<&str, &str> = sums
        .lines
        .iter()
        .map(|l| (l.entry.as_str(), l.digest.as_str()))
        .collect();
    for entry in loaded
        .entries
        .iter()
        .filter(|e| e.kind != EntryKind::Checksum)
    {
        match (
            listed_digest.get(entry.name.as_str()).copied(),
            &entry.digest,
        ) {
            (None, _) => found.report(
                Error,
                area,
                &entry.name,
                format!("not listed in {own_name}"),
            ),
            (Some(_), None) => found.report(
                Warning,
                area,
                &entry.name,
                "digest not computed (payload hashing was skipped)".into(),
            ),
            (Some(expected), Some(actual)) if expected != actual => found.report(
                Error,
                area,
                &entry.name,
                format!(
                    "{} digest {actual} does not match {expected} in {own_name}",
                    sums.flavour
                ),
            ),
            _ => {}
        }
    }
}

/// The manifest: its five keys, well-formed values; tolerated deviations as warnings.
fn check_manifest(loaded: &LoadedBundle, found: &mut Found) {
    use Severity::{Error, Warning};
    let area = Area::Manifest;
    let quirks = &loaded.manifest_quirks;
    let manifest = "MANIFEST.MF";
    for key in &quirks.missing_keys {
        found.report(Error, area, manifest, format!("has no {key:?} line"));
    }
    if let Some(value) = &quirks.bad_read_only {
        found.report(
            Error,
            area,
            manifest,
            format!("\"Read Only\" is {value:?}, expected true or false"),
        );
    }
    if quirks.bad_time_stamp {
        found.report(
            Error,
            area,
            manifest,
            format!(
                "\"Time Stamp\" {:?} is not ISO-8601 UTC",
                loaded.bundle.manifest.time_stamp
            ),
        );
    }
    if quirks.trailing_newline {
        found.report(
            Warning,
            area,
            manifest,
            "ends with a newline (tolerated; appliances write none)".into(),
        );
    }
    for key in &quirks.unknown_keys {
        found.report(Warning, area, manifest, format!("unknown key {key:?}"));
    }
    if quirks.out_of_order {
        found.report(Warning, area, manifest, "keys are not in the order Artifact Name, Description, Read Only, Time Stamp, Artifact Type".into());
    }
}

fn entry_of(kind: EntryKind, id: &str) -> String {
    kind.entry_name(id).unwrap_or_else(|| id.to_string())
}

/// References: build plan steps, deployment plans' build plans and golden images, payloads.
fn check_references(bundle: &Bundle, found: &mut Found) {
    use Severity::{Error, Warning};
    let area = Area::Reference;
    let scripts = bundle.script_index();
    for plan in &bundle.build_plans {
        check_steps(&scripts, plan, found);
    }
    let build_plans: HashSet<&str> = bundle.build_plans.iter().map(|p| p.name.as_str()).collect();
    for plan in &bundle.deployment_plans {
        let entry = entry_of(EntryKind::DeploymentPlan, &plan.id);
        if !build_plans.contains(plan.build_plan.as_str()) {
            found.report(
                Error,
                area,
                &entry,
                format!("build plan {:?} is not in the bundle", plan.build_plan),
            );
        }
        if let Some(image) = plan.golden_image_name()
            && bundle.golden_image_by_name(image).is_none()
        {
            found.report(
                Warning,
                area,
                &entry,
                format!(
                    "golden image {image:?} is not in the bundle: it must exist on the appliance"
                ),
            );
        }
    }
    for golden in &bundle.golden_images {
        if golden.payload.is_none() {
            let entry = entry_of(EntryKind::GoldenImage, &golden.image.id);
            found.report(
                Warning,
                area,
                &entry,
                format!("no payload entry named {:?}", golden.image.name),
            );
        }
    }
}

/// A build plan's steps: numbered 1, 2, …, each pointing at a plan script of the bundle.
fn check_steps(scripts: &ScriptIndex, plan: &BuildPlan, found: &mut Found) {
    use Severity::{Error, Warning};
    let area = Area::Reference;
    let entry = entry_of(EntryKind::BuildPlan, &plan.id);
    for (index, (step, script)) in scripts.steps_of(plan).enumerate() {
        let expected = (index + 1).to_string();
        if step.serial_number != expected {
            found.report(
                Error,
                area,
                &entry,
                format!(
                    "step {} has serialNumber {:?}, expected {expected:?}",
                    index + 1,
                    step.serial_number
                ),
            );
        }
        match script {
            None => found.report(
                Error,
                area,
                &entry,
                format!(
                    "step {} ({}) points at {} which is not in the bundle",
                    index + 1,
                    step.plan_script_name,
                    step.plan_script_uri
                ),
            ),
            Some(PlanScript { name, .. }) if *name != step.plan_script_name => found.report(
                Warning,
                area,
                &entry,
                format!(
                    "step {} names {:?} but its URI points at plan script {name:?}",
                    index + 1,
                    step.plan_script_name
                ),
            ),
            Some(_) => {}
        }
    }
}

/// Plan-script constructs that run on the host instead of the image: errors, since a bundle is
/// untrusted input (an appliance would run them inside itself, `i3s-bundle run` on the user's
/// machine).
fn host_escapes(scripts: &[PlanScript]) -> Vec<Problem> {
    scripts
        .iter()
        .flat_map(|script| {
            let entry = EntryKind::PlanScript
                .entry_name(&script.id)
                .unwrap_or_else(|| script.id.clone());
            crate::guestfish::host::host_escapes(&crate::guestfish::parse(&script.content))
                .into_iter()
                .map(move |e| Problem {
                    severity: Severity::Error,
                    area: Area::Script,
                    entry: entry.clone(),
                    message: format!(
                        "plan script {:?} line {}: `{}` {}",
                        script.name, e.line, e.construct, e.effect
                    ),
                })
        })
        .collect()
}

/// Problems that make a bundle ambiguous to import or publish: two artifacts of one kind whose
/// uuids differ only in letter case (uuids are case-insensitive: the appliance and our own
/// indexes treat them as one), and custom attribute names a placeholder cannot spell (they would
/// also corrupt a TOML registry). `import` refuses a bundle with any of these.
pub fn identity_problems(loaded: &LoadedBundle) -> Vec<Problem> {
    let mut problems = Vec::new();
    // The entry name carries the kind (`<uuid>_planscript.json`), so it alone is the key.
    let mut first_of: HashMap<String, &str> = HashMap::new();
    for entry in &loaded.entries {
        if !EntryKind::ARTIFACTS
            .iter()
            .any(|(k, _, _)| *k == entry.kind)
        {
            continue;
        }
        let key = entry.name.to_ascii_lowercase();
        match first_of.get(&key) {
            Some(first) => problems.push(Problem {
                severity: Severity::Error,
                area: Area::Entry,
                entry: entry.name.clone(),
                message: format!(
                    "has the same uuid as {first} (uuids are case-insensitive): two artifacts, one identity; keep one of them or give the other a new uuid"
                ),
            }),
            None => {
                first_of.insert(key, &entry.name);
            }
        }
    }
    let bundle = &loaded.bundle;
    let attributes = bundle
        .build_plans
        .iter()
        .map(|p| (EntryKind::BuildPlan, &p.id, &p.custom_attributes))
        .chain(
            bundle
                .deployment_plans
                .iter()
                .map(|p| (EntryKind::DeploymentPlan, &p.id, &p.custom_attributes)),
        );
    for (kind, id, list) in attributes {
        for attribute in list {
            if !crate::placeholder::is_valid_name(&attribute.name) {
                problems.push(Problem {
                    severity: Severity::Error,
                    area: Area::Attribute,
                    entry: kind.entry_name(id).unwrap_or_else(|| id.clone()),
                    message: format!(
                        "custom attribute name {:?} is not valid: names are letters, digits and '_' (what @NAME@ can spell)",
                        attribute.name
                    ),
                });
            }
        }
    }
    problems
}
