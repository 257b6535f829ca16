//! OneView's server side, as `deploy` uses it: enclosures with device bays, server hardware with a
//! power state, and server profiles created from templates (docs/appliance-api.md §8.4;
//! docs/reference-bundles.md §3a).
//!
//! - `GET /rest/enclosures`, `/rest/server-hardware`, `/rest/server-profiles` (filter, sort,
//!   paging) and `GET …/{id}`; seed enclosures and hardware with `POST /sim/seed`.
//! - `PUT /rest/server-hardware/{id}/powerState` `{"powerState":"On|Off","powerControl":…}` → task.
//! - `POST /rest/server-profiles` → task; the hardware must exist, be powered off and have no
//!   profile; `osDeploymentSettings` (with `osCustomAttributes`) is kept as sent.
//! - `DELETE /rest/server-profiles/{id}` → task named `Delete`; the hardware must be powered off.
//!
//! Like the rest of the simulator, a change is applied when its task is created; an injected task
//! error (`task-error=N`) leaves everything unchanged.
use super::Shared;
use super::http::{accepted, error, json_response, list, not_found, target};
use super::state::State;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

pub use crate::appliance::api::{ENCLOSURES, SERVER_HARDWARE, SERVER_PROFILES};
use crate::appliance::api::{POWER_STATE, SERVER_HARDWARE_TYPES, category, member};

const POWER_CONTROLS: [&str; 4] = ["MomentaryPress", "PressAndHold", "ColdBoot", "Reset"];

/// The collections this module serves; the generic handlers leave them alone.
pub const OWNED: [&str; 3] = [ENCLOSURES, SERVER_HARDWARE, SERVER_PROFILES];

/// Handles the paths above; anything else is a 404 in the appliance's shape.
pub async fn route(
    shared: &Arc<Shared>,
    method: Method,
    path: &str,
    query: Option<&str>,
    request: Request,
) -> Response {
    let (collection, below) = target(path);
    let owned = OWNED.contains(&collection);
    match (&method, collection, below.as_slice()) {
        (&Method::GET, _, []) if owned => list(shared, path, query),
        (&Method::GET, _, [_]) if owned => match shared.lock().get(path) {
            Some(v) => json_response(StatusCode::OK, v.clone()),
            None => not_found(path),
        },
        (&Method::PUT, SERVER_HARDWARE, [_, POWER_STATE]) => match read_json(request).await {
            Ok(body) => power_request(shared, path, &body),
            Err(response) => response,
        },
        (&Method::POST, SERVER_PROFILES, []) => match read_json(request).await {
            Ok(body) => create_profile(&mut shared.lock(), body),
            Err(response) => response,
        },
        (&Method::DELETE, SERVER_PROFILES, [_]) => delete_profile_request(shared, path),
        _ => not_found(path),
    }
}

/// `PUT {hardware}/powerState`; attached machines follow a change of power state.
fn power_request(shared: &Shared, path: &str, body: &Value) -> Response {
    let hardware = path.rsplit_once('/').map_or(path, |(hardware, _)| hardware);
    let mut state = shared.lock();
    let before = power_state(&state, hardware);
    let response = power(&mut state, hardware, body);
    let after = power_state(&state, hardware);
    if let Some(machines) = shared.machines().filter(|_| before != after) {
        match after.as_str() {
            "On" => machines.power_on(&state, hardware),
            _ => machines.power_off(hardware),
        }
    }
    response
}

/// `DELETE {profile}`; attached machines learn that the profile is gone.
fn delete_profile_request(shared: &Shared, path: &str) -> Response {
    let mut state = shared.lock();
    let hardware = state
        .get(path)
        .map(|p| text(p, "serverHardwareUri").to_string());
    let response = delete_profile(&mut state, path);
    if let (Some(machines), Some(hardware)) = (shared.machines(), hardware)
        && state.get(path).is_none()
    {
        machines.profile_deleted(&hardware);
    }
    response
}

fn power_state(state: &State, hardware: &str) -> String {
    state
        .get(hardware)
        .map(|h| text(h, "powerState").to_string())
        .unwrap_or_default()
}

fn bad_request(code: &str, message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, code, message, "")
}

