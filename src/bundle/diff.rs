//! `diff`: artifact-level changes between two bundles. Artifacts are matched by uuid first, then
//! by name among the unmatched; a uuid match under a new name is a rename.
//!
//! Every entry counts ([`diff_loaded`]): an entry only one bundle has, or one whose content differs
//! where no modelled field shows it (an unknown `payload.sh`, a JSON key the model keeps as
//! `extra`), is an entry change, so two bundles are equal only when every entry is.
use super::read::{EntryRecord, LoadedBundle};
use super::{
    BuildPlan, Bundle, CustomAttribute, DeploymentPlan, EntryKind, GoldenImageEntry, PlanScript,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct BundleDiff {
    pub manifest: Vec<FieldChange>,
    pub plan_scripts: Vec<ArtifactChange>,
    pub build_plans: Vec<ArtifactChange>,
    pub deployment_plans: Vec<ArtifactChange>,
    pub golden_images: Vec<ArtifactChange>,
    /// Entries added, removed or changed that no change above accounts for.
    pub entries: Vec<EntryChange>,
}

/// A zip entry only one bundle has, or whose content differs outside the modelled fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EntryChange {
    /// `added`, `removed` or `changed`.
    pub change: ChangeKind,
    pub entry: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FieldChange {
    pub field: String,
    pub old: String,
    pub new: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Added,
    Removed,
    Renamed,
    Changed,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ArtifactChange {
    pub change: ChangeKind,
    /// The new name (the old one for removals).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_name: Option<String>,
    pub id: String,
    /// One line per difference, e.g. `step added: "X" at 9`, `attribute removed: CONSUL_FQDN`.
    pub details: Vec<String>,
    /// Unified diff of a plan script's content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_diff: Option<String>,
}

impl BundleDiff {
    pub fn is_empty(&self) -> bool {
        self.manifest.is_empty()
            && self.plan_scripts.is_empty()
            && self.build_plans.is_empty()
            && self.deployment_plans.is_empty()
            && self.golden_images.is_empty()
            && self.entries.is_empty()
    }

    /// The artifact changes of every kind, with the kind's name.
    pub fn artifact_changes(&self) -> impl Iterator<Item = (&'static str, &ArtifactChange)> {
        self.plan_scripts
            .iter()
            .map(|c| ("plan script", c))
            .chain(self.build_plans.iter().map(|c| ("build plan", c)))
            .chain(self.deployment_plans.iter().map(|c| ("deployment plan", c)))
            .chain(self.golden_images.iter().map(|c| ("golden image", c)))
    }
}

/// Something with an identity in a bundle.
trait Artifact {
    fn id(&self) -> &str;
    fn name(&self) -> &str;
    fn details(old: &Self, new: &Self, context: &Context) -> (Vec<String>, Option<String>);
    /// How alike two artifacts that share neither uuid nor name are, 0.0..=1.0 (rename detection,
    /// as git does it). Kinds without a meaningful measure say 0.
    fn similarity(_old: &Self, _new: &Self, _context: &Context) -> f64 {
        0.0
    }
}

/// Artifacts at least this alike are reported as renamed rather than removed and added.
const RENAME_SIMILARITY: f64 = 0.5;
/// Similarity is quadratic in the unmatched artifacts; beyond this many pairs it is skipped.
const MAX_SIMILARITY_PAIRS: usize = 20_000;

/// What artifact-level comparisons need from the rest of the diff.
#[derive(Default)]
struct Context {
    /// Old plan script id (lower case) → the id of its partner in the new bundle.
    script_partner: std::collections::HashMap<String, String>,
}

impl Context {
    /// A step's identity in new-bundle terms: its plan script's partner, or its own name.
    fn step_key(&self, step: &super::BuildStep, old: bool) -> String {
        let id = step
            .plan_script_id()
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        let mapped = if old {
            self.script_partner.get(&id).cloned()
        } else {
            Some(id)
        };
        mapped
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("name:{}", step.plan_script_name))
    }
}

fn text(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

fn field(details: &mut Vec<String>, what: &str, old: &str, new: &str) {
    if old != new {
        details.push(format!("{what}: {old:?} → {new:?}"));
    }
}

impl Artifact for PlanScript {
    fn similarity(old: &Self, new: &Self, _context: &Context) -> f64 {
        if old.plan_type != new.plan_type {
            return 0.0;
        }
        f64::from(similar::TextDiff::from_lines(&old.content, &new.content).ratio())
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn details(old: &Self, new: &Self, _context: &Context) -> (Vec<String>, Option<String>) {
        let mut details = Vec::new();
        field(&mut details, "type", &old.plan_type, &new.plan_type);
        field(
            &mut details,
            "description",
            text(&old.description),
            text(&new.description),
        );
        let content_diff = (old.content != new.content).then(|| {
            details.push("content changed".to_string());
            similar::TextDiff::from_lines(&old.content, &new.content)
                .unified_diff()
                .context_radius(3)
                .header(&old.name, &new.name)
                .to_string()
        });
        (details, content_diff)
    }
}

fn attribute_details(details: &mut Vec<String>, old: &[CustomAttribute], new: &[CustomAttribute]) {
    for a in old.iter().filter(|a| !new.iter().any(|b| b.name == a.name)) {
        details.push(format!("attribute removed: {}", a.name));
    }
    for b in new.iter().filter(|b| !old.iter().any(|a| a.name == b.name)) {
        details.push(format!(
            "attribute added: {} ({})",
            b.name, b.attribute_type
        ));
    }
    for a in old {
        let Some(b) = new.iter().find(|b| b.name == a.name) else {
            continue;
        };
        let name = &a.name;
        field(
            details,
            &format!("attribute {name} type"),
            a.attribute_type.as_str(),
            b.attribute_type.as_str(),
        );
        if a.attribute_type.is_secret() || b.attribute_type.is_secret() {
            if a.value != b.value {
                details.push(format!(
                    "attribute {name} value changed (secret, not shown)"
                ));
            }
        } else {
            field(
                details,
                &format!("attribute {name} value"),
                text(&a.value),
                text(&b.value),
            );
        }
        field(
            details,
            &format!("attribute {name} description"),
            text(&a.description),
            text(&b.description),
        );
        if a.constraints != b.constraints {
            details.push(format!(
                "attribute {name} constraints: {} → {}",
                a.constraints.encode(),
                b.constraints.encode()
            ));
        }
        let flag = |v: Option<bool>| v.map_or("unset".to_string(), |v| v.to_string());
        field(
            details,
            &format!("attribute {name} visible"),
            &flag(a.visible),
            &flag(b.visible),
        );
        field(
            details,
            &format!("attribute {name} editable"),
            &flag(a.editable),
            &flag(b.editable),
        );
    }
}

impl Artifact for BuildPlan {
    /// Shared steps (by plan script identity) over all steps.
    fn similarity(old: &Self, new: &Self, context: &Context) -> f64 {
        if !old
            .build_plan_type
            .eq_ignore_ascii_case(&new.build_plan_type)
        {
            return 0.0;
        }
        let a: std::collections::HashSet<String> = old
            .steps
            .iter()
            .map(|s| context.step_key(s, true))
            .collect();
        let b: std::collections::HashSet<String> = new
            .steps
            .iter()
            .map(|s| context.step_key(s, false))
            .collect();
        let union = a.union(&b).count();
        if union == 0 {
            0.0
        } else {
            a.intersection(&b).count() as f64 / union as f64
        }
    }
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn details(old: &Self, new: &Self, context: &Context) -> (Vec<String>, Option<String>) {
        let mut details = Vec::new();
        field(
            &mut details,
            "type",
            &old.build_plan_type,
            &new.build_plan_type,
        );
        field(
            &mut details,
            "description",
            text(&old.description),
            text(&new.description),
        );
        // Steps are compared by the identity of the plan script they run, so a renamed script
        // is reported once (under plan scripts), not as a removed and an added step.
        let old_keys: Vec<String> = old
            .steps
            .iter()
            .map(|s| context.step_key(s, true))
            .collect();
        let new_keys: Vec<String> = new
            .steps
            .iter()
            .map(|s| context.step_key(s, false))
            .collect();
        if old_keys != new_keys {
            let mut old_sorted = old_keys.clone();
            let mut new_sorted = new_keys.clone();
            old_sorted.sort_unstable();
            new_sorted.sort_unstable();
            let names = |plan: &BuildPlan| {
                plan.steps
                    .iter()
                    .map(|s| s.plan_script_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if old_sorted == new_sorted {
                details.push(format!("steps reordered: {} → {}", names(old), names(new)));
            } else {
                for op in
                    similar::capture_diff_slices(similar::Algorithm::Myers, &old_keys, &new_keys)
                {
                    for change in op.iter_changes(&old_keys, &new_keys) {
                        match (change.tag(), change.old_index(), change.new_index()) {
                            (similar::ChangeTag::Delete, Some(i), _) => details.push(format!(
                                "step removed: {:?} (was {})",
                                old.steps[i].plan_script_name,
                                i + 1
                            )),
                            (similar::ChangeTag::Insert, _, Some(i)) => details.push(format!(
                                "step added: {:?} at {}",
                                new.steps[i].plan_script_name,
                                i + 1
                            )),
                            _ => {}
                        }
                    }
                }
            }
        }
        attribute_details(&mut details, &old.custom_attributes, &new.custom_attributes);
        (details, None)
    }
}

impl Artifact for DeploymentPlan {
    fn id(&self) -> &str {
        &self.id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn details(old: &Self, new: &Self, _context: &Context) -> (Vec<String>, Option<String>) {
        let mut details = Vec::new();
        field(
            &mut details,
            "description",
            text(&old.description),
            text(&new.description),
        );
        field(&mut details, "build plan", &old.build_plan, &new.build_plan);
        field(
            &mut details,
            "golden image",
            old.golden_image_name().unwrap_or(""),
            new.golden_image_name().unwrap_or(""),
        );
        attribute_details(&mut details, &old.custom_attributes, &new.custom_attributes);
        (details, None)
    }
}

impl Artifact for GoldenImageEntry {
    fn id(&self) -> &str {
        &self.image.id
    }
    fn name(&self) -> &str {
        &self.image.name
    }
    fn details(old: &Self, new: &Self, _context: &Context) -> (Vec<String>, Option<String>) {
        let mut details = Vec::new();
        field(
            &mut details,
            "description",
            text(&old.image.description),
            text(&new.image.description),
        );
        let size = |g: &GoldenImageEntry| match &g.payload {
            Some(super::Payload::ZipEntry { size, .. }) => size.to_string(),
            Some(super::Payload::File(path)) => std::fs::metadata(path)
                .map(|m| m.len().to_string())
                .unwrap_or_default(),
            None => "none".to_string(),
        };
        field(&mut details, "payload size", &size(old), &size(new));
        (details, None)
    }
}

fn diff_artifacts<T: Artifact>(
    old: &[T],
    new: &[T],
    context: &Context,
) -> (Vec<ArtifactChange>, Vec<(usize, usize)>) {
    let mut changes = Vec::new();
    let (old_partner, new_matched) = match_artifacts(old, new, context);
    for (i, o) in old.iter().enumerate() {
        match old_partner[i] {
            None => changes.push(ArtifactChange {
                change: ChangeKind::Removed,
                name: o.name().to_string(),
                old_name: None,
                id: o.id().to_string(),
                details: Vec::new(),
                content_diff: None,
            }),
            Some(j) => changes.extend(paired_change(o, &new[j], context)),
        }
    }
    for (_, n) in new.iter().enumerate().filter(|(j, _)| !new_matched[*j]) {
        changes.push(ArtifactChange {
            change: ChangeKind::Added,
            name: n.name().to_string(),
            old_name: None,
            id: n.id().to_string(),
            details: Vec::new(),
            content_diff: None,
        });
    }
    let pairs = old_partner
        .iter()
        .enumerate()
        .filter_map(|(i, j)| j.map(|j| (i, j)))
        .collect();
    (changes, pairs)
}

/// Pairs old artifacts with new ones: by id, by name, by unversioned name, then by similarity.
/// Returns each old artifact's partner and which new artifacts have one.
fn match_artifacts<T: Artifact>(
    old: &[T],
    new: &[T],
    context: &Context,
) -> (Vec<Option<usize>>, Vec<bool>) {
    let mut new_matched = vec![false; new.len()];
    let mut old_partner: Vec<Option<usize>> = vec![None; old.len()];
    let mut pair = |same: &dyn Fn(&T, &T) -> bool| {
        for (i, o) in old.iter().enumerate() {
            if old_partner[i].is_none()
                && let Some(j) = (0..new.len()).find(|&j| !new_matched[j] && same(o, &new[j]))
            {
                new_matched[j] = true;
                old_partner[i] = Some(j);
            }
        }
    };
    pair(&|o, n| n.id().eq_ignore_ascii_case(o.id()));
    pair(&|o, n| n.name() == o.name());
    // Versioned names ("2018-03-15-X", "X - 2018-03-15") match their unversioned base.
    pair(&|o, n| base_name(n.name()) == base_name(o.name()));
    // Then the most alike remaining pairs, best first.
    let old_left: Vec<usize> = (0..old.len())
        .filter(|&i| old_partner[i].is_none())
        .collect();
    let new_left: Vec<usize> = (0..new.len()).filter(|&j| !new_matched[j]).collect();
    if old_left.len() * new_left.len() <= MAX_SIMILARITY_PAIRS {
        let mut scored: Vec<(f64, usize, usize)> = old_left
            .iter()
            .flat_map(|&i| new_left.iter().map(move |&j| (i, j)))
            .map(|(i, j)| (T::similarity(&old[i], &new[j], context), i, j))
            .filter(|(score, _, _)| *score >= RENAME_SIMILARITY)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        for (_, i, j) in scored {
            if old_partner[i].is_none() && !new_matched[j] {
                new_matched[j] = true;
                old_partner[i] = Some(j);
            }
        }
    }
    (old_partner, new_matched)
}

/// The change between an old artifact and its new partner, if any (renamed or changed).
fn paired_change<T: Artifact>(o: &T, n: &T, context: &Context) -> Option<ArtifactChange> {
    let (mut details, content_diff) = T::details(o, n, context);
    if !n.id().eq_ignore_ascii_case(o.id()) {
        details.insert(0, format!("uuid: {} → {}", o.id(), n.id()));
    }
    let renamed = n.name() != o.name();
    (renamed || !details.is_empty()).then(|| ArtifactChange {
        change: if renamed {
            ChangeKind::Renamed
        } else {
            ChangeKind::Changed
        },
        name: n.name().to_string(),
        old_name: renamed.then(|| o.name().to_string()),
        id: n.id().to_string(),
        details,
        content_diff,
    })
}

/// A name without a date-version prefix (`2018-03-15-`) or suffix (` - 2018-03-15`, `_2018-03-15`).
fn base_name(name: &str) -> &str {
    static VERSIONED: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"^(?:\d{4}-\d{2}-\d{2}[-_ ]+)?(.*?)(?:\s*[-_ ]\s*v?\d{4}[-.]\d{2}[-.]\d{2})?$",
        )
        .expect("pattern")
    });
    VERSIONED
        .captures(name)
        .and_then(|c| c.get(1))
        .map_or(name, |m| m.as_str())
}

pub fn diff(old: &Bundle, new: &Bundle) -> BundleDiff {
    let mut manifest = Vec::new();
    let mut field = |name: &str, a: String, b: String| {
        if a != b {
            manifest.push(FieldChange {
                field: name.to_string(),
                old: a,
                new: b,
            });
        }
    };
    let (a, b) = (&old.manifest, &new.manifest);
    field(
        "Artifact Name",
        a.artifact_name.clone(),
        b.artifact_name.clone(),
    );
    field("Description", a.description.clone(), b.description.clone());
    field(
        "Read Only",
        a.read_only.to_string(),
        b.read_only.to_string(),
    );
    field("Time Stamp", a.time_stamp.clone(), b.time_stamp.clone());
    field(
        "Artifact Type",
        a.artifact_type.clone(),
        b.artifact_type.clone(),
    );
    field(
        "checksum",
        old.checksum.to_string(),
        new.checksum.to_string(),
    );
    let mut context = Context::default();
    let (plan_scripts, pairs) = diff_artifacts(&old.plan_scripts, &new.plan_scripts, &context);
    for (i, j) in pairs {
        context.script_partner.insert(
            old.plan_scripts[i].id.to_ascii_lowercase(),
            new.plan_scripts[j].id.to_ascii_lowercase(),
        );
    }
    BundleDiff {
        manifest,
        plan_scripts,
        build_plans: diff_artifacts(&old.build_plans, &new.build_plans, &context).0,
        deployment_plans: diff_artifacts(&old.deployment_plans, &new.deployment_plans, &context).0,
        golden_images: diff_artifacts(&old.golden_images, &new.golden_images, &context).0,
        entries: Vec::new(),
    }
}

/// [`diff`] of two bundles as read, plus every entry change the artifact-level diff does not
/// account for. Content is compared per kind: JSON artifacts as JSON values (key order and
/// whitespace are not content; every key is), the checksum file by the entries it lists (its
/// digests follow from the entries, compared themselves), MANIFEST.MF and unknown entries byte
/// for byte (by digest when both were hashed in one flavour, else by size and CRC-32), golden
/// image payloads by size, CRC-32 and, when hashed, digest.
pub fn diff_loaded(old: &LoadedBundle, new: &LoadedBundle) -> BundleDiff {
    let mut changes = diff(&old.bundle, &new.bundle);
    changes.entries = entry_changes(old, new, &changes);
    changes
}

/// One bundle's entries by name, for constant-time lookups (bundles may hold 100,000 entries).
struct Side<'a> {
    loaded: &'a LoadedBundle,
    records: BTreeMap<&'a str, &'a EntryRecord>,
    raw: HashMap<&'a str, &'a [u8]>,
}

impl<'a> Side<'a> {
    fn new(loaded: &'a LoadedBundle) -> Self {
        Side {
            loaded,
            records: loaded
                .entries
                .iter()
                .map(|e| (e.name.as_str(), e))
                .collect(),
            raw: loaded
                .raw
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice()))
                .collect(),
        }
    }
    /// What decides whether an entry's bytes are the same: size, CRC-32 and the bytes when held.
    fn identity(&self, entry: &str) -> Option<(u64, u32, Option<&'a [u8]>)> {
        self.records
            .get(entry)
            .map(|e| (e.size, e.zip.crc32, self.raw.get(entry).copied()))
    }
}

