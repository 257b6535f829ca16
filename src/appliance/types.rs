//! The one place that maps an API version to the resource `type` values (docs/appliance-api.md
//! §1.5).

/// The lowest API version at which the `V5` types are used.
const V5_FROM: u32 = 500;

pub fn deployment_plan_type(api_version: u32) -> &'static str {
    if api_version >= V5_FROM {
        "OEDeploymentPlanV5"
    } else {
        "OEDeploymentPlan"
    }
}

pub fn build_plan_type(api_version: u32) -> &'static str {
    if api_version >= V5_FROM {
        "OeBuildPlanV5"
    } else {
        "OeBuildPlan"
    }
}

pub const PLAN_SCRIPT_TYPE: &str = "PlanScript";
pub const GOLDEN_IMAGE_TYPE: &str = "GoldenImage";
pub const ARTIFACTS_BUNDLE_TYPE: &str = "ArtifactsBundle";
pub const TASK_TYPE: &str = "TaskResourceV2";

/// The server profile template `type` per API version (HPY DEFAULT_VALUES).
pub fn server_profile_template_type(api_version: u32) -> &'static str {
    match api_version {
        0..300 => "ServerProfileTemplateV1",
        300..500 => "ServerProfileTemplateV2",
        500..600 => "ServerProfileTemplateV3",
        600..800 => "ServerProfileTemplateV4",
        800..1000 => "ServerProfileTemplateV5",
        1000..1200 => "ServerProfileTemplateV6",
        1200..1600 => "ServerProfileTemplateV7",
        _ => "ServerProfileTemplateV8",
    }
}