async fn read_json(request: Request) -> Result<Value, Response> {
    let bytes = axum::body::to_bytes(request.into_body(), 16 << 20)
        .await
        .map_err(|e| bad_request("INVALID_REQUEST", &format!("could not read the body: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        bad_request(
            "INVALID_JSON",
            &format!("The request body is not valid JSON: {e}"),
        )
    })
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Sets a field of a stored resource (keeps its eTag rules: `replace` issues a new one).
fn set_fields(state: &mut State, uri: &str, fields: &[(&str, Value)]) {
    if let Some(mut value) = state.get(uri).cloned() {
        for (key, field) in fields {
            value[*key] = field.clone();
        }
        state.replace(uri, value);
    }
}

fn power(state: &mut State, hardware_uri: &str, body: &Value) -> Response {
    let Some(hardware) = state.get(hardware_uri).cloned() else {
        return not_found(hardware_uri);
    };
    let wanted = text(body, "powerState");
    if wanted != "On" && wanted != "Off" {
        return bad_request(
            "INVALID_POWER_STATE",
            &format!("powerState {wanted:?} is not On or Off."),
        );
    }
    let control = text(body, "powerControl");
    if !POWER_CONTROLS.contains(&control) {
        return bad_request(
            "INVALID_POWER_CONTROL",
            &format!(
                "powerControl {control:?} is not one of {}.",
                POWER_CONTROLS.join(", ")
            ),
        );
    }
    let fails = state.next_task_fails("Update");
    if !fails {
        set_fields(state, hardware_uri, &[("powerState", json!(wanted))]);
    }
    accepted(state.task(
        "Update",
        hardware_uri,
        text(&hardware, "name"),
        fails,
        vec![],
        false,
    ))
}

fn create_profile(state: &mut State, mut body: Value) -> Response {
    let checked = check_profile(state, &body).and_then(|name| {
        let hardware = free_hardware(state, &body)?;
        check_deployment(state, &body)?;
        Ok((name, hardware))
    });
    let (name, hardware) = match checked {
        Ok(checked) => checked,
        Err(response) => return response,
    };
    let fails = state.next_task_fails("Create");
    if fails {
        return accepted(state.task("Create", "", &name, true, vec![], false));
    }
    let hardware_uri = text(&body, "serverHardwareUri").to_string();
    if let Some(object) = body.as_object_mut() {
        object.remove("uri");
        object.insert("category".into(), json!(category(SERVER_PROFILES)));
        object.insert(
            "serverHardwareTypeUri".into(),
            hardware
                .get("serverHardwareTypeUri")
                .cloned()
                .unwrap_or(Value::Null),
        );
        object.insert(
            "enclosureUri".into(),
            hardware.get("locationUri").cloned().unwrap_or(Value::Null),
        );
        object.insert(
            "enclosureBay".into(),
            hardware.get("position").cloned().unwrap_or(Value::Null),
        );
    }
    let created = state.insert(SERVER_PROFILES, body, None);
    let uri = text(&created, "uri").to_string();
    set_fields(
        state,
        &hardware_uri,
        &[
            ("serverProfileUri", json!(uri)),
            ("state", json!("ProfileApplied")),
        ],
    );
    accepted(state.task("Create", &uri, &name, false, vec![], false))
}

/// A profile request is an object with a new name and a server profile `type`; returns the name.
fn check_profile(state: &State, body: &Value) -> Result<String, Response> {
    if !body.is_object() {
        return Err(bad_request(
            "INVALID_RESOURCE",
            "The request body must be a JSON object.",
        ));
    }
    let name = text(body, "name").to_string();
    if name.is_empty() {
        return Err(bad_request(
            "INVALID_RESOURCE",
            "The name field is required.",
        ));
    }
    if !text(body, "type").starts_with("ServerProfile")
        || text(body, "type").starts_with("ServerProfileTemplate")
    {
        return Err(bad_request(
            "INVALID_RESOURCE",
            &format!(
                "The \"type\" field content, {:?}, included in this request is invalid.",
                text(body, "type")
            ),
        ));
    }
    if state.by_name(SERVER_PROFILES, &name).is_some() {
        return Err(error(
            StatusCode::CONFLICT,
            "DUPLICATE_NAME",
            &format!("A server profile named {name:?} already exists."),
            "",
        ));
    }
    Ok(name)
}

/// The server hardware the profile names, which must exist, have no profile and be off.
fn free_hardware(state: &State, body: &Value) -> Result<Value, Response> {
    let hardware_uri = text(body, "serverHardwareUri");
    let Some(hardware) = state
        .get(hardware_uri)
        .filter(|_| hardware_uri.starts_with(SERVER_HARDWARE))
        .cloned()
    else {
        return Err(bad_request(
            "INVALID_SERVER_HARDWARE",
            &format!("serverHardwareUri {hardware_uri:?} does not refer to server hardware."),
        ));
    };
    if let Some(other) = hardware
        .get("serverProfileUri")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
    {
        return Err(error(
            StatusCode::CONFLICT,
            "SERVER_HARDWARE_IN_USE",
            &format!(
                "{} already has the server profile {other}.",
                text(&hardware, "name")
            ),
            "",
        ));
    }
    if text(&hardware, "powerState") != "Off" {
        return Err(bad_request(
            "SERVER_HARDWARE_POWERED_ON",
            &format!(
                "{} must be powered off to apply a server profile.",
                text(&hardware, "name")
            ),
        ));
    }
    Ok(hardware)
}

/// The template and OS deployment plan the profile names exist, and its custom attributes
/// have names and string values.
fn check_deployment(state: &State, body: &Value) -> Result<(), Response> {
    let template_uri = text(body, "serverProfileTemplateUri");
    if !template_uri.is_empty() && state.get(template_uri).is_none() {
        return Err(bad_request(
            "INVALID_TEMPLATE",
            &format!("serverProfileTemplateUri {template_uri:?} does not exist."),
        ));
    }
    if let Some(plan) = body
        .pointer("/osDeploymentSettings/osDeploymentPlanUri")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        && !state.os_deployment_plans().iter().any(|o| o["uri"] == plan)
    {
        return Err(bad_request(
            "INVALID_OS_DEPLOYMENT_PLAN",
            &format!("osDeploymentPlanUri {plan:?} is not a OneView OS deployment plan."),
        ));
    }
    for attribute in body
        .pointer("/osDeploymentSettings/osCustomAttributes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if attribute
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
            || !attribute.get("value").is_some_and(Value::is_string)
        {
            // Name only: the value may be a secret.
            let name = attribute
                .get("name")
                .map(|n| n.to_string())
                .unwrap_or_default();
            return Err(bad_request(
                "INVALID_CUSTOM_ATTRIBUTE",
                &format!("osCustomAttributes item {name} needs a name and a string value."),
            ));
        }
    }
    Ok(())
}

fn delete_profile(state: &mut State, uri: &str) -> Response {
    let Some(profile) = state.get(uri).cloned() else {
        return not_found(uri);
    };
    let hardware_uri = text(&profile, "serverHardwareUri").to_string();
    if let Some(hardware) = state.get(&hardware_uri)
        && text(hardware, "powerState") != "Off"
    {
        return bad_request(
            "SERVER_HARDWARE_POWERED_ON",
            &format!(
                "{} must be powered off to remove its server profile.",
                text(hardware, "name")
            ),
        );
    }
    let fails = state.next_task_fails("Delete");
    if !fails {
        state.remove(uri);
        set_fields(
            state,
            &hardware_uri,
            &[
                ("serverProfileUri", Value::Null),
                ("state", json!("NoProfileApplied")),
            ],
        );
    }
    accepted(state.task("Delete", uri, text(&profile, "name"), fails, vec![], false))
}

/// A seed (for `POST /sim/seed`) of `enclosures` frames with `bays` device bays each; bay `n` of
/// frame `f` holds powered-off server hardware `"<frame>, bay <n>"` unless listed in `empty`.
/// Ids are derived from the names, so tests can name URIs in advance.
pub fn lab_seed(enclosures: &[&str], bays: u32, empty: &[(&str, u32)]) -> Value {
    let mut frames = Vec::new();
    let mut hardware = Vec::new();
    for frame in enclosures {
        let frame_id = name_id(frame);
        let mut device_bays = Vec::new();
        for bay in 1..=bays {
            let occupied = !empty.contains(&(*frame, bay));
            let name = format!("{frame}, bay {bay}");
            let id = name_id(&name);
            let device_uri = occupied.then(|| member(SERVER_HARDWARE, &id));
            device_bays.push(json!({"bayNumber": bay, "devicePresence": if occupied { "Present" } else { "Absent" }, "deviceUri": device_uri}));
            if occupied {
                hardware.push(json!({"id": id, "type": "server-hardware-12", "name": name, "powerState": "Off", "serverProfileUri": null,
                    "state": "NoProfileApplied", "locationUri": member(ENCLOSURES, &frame_id), "position": bay,
                    "serverHardwareTypeUri": member(SERVER_HARDWARE_TYPES, "SY480-Gen10"), "model": "Synergy 480 Gen10"}));
            }
        }
        frames.push(json!({"id": frame_id, "type": "EnclosureV8", "name": frame, "deviceBayCount": bays, "deviceBays": device_bays}));
    }
    json!({ ENCLOSURES: frames, SERVER_HARDWARE: hardware })
}

/// A stable id for a seeded name (the simulator's own ids are random).
pub fn name_id(name: &str) -> String {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}
