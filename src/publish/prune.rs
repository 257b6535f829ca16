//! `prune`: delete published bundle versions beyond the newest N per bundle name, and the
//! artifacts only they brought — never one still in use.
//!
//! A bundle's versions are the artifact bundles named `<name>_<version>` (how `build` names them,
//! `build::naming::artifact_name`; publish names a bundle after its zip), ordered by version.
//! What a version brought is what the appliance lists for it (`sameness::listed_names`); an
//! artifact another remaining bundle also lists stays. In use, and so kept with the reason: a
//! deployment plan a server profile template or server profile points at (through OneView's
//! OS deployment plan), a build plan or golden image a remaining deployment plan names, a plan
//! script a remaining build plan runs.
//!
//! Safe to run again after a failure midway: deletions go users first (deployment plans, build
//! plans, plan scripts, golden images) and the bundles last, so a bundle still lists what it
//! brought until all of it is gone; a run after an interruption plans again from what is left.
use super::inventory::{ARTIFACT_BUNDLES, Inventory, uri_of};
use super::report::{Kind, Outcome};
use super::sameness::listed_names;
use crate::appliance::api::{OS_DEPLOYMENT_PLANS, SERVER_PROFILE_TEMPLATES, SERVER_PROFILES};
use crate::appliance::client::{Client, Host};
use crate::build::naming::{compare_versions, split_versioned};
use crate::error::{Context, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use ureq::http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PruneAction {
    Delete,
    Keep,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PruneRow {
    pub kind: Kind,
    pub name: String,
    pub action: PruneAction,
    pub uri: Option<String>,
    /// Why it goes or why it stays ("used by server profile template …").
    pub reason: String,
    /// Done (false in a dry run, after a failure, and for what stays).
    pub applied: bool,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PruneReport {
    pub dry_run: bool,
    pub keep: usize,
    pub outcome: Outcome,
    /// True when anything was (or, in a dry run, would be) deleted.
    pub changed: bool,
    pub objects: Vec<PruneRow>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Plans, then (unless `dry_run`) deletes in order; the report says what was done before a
/// failure.
pub fn prune(client: &Client, keep: usize, dry_run: bool) -> PruneReport {
    let mut report = PruneReport {
        dry_run,
        keep,
        outcome: Outcome::Done,
        changed: false,
        objects: Vec::new(),
        error: None,
    };
    let result = plan(client, keep).and_then(|rows| {
        report.objects = rows;
        if dry_run {
            Ok(())
        } else {
            apply(client, &mut report.objects)
        }
    });
    if let Err(error) = result {
        report.outcome = Outcome::Failed;
        report.error = Some(error.to_string());
    }
    report.changed = report
        .objects
        .iter()
        .any(|o| o.action == PruneAction::Delete && (o.applied || dry_run));
    report
}

/// The deletions in dependency order (users before what they use), bundles last.
const ORDER: [Kind; 5] = [
    Kind::DeploymentPlan,
    Kind::BuildPlan,
    Kind::PlanScript,
    Kind::GoldenImage,
    Kind::ArtifactBundle,
];

fn apply(client: &Client, rows: &mut [PruneRow]) -> Result<()> {
    for kind in ORDER {
        for row in rows.iter_mut() {
            if row.kind != kind || row.action != PruneAction::Delete {
                continue;
            }
            let Some(uri) = row.uri.clone() else { continue };
            match client.write(Method::DELETE, Host::ImageStreamer, &uri, None) {
                Ok(_) => {}
                // Gone already (a lost answer before): what was wanted.
                Err(e) if e.status() == Some(404) => {}
                Err(e) => {
                    return Err(e)
                        .context(|| format!("deleting {} {:?} ({uri})", kind.label(), row.name));
                }
            }
            row.applied = true;
        }
    }
    Ok(())
}

/// What goes and what stays (and why), from one listing of each kind.
fn plan(client: &Client, keep: usize) -> Result<Vec<PruneRow>> {
    let bundles = client.list(Host::ImageStreamer, ARTIFACT_BUNDLES, None)?;
    let (doomed, kept) = split_versions(&bundles, keep);
    let mut rows: Vec<PruneRow> = Vec::new();
    for (bundle, reason) in &kept {
        rows.push(bundle_row(bundle, PruneAction::Keep, reason.clone()));
    }
    if doomed.is_empty() {
        return Ok(rows);
    }
    let inventory = Inventory::load(client)?;
    let users = template_users(client)?;
    let remaining: Vec<&Value> = kept.iter().map(|(b, _)| *b).collect();
    let mut gone = Gone::default();
    for kind in &ORDER[..4] {
        for (name, by) in brought_only_by(&doomed, &remaining, *kind) {
            let Some(object) = find(&inventory, *kind, &name) else {
                continue; // already deleted (an earlier run stopped midway)
            };
            let uri = uri_of(object);
            let (action, reason) = match in_use(*kind, object, &inventory, &users, &gone) {
                Some(why) => (PruneAction::Keep, format!("brought by {by}, but {why}")),
                None => (PruneAction::Delete, format!("brought only by {by}")),
            };
            if action == PruneAction::Delete {
                gone.uris.extend(uri.clone());
            }
            rows.push(PruneRow {
                kind: *kind,
                name,
                action,
                uri,
                reason,
                applied: false,
            });
        }
    }
    for bundle in &doomed {
        let reason = "an older version beyond --keep".to_string();
        rows.push(bundle_row(bundle, PruneAction::Delete, reason));
    }
    Ok(rows)
}

fn bundle_row(bundle: &Value, action: PruneAction, reason: String) -> PruneRow {
    PruneRow {
        kind: Kind::ArtifactBundle,
        name: name_of(bundle).to_string(),
        action,
        uri: uri_of(bundle),
        reason,
        applied: false,
    }
}

fn name_of(value: &Value) -> &str {
    value
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The versioned bundles beyond the newest `keep` of each name (oldest first), and every other
/// bundle with why it stays.
fn split_versions(bundles: &[Value], keep: usize) -> (Vec<&Value>, Vec<(&Value, String)>) {
    let mut by_name: BTreeMap<&str, Vec<(&str, &Value)>> = BTreeMap::new();
    let mut kept = Vec::new();
    for bundle in bundles {
        match split_versioned(name_of(bundle)) {
            (base, Some(version)) => by_name.entry(base).or_default().push((version, bundle)),
            (_, None) => kept.push((bundle, "not a versioned name (<name>_<version>)".into())),
        }
    }
    let mut doomed = Vec::new();
    for (base, mut versions) in by_name {
        versions.sort_by(|a, b| compare_versions(a.0, b.0));
        let cut = versions.len().saturating_sub(keep);
        for (i, (_, bundle)) in versions.into_iter().enumerate() {
            match i < cut {
                true => doomed.push(bundle),
                false => kept.push((bundle, format!("one of the newest {keep} of {base}"))),
            }
        }
    }
    (doomed, kept)
}

/// The names of `kind` the doomed bundles list and no remaining bundle does, each with the
/// doomed bundles that brought it.
fn brought_only_by(doomed: &[&Value], remaining: &[&Value], kind: Kind) -> Vec<(String, String)> {
    let still: BTreeSet<String> = remaining
        .iter()
        .flat_map(|b| listed_names(b, kind).unwrap_or_default())
        .collect();
    let mut brought: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for bundle in doomed {
        for name in listed_names(bundle, kind).unwrap_or_default() {
            if !still.contains(&name) {
                brought.entry(name).or_default().push(name_of(bundle));
            }
        }
    }
    brought
        .into_iter()
        .map(|(name, by)| (name, by.join(", ")))
        .collect()
}

fn list_of(inventory: &Inventory, kind: Kind) -> &[Value] {
    match kind {
        Kind::PlanScript => &inventory.plan_scripts,
        Kind::BuildPlan => &inventory.build_plans,
        Kind::GoldenImage => &inventory.golden_images,
        Kind::DeploymentPlan => &inventory.deployment_plans,
        Kind::ArtifactBundle | Kind::ServerProfileTemplate => &[],
    }
}

/// The first object of that name (duplicates cannot be told apart here: the first is kept
/// track of, the others are not this tool's).
fn find<'a>(inventory: &'a Inventory, kind: Kind, name: &str) -> Option<&'a Value> {
    list_of(inventory, kind).iter().find(|v| name_of(v) == name)
}

/// URIs planned for deletion: what uses only them is free to go too.
#[derive(Default)]
struct Gone {
    uris: BTreeSet<String>,
}

/// Server profile templates and server profiles by the deployment plan they use (its
/// Image Streamer name): (kind, name) of each user.
fn template_users(client: &Client) -> Result<BTreeMap<String, Vec<String>>> {
    let os_plans = client.list(Host::OneView, OS_DEPLOYMENT_PLANS, None)?;
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (collection, label) in [
        (SERVER_PROFILE_TEMPLATES, "server profile template"),
        (SERVER_PROFILES, "server profile"),
    ] {
        for user in client.list(Host::OneView, collection, None)? {
            let Some(plan_uri) = user
                .pointer("/osDeploymentSettings/osDeploymentPlanUri")
                .and_then(Value::as_str)
                .filter(|u| !u.is_empty())
            else {
                continue;
            };
            // OneView's OS deployment plan carries the Image Streamer plan's name.
            let plan = os_plans
                .iter()
                .find(|p| p.get("uri").and_then(Value::as_str) == Some(plan_uri))
                .map(|p| name_of(p).to_string());
            if let Some(plan) = plan {
                let entry = format!("{label} {:?}", name_of(&user));
                users.entry(plan).or_default().push(entry);
            }
        }
    }
    Ok(users)
}

/// Why `object` must stay, if it must: its users that are not going.
fn in_use(
    kind: Kind,
    object: &Value,
    inventory: &Inventory,
    templates: &BTreeMap<String, Vec<String>>,
    gone: &Gone,
) -> Option<String> {
    let uri = uri_of(object).unwrap_or_default();
    let staying = |users: &[Value]| -> Vec<String> {
        users
            .iter()
            .filter(|u| !uri_of(u).is_some_and(|v| gone.uris.contains(&v)))
            .map(|u| format!("{:?}", name_of(u)))
            .collect()
    };
    let (what, users) = match kind {
        Kind::DeploymentPlan => {
            let users = templates.get(name_of(object)).cloned().unwrap_or_default();
            return (!users.is_empty()).then(|| format!("used by {}", users.join(", ")));
        }
        Kind::BuildPlan => (
            "deployment plan",
            users_of(&inventory.deployment_plans, &["oeBuildPlanURI"], &uri),
        ),
        Kind::GoldenImage => (
            "deployment plan",
            users_of(&inventory.deployment_plans, &["goldenImageURI"], &uri),
        ),
        Kind::PlanScript => ("build plan", script_users(&inventory.build_plans, object)),
        Kind::ArtifactBundle | Kind::ServerProfileTemplate => return None,
    };
    let names = staying(&users);
    (!names.is_empty()).then(|| format!("{what} {} uses it", names.join(", ")))
}

/// The objects whose `fields` hold `uri`.
fn users_of(list: &[Value], fields: &[&str], uri: &str) -> Vec<Value> {
    list.iter()
        .filter(|v| {
            fields
                .iter()
                .any(|f| v.get(*f).and_then(Value::as_str) == Some(uri))
        })
        .cloned()
        .collect()
}

/// The build plans with a step running `script` (by URI, else by name).
fn script_users(build_plans: &[Value], script: &Value) -> Vec<Value> {
    let uri = uri_of(script).unwrap_or_default();
    build_plans
        .iter()
        .filter(|plan| {
            plan.get("buildStep")
                .and_then(Value::as_array)
                .is_some_and(|steps| {
                    steps.iter().any(|s| {
                        s.get("planScriptUri").and_then(Value::as_str) == Some(uri.as_str())
                            || s.get("planScriptName").and_then(Value::as_str)
                                == Some(name_of(script))
                    })
                })
        })
        .cloned()
        .collect()
}

impl PruneReport {
    /// The human report: what goes (or went), what stays and why.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for o in &self.objects {
            let state = match (o.action, o.applied, self.dry_run) {
                (PruneAction::Keep, _, _) => "keep",
                (PruneAction::Delete, true, _) => "deleted",
                (PruneAction::Delete, false, true) => "delete (planned)",
                (PruneAction::Delete, false, false) => "delete (NOT done)",
            };
            let _ = writeln!(
                out,
                "{:<17} {:<17} {}  ({})",
                o.kind.label(),
                state,
                o.name,
                o.reason
            );
        }
        let deleted = self
            .objects
            .iter()
            .filter(|o| o.action == PruneAction::Delete && (o.applied || self.dry_run))
            .count();
        let _ = match (&self.error, self.dry_run) {
            (Some(error), _) => writeln!(
                out,
                "FAILED: {error}\nrun prune again: it continues from what is left"
            ),
            (None, true) => writeln!(out, "dry run: {deleted} to delete, nothing written"),
            (None, false) => writeln!(out, "pruned: {deleted} deleted"),
        };
        out
    }
}
