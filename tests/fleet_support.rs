//! Shared by the status, prune and Ansible tests: the appliance's REST API as another writer
//! would use it (logged in, like the UI), and bundles whose versions bring their own artifacts.
#![allow(dead_code)]
use crate::publish_support::PASSWORD;
use i3s_bundle::bundle::{
    BuildPlan, BuildStep, Bundle, ChecksumFlavour, DeploymentPlan, Manifest, PlanScript,
    write_bundle,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// A logged-in session on a simulator at `base` (its URL).
pub struct Rest {
    base: String,
    agent: ureq::Agent,
    session: String,
}

impl Rest {
    pub fn login(base: &str) -> Rest {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut response = agent
            .post(format!("{base}/rest/login-sessions"))
            .send_json(json!({"userName": "administrator", "password": PASSWORD}))
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.body_mut().read_json().unwrap();
        Rest {
            base: base.to_string(),
            agent,
            session: body["sessionID"].as_str().unwrap().to_string(),
        }
    }

    /// One request; returns the status and the JSON body (`null` when there is none).
    pub fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("auth", &self.session)
            .header("X-API-Version", "2000")
            .header("Content-Type", "application/json")
            .body(body.map(|b| b.to_string().into_bytes()).unwrap_or_default())
            .unwrap();
        let mut response = self.agent.run(request).unwrap();
        let text = response.body_mut().read_to_string().unwrap();
        (
            response.status().as_u16(),
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }

    /// The one member of `collection` named `name`.
    pub fn named(&self, collection: &str, name: &str) -> Value {
        let (status, list) = self.send("GET", &format!("{collection}?start=0&count=-1"), None);
        assert_eq!(status, 200, "{list}");
        let found: Vec<&Value> = list["members"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["name"] == name)
            .collect();
        assert_eq!(found.len(), 1, "{name} in {collection}: {list}");
        found[0].clone()
    }
}

/// Sets the simulator's faults over its `/sim/faults` hook (camelCase keys, as served).
pub fn set_faults(base: &str, faults: &Value) {
    let mut response = ureq::put(format!("{base}/sim/faults"))
        .send_json(faults)
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "{:?}",
        response.body_mut().read_to_string()
    );
}

/// The names of one version's artifacts (versioned, as `artifact_names = "versioned"` builds).
pub fn versioned(what: &str, version: &str) -> String {
    format!("v - {what} - {version}")
}

/// Bundle `v-bundle_<version>`: a plan script, a build plan and a deployment plan, each named
/// with the version, so every version brings its own artifacts.
pub fn versioned_bundle(dir: &Path, version: &str) -> PathBuf {
    let name = format!("v-bundle_{version}");
    let id = |n: u32| {
        let digest = format!("{:x}", md5_like(&format!("{version}-{n}")));
        format!("{}-0000-4000-8000-{}", &digest[..8], &digest[8..20])
    };
    let script = PlanScript::new(
        id(1),
        versioned("script", version),
        "Hostname".into(),
        "deploy",
        format!("# {version}\nwrite /etc/hostname \"@HOSTNAME@\"\n"),
    );
    let mut build = BuildPlan::new(
        id(2),
        versioned("build", version),
        "Deploy".into(),
        "deploy",
    );
    build.steps = vec![BuildStep::new(1, &script)];
    let plan = DeploymentPlan::new(
        id(3),
        versioned("plan", version),
        "Plan".into(),
        versioned("build", version),
        String::new(),
    );
    let bundle = Bundle {
        manifest: Manifest::new(
            &name,
            "versioned test bundle",
            false,
            "2026-11-26T12:00:00.000Z".into(),
        ),
        checksum: ChecksumFlavour::Sha256,
        plan_scripts: vec![script],
        golden_images: vec![],
        build_plans: vec![build],
        deployment_plans: vec![plan],
    };
    let path = dir.join(format!("{name}.zip"));
    write_bundle(&bundle, &path).expect("bundle written");
    path
}

/// A stable 128-bit spread of a text, for test uuids (not a hash anyone relies on).
fn md5_like(text: &str) -> u128 {
    text.bytes()
        .fold(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d, |h: u128, b| {
            (h ^ u128::from(b)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013B)
        })
}
