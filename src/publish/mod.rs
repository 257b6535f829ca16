//! `publish`: bundle zips → the appliance, changing only what differs (docs/appliance-api.md §9).
//!
//! Two phases. *Planning* only reads: it finds every object by exact name and decides an action
//! (upload / replace / extract / create / update / unchanged) with a field diff; anything that
//! cannot work (a missing golden image, a bundle of the same name with other content, duplicate
//! names) stops the run here, before any write. *Applying* carries the actions out in order and
//! marks each one applied, so a failure report says exactly what was done before it. Each phase
//! has its file: `plan` (what would change) and `apply` (do it).
mod apply;
pub mod compare;
pub mod inventory;
mod plan;
pub mod prune;
pub mod pull;
pub mod report;
pub mod sameness;
pub mod source;
pub mod status;
pub mod template;

use crate::appliance::client::Client;
use inventory::Inventory;
pub use report::{Action, Change, Kind, ObjectReport, Outcome, Report};
use serde_json::Value;
pub use source::BundleSource;

#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    pub dry_run: bool,
    /// Delete and re-upload a bundle whose name exists with other content.
    pub replace: bool,
    /// `--profile-template TEMPLATE=DEPLOYMENT_PLAN`.
    pub profile_templates: Vec<(String, String)>,
    /// Show an upload progress bar (on a terminal, without --json, outside CI).
    pub show_progress: bool,
}

/// Publishes `sources` (already read and verified) through a logged-in client.
pub fn publish(client: &Client, sources: &[BundleSource], options: &PublishOptions) -> Report {
    let mut report = Report::new(options.dry_run);
    let mut run = Run {
        client,
        options,
        report: &mut report,
        inventory: Inventory::default(),
    };
    let result = run.plan(sources).and_then(|plans| {
        if options.dry_run {
            Ok(())
        } else {
            run.apply(sources, &plans)
        }
    });
    if let Err(error) = result {
        // The report carries what users read; the error's parts are in its words.
        report.fail(error.to_string());
    }
    report.finish();
    report
}

/// The decisions for one bundle, with the report rows they own.
#[derive(Debug, Clone)]
struct BundlePlan {
    action: Action,
    existing_uri: Option<String>,
    bundle_row: usize,
    extract_row: Option<usize>,
    artifact_rows: Vec<usize>,
    plan_rows: Vec<usize>,
}

struct Run<'a> {
    client: &'a Client,
    options: &'a PublishOptions,
    report: &'a mut Report,
    /// The listing made while planning, re-used unless an extract changed things.
    inventory: Inventory,
}

impl Run<'_> {
    fn row(
        &mut self,
        kind: Kind,
        name: &str,
        action: Action,
        uri: Option<String>,
        changes: Vec<Change>,
    ) -> usize {
        self.report.objects.push(ObjectReport {
            kind,
            name: name.to_string(),
            action,
            uri,
            changes,
            applied: false,
            note: None,
        });
        self.report.objects.len() - 1
    }
}

pub(crate) fn attributes_of(resource: &Value) -> Vec<Value> {
    resource
        .get("customAttributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}
