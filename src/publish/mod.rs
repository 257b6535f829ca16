//! `publish`: bundle zips → the appliance, changing only what differs (docs/appliance-api.md §9).
//!
//! Two phases. *Planning* only reads: it finds every object by exact name and decides an action
//! (upload / replace / extract / create / update / unchanged) with a field diff; anything that
//! cannot work (a missing golden image, a bundle of the same name with other content, duplicate
//! names) stops the run here, before any write. *Applying* carries the actions out in order and
//! marks each one applied, so a failure report says exactly what was done before it.
pub mod compare;
pub mod inventory;
pub mod pull;
pub mod report;
pub mod sameness;
pub mod source;
pub mod template;

use crate::appliance::client::{Client, Host};
use crate::appliance::error::ApplianceError;
use crate::appliance::lookup;
use crate::appliance::types;
use crate::error::{Context, Error, Result};
use compare::{attribute_changes, field_changes};
use inventory::{ARTIFACT_BUNDLES, DEPLOYMENT_PLANS, Inventory, by_name, uri_of};
pub use report::{Action, Change, Kind, ObjectReport, Outcome, Report};
use serde_json::{Value, json};
pub use source::BundleSource;
use std::time::Duration;
use ureq::http::Method;

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

/// A value not known before the apply phase (created by the extract), shown as text in plans.
fn pending(what: &str) -> Value {
    Value::String(format!("(URI of {what}, created by the extract)"))
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

    fn plan(&mut self, sources: &[BundleSource]) -> Result<Vec<BundlePlan>> {
        let client = self.client;
        let inventory = Inventory::load(client)?;
        self.inventory = inventory.clone();
        let mut plans = Vec::new();
        for source in sources {
            plans.push(self.plan_bundle(source, &inventory)?);
        }
        for (template_name, plan_name) in &self.options.profile_templates {
            let known = sources.iter().any(|s| {
                s.bundle
                    .deployment_plans
                    .iter()
                    .any(|p| p.name == *plan_name)
            });
            let existing = by_name(&inventory.deployment_plans, plan_name, "deployment plan")?;
            if !known && existing.is_none() {
                return Err(Error::Usage(format!(
                    "--profile-template {template_name}={plan_name}: no deployment plan {plan_name:?} in the bundles nor on the appliance"
                )));
            }
            let plan_uri = existing.and_then(uri_of);
            let attributes = desired_attributes_for(sources, plan_name)
                .or_else(|| existing.map(attributes_of))
                .unwrap_or_default();
            let planned = template::plan(
                client,
                template_name,
                plan_name,
                plan_uri.as_deref(),
                &attributes,
            )?;
            self.report.warnings.extend(planned.warnings.clone());
            let action = if planned.changes.is_empty() {
                Action::Unchanged
            } else {
                Action::Update
            };
            self.row(
                Kind::ServerProfileTemplate,
                template_name,
                action,
                Some(planned.uri.clone()),
                planned.changes,
            );
        }
        Ok(plans)
    }

    fn plan_bundle(&mut self, source: &BundleSource, inventory: &Inventory) -> Result<BundlePlan> {
        let existing = lookup::named(
            self.client,
            Host::ImageStreamer,
            ARTIFACT_BUNDLES,
            "artifact bundle",
            &source.name,
        )?;
        let (action, note) = match &existing {
            None => (Action::Upload, None),
            Some(bundle) => match self.same_content(bundle, source, inventory)? {
                true => (Action::Unchanged, None),
                false if self.options.replace => (
                    Action::Replace,
                    Some(
                        "same name, other content: deleted and uploaded again (--replace)"
                            .to_string(),
                    ),
                ),
                false => {
                    return Err(Error::at(
                        crate::error::Location::file(&source.path),
                        format!(
                            "a bundle named {:?} exists on the appliance ({}) with other content; \
                             build a new version, or pass --replace to delete and upload it again",
                            source.name,
                            existing.as_ref().and_then(uri_of).unwrap_or_default()
                        ),
                    ));
                }
            },
        };
        let bundle_row = self.row(
            Kind::ArtifactBundle,
            &source.name,
            action,
            existing.as_ref().and_then(uri_of),
            Vec::new(),
        );
        self.report.objects[bundle_row].note = note;

        // The artifacts the extract creates: missing or different ones make an extract necessary.
        let mut artifact_rows = Vec::new();
        let mut missing_or_different = false;
        for script in &source.bundle.plan_scripts {
            let current = by_name(&inventory.plan_scripts, &script.name, "plan script")?;
            let changes = match current {
                None => vec![],
                Some(c) => field_changes(
                    c,
                    &[
                        ("content", json!(script.content)),
                        ("planType", json!(script.plan_type)),
                    ],
                ),
            };
            let action = artifact_action(current.is_some(), &changes);
            missing_or_different |= action.is_change();
            artifact_rows.push(self.row(
                Kind::PlanScript,
                &script.name,
                action,
                current.and_then(uri_of),
                changes,
            ));
        }
        for image in &source.bundle.golden_images {
            let current = by_name(&inventory.golden_images, &image.image.name, "golden image")?;
            let action = artifact_action(current.is_some(), &[]);
            missing_or_different |= action.is_change();
            artifact_rows.push(self.row(
                Kind::GoldenImage,
                &image.image.name,
                action,
                current.and_then(uri_of),
                vec![],
            ));
        }
        for plan in &source.bundle.build_plans {
            let current = by_name(&inventory.build_plans, &plan.name, "build plan")?;
            let changes = match current {
                None => vec![],
                Some(c) => {
                    let steps = |v: &Value| -> Vec<Value> {
                        v.get("buildStep")
                            .and_then(Value::as_array)
                            .map(|s| {
                                s.iter()
                                    .map(|s| {
                                        s.get("planScriptName").cloned().unwrap_or(Value::Null)
                                    })
                                    .collect()
                            })
                            .unwrap_or_default()
                    };
                    let wanted: Vec<Value> = plan
                        .steps
                        .iter()
                        .map(|s| json!(s.plan_script_name))
                        .collect();
                    let mut changes = Vec::new();
                    if steps(c) != wanted {
                        changes.push(Change {
                            field: "buildStep".into(),
                            from: Value::Array(steps(c)),
                            to: Value::Array(wanted),
                        });
                    }
                    let attrs: Vec<Value> = plan
                        .custom_attributes
                        .iter()
                        .map(|a| serde_json::to_value(a).expect("serialisable"))
                        .collect();
                    changes.extend(attribute_changes(&attributes_of(c), &attrs));
                    changes
                }
            };
            let action = artifact_action(current.is_some(), &changes);
            missing_or_different |= action.is_change();
            artifact_rows.push(self.row(
                Kind::BuildPlan,
                &plan.name,
                action,
                current.and_then(uri_of),
                changes,
            ));
        }
        let missing_plan = source
            .bundle
            .deployment_plans
            .iter()
            .try_fold(false, |any, p| {
                Ok::<_, Error>(
                    any || by_name(&inventory.deployment_plans, &p.name, "deployment plan")?
                        .is_none(),
                )
            })?;
        let extract = action != Action::Unchanged || missing_or_different || missing_plan;
        let extract_row = extract.then(|| {
            let row = self.row(
                Kind::ArtifactBundle,
                &source.name,
                Action::Extract,
                existing.as_ref().and_then(uri_of),
                vec![],
            );
            self.report.objects[row].note = Some(
                "PUT ?extract=true&forceImport=true: creates or replaces the bundle's artifacts"
                    .into(),
            );
            row
        });

        let mut plan_rows = Vec::new();
        for plan in &source.bundle.deployment_plans {
            let current = by_name(&inventory.deployment_plans, &plan.name, "deployment plan")?;
            let desired = desired_plan(source, &plan.name, inventory, extract)?;
            let (mut action, changes) = match current {
                None => (Action::Create, desired.changes_from(&json!({}))),
                Some(c) => {
                    let changes = desired.changes_from(c);
                    (
                        if changes.is_empty() {
                            Action::Unchanged
                        } else {
                            Action::Update
                        },
                        changes,
                    )
                }
            };
            // The extract replaces the plan with the zip's, which may attach another golden
            // image (or none) than the one chosen for it: it is attached again afterwards.
            let chosen = source.golden_images.get(&plan.name).cloned().flatten();
            let reset =
                (extract && current.is_some() && chosen.as_deref() != plan.golden_image_name())
                    .then(|| extract_resets(&source.name, &["goldenImageURI"]));
            if reset.is_some() && action == Action::Unchanged {
                action = Action::Update;
            }
            let row = self.row(
                Kind::DeploymentPlan,
                &plan.name,
                action,
                current.and_then(uri_of),
                changes,
            );
            self.report.objects[row].note = reset;
            plan_rows.push(row);
        }
        Ok(BundlePlan {
            action,
            existing_uri: existing.as_ref().and_then(uri_of),
            bundle_row,
            extract_row,
            artifact_rows,
            plan_rows,
        })
    }

    /// Same content: decided from what the appliance says (see `sameness`), else by downloading
    /// the bundle and hashing it.
    fn same_content(
        &self,
        bundle: &Value,
        source: &BundleSource,
        inventory: &Inventory,
    ) -> Result<bool> {
        let reason = match sameness::decide(bundle, source, inventory) {
            sameness::Verdict::Same(by) => {
                self.client.log.at(1, || {
                    format!("  bundle {:?}: same content ({by})", source.name)
                });
                return Ok(true);
            }
            sameness::Verdict::Different(why) => {
                self.client.log.at(1, || {
                    format!("  bundle {:?}: other content ({why})", source.name)
                });
                return Ok(false);
            }
            sameness::Verdict::Unknown(why) => why,
        };
        self.client.log.at(1, || {
            format!(
                "  bundle {:?}: {reason}; downloading it to compare",
                source.name
            )
        });
        let id = bundle
            .get("uri")
            .and_then(Value::as_str)
            .and_then(|u| u.rsplit('/').next())
            .unwrap_or_default();
        let path = bundle
            .get("downloadURI")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{ARTIFACT_BUNDLES}/download/{id}"));
        let mut hasher = HashWriter(<sha2::Sha256 as sha2::Digest>::new());
        self.client
            .download(Host::ImageStreamer, &path, &mut hasher)?;
        Ok(hex::encode(sha2::Digest::finalize(hasher.0)) == source.sha256)
    }

    fn apply(&mut self, sources: &[BundleSource], plans: &[BundlePlan]) -> Result<()> {
        let client = self.client;
        for (source, plan) in sources.iter().zip(plans) {
            let mut bundle_uri = plan.existing_uri.clone();
            if plan.action == Action::Replace {
                let uri = bundle_uri.clone().expect("replace has an existing bundle");
                client
                    .write(Method::DELETE, Host::ImageStreamer, &uri, None)
                    .context(|| format!("deleting bundle {:?} ({uri})", source.name))?;
            }
            if matches!(plan.action, Action::Upload | Action::Replace) {
                let bundle = self
                    .upload(source)
                    .context(|| format!("uploading {}", source.path.display()))?;
                bundle_uri = uri_of(&bundle);
                self.report.objects[plan.bundle_row].uri = bundle_uri.clone();
            }
            self.report.objects[plan.bundle_row].applied = true;
            let bundle_uri = bundle_uri.ok_or_else(|| {
                ApplianceError::Protocol(format!(
                    "bundle {:?}: the appliance gave no uri",
                    source.name
                ))
            })?;

            let inventory = if let Some(row) = plan.extract_row {
                let path = format!("{bundle_uri}?extract=true&forceImport=true");
                // Extract with forceImport replaces what it creates, so repeating it is harmless.
                let answer = client
                    .request_raw(
                        Method::PUT,
                        Host::ImageStreamer,
                        &path,
                        b"",
                        Some("text/plain;charset=UTF-8"),
                        &[],
                        true,
                    )
                    .and_then(|answer| client.finish(Host::ImageStreamer, answer))
                    .context(|| format!("extracting bundle {:?}", source.name))?;
                client.log.at(1, || {
                    format!("  extracted: {}", uri_of(&answer).unwrap_or_default())
                });
                self.report.objects[row].uri = Some(bundle_uri.clone());
                self.report.objects[row].applied = true;
                let inventory = Inventory::load(client)?;
                self.check_extracted(source, &inventory, &plan.artifact_rows)?;
                self.inventory = inventory.clone();
                inventory
            } else {
                for row in &plan.artifact_rows {
                    self.report.objects[*row].applied = true;
                }
                self.inventory.clone()
            };

            for (plan_def, row) in source.bundle.deployment_plans.iter().zip(&plan.plan_rows) {
                let (uri, written) = self
                    .apply_plan(source, &plan_def.name, &inventory)
                    .context(|| format!("deployment plan {:?}", plan_def.name))?;
                // Show the URIs that were still pending (created by the extract) when planning.
                if let Ok(applied) = desired_plan(source, &plan_def.name, &inventory, false) {
                    for change in &mut self.report.objects[*row].changes {
                        if let Some((_, value)) =
                            applied.fields.iter().find(|(f, _)| *f == change.field)
                        {
                            change.to = value.clone();
                        }
                    }
                }
                let object = &mut self.report.objects[*row];
                object
                    .changes
                    .retain(|c| !compare::same(Some(&c.from), Some(&c.to)));
                settle_plan_row(object, &source.name, &written);
                object.uri = Some(uri);
                object.applied = true;
            }
        }
        // Templates last: they point at deployment plans that now exist.
        let rows: Vec<usize> = (0..self.report.objects.len())
            .filter(|i| self.report.objects[*i].kind == Kind::ServerProfileTemplate)
            .collect();
        let anything_written = self
            .report
            .objects
            .iter()
            .any(|o| o.applied && o.action.is_change());
        for ((template_name, plan_name), row) in self.options.profile_templates.iter().zip(rows) {
            if self.report.objects[row].action == Action::Unchanged && !anything_written {
                // Planned unchanged a moment ago and nothing it depends on changed since.
                self.report.objects[row].applied = true;
                continue;
            }
            let dp = lookup::named(
                client,
                Host::ImageStreamer,
                DEPLOYMENT_PLANS,
                "deployment plan",
                plan_name,
            )?
            .ok_or_else(|| {
                Error::other(format!(
                    "deployment plan {plan_name:?} is missing after publish"
                ))
            })?;
            let attributes = attributes_of(&dp);
            let outcome = template::apply(
                client,
                template_name,
                plan_name,
                uri_of(&dp).as_deref(),
                &attributes,
            )
            .context(|| format!("profile template {template_name:?}"))?;
            let object = &mut self.report.objects[row];
            object.applied = true;
            if outcome.written {
                object.action = Action::Update;
                object.changes = outcome.changes;
            }
        }
        Ok(())
    }

    /// Uploads (streamed), surviving a lost answer: after a connection error or 5xx it looks the
    /// bundle up by name, and uploads again only when it is not there.
    fn upload(&self, source: &BundleSource) -> Result<Value, ApplianceError> {
        let size = std::fs::metadata(&source.path)
            .map(|m| m.len())
            .unwrap_or(0);
        let bar = self
            .options
            .show_progress
            .then(|| progress_bar(size, &format!("{}.zip", source.name)));
        let progress = |sent: u64| {
            if let Some(bar) = &bar {
                bar.set_position(sent.min(size));
            }
        };
        let result = self.upload_attempts(source, &progress);
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        result
    }

    fn upload_attempts(
        &self,
        source: &BundleSource,
        progress: &dyn Fn(u64),
    ) -> Result<Value, ApplianceError> {
        let client = self.client;
        let file_name = format!("{}.zip", source.name);
        let manifest_description = &source.bundle.manifest.description;
        let description = format!(
            "{manifest_description} {}",
            source::content_tag(&source.sha256)
        )
        .trim()
        .to_string();
        let mut failures = 0;
        loop {
            let attempt = client
                .upload(
                    Host::ImageStreamer,
                    ARTIFACT_BUNDLES,
                    &source.path,
                    &file_name,
                    &[("description", &description)],
                    progress,
                )
                .and_then(|answer| client.finish(Host::ImageStreamer, answer));
            match attempt {
                Ok(bundle) => {
                    // Some appliances answer with the bundle, some with a task: look it up.
                    if bundle
                        .get("uri")
                        .and_then(Value::as_str)
                        .is_some_and(|u| u.starts_with(ARTIFACT_BUNDLES))
                    {
                        return Ok(bundle);
                    }
                    let found =
                        client.list(Host::ImageStreamer, ARTIFACT_BUNDLES, Some(&source.name))?;
                    return found.into_iter().next().ok_or_else(|| {
                        ApplianceError::Protocol(format!(
                            "upload finished but no bundle named {:?} exists",
                            source.name
                        ))
                    });
                }
                Err(e) if e.is_connection_error() || e.status().is_some_and(|s| s >= 500) => {
                    failures += 1;
                    let found =
                        client.list(Host::ImageStreamer, ARTIFACT_BUNDLES, Some(&source.name))?;
                    if let Some(bundle) = found.into_iter().next() {
                        let tagged = bundle
                            .get("description")
                            .and_then(Value::as_str)
                            .and_then(source::tagged_sha256);
                        if tagged.as_deref() == Some(source.sha256.as_str()) {
                            return Ok(bundle); // it arrived; only the answer was lost
                        }
                        return Err(ApplianceError::Protocol(format!(
                            "{e}; a bundle named {:?} now exists with other content — check it and rerun with --replace",
                            source.name
                        )));
                    }
                    if failures >= client.timing.attempts {
                        return Err(e);
                    }
                    let delay = client.timing.retry_base.saturating_mul(failures);
                    // Shown as it happens, like every retry (client::announce_retry).
                    client.log.warn(&format!(
                        "uploading {}: attempt {failures} of {} failed: {}; the bundle is not there, uploading again in {}",
                        source.path.display(),
                        client.timing.attempts,
                        e.reason(),
                        humantime::format_duration(delay)
                    ));
                    std::thread::sleep(delay);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// After an extract every artifact of the zip must exist by name.
    fn check_extracted(
        &mut self,
        source: &BundleSource,
        inventory: &Inventory,
        rows: &[usize],
    ) -> Result<()> {
        let mut missing = Vec::new();
        for row in rows {
            let object = &self.report.objects[*row];
            let list = match object.kind {
                Kind::PlanScript => &inventory.plan_scripts,
                Kind::BuildPlan => &inventory.build_plans,
                Kind::GoldenImage => &inventory.golden_images,
                _ => continue,
            };
            match by_name(list, &object.name, object.kind.label())? {
                Some(found) => {
                    let uri = uri_of(found);
                    let object = &mut self.report.objects[*row];
                    object.uri = uri;
                    object.applied = true;
                }
                None => missing.push(format!("{} {:?}", object.kind.label(), object.name)),
            }
        }
        for plan in &source.bundle.deployment_plans {
            if by_name(&inventory.deployment_plans, &plan.name, "deployment plan")?.is_none() {
                missing.push(format!("deployment plan {:?}", plan.name));
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(Error::other(format!(
                "the extract of bundle {:?} finished, but these artifacts are missing: {}",
                source.name,
                missing.join(", ")
            )))
        }
    }

    /// Makes one deployment plan as wanted: PUT of the full resource when something differs
    /// (compared after names are resolved to URIs), nothing otherwise. Returns its URI and the
    /// changes written (none: no request was sent).
    fn apply_plan(
        &self,
        source: &BundleSource,
        name: &str,
        inventory: &Inventory,
    ) -> Result<(String, Vec<Change>)> {
        let client = self.client;
        let desired = desired_plan(source, name, inventory, false)?;
        let current = by_name(&inventory.deployment_plans, name, "deployment plan")?.cloned();
        match current {
            Some(current) => {
                let uri = uri_of(&current).ok_or_else(no_uri)?;
                let written = desired.changes_from(&current);
                if written.is_empty() {
                    return Ok((uri, written));
                }
                let body = desired.full_resource(&current, client.api_version);
                // A full-resource PUT is idempotent: safe to repeat after a lost answer.
                let answer =
                    client.request(Method::PUT, Host::ImageStreamer, &uri, Some(&body), true)?;
                client.finish(Host::ImageStreamer, answer)?;
                Ok((uri, written))
            }
            None => {
                let written = desired.changes_from(&json!({}));
                let body = desired.full_resource(
                    &json!({ "name": name, "hpProvided": false }),
                    client.api_version,
                );
                match client.write(
                    Method::POST,
                    Host::ImageStreamer,
                    DEPLOYMENT_PLANS,
                    Some(&body),
                ) {
                    Ok(created) => uri_of(&created)
                        .map(|uri| (uri, written))
                        .ok_or_else(|| no_uri().into()),
                    Err(e) => {
                        // The answer may be lost after the plan was created: look before failing.
                        let found =
                            client.list(Host::ImageStreamer, DEPLOYMENT_PLANS, Some(name))?;
                        found
                            .first()
                            .and_then(uri_of)
                            .map(|uri| (uri, written))
                            .ok_or_else(|| e.into())
                    }
                }
            }
        }
    }
}

/// An answer that should have named the resource it created or changed.
fn no_uri() -> ApplianceError {
    ApplianceError::Protocol("the appliance gave no uri".into())
}

/// What the extract of `bundle` resets on a deployment plan, set again after it.
fn extract_resets(bundle: &str, fields: &[&str]) -> String {
    format!(
        "the extract of {bundle} replaces this plan with the zip's, whose {} is not the one wanted: set again after it",
        fields.join(", ")
    )
}

/// A deployment plan's row after applying: `changes` (before publish → wanted) as planned;
/// the action says whether a request was sent: `update` with no change left and nothing written
/// is `unchanged`, and fields written that were not planned (reset by the extract) are named.
fn settle_plan_row(object: &mut ObjectReport, bundle: &str, written: &[Change]) {
    if object.action == Action::Create {
        return;
    }
    let extra: Vec<&str> = written
        .iter()
        .filter(|w| !object.changes.iter().any(|c| c.field == w.field))
        .map(|w| w.field.as_str())
        .collect();
    object.note = (!extra.is_empty()).then(|| extract_resets(bundle, &extra));
    object.action = if written.is_empty() && object.changes.is_empty() {
        Action::Unchanged
    } else {
        Action::Update
    };
}

fn artifact_action(exists: bool, changes: &[Change]) -> Action {
    match (exists, changes.is_empty()) {
        (false, _) => Action::Create,
        (true, false) => Action::Update,
        (true, true) => Action::Unchanged,
    }
}

pub(crate) fn attributes_of(resource: &Value) -> Vec<Value> {
    resource
        .get("customAttributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn desired_attributes_for(sources: &[BundleSource], plan_name: &str) -> Option<Vec<Value>> {
    sources
        .iter()
        .flat_map(|s| &s.bundle.deployment_plans)
        .find(|p| p.name == plan_name)
        .map(|p| {
            p.custom_attributes
                .iter()
                .map(|a| serde_json::to_value(a).expect("serialisable"))
                .collect()
        })
}

/// A deployment plan as the source wants it on the appliance.
struct DesiredPlan {
    fields: Vec<(&'static str, Value)>,
    attributes: Vec<Value>,
}

impl DesiredPlan {
    fn changes_from(&self, current: &Value) -> Vec<Change> {
        let mut changes = field_changes(current, &self.fields);
        changes.extend(attribute_changes(&attributes_of(current), &self.attributes));
        changes
    }

    /// The full resource to PUT/POST: the current one with the wanted fields, the version's
    /// `type`, and the appliance's attribute ids kept.
    fn full_resource(&self, current: &Value, api_version: u32) -> Value {
        let mut body = current.clone();
        let object = body.as_object_mut().expect("resources are objects");
        object.insert(
            "type".into(),
            json!(types::deployment_plan_type(api_version)),
        );
        for (field, value) in &self.fields {
            object.insert((*field).to_string(), value.clone());
        }
        let current_attributes = attributes_of(current);
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|want| {
                let mut attribute = want.clone();
                let id = current_attributes
                    .iter()
                    .find(|c| c.get("name") == want.get("name"))
                    .and_then(|c| c.get("id"))
                    .cloned();
                if let (Some(id), Some(o)) = (id, attribute.as_object_mut()) {
                    o.insert("id".into(), id);
                }
                attribute
            })
            .collect();
        object.insert("customAttributes".into(), Value::Array(attributes));
        body
    }
}

/// Resolves the build plan and golden image names of a plan to URIs. `extract_pending`: objects
/// the bundle carries do not exist yet and are shown as pending.
fn desired_plan(
    source: &BundleSource,
    name: &str,
    inventory: &Inventory,
    extract_pending: bool,
) -> Result<DesiredPlan> {
    let plan = source
        .bundle
        .deployment_plans
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| Error::other(format!("{name:?} is not in {}", source.path.display())))?;
    // A name resolves to the URI of the object of that name on the appliance, even when the
    // pending extract carries it: forceImport replaces an object of an existing name in place
    // (the simulator keeps its URI). Comparing a pending marker instead made every plan look
    // changed. Should an appliance give the object a new URI, `apply` compares again after the
    // extract and writes what differs. Only an object that does not exist yet is pending.
    let carried_build_plan = source.bundle.build_plan_by_name(&plan.build_plan).is_some();
    let build_plan_uri = match by_name(&inventory.build_plans, &plan.build_plan, "build plan")?
        .and_then(uri_of)
    {
        Some(uri) => json!(uri),
        None if carried_build_plan && extract_pending => {
            pending(&format!("build plan {:?}", plan.build_plan))
        }
        None => {
            return Err(Error::other(format!(
                "deployment plan {name:?} uses build plan {:?}, which is neither in {} nor on the appliance",
                plan.build_plan,
                source.path.display()
            )));
        }
    };
    let image = source.golden_images.get(name).cloned().flatten();
    let golden_image_uri = match &image {
        None => json!(""),
        Some(image) => {
            let carried = source.bundle.golden_image_by_name(image).is_some();
            match by_name(&inventory.golden_images, image, "golden image")?.and_then(uri_of) {
                Some(uri) => json!(uri),
                None if carried && extract_pending => pending(&format!("golden image {image:?}")),
                None => {
                    return Err(Error::other(format!(
                        "deployment plan {name:?} attaches golden image {image:?} (from {}), but no golden image of that name is on the appliance \
                         and the bundle does not carry it; upload the image first (i3s-bundle golden-image upload) or fix the name",
                        source
                            .golden_image_origin
                            .get(name)
                            .map(String::as_str)
                            .unwrap_or("the bundle")
                    )));
                }
            }
        }
    };
    let attributes = plan
        .custom_attributes
        .iter()
        .map(|a| serde_json::to_value(a).expect("serialisable"))
        .collect();
    let fields = vec![
        (
            "description",
            json!(plan.description.clone().unwrap_or_default()),
        ),
        ("oeBuildPlanURI", build_plan_uri),
        ("goldenImageURI", golden_image_uri),
    ];
    Ok(DesiredPlan { fields, attributes })
}

fn progress_bar(size: u64, name: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(size);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(format!("uploading {name}"));
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

struct HashWriter(sha2::Sha256);
impl crate::appliance::client::Sink for HashWriter {
    fn restart(&mut self) -> std::io::Result<()> {
        self.0 = <sha2::Sha256 as sha2::Digest>::new();
        Ok(())
    }
}
impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        sha2::Digest::update(&mut self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
