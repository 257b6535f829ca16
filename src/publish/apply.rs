//! Applying: the planned actions in order, each row marked applied as it is done, so a failure
//! report says exactly what was done before it.
use super::compare;
use super::inventory::{ARTIFACT_BUNDLES, DEPLOYMENT_PLANS, Inventory, by_name, uri_of};
use super::plan::{desired_plan, extract_resets};
use super::report::{Action, Change, Kind, ObjectReport};
use super::source::{self, BundleSource};
use super::{BundlePlan, Run, attributes_of, template};
use crate::appliance::client::Host;
use crate::appliance::error::ApplianceError;
use crate::appliance::lookup;
use crate::error::{Context, Error, Result};
use serde_json::{Value, json};
use std::time::Duration;
use ureq::http::Method;

impl Run<'_> {
    pub(super) fn apply(&mut self, sources: &[BundleSource], plans: &[BundlePlan]) -> Result<()> {
        for (source, plan) in sources.iter().zip(plans) {
            let bundle_uri = self.apply_upload(source, plan)?;
            let inventory = self.apply_extract(source, plan, &bundle_uri)?;
            self.apply_deployment_plans(source, plan, &inventory)?;
        }
        self.apply_templates()
    }

    /// The bundle: deleted first (--replace) and uploaded, or left; returns its URI.
    fn apply_upload(&mut self, source: &BundleSource, plan: &BundlePlan) -> Result<String> {
        let client = self.client;
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
        bundle_uri
            .ok_or_else(|| {
                ApplianceError::Protocol(format!(
                    "bundle {:?}: the appliance gave no uri",
                    source.name
                ))
            })
            .map_err(Error::from)
    }

    /// The extract (when planned), then the listing that the deployment plans resolve against.
    fn apply_extract(
        &mut self,
        source: &BundleSource,
        plan: &BundlePlan,
        bundle_uri: &str,
    ) -> Result<Inventory> {
        let client = self.client;
        if let Some(row) = plan.extract_row {
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
            self.report.objects[row].uri = Some(bundle_uri.to_string());
            self.report.objects[row].applied = true;
            let inventory = Inventory::load(client)?;
            self.check_extracted(source, &inventory, &plan.artifact_rows)?;
            self.inventory = inventory.clone();
            Ok(inventory)
        } else {
            for row in &plan.artifact_rows {
                self.report.objects[*row].applied = true;
            }
            Ok(self.inventory.clone())
        }
    }

    /// Each deployment plan of the bundle made as wanted.
    fn apply_deployment_plans(
        &mut self,
        source: &BundleSource,
        plan: &BundlePlan,
        inventory: &Inventory,
    ) -> Result<()> {
        for (plan_def, row) in source.bundle.deployment_plans.iter().zip(&plan.plan_rows) {
            let (uri, written) = self
                .apply_plan(source, &plan_def.name, inventory)
                .context(|| format!("deployment plan {:?}", plan_def.name))?;
            // Show the URIs that were still pending (created by the extract) when planning.
            if let Ok(applied) = desired_plan(source, &plan_def.name, inventory, false) {
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
        Ok(())
    }

    /// Templates last: they point at deployment plans that now exist.
    fn apply_templates(&mut self) -> Result<()> {
        let client = self.client;
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
