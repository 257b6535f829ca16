//! Is the bundle of that name on the appliance the one we would upload? Decided from what the
//! appliance already says whenever it says enough; downloading the bundle (gigabytes when it
//! carries golden images) is the caller's last resort for [`Verdict::Unknown`].
//!
//! In order:
//! 1. the `[i3s-bundle sha256:…]` tag publish leaves in the description;
//! 2. `checkSum` equal to the zip's sha256 (what the appliance computes there is unconfirmed,
//!    docs/appliance-api.md §3.1, so only an exact match counts, a mismatch proves nothing);
//! 3. the artifacts: the bundle resource lists what its zip holds (docs/appliance-api.md §3.1
//!    `planScripts`, `buildPlans`, `deploymentPlans`, `goldenimage`). Other names there: other
//!    content. The same names, with every plan script and build plan of the appliance equal to ours
//!    (content, type, steps, attributes) and every deployment plan listed with our build plan and
//!    golden image: the same as far as publishing goes — extracting ours would change nothing. A
//!    golden image the bundle carries counts as the same when the appliance's `checkSum` for it
//!    equals the sha256 of our payload (what a real appliance puts there is unconfirmed: anything
//!    else leaves the question open).
use super::compare::{attribute_changes, field_changes};
use super::inventory::{Inventory, by_name};
use super::report::Kind;
use super::source::{self, BundleSource};
use crate::bundle::Bundle;
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Same(&'static str),
    Different(String),
    /// The appliance does not say enough: download and hash.
    Unknown(String),
}

pub fn decide(bundle: &Value, source: &BundleSource, inventory: &Inventory) -> Verdict {
    let text = |key: &str| bundle.get(key).and_then(Value::as_str).unwrap_or_default();
    if let Some(hash) = source::tagged_sha256(text("description")) {
        return if hash == source.sha256 {
            Verdict::Same("the content tag in its description")
        } else {
            Verdict::Different(format!("its content tag says sha256 {hash}"))
        };
    }
    if text("checkSum").eq_ignore_ascii_case(&source.sha256) {
        return Verdict::Same("its checkSum");
    }
    by_artifacts(bundle, source, inventory)
}

