//! The OneView (and Image Streamer) calls `deploy` makes: finding the server, the template, the
//! deployment plan and existing profiles (reads only), then creating and deleting the profile and
//! switching the power (writes, each a task that is waited for).
use super::{ApplianceError, Client, Host};
use crate::bundle::CustomAttribute;
use crate::error::{Context, Error, Result};
use serde_json::{Value, json};
use ureq::http::Method;

pub use super::api::{
    ENCLOSURES, OS_DEPLOYMENT_PLANS_AS_SDK as OS_DEPLOYMENT_PLANS, SERVER_HARDWARE,
    SERVER_PROFILE_TEMPLATES as TEMPLATES, SERVER_PROFILES,
};

pub fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Exactly one resource of that name on OneView, or an error saying what was found.
pub fn one_by_name(client: &Client, collection: &str, what: &str, name: &str) -> Result<Value> {
    super::lookup::named(client, Host::OneView, collection, what, name)?
        .ok_or_else(|| Error::Usage(format!("OneView has no {what} named {name:?}")))
}

/// The server hardware in bay `bay` of enclosure `enclosure`: an empty bay is an error naming it.
pub fn hardware_in_bay(client: &Client, enclosure: &str, bay: u32) -> Result<Value> {
    let frame = one_by_name(client, ENCLOSURES, "enclosure", enclosure)?;
    let bays = frame
        .get("deviceBays")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // OneView numbers bays from 1; the list is normally in order, but the number is what counts.
    let slot = bays
        .iter()
        .find(|b| b.get("bayNumber").and_then(Value::as_u64) == Some(bay as u64))
        .or_else(|| {
            bays.iter()
                .all(|b| b.get("bayNumber").is_none())
                .then(|| bays.get(bay as usize - 1))
                .flatten()
        });
    let Some(slot) = slot else {
        return Err(Error::Usage(format!(
            "enclosure {enclosure:?} has no bay {bay} (it has {} device bays)",
            bays.len()
        )));
    };
    let uri = text(slot, "deviceUri");
    if uri.is_empty() {
        return Err(Error::Usage(format!(
            "bay {bay} of enclosure {enclosure:?} is empty: no server hardware in it"
        )));
    }
    client
        .get(Host::OneView, uri)
        .context(|| format!("bay {bay} of enclosure {enclosure:?}"))
}

/// The deployment plan behind a OneView OS deployment plan: its published custom attributes,
/// read from the Image Streamer (`nativePlanUri`), falling back to OneView's
/// `additionalParameters`.
pub fn plan_attributes(client: &Client, osdp: &Value) -> Result<Vec<CustomAttribute>> {
    let native = text(osdp, "nativePlanUri");
    if !native.is_empty() {
        let plan = client
            .get(Host::ImageStreamer, native)
            .context(|| format!("deployment plan {native}"))?;
        let attributes = plan.get("customAttributes").cloned().unwrap_or(json!([]));
        return serde_json::from_value(attributes).map_err(|e| {
            Error::other(format!("deployment plan {native}: custom attributes: {e}"))
        });
    }
    // OneView spells the same data with `ca` prefixes (docs/appliance-api.md §8.1).
    let parameters = osdp
        .get("additionalParameters")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let converted: Vec<Value> = parameters
        .iter()
        .map(|p| {
            json!({"name": p["name"], "type": p.get("caType").cloned().unwrap_or(json!("string")), "value": p.get("value").cloned().unwrap_or(json!("")),
                   "constraints": p.get("caConstraints").cloned().unwrap_or(json!("{}")), "description": p.get("description").cloned().unwrap_or(json!(""))})
        })
        .collect();
    serde_json::from_value(Value::Array(converted)).map_err(|e| {
        Error::other(format!(
            "OS deployment plan {:?}: additionalParameters: {e}",
            text(osdp, "name")
        ))
    })
}

/// The `{name, value}` pairs of a profile body's `osDeploymentSettings.osCustomAttributes`.
pub fn os_custom_attributes(body: &Value) -> Vec<(String, String)> {
    body.pointer("/osDeploymentSettings/osCustomAttributes")
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let value = match i.get("value") {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Null) | None => String::new(),
                        Some(other) => other.to_string(),
                    };
                    (text(i, "name").to_string(), value)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The server profile `type` per API version (HPY `server_profiles.DEFAULT_VALUES`), used only
/// when a profile is built without a template skeleton.
pub fn server_profile_type(api_version: u32) -> &'static str {
    match api_version {
        0..300 => "ServerProfileV5",
        300..500 => "ServerProfileV6",
        500..600 => "ServerProfileV7",
        600..800 => "ServerProfileV8",
        800..1000 => "ServerProfileV9",
        1000..1200 => "ServerProfileV10",
        1200..1600 => "ServerProfileV11",
        _ => "ServerProfileV12",
    }
}

/// Creates the profile and waits for its task; returns the created profile.
pub fn create_profile(client: &Client, body: &Value) -> Result<Value, ApplianceError> {
    client.write(Method::POST, Host::OneView, SERVER_PROFILES, Some(body))
}

/// Sets the power and waits for the task. Off uses PressAndHold (a deploy is not a shutdown the
/// OS could veto), On a MomentaryPress, as the reference script did.
pub fn set_power(client: &Client, hardware_uri: &str, on: bool) -> Result<(), ApplianceError> {
    let body = if on {
        json!({"powerState": "On", "powerControl": "MomentaryPress"})
    } else {
        json!({"powerState": "Off", "powerControl": "PressAndHold"})
    };
    client
        .write(
            Method::PUT,
            Host::OneView,
            &format!("{hardware_uri}/{}", super::api::POWER_STATE),
            Some(&body),
        )
        .map(|_| ())
}

/// Deletes a profile and waits for its task.
pub fn delete_profile(client: &Client, profile_uri: &str) -> Result<(), ApplianceError> {
    client
        .write(Method::DELETE, Host::OneView, profile_uri, None)
        .map(|_| ())
}

/// The profiles named `name` (exact match).
pub fn profiles_named(client: &Client, name: &str) -> Result<Vec<Value>, ApplianceError> {
    client.list(Host::OneView, SERVER_PROFILES, Some(name))
}
