//! `verify`: checksums, manifest and references of a bundle as read.
use super::checksum::ChecksumFile;
use super::read::LoadedBundle;
use super::{EntryKind, PlanScript};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// Which part of the format a problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub area: Area,
    pub entry: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
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

pub fn verify(loaded: &LoadedBundle) -> VerifyReport {
    let mut problems = Vec::new();
    let mut area = Area::Checksum;
    let mut report = |severity: Severity, area: Area, entry: &str, message: String| {
        problems.push(Problem {
            severity,
            area,
            entry: entry.to_string(),
            message,
        })
    };
    use Severity::{Error, Warning};

    // Checksums.
    match loaded.checksum_files.as_slice() {
        [] => report(
            Error,
            area,
            "SHA256SUM.sha256sum",
            "no checksum file (SHA256SUM.sha256sum or SHA1SUM.sha1sum)".into(),
        ),
        [sums, rest @ ..] => {
            for other in rest {
                report(
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
                report(
                    Error,
                    area,
                    own_name,
                    format!(
                        "line {line} is not <entry><TAB><{} hex digest>: {text:?}",
                        sums.flavour
                    ),
                );
            }
            let in_zip: HashSet<&str> = loaded.entries.iter().map(|e| e.name.as_str()).collect();
            let listed_digest: std::collections::HashMap<&str, &str> = sums
                .lines
                .iter()
                .map(|l| (l.entry.as_str(), l.digest.as_str()))
                .collect();
            let mut listed = HashSet::new();
            for line in &sums.lines {
                if !listed.insert(line.entry.as_str()) {
                    report(
                        Error,
                        area,
                        own_name,
                        format!("line {} lists {} a second time", line.line, line.entry),
                    );
                }
                if line.entry == own_name {
                    report(
                        Warning,
                        area,
                        own_name,
                        format!(
                            "line {} lists the checksum file itself (tolerated: it can never match)",
                            line.line
                        ),
                    );
                } else if !in_zip.contains(line.entry.as_str()) {
                    report(
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
            for entry in loaded
                .entries
                .iter()
                .filter(|e| e.kind != EntryKind::Checksum)
            {
                match (
                    listed_digest.get(entry.name.as_str()).copied(),
                    &entry.digest,
                ) {
                    (None, _) => report(
                        Error,
                        area,
                        &entry.name,
                        format!("not listed in {own_name}"),
                    ),
                    (Some(_), None) => report(
                        Warning,
                        area,
                        &entry.name,
                        "digest not computed (payload hashing was skipped)".into(),
                    ),
                    (Some(expected), Some(actual)) if expected != actual => report(
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
            if lines_out_of_order(loaded, sums) {
                report(
                    Warning,
                    area,
                    own_name,
                    "lines are not in zip entry order".into(),
                );
            }
            if !sums.ends_with_newline && !sums.lines.is_empty() {
                report(
                    Warning,
                    area,
                    own_name,
                    "does not end with a newline".into(),
                );
            }
        }
    }

    // Manifest.
    area = Area::Manifest;
    let quirks = &loaded.manifest_quirks;
    let manifest = "MANIFEST.MF";
    for key in &quirks.missing_keys {
        report(Error, area, manifest, format!("has no {key:?} line"));
    }
    if let Some(value) = &quirks.bad_read_only {
        report(
            Error,
            area,
            manifest,
            format!("\"Read Only\" is {value:?}, expected true or false"),
        );
    }
    if quirks.bad_time_stamp {
        report(
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
        report(
            Warning,
            area,
            manifest,
            "ends with a newline (tolerated; appliances write none)".into(),
        );
    }
    for key in &quirks.unknown_keys {
        report(Warning, area, manifest, format!("unknown key {key:?}"));
    }
    if quirks.out_of_order {
        report(Warning, area, manifest, "keys are not in the order Artifact Name, Description, Read Only, Time Stamp, Artifact Type".into());
    }

    // References.
    area = Area::Reference;
    let bundle = &loaded.bundle;
    let entry_of =
        |kind: EntryKind, id: &str| kind.entry_name(id).unwrap_or_else(|| id.to_string());
    let scripts = bundle.script_index();
    let build_plans: HashSet<&str> = bundle.build_plans.iter().map(|p| p.name.as_str()).collect();
    for plan in &bundle.build_plans {
        let entry = entry_of(EntryKind::BuildPlan, &plan.id);
        for (index, (step, script)) in scripts.steps_of(plan).enumerate() {
            let expected = (index + 1).to_string();
            if step.serial_number != expected {
                report(
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
                None => report(
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
                Some(PlanScript { name, .. }) if *name != step.plan_script_name => report(
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
    for plan in &bundle.deployment_plans {
        let entry = entry_of(EntryKind::DeploymentPlan, &plan.id);
        if !build_plans.contains(plan.build_plan.as_str()) {
            report(
                Error,
                area,
                &entry,
                format!("build plan {:?} is not in the bundle", plan.build_plan),
            );
        }
        if let Some(image) = plan.golden_image_name()
            && bundle.golden_image_by_name(image).is_none()
        {
            report(
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
            report(
                Warning,
                area,
                &entry,
                format!("no payload entry named {:?}", golden.image.name),
            );
        }
    }
    area = Area::Entry;
    for problem in identity_problems(loaded) {
        problems.push(problem);
    }
    let mut report = |severity: Severity, area: Area, entry: &str, message: String| {
        problems.push(Problem {
            severity,
            area,
            entry: entry.to_string(),
            message,
        })
    };
    for entry in loaded.unknown_entries() {
        report(
            Warning,
            area,
            &entry.name,
            "unknown entry (kept, not an artifact)".into(),
        );
    }
    problems.extend(host_escapes(&loaded.bundle.plan_scripts));
    VerifyReport {
        path: loaded.path.clone(),
        problems,
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