/// Names listed under `key` (each item's `field`), sorted; `None` when the key is absent.
fn listed(bundle: &Value, keys: &[&str], field: &str) -> Option<Vec<String>> {
    let items = keys
        .iter()
        .find_map(|k| bundle.get(*k).and_then(Value::as_array))?;
    let mut names: Vec<String> = items
        .iter()
        .map(|i| {
            i.get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    names.sort();
    Some(names)
}

/// The names of the artifacts of `kind` an artifact bundle on the appliance lists (what its zip
/// brought, docs/appliance-api.md §3.1), sorted; `None` when the appliance does not list them.
/// Also what `status` calls extra and `prune` removes with a version.
pub fn listed_names(bundle: &Value, kind: Kind) -> Option<Vec<String>> {
    let (keys, field): (&[&str], &str) = match kind {
        Kind::PlanScript => (&["planScripts"], "planScriptName"),
        Kind::BuildPlan => (&["buildPlans"], "buildPlanName"),
        Kind::DeploymentPlan => (&["deploymentPlans"], "deploymentplanName"),
        Kind::GoldenImage => (&["goldenimage", "goldenImages"], "goldenimageName"),
        Kind::ArtifactBundle | Kind::ServerProfileTemplate => return None,
    };
    listed(bundle, keys, field)
}

fn sorted<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut names: Vec<String> = names.cloned().collect();
    names.sort();
    names
}

fn by_artifacts(bundle: &Value, source: &BundleSource, inventory: &Inventory) -> Verdict {
    listing_differs(bundle, &source.bundle)
        .or_else(|| image_differs(source, inventory))
        .or_else(|| artifact_differs(&source.bundle, inventory))
        .or_else(|| plan_listing_differs(bundle, &source.bundle))
        .unwrap_or(Verdict::Same("its artifacts, which equal the bundle's"))
}

/// The names the appliance lists for the bundle, kind by kind, against the bundle's.
fn listing_differs(bundle: &Value, ours: &Bundle) -> Option<Verdict> {
    let kinds = [
        (
            "plan scripts",
            listed_names(bundle, Kind::PlanScript),
            sorted(ours.plan_scripts.iter().map(|p| &p.name)),
        ),
        (
            "build plans",
            listed_names(bundle, Kind::BuildPlan),
            sorted(ours.build_plans.iter().map(|p| &p.name)),
        ),
        (
            "deployment plans",
            listed_names(bundle, Kind::DeploymentPlan),
            sorted(ours.deployment_plans.iter().map(|p| &p.name)),
        ),
        (
            "golden images",
            listed_names(bundle, Kind::GoldenImage),
            sorted(ours.golden_images.iter().map(|g| &g.image.name)),
        ),
    ];
    for (what, theirs, ours) in &kinds {
        match theirs {
            None => {
                return Some(Verdict::Unknown(format!(
                    "the appliance does not list the bundle's {what}"
                )));
            }
            Some(theirs) if theirs != ours => {
                return Some(Verdict::Different(format!(
                    "it holds other {what} ({} instead of {})",
                    theirs.join(", "),
                    ours.join(", ")
                )));
            }
            Some(_) => {}
        }
    }
    None
}

/// The golden images' checksums on the appliance against the payloads'.
fn image_differs(source: &BundleSource, inventory: &Inventory) -> Option<Verdict> {
    let ours = &source.bundle;
    for image in &ours.golden_images {
        let name = &image.image.name;
        let theirs = by_name(&inventory.golden_images, name, "golden image")
            .ok()
            .flatten()
            .and_then(|i| i.get("checkSum"))
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        match (theirs, source.payload_sha256.get(name)) {
            (Some(theirs), Some(ours)) if theirs == *ours => {}
            (Some(_), Some(_)) => return Some(unknown(format!("golden image {name:?}"))),
            _ => {
                return Some(Verdict::Unknown(format!(
                    "golden image {name:?} has no checksum to compare on both sides"
                )));
            }
        }
    }
    None
}

/// The plan scripts and build plans on the appliance against the bundle's.
fn artifact_differs(ours: &Bundle, inventory: &Inventory) -> Option<Verdict> {
    for script in &ours.plan_scripts {
        let Ok(Some(current)) = by_name(&inventory.plan_scripts, &script.name, "plan script")
        else {
            return Some(unknown(format!("plan script {:?}", script.name)));
        };
        let wanted = [
            ("content", json!(script.content)),
            ("planType", json!(script.plan_type)),
        ];
        if !field_changes(current, &wanted).is_empty() {
            return Some(unknown(format!("plan script {:?}", script.name)));
        }
    }
    for plan in &ours.build_plans {
        let Ok(Some(current)) = by_name(&inventory.build_plans, &plan.name, "build plan") else {
            return Some(unknown(format!("build plan {:?}", plan.name)));
        };
        let steps: Vec<Value> = current
            .get("buildStep")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .map(|s| s.get("planScriptName").cloned().unwrap_or(Value::Null))
                    .collect()
            })
            .unwrap_or_default();
        let wanted: Vec<Value> = plan
            .steps
            .iter()
            .map(|s| json!(s.plan_script_name))
            .collect();
        let attributes: Vec<Value> = plan
            .custom_attributes
            .iter()
            .map(|a| serde_json::to_value(a).expect("serialisable"))
            .collect();
        if steps != wanted
            || !attribute_changes(&super::attributes_of(current), &attributes).is_empty()
        {
            return Some(unknown(format!("build plan {:?}", plan.name)));
        }
    }
    None
}

/// The deployment plans' build plan and golden image as the bundle's listing names them.
fn plan_listing_differs(bundle: &Value, ours: &Bundle) -> Option<Verdict> {
    let listed_plans = bundle
        .get("deploymentPlans")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for plan in &ours.deployment_plans {
        let entry = listed_plans
            .iter()
            .find(|p| p.get("deploymentplanName").and_then(Value::as_str) == Some(&plan.name));
        let field = |key: &str| {
            entry
                .and_then(|e| e.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if field("oebpName") != plan.build_plan
            || field("goldenImageName") != plan.golden_image_name().unwrap_or_default()
        {
            return Some(unknown(format!(
                "the listing of deployment plan {:?}",
                plan.name
            )));
        }
    }
    None
}

fn unknown(what: String) -> Verdict {
    Verdict::Unknown(format!("{what} differs on the appliance"))
}