fn entry_changes(
    old: &LoadedBundle,
    new: &LoadedBundle,
    modelled: &BundleDiff,
) -> Vec<EntryChange> {
    let (a, b) = (Side::new(old), Side::new(new));
    let mut found = Vec::new();
    let mut names: Vec<&str> = a.records.keys().chain(b.records.keys()).copied().collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let (change, detail) = match (a.records.get(name), b.records.get(name)) {
            (Some(_), None) => (ChangeKind::Removed, "only in the old bundle".to_string()),
            (None, Some(_)) => (ChangeKind::Added, "only in the new bundle".to_string()),
            (Some(x), Some(y)) => match content_difference(&a, x, &b, y) {
                Some(detail) => (ChangeKind::Changed, detail),
                None => continue,
            },
            (None, None) => continue,
        };
        found.push(EntryChange {
            change,
            entry: name.to_string(),
            detail,
        });
    }
    // What the artifact-level diff already shows is not repeated.
    let explained = explained_entries(modelled);
    let membership_changed = found.iter().any(|c| c.change != ChangeKind::Changed);
    found.retain(|c| {
        let kind = EntryKind::of(&c.entry);
        !(explained.contains(&c.entry.to_ascii_lowercase())
            || (kind == EntryKind::Checksum && membership_changed))
    });
    found
}

