//! `status`: what the appliance holds against the given bundles, artifact by artifact — equal,
//! changed (the fields publish would write, found by publish's own comparison), missing, or extra
//! (listed by the appliance's copy of the bundle, no longer in the zip). Reads only.
//!
//! "In sync" means exactly "publish would change nothing", so the two never disagree: the
//! comparisons are `plan`'s (`plan_script_changes`, `build_plan_changes`, `desired_plan`), and a
//! changed artifact prints the way `i3s-bundle diff` prints one (`crate::bundle::diff`).
use super::inventory::{ARTIFACT_BUNDLES, Inventory, by_name, uri_of};
use super::plan::{build_plan_changes, desired_plan, plan_script_changes};
use super::report::{Change, Kind, text_diff};
use super::sameness::{self, Verdict, listed_names};
use super::source::BundleSource;
use crate::appliance::client::{Client, Host};
use crate::bundle::diff::{ArtifactChange, BundleDiff, ChangeKind};
use crate::error::Result;
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::path::PathBuf;

/// One artifact's standing on the appliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Equal,
    /// On the appliance with other values: `changes` says which (appliance → bundle).
    Changed,
    /// In the bundle, not on the appliance.
    Missing,
    /// On the appliance's copy of the bundle, not in the zip.
    Extra,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ArtifactStatus {
    pub kind: Kind,
    pub name: String,
    pub state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// Field by field: `from` the appliance's value, `to` the bundle's (as publish reports them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BundleStatus {
    pub bundle: String,
    pub path: PathBuf,
    pub artifacts: Vec<ArtifactStatus>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StatusReport {
    /// No artifact changed, missing or extra.
    pub in_sync: bool,
    pub bundles: Vec<BundleStatus>,
}

/// Compares each bundle with what the appliance holds (one listing per resource kind).
pub fn status(client: &Client, sources: &[BundleSource]) -> Result<StatusReport> {
    let inventory = Inventory::load(client)?;
    let published = client.list(Host::ImageStreamer, ARTIFACT_BUNDLES, None)?;
    let mut bundles = Vec::new();
    for source in sources {
        let on_appliance = by_name(&published, &source.name, "artifact bundle")?;
        bundles.push(BundleStatus {
            bundle: source.name.clone(),
            path: source.path.clone(),
            artifacts: bundle_artifacts(source, on_appliance, &inventory)?,
        });
    }
    let in_sync = bundles
        .iter()
        .flat_map(|b| &b.artifacts)
        .all(|a| a.state == State::Equal);
    Ok(StatusReport { in_sync, bundles })
}

fn row(kind: Kind, name: &str, current: Option<&Value>, changes: Vec<Change>) -> ArtifactStatus {
    let state = match (current, changes.is_empty()) {
        (None, _) => State::Missing,
        (Some(_), true) => State::Equal,
        (Some(_), false) => State::Changed,
    };
    ArtifactStatus {
        kind,
        name: name.to_string(),
        state,
        uri: current.and_then(uri_of),
        changes,
    }
}

/// The bundle itself, then its plan scripts, build plans, golden images, deployment plans, then
/// what the appliance's copy lists beyond them.
fn bundle_artifacts(
    source: &BundleSource,
    on_appliance: Option<&Value>,
    inventory: &Inventory,
) -> Result<Vec<ArtifactStatus>> {
    let ours = &source.bundle;
    let mut rows = vec![bundle_row(source, on_appliance, inventory)];
    for script in &ours.plan_scripts {
        let current = by_name(&inventory.plan_scripts, &script.name, "plan script")?;
        let changes = current.map_or_else(Vec::new, |c| plan_script_changes(c, script));
        rows.push(row(Kind::PlanScript, &script.name, current, changes));
    }
    for plan in &ours.build_plans {
        let current = by_name(&inventory.build_plans, &plan.name, "build plan")?;
        let changes = current.map_or_else(Vec::new, |c| build_plan_changes(c, plan));
        rows.push(row(Kind::BuildPlan, &plan.name, current, changes));
    }
    for image in &ours.golden_images {
        let name = &image.image.name;
        let current = by_name(&inventory.golden_images, name, "golden image")?;
        rows.push(row(Kind::GoldenImage, name, current, vec![]));
    }
    for plan in &ours.deployment_plans {
        let current = by_name(&inventory.deployment_plans, &plan.name, "deployment plan")?;
        // Pending: what the bundle carries but the appliance lacks shows as "created by the
        // extract" instead of failing the comparison.
        let desired = desired_plan(source, &plan.name, inventory, true)?;
        let changes = current.map_or_else(Vec::new, |c| desired.changes_from(c));
        rows.push(row(Kind::DeploymentPlan, &plan.name, current, changes));
    }
    if let Some(bundle) = on_appliance {
        rows.extend(extra_rows(bundle, &rows, inventory));
    }
    Ok(rows)
}

/// The bundle on the appliance: missing, equal, or changed when what it says about its content
/// (sameness: content tag, checksum, artifact listing) differs from the zip's.
fn bundle_row(
    source: &BundleSource,
    on_appliance: Option<&Value>,
    inventory: &Inventory,
) -> ArtifactStatus {
    let changes = match on_appliance.map(|b| sameness::decide(b, source, inventory)) {
        Some(Verdict::Different(why)) => vec![Change {
            field: "content".into(),
            from: json!(why),
            to: json!(format!("sha256 {}", source.sha256)),
        }],
        // Unknown: the appliance does not say enough; its artifacts' rows say what differs.
        _ => vec![],
    };
    row(Kind::ArtifactBundle, &source.name, on_appliance, changes)
}

/// Artifacts the appliance's copy of the bundle lists that the zip does not have.
fn extra_rows(
    bundle: &Value,
    rows: &[ArtifactStatus],
    inventory: &Inventory,
) -> Vec<ArtifactStatus> {
    let kinds = [
        (Kind::PlanScript, &inventory.plan_scripts),
        (Kind::BuildPlan, &inventory.build_plans),
        (Kind::GoldenImage, &inventory.golden_images),
        (Kind::DeploymentPlan, &inventory.deployment_plans),
    ];
    let mut extra = Vec::new();
    for (kind, list) in kinds {
        for name in listed_names(bundle, kind).unwrap_or_default() {
            if rows.iter().any(|r| r.kind == kind && r.name == name) {
                continue;
            }
            let current = by_name(list, &name, kind.label()).ok().flatten();
            extra.push(ArtifactStatus {
                kind,
                name,
                state: State::Extra,
                uri: current.and_then(uri_of),
                changes: vec![],
            });
        }
    }
    extra
}

impl StatusReport {
    /// The human report: one line per artifact; a changed one as `i3s-bundle diff` prints it
    /// (appliance side old, bundle side new).
    pub fn render(&self) -> String {
        let mut out = String::new();
        for bundle in &self.bundles {
            let _ = writeln!(out, "{} ({})", bundle.bundle, bundle.path.display());
            for artifact in &bundle.artifacts {
                render_artifact(&mut out, artifact);
            }
        }
        let count = |state: State| {
            self.bundles
                .iter()
                .flat_map(|b| &b.artifacts)
                .filter(|a| a.state == state)
                .count()
        };
        let _ = match self.in_sync {
            true => writeln!(out, "in sync: the appliance holds what the bundles say"),
            false => writeln!(
                out,
                "drift: {} changed, {} missing, {} extra (i3s-bundle publish writes the bundles' values)",
                count(State::Changed),
                count(State::Missing),
                count(State::Extra)
            ),
        };
        out
    }
}

fn render_artifact(out: &mut String, artifact: &ArtifactStatus) {
    let label = artifact.kind.label();
    let word = match artifact.state {
        State::Equal => "equal",
        State::Missing => "missing",
        State::Extra => "extra",
        State::Changed => {
            let _ = write!(out, "{}", as_diff(artifact));
            return;
        }
    };
    let _ = writeln!(out, "{label} {word}: {:?}", artifact.name);
}

/// A changed artifact as a one-artifact [`BundleDiff`], so it prints exactly as `diff` prints.
fn as_diff(artifact: &ArtifactStatus) -> String {
    let mut details = Vec::new();
    let mut content_diff = None;
    for change in &artifact.changes {
        match text_diff(change) {
            Some(diff) => {
                details.push(format!("{} changed", change.field));
                content_diff = Some(diff);
            }
            None => details.push(format!("{}: {} → {}", change.field, change.from, change.to)),
        }
    }
    let change = ArtifactChange {
        change: ChangeKind::Changed,
        name: artifact.name.clone(),
        old_name: None,
        id: artifact.uri.clone().unwrap_or_default(),
        details,
        content_diff,
    };
    let mut diff = BundleDiff::default();
    match artifact.kind {
        Kind::PlanScript => diff.plan_scripts.push(change),
        Kind::BuildPlan => diff.build_plans.push(change),
        Kind::DeploymentPlan => diff.deployment_plans.push(change),
        // `diff` has no heading for these: printed in its format under their own label.
        Kind::GoldenImage | Kind::ArtifactBundle | Kind::ServerProfileTemplate => {
            return format!(
                "{} changed: {:?}\n{}",
                artifact.kind.label(),
                artifact.name,
                change
                    .details
                    .iter()
                    .map(|d| format!("    {d}\n"))
                    .collect::<String>()
            );
        }
    }
    diff.to_string()
}
