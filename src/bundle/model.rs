//! The artifacts a bundle carries. Field names follow the appliance's JSON keys.
use super::attribute::CustomAttribute;
use super::json_object::json_object;
use serde::{Deserialize, Deserializer};
use serde_json::Map;

/// `hpProvided` is a bool in bundles but a string ("false") in some SDK payloads.
fn lenient_bool<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    use serde::de::Error as _;
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Null => Ok(false),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        serde_json::Value::String(s) if s.eq_ignore_ascii_case("false") || s.is_empty() => {
            Ok(false)
        }
        other => Err(D::Error::custom(format!(
            "expected a boolean, found {other}"
        ))),
    }
}

/// The URI prefix by which build steps reference plan scripts.
/// How a build plan in a bundle refers to its plan scripts. It is the appliance's plan-script
/// collection (`crate::appliance::api::PLAN_SCRIPTS`), spelled here because the bundle format sits
/// below the appliance layer; a test in `appliance::api` keeps the two equal.
pub const PLAN_SCRIPT_URI_PREFIX: &str = "/rest/plan-scripts/";

json_object! {
    /// A guestfish plan script (`<uuid>_planscript.json`).
    pub struct PlanScript in plan_script_serde {
        #[serde(rename = "type")]
        pub kind: String,
        pub id: String,
        pub name: String,
        #[serde(default)]
        pub description: Option<String>,
        #[serde(rename = "planType", default)]
        pub plan_type: String,
        #[serde(default)]
        pub content: String,
        #[serde(rename = "hpProvided", default, deserialize_with = "lenient_bool")]
        pub hp_provided: bool,
    }
    newest = ["type", "uri", "category", "eTag", "created", "modified", "id", "name", "description",
              "status", "state", "planType", "content", "customAttributes", "hpProvided",
              "dependentArtifacts"];
}

json_object! {
    /// One step of a build plan. `serialNumber` is a string, "1".."n".
    pub struct BuildStep in build_step_serde {
        #[serde(rename = "serialNumber")]
        pub serial_number: String,
        #[serde(rename = "planScriptName", default)]
        pub plan_script_name: String,
        #[serde(rename = "planScriptUri", default)]
        pub plan_script_uri: String,
        #[serde(default)]
        pub parameters: Option<serde_json::Value>,
    }
    newest = ["serialNumber", "planScriptName", "planScriptUri", "parameters"];
}

json_object! {
    /// An OS build plan (`<uuid>_buildplan.json`). Its id key is `buildPlanid`.
    pub struct BuildPlan in build_plan_serde {
        #[serde(rename = "type")]
        pub kind: String,
        #[serde(rename = "buildPlanid")]
        pub id: String,
        pub name: String,
        #[serde(default)]
        pub description: Option<String>,
        #[serde(rename = "hpProvided", default, deserialize_with = "lenient_bool")]
        pub hp_provided: bool,
        #[serde(rename = "oeBuildPlanType", default)]
        pub build_plan_type: String,
        #[serde(rename = "buildStep", default)]
        pub steps: Vec<BuildStep>,
        #[serde(rename = "customAttributes", default)]
        pub custom_attributes: Vec<CustomAttribute>,
    }
    newest = ["type", "uri", "category", "eTag", "created", "modified", "buildPlanid", "name",
              "description", "status", "hpProvided", "oeBuildPlanType", "buildStep",
              "customAttributes", "dependentArtifacts"];
}

json_object! {
    /// A deployment plan (`<uuid>_deploymentplan.json`). Inside a bundle `oeBuildPlanURI` and
    /// `goldenImageURI` hold *names*; over the REST API they hold URIs.
    pub struct DeploymentPlan in deployment_plan_serde {
        #[serde(rename = "type")]
        pub kind: String,
        pub id: String,
        pub name: String,
        #[serde(default)]
        pub description: Option<String>,
        #[serde(rename = "hpProvided", default, deserialize_with = "lenient_bool")]
        pub hp_provided: bool,
        #[serde(rename = "oeBuildPlanURI", default)]
        pub build_plan: String,
        #[serde(rename = "goldenImageURI", default)]
        pub golden_image: Option<String>,
        #[serde(rename = "customAttributes", default)]
        pub custom_attributes: Vec<CustomAttribute>,
    }
    newest = ["type", "id", "name", "description", "hpProvided", "importMetadata", "oeBuildPlanURI",
              "goldenImageURI", "customAttributes", "uri", "category", "eTag", "created", "modified",
              "status", "state"];
}