/// Entry names (lower case) the artifact and manifest changes account for.
fn explained_entries(modelled: &BundleDiff) -> HashSet<String> {
    let mut names = HashSet::new();
    let kinds = [
        (EntryKind::PlanScript, &modelled.plan_scripts),
        (EntryKind::BuildPlan, &modelled.build_plans),
        (EntryKind::DeploymentPlan, &modelled.deployment_plans),
        (EntryKind::GoldenImage, &modelled.golden_images),
    ];
    for (kind, changes) in kinds {
        for change in changes {
            for detail in &change.details {
                // `uuid: OLD → NEW`: the old entry is accounted for as well.
                if let Some((old_id, _)) = detail
                    .strip_prefix("uuid: ")
                    .and_then(|d| d.split_once(" → "))
                {
                    names.extend(kind.entry_name(old_id));
                }
            }
            names.extend(kind.entry_name(&change.id));
            if kind == EntryKind::GoldenImage {
                // The payload entry is named after the image.
                names.insert(change.name.to_ascii_lowercase());
                names.extend(change.old_name.as_ref().map(|n| n.to_ascii_lowercase()));
            }
        }
    }
    if !modelled.manifest.is_empty() {
        names.insert(super::manifest::MANIFEST_ENTRY.to_ascii_lowercase());
    }
    names
}

