//! Planning: reads only. Every object is found by exact name and given an action with a field
//! diff; what cannot work stops the run here, before any write.
use super::compare::{attribute_changes, field_changes};
use super::inventory::{ARTIFACT_BUNDLES, Inventory, by_name, uri_of};
use super::report::{Action, Change, Kind};
use super::source::BundleSource;
use super::{BundlePlan, Run, attributes_of, sameness, template};
use crate::appliance::client::Host;
use crate::appliance::lookup;
use crate::appliance::types;
use crate::bundle::{BuildPlan, PlanScript};
use crate::error::{Error, Result};
use serde_json::{Value, json};

/// A value not known before the apply phase (created by the extract), shown as text in plans.
fn pending(what: &str) -> Value {
    Value::String(format!("(URI of {what}, created by the extract)"))
}

impl Run<'_> {
    pub(super) fn plan(&mut self, sources: &[BundleSource]) -> Result<Vec<BundlePlan>> {
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
        let (existing, action, bundle_row) = self.plan_upload(source, inventory)?;
        let (artifact_rows, missing_or_different) = self.plan_artifacts(source, inventory)?;
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

        let plan_rows = self.plan_deployment_plans(source, inventory, extract)?;
        Ok(BundlePlan {
            action,
            existing_uri: existing.as_ref().and_then(uri_of),
            bundle_row,
            extract_row,
            artifact_rows,
            plan_rows,
        })
    }

    /// The bundle itself: upload it, leave it (same content), or replace it (--replace).
    fn plan_upload(
        &mut self,
        source: &BundleSource,
        inventory: &Inventory,
    ) -> Result<(Option<Value>, Action, usize)> {
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

        Ok((existing, action, bundle_row))
    }

    /// The artifacts the extract creates, and whether any is missing or different.
    fn plan_artifacts(
        &mut self,
        source: &BundleSource,
        inventory: &Inventory,
    ) -> Result<(Vec<usize>, bool)> {
        // Missing or different ones make an extract necessary.
        let mut artifact_rows = Vec::new();
        let mut missing_or_different = false;
        for script in &source.bundle.plan_scripts {
            let current = by_name(&inventory.plan_scripts, &script.name, "plan script")?;
            let changes = match current {
                None => vec![],
                Some(c) => plan_script_changes(c, script),
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
                Some(c) => build_plan_changes(c, plan),
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
        Ok((artifact_rows, missing_or_different))
    }

    /// The deployment plans: created, updated or unchanged, after the extract.
    fn plan_deployment_plans(
        &mut self,
        source: &BundleSource,
        inventory: &Inventory,
        extract: bool,
    ) -> Result<Vec<usize>> {
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
        Ok(plan_rows)
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
        let path = crate::appliance::api::bundle_download(bundle);
        let mut hasher = HashWriter(<sha2::Sha256 as sha2::Digest>::new());
        self.client
            .download(Host::ImageStreamer, &path, &mut hasher)?;
        Ok(hex::encode(sha2::Digest::finalize(hasher.0)) == source.sha256)
    }
}

/// What differs between a plan script on the appliance and the bundle's: content and type.
pub(super) fn plan_script_changes(current: &Value, script: &PlanScript) -> Vec<Change> {
    field_changes(
        current,
        &[
            ("content", json!(script.content)),
            ("planType", json!(script.plan_type)),
        ],
    )
}

/// What differs between a build plan on the appliance and the bundle's: its steps (by plan
/// script name) and its attributes.
pub(super) fn build_plan_changes(current: &Value, plan: &BuildPlan) -> Vec<Change> {
    let steps = |v: &Value| -> Vec<Value> {
        v.get("buildStep")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .map(|s| s.get("planScriptName").cloned().unwrap_or(Value::Null))
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
    if steps(current) != wanted {
        changes.push(Change {
            field: "buildStep".into(),
            from: Value::Array(steps(current)),
            to: Value::Array(wanted),
        });
    }
    let attrs: Vec<Value> = plan
        .custom_attributes
        .iter()
        .map(|a| serde_json::to_value(a).expect("serialisable"))
        .collect();
    changes.extend(attribute_changes(&attributes_of(current), &attrs));
    changes
}

pub(super) fn extract_resets(bundle: &str, fields: &[&str]) -> String {
    format!(
        "the extract of {bundle} replaces this plan with the zip's, whose {} is not the one wanted: set again after it",
        fields.join(", ")
    )
}

fn artifact_action(exists: bool, changes: &[Change]) -> Action {
    match (exists, changes.is_empty()) {
        (false, _) => Action::Create,
        (true, false) => Action::Update,
        (true, true) => Action::Unchanged,
    }
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
pub(super) struct DesiredPlan {
    pub(super) fields: Vec<(&'static str, Value)>,
    attributes: Vec<Value>,
}

impl DesiredPlan {
    pub(super) fn changes_from(&self, current: &Value) -> Vec<Change> {
        let mut changes = field_changes(current, &self.fields);
        changes.extend(attribute_changes(&attributes_of(current), &self.attributes));
        changes
    }

    /// The full resource to PUT/POST: the current one with the wanted fields, the version's
    /// `type`, and the appliance's attribute ids kept.
    pub(super) fn full_resource(&self, current: &Value, api_version: u32) -> Value {
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
pub(super) fn desired_plan(
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
