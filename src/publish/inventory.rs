//! What the Image Streamer holds, listed once per resource kind (a publish with nothing to change
//! makes exactly one list request per kind).
use crate::appliance::client::{Client, Host, Result};
pub use crate::appliance::lookup::by_name;
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

pub fn uri_of(value: &Value) -> Option<String> {
    value.get("uri").and_then(Value::as_str).map(str::to_string)
}