/// How two checksum files of one flavour differ: other entries listed, or another digest for an
/// entry whose bytes are the same in both bundles (a digest of an entry that differs follows from
/// that entry, which is compared itself).
fn checksum_difference(old: &Side, new: &Side, name: &str) -> Option<String> {
    let lines = |side: &Side| -> BTreeMap<String, String> {
        side.loaded
            .checksum_files
            .iter()
            .filter(|f| f.flavour.file_name() == name)
            .flat_map(|f| f.lines.iter().map(|l| (l.entry.clone(), l.digest.clone())))
            .collect()
    };
    let (a, b) = (lines(old), lines(new));
    if !a.keys().eq(b.keys()) {
        return Some("lists other entries".to_string());
    }
    a.iter()
        .find(|(entry, digest)| {
            b.get(*entry) != Some(*digest)
                && old.identity(entry).is_some()
                && old.identity(entry) == new.identity(entry)
        })
        .map(|(entry, _)| format!("lists another digest for {entry}, whose bytes are the same"))
}

/// Why two same-named entries differ, or `None` when their content is the same.
fn content_difference(old: &Side, a: &EntryRecord, new: &Side, b: &EntryRecord) -> Option<String> {
    let (bytes_a, bytes_b) = (old.raw.get(a.name.as_str()), new.raw.get(b.name.as_str()));
    let is_artifact = EntryKind::ARTIFACTS.iter().any(|(k, _, _)| *k == a.kind);
    if is_artifact && a.kind == b.kind {
        if bytes_a == bytes_b {
            return None;
        }
        let parse = |bytes: Option<&&[u8]>| {
            bytes.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        };
        return match (parse(bytes_a), parse(bytes_b)) {
            (Some(x), Some(y)) if x == y => None,
            (Some(_), Some(_)) => {
                Some("JSON content differs (no modelled field shows it)".to_string())
            }
            _ => Some("bytes differ".to_string()),
        };
    }
    if a.kind == EntryKind::Checksum && b.kind == EntryKind::Checksum {
        return checksum_difference(old, new, &a.name);
    }
    if a.kind == EntryKind::Manifest {
        return (bytes_a != bytes_b).then(|| "bytes differ".to_string());
    }
    let same_digest = match (&a.digest, &b.digest) {
        (Some(x), Some(y)) if old.loaded.bundle.checksum == new.loaded.bundle.checksum => x == y,
        _ => true,
    };
    if a.size != b.size {
        Some(format!("{} → {} bytes", a.size, b.size))
    } else if a.zip.crc32 != b.zip.crc32 || !same_digest {
        Some("bytes differ (same size)".to_string())
    } else {
        None
    }
}

