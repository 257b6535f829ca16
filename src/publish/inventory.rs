//! What the Image Streamer holds, listed once per resource kind (a publish with nothing to change
//! makes exactly one list request per kind).
use crate::appliance::client::{Client, Host, Result};
use serde_json::Value;

pub use crate::appliance::api::{
    ARTIFACT_BUNDLES, BUILD_PLANS, DEPLOYMENT_PLANS, GOLDEN_IMAGES, PLAN_SCRIPTS,
};

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub plan_scripts: Vec<Value>,
    pub build_plans: Vec<Value>,
    pub golden_images: Vec<Value>,
    pub deployment_plans: Vec<Value>,
}

impl Inventory {
    pub fn load(client: &Client) -> Result<Inventory> {
        Ok(Inventory {
            plan_scripts: client.list(Host::ImageStreamer, PLAN_SCRIPTS, None)?,
            build_plans: client.list(Host::ImageStreamer, BUILD_PLANS, None)?,
            golden_images: client.list(Host::ImageStreamer, GOLDEN_IMAGES, None)?,
            deployment_plans: client.list(Host::ImageStreamer, DEPLOYMENT_PLANS, None)?,
        })
    }
}

/// The one object of that exact name; several is an error (names are how publish finds things).
pub fn by_name<'a>(list: &'a [Value], name: &str, what: &str) -> Result<Option<&'a Value>, String> {
    let found: Vec<&Value> = list
        .iter()
        .filter(|v| v.get("name").and_then(Value::as_str) == Some(name))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(format!(
            "{} {what}s are named {name:?} on the appliance ({}); rename or delete the extra ones",
            many.len(),
            many.iter()
                .filter_map(|v| v.get("uri").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

pub fn uri_of(value: &Value) -> Option<String> {
    value.get("uri").and_then(Value::as_str).map(str::to_string)
}
