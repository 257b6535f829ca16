//! The appliance's REST vocabulary: every `/rest/` path the client calls and the simulator serves.
//!
//! One place spells them (docs/appliance-api.md describes each call); both sides import these
//! names, so a path cannot drift between what we send and what the simulator answers.

/// `GET`: the API versions an appliance speaks (both OneView and Image Streamer answer it).
pub const VERSION: &str = "/rest/version";
/// `POST`: log in (OneView), answering the session id later calls send as `Auth`.
pub const LOGIN_SESSIONS: &str = "/rest/login-sessions";
/// Asynchronous operations answer `202` with a task under this collection.
pub const TASKS: &str = "/rest/tasks";

// Image Streamer collections.
pub const PLAN_SCRIPTS: &str = "/rest/plan-scripts";
pub const BUILD_PLANS: &str = "/rest/build-plans";
pub const DEPLOYMENT_PLANS: &str = "/rest/deployment-plans";
pub const GOLDEN_IMAGES: &str = "/rest/golden-images";
pub const ARTIFACT_BUNDLES: &str = "/rest/artifact-bundles";

// OneView collections.
pub const ENCLOSURES: &str = "/rest/enclosures";
pub const SERVER_HARDWARE: &str = "/rest/server-hardware";
pub const SERVER_HARDWARE_TYPES: &str = "/rest/server-hardware-types";
pub const SERVER_PROFILES: &str = "/rest/server-profiles";
pub const SERVER_PROFILE_TEMPLATES: &str = "/rest/server-profile-templates";
/// OneView's view of the Image Streamer deployment plans. The HPE SDKs request it with a trailing
/// slash ([`OS_DEPLOYMENT_PLANS_AS_SDK`]); an appliance (and the simulator) answers both.
pub const OS_DEPLOYMENT_PLANS: &str = "/rest/os-deployment-plans";
pub const OS_DEPLOYMENT_PLANS_AS_SDK: &str = "/rest/os-deployment-plans/";

/// Every collection prefix starts with this; a resource's category is its path without it.
pub const REST_PREFIX: &str = "/rest/";

// Names below and beside the collections, for the client and the simulator alike.
/// `GET`: how long a session lives unused (the Go SDK's session check).
pub const SESSIONS_IDLE_TIMEOUT: &str = "/rest/sessions/idle-timeout";
/// `GET {ARTIFACT_BUNDLE_DOWNLOADS}/{id}`: a bundle's zip (its `downloadURI`).
pub const ARTIFACT_BUNDLE_DOWNLOADS: &str = "/rest/artifact-bundles/download";
/// `PUT {server hardware}/{POWER_STATE}`: power a server on or off (a task).
pub const POWER_STATE: &str = "powerState";
/// `GET {server profile template}/{NEW_PROFILE}`: the skeleton of a profile made from it.
pub const NEW_PROFILE: &str = "new-profile";

/// `/rest/plan-scripts/abc` → `plan-scripts`; the category a collection's resources carry.
pub fn category(collection: &str) -> &str {
    collection.trim_start_matches(REST_PREFIX)
}

/// The URI of a member of a collection: `/rest/plan-scripts` + `abc` → `/rest/plan-scripts/abc`.
pub fn member(collection: &str, id: &str) -> String {
    format!("{}/{id}", collection.trim_end_matches('/'))
}

/// Where a bundle's zip downloads from: its `downloadURI`, else the download path of its id
/// (the last segment of its `uri`).
pub fn bundle_download(bundle: &serde_json::Value) -> String {
    let text = |key: &str| bundle.get(key).and_then(serde_json::Value::as_str);
    match text("downloadURI") {
        Some(uri) => uri.to_string(),
        None => {
            let id = text("uri").and_then(|u| u.rsplit('/').next());
            member(ARTIFACT_BUNDLE_DOWNLOADS, id.unwrap_or_default())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_downloads_from_its_download_uri_else_from_its_id() {
        let listed =
            serde_json::json!({"uri": "/rest/artifact-bundles/ab12", "downloadURI": "/x/y"});
        assert_eq!(bundle_download(&listed), "/x/y");
        let bare = serde_json::json!({"uri": "/rest/artifact-bundles/ab12"});
        assert_eq!(
            bundle_download(&bare),
            "/rest/artifact-bundles/download/ab12"
        );
    }

    #[test]
    fn the_bundle_format_refers_to_plan_scripts_by_this_collection() {
        assert_eq!(
            crate::bundle::model::PLAN_SCRIPT_URI_PREFIX,
            format!("{PLAN_SCRIPTS}/")
        );
        assert_eq!(
            OS_DEPLOYMENT_PLANS_AS_SDK,
            format!("{OS_DEPLOYMENT_PLANS}/")
        );
    }

    #[test]
    fn members_and_categories() {
        assert_eq!(member(PLAN_SCRIPTS, "abc"), "/rest/plan-scripts/abc");
        assert_eq!(
            member(OS_DEPLOYMENT_PLANS_AS_SDK, "x"),
            "/rest/os-deployment-plans/x"
        );
        assert_eq!(category(SERVER_PROFILES), "server-profiles");
    }
}