impl std::fmt::Display for BundleDiff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in &self.manifest {
            writeln!(f, "manifest {}: {:?} → {:?}", c.field, c.old, c.new)?;
        }
        for (kind, c) in self.artifact_changes() {
            match c.change {
                ChangeKind::Added => writeln!(f, "{kind} added: {:?}", c.name)?,
                ChangeKind::Removed => writeln!(f, "{kind} removed: {:?}", c.name)?,
                ChangeKind::Renamed => writeln!(
                    f,
                    "{kind} renamed: {:?} → {:?}",
                    c.old_name.as_deref().unwrap_or(""),
                    c.name
                )?,
                ChangeKind::Changed => writeln!(f, "{kind} changed: {:?}", c.name)?,
            }
            for d in &c.details {
                writeln!(f, "    {d}")?;
            }
            if let Some(diff) = &c.content_diff {
                for line in diff.lines() {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        for c in &self.entries {
            let change = match c.change {
                ChangeKind::Added => "added",
                ChangeKind::Removed => "removed",
                _ => "changed",
            };
            writeln!(f, "entry {change}: {:?} ({})", c.entry, c.detail)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base_name_strips_date_versions() {
        assert_eq!(
            super::base_name("2018-03-15-HudsonAlpha_prep"),
            "HudsonAlpha_prep"
        );
        assert_eq!(
            super::base_name("Org - CentOS - Docker - 2026-11-26"),
            "Org - CentOS - Docker"
        );
        assert_eq!(super::base_name("HudsonAlpha_prep"), "HudsonAlpha_prep");
    }
}