json_object! {
    /// Golden image metadata (`<uuid>_goldenimage.json`); the payload is a separate entry named
    /// exactly like the image.
    pub struct GoldenImage in golden_image_serde {
        #[serde(rename = "type")]
        pub kind: String,
        pub id: String,
        pub name: String,
        #[serde(default)]
        pub description: Option<String>,
    }
    newest = ["type", "uri", "category", "eTag", "created", "modified", "id", "name", "description",
              "status", "state", "bundleName", "bundleURI", "artifactBundleCategory",
              "importedFromBundle", "imageCapture", "readOnly", "size", "checkSum", "osVolumeName",
              "osVolumeURI", "osVolumeCategory", "buildPlanName", "buildPlanUri", "buildPlanCategory",
              "dependentArtifacts"];
}

impl PlanScript {
    pub const KIND: &'static str = "PlanScript";

    pub fn new(
        id: String,
        name: String,
        description: String,
        plan_type: &str,
        content: String,
    ) -> Self {
        PlanScript {
            kind: Self::KIND.to_string(),
            id,
            name,
            description: Some(description),
            plan_type: plan_type.to_string(),
            content,
            hp_provided: false,
            extra: Map::new(),
            key_order: Vec::new(),
        }
    }

    pub fn uri(&self) -> String {
        format!("{PLAN_SCRIPT_URI_PREFIX}{}", self.id)
    }
}

impl BuildStep {
    pub fn new(serial: usize, script: &PlanScript) -> Self {
        BuildStep {
            serial_number: serial.to_string(),
            plan_script_name: script.name.clone(),
            plan_script_uri: script.uri(),
            parameters: None,
            extra: Map::new(),
            key_order: Vec::new(),
        }
    }

    /// The plan script id the step points at, if its URI has the expected shape.
    pub fn plan_script_id(&self) -> Option<&str> {
        self.plan_script_uri.strip_prefix(PLAN_SCRIPT_URI_PREFIX)
    }
}

impl BuildPlan {
    /// Accepted `type` values: the bundle form and the API ≥ 500 form.
    pub const KINDS: [&'static str; 2] = ["OeBuildPlan", "OeBuildPlanV5"];

    pub fn new(id: String, name: String, description: String, build_plan_type: &str) -> Self {
        BuildPlan {
            kind: Self::KINDS[0].to_string(),
            id,
            name,
            description: Some(description),
            hp_provided: false,
            build_plan_type: build_plan_type.to_string(),
            steps: Vec::new(),
            custom_attributes: Vec::new(),
            extra: Map::new(),
            key_order: Vec::new(),
        }
    }

    pub fn is_capture(&self) -> bool {
        self.build_plan_type.eq_ignore_ascii_case("capture")
    }
}

impl DeploymentPlan {
    pub const KINDS: [&'static str; 2] = ["OEDeploymentPlan", "OEDeploymentPlanV5"];

    pub fn new(
        id: String,
        name: String,
        description: String,
        build_plan: String,
        golden_image: String,
    ) -> Self {
        DeploymentPlan {
            kind: Self::KINDS[0].to_string(),
            id,
            name,
            description: Some(description),
            hp_provided: false,
            build_plan,
            golden_image: Some(golden_image),
            custom_attributes: Vec::new(),
            extra: Map::new(),
            key_order: Vec::new(),
        }
    }

    /// The golden image name, `None` when the plan names none (`""`).
    pub fn golden_image_name(&self) -> Option<&str> {
        self.golden_image.as_deref().filter(|g| !g.is_empty())
    }
}

impl GoldenImage {
    pub const KIND: &'static str = "GoldenImage";

    pub fn new(id: String, name: String, description: String) -> Self {
        let mut extra = Map::new();
        extra.insert("artifactBundleCategory".into(), "artifact-bundles".into());
        extra.insert("importedFromBundle".into(), true.into());
        extra.insert("imageCapture".into(), false.into());
        extra.insert("readOnly".into(), false.into());
        extra.insert("size".into(), 0.into());
        GoldenImage {
            kind: Self::KIND.to_string(),
            id,
            name,
            description: Some(description),
            extra,
            key_order: Vec::new(),
        }
    }
}
