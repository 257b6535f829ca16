//! OneView server profile templates: point `osDeploymentSettings` at a deployment plan (through
//! its OneView `/rest/os-deployment-plans/` URI, docs/appliance-api.md §8.1) with the plan's
//! attributes, using the template's eTag so that a concurrent change is never silently overwritten.
use super::report::Change;
use crate::appliance::client::{Client, Host};
use crate::appliance::error::ApplianceError;
use crate::error::{Error, Result};
use serde_json::{Value, json};
use ureq::http::Method;

pub use crate::appliance::api::{
    OS_DEPLOYMENT_PLANS_AS_SDK as OS_DEPLOYMENT_PLANS, SERVER_PROFILE_TEMPLATES as TEMPLATES,
};
/// How many times a write losing an eTag race is re-read and re-tried before giving up.
pub const MAX_RACES: u32 = 3;

#[derive(Debug, Clone)]
pub struct TemplatePlan {
    pub uri: String,
    pub changes: Vec<Change>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TemplateOutcome {
    pub written: bool,
    pub changes: Vec<Change>,
}

fn find_template(client: &Client, name: &str) -> Result<Value> {
    let what = "server profile template";
    crate::appliance::lookup::named(client, Host::OneView, TEMPLATES, what, name)?.ok_or_else(
        || {
            Error::Usage(format!(
                "no server profile template named {name:?} on OneView"
            ))
        },
    )
}

/// The OneView URI of a deployment plan: by exact name, preferring the one whose
/// `nativePlanUri` is the Image Streamer plan.
fn find_os_deployment_plan(
    client: &Client,
    plan_name: &str,
    plan_uri: Option<&str>,
) -> Result<Option<String>> {
    let found = client.list(Host::OneView, OS_DEPLOYMENT_PLANS, Some(plan_name))?;
    let native = |v: &Value| {
        v.get("nativePlanUri")
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let chosen = match plan_uri {
        Some(uri) => {
            found
                .iter()
                .find(|v| native(v).as_deref() == Some(uri))
                .or(if found.len() == 1 {
                    found.first()
                } else {
                    None
                })
        }
        None if found.len() == 1 => found.first(),
        None => None,
    };
    Ok(chosen
        .and_then(|v| v.get("uri").and_then(Value::as_str))
        .map(str::to_string))
}

/// Reads what the template has and works out what would change.
pub fn plan(
    client: &Client,
    template_name: &str,
    plan_name: &str,
    plan_uri: Option<&str>,
    attributes: &[Value],
) -> Result<TemplatePlan> {
    let template = find_template(client, template_name)?;
    let osdp = match plan_uri {
        Some(_) => find_os_deployment_plan(client, plan_name, plan_uri)?,
        None => None,
    };
    let osdp_value = match osdp {
        Some(uri) => json!(uri),
        None => json!(format!(
            "(OneView URI of deployment plan {plan_name:?}, after publish)"
        )),
    };
    let (_, changes, warnings) = desired_settings(&template, osdp_value, attributes);
    Ok(TemplatePlan {
        uri: template
            .get("uri")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        changes,
        warnings,
    })
}

/// Writes the template when it differs. A 412 (someone else wrote in between) or a lost answer
/// makes it read the template again and redo the comparison, up to [`MAX_RACES`] times.
pub fn apply(
    client: &Client,
    template_name: &str,
    plan_name: &str,
    plan_uri: Option<&str>,
    attributes: &[Value],
) -> Result<TemplateOutcome> {
    let osdp = wait_for_os_deployment_plan(client, plan_name, plan_uri)?;
    let uri = find_template(client, template_name)?
        .get("uri")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut races = 0;
    let mut lost = 0;
    let mut written = false;
    let mut all_changes = Vec::new();
    loop {
        let template = client.get(Host::OneView, &uri)?;
        let (settings, changes, _) = desired_settings(&template, json!(osdp), attributes);
        if changes.is_empty() {
            return Ok(TemplateOutcome {
                written,
                changes: all_changes,
            });
        }
        let result = put_template(client, &uri, &template, settings);
        match result {
            Ok(_) => {
                written = true;
                all_changes = changes;
            }
            Err(ApplianceError::Http { status: 412, .. }) => {
                races += 1;
                if races >= MAX_RACES {
                    return Err(Error::other(format!(
                        "template {uri} was changed by another writer between read and write {races} times (eTag mismatch, 412); \
                         nothing was overwritten — run publish again"
                    )));
                }
                client.log.at(1, || {
                    format!("  {uri}: eTag changed since it was read; reading it again")
                });
            }
            Err(e) if e.is_connection_error() || e.status().is_some_and(|s| s >= 500) => {
                lost += 1;
                if lost >= client.timing.attempts {
                    return Err(e.into());
                }
                std::thread::sleep(client.timing.retry_base.saturating_mul(lost));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The os-deployment-plan URI OneView lists for the plan, asking again while OneView has not
/// mirrored it yet.
fn wait_for_os_deployment_plan(
    client: &Client,
    plan_name: &str,
    plan_uri: Option<&str>,
) -> Result<String> {
    let mut osdp = None;
    for attempt in 0..client.timing.attempts.max(1) {
        osdp = find_os_deployment_plan(client, plan_name, plan_uri)?;
        if osdp.is_some() {
            break;
        }
        // OneView mirrors Image Streamer plans asynchronously.
        std::thread::sleep(client.timing.retry_base.saturating_mul(attempt + 1));
    }
    osdp.ok_or_else(|| {
        Error::other(format!(
            "OneView lists no os-deployment-plan for {plan_name:?} ({})",
            plan_uri.unwrap_or("?")
        ))
    })
}

/// PUTs the template with the settings wanted, conditional on the eTag it was read with.
fn put_template(
    client: &Client,
    uri: &str,
    template: &Value,
    settings: Value,
) -> std::result::Result<Value, ApplianceError> {
    let etag = template
        .get("eTag")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut body = template.clone();
    body.as_object_mut()
        .expect("templates are objects")
        .insert("osDeploymentSettings".into(), settings);
    let bytes = serde_json::to_vec(&body).expect("JSON");
    let headers: Vec<(&str, &str)> = if etag.is_empty() {
        vec![]
    } else {
        vec![("If-Match", etag.as_str())]
    };
    client
        .request_raw(
            Method::PUT,
            Host::OneView,
            uri,
            &bytes,
            Some("application/json"),
            &headers,
            false,
        )
        .and_then(|answer| client.finish(Host::OneView, answer))
}

/// The template's `osDeploymentSettings` as wanted: the plan URI, and one entry per plan attribute
/// — the template's own value when it sets one, else the plan's default. NIC attributes are kept
/// as the template spells them (`NAME.field` entries); the rest of the settings stays as it is.
pub fn desired_settings(
    template: &Value,
    osdp_uri: Value,
    attributes: &[Value],
) -> (Value, Vec<Change>, Vec<String>) {
    let current = template
        .get("osDeploymentSettings")
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let current_attributes: Vec<Value> = current
        .get("osCustomAttributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let template_name = template
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (wanted, secrets, warnings) =
        wanted_attributes(template_name, &current_attributes, attributes);
    let changes = settings_changes(&current, &osdp_uri, &current_attributes, &wanted, &secrets);
    let mut settings = current;
    let object = settings.as_object_mut().expect("object");
    object.insert("osDeploymentPlanUri".into(), osdp_uri);
    object.insert("osCustomAttributes".into(), Value::Array(wanted));
    (settings, changes, warnings)
}

fn name_of(v: &Value) -> String {
    v.get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The `osCustomAttributes` wanted, the names of the password ones, and warnings (a NIC
/// attribute the template does not set).
fn wanted_attributes(
    template_name: &str,
    current_attributes: &[Value],
    attributes: &[Value],
) -> (Vec<Value>, Vec<String>, Vec<String>) {
    let mut wanted = Vec::new();
    let mut secrets = Vec::new();
    let mut warnings = Vec::new();
    for attribute in attributes {
        let name = name_of(attribute);
        let kind = attribute
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("string");
        if kind == "nic" {
            let prefix = format!("{name}.");
            let nic: Vec<Value> = current_attributes
                .iter()
                .filter(|c| name_of(c).starts_with(&prefix))
                .cloned()
                .collect();
            if nic.is_empty() {
                warnings.push(format!("template {template_name:?}: NIC attribute {name} has no {name}.* settings; set its network connection in OneView"));
            }
            wanted.extend(nic);
            continue;
        }
        if kind == "password" {
            secrets.push(name.clone());
        }
        let value = match current_attributes.iter().find(|c| name_of(c) == name) {
            Some(have) => have.get("value").cloned().unwrap_or(json!("")),
            None => attribute
                .get("value")
                .cloned()
                .filter(|v| !v.is_null())
                .unwrap_or(json!("")),
        };
        wanted.push(json!({ "name": name, "value": value }));
    }
    (wanted, secrets, warnings)
}

/// What changes from the current settings to the wanted ones; secret values shown as `***`.
fn settings_changes(
    current: &Value,
    osdp_uri: &Value,
    current_attributes: &[Value],
    wanted: &[Value],
    secrets: &[String],
) -> Vec<Change> {
    let mut changes = Vec::new();
    let current_uri = current
        .get("osDeploymentPlanUri")
        .cloned()
        .unwrap_or(Value::Null);
    if current_uri != *osdp_uri {
        changes.push(Change {
            field: "osDeploymentSettings.osDeploymentPlanUri".into(),
            from: current_uri,
            to: osdp_uri.clone(),
        });
    }
    let show = |name: &str, v: Option<&Value>| {
        // A secret's value is shown as *** (an empty one stays visible as empty).
        if secrets.iter().any(|s| s == name)
            && v.and_then(Value::as_str).is_some_and(|s| !s.is_empty())
        {
            json!("***")
        } else {
            v.cloned().unwrap_or(Value::Null)
        }
    };
    for want in wanted {
        let name = name_of(want);
        let have = current_attributes
            .iter()
            .find(|c| name_of(c) == name)
            .and_then(|c| c.get("value"));
        if have != want.get("value") {
            changes.push(Change {
                field: format!("osDeploymentSettings.osCustomAttributes.{name}"),
                from: show(&name, have),
                to: show(&name, want.get("value")),
            });
        }
    }
    for have in current_attributes {
        let name = name_of(have);
        if !wanted.iter().any(|w| name_of(w) == name) {
            changes.push(Change {
                field: format!("osDeploymentSettings.osCustomAttributes.{name}"),
                from: show(&name, have.get("value")),
                to: Value::Null,
            });
        }
    }
    changes
}
