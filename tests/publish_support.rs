//! Shared by the publish and simulator tests: a simulator on loopback, small bundles built with
//! the library's writer, and a `publish` command wired to the simulator with fast timings.
#![allow(dead_code)]
use i3s_bundle::bundle::{
    AttributeType, BuildPlan, BuildStep, Bundle, ChecksumFlavour, CustomAttribute, DeploymentPlan,
    Manifest, PlanScript, write_bundle,
};
use i3s_bundle::simulator::{SimConfig, Simulator};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

pub const PASSWORD: &str = "S3cr3t-Pa55-for-tests-7f3a";
pub const GOLDEN_IMAGE: &str = "Test Golden Image";
pub const TEMPLATE: &str = "Test Template";
pub const PLAN_A: &str = "t - Plan A";
pub const PLAN_B: &str = "t - Plan B";

pub fn sim_config() -> SimConfig {
    SimConfig {
        password: PASSWORD.into(),
        task_polls: 1,
        ..SimConfig::default()
    }
}

pub fn start(config: SimConfig) -> Simulator {
    Simulator::start(config).expect("simulator starts")
}

/// A plain HTTP client for the test hooks; trusts the simulator's CA when it serves HTTPS.
fn agent(sim: &Simulator) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder().http_status_as_error(false);
    if let Some(ca) = &sim.ca_cert {
        let pem = std::fs::read(ca).unwrap();
        let cert = ureq::tls::Certificate::from_pem(&pem).unwrap().to_owned();
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
                .build(),
        );
    }
    config.build().new_agent()
}

pub fn get(sim: &Simulator, path: &str) -> Value {
    let mut response = agent(sim)
        .get(format!("{}{path}", sim.base_url))
        .call()
        .expect("GET");
    response.body_mut().read_json().expect("JSON")
}

pub fn post(sim: &Simulator, path: &str, body: &Value) -> (u16, Value) {
    let mut response = agent(sim)
        .post(format!("{}{path}", sim.base_url))
        .send_json(body)
        .expect("POST");
    (
        response.status().as_u16(),
        response.body_mut().read_json().unwrap_or(Value::Null),
    )
}

pub fn put(sim: &Simulator, path: &str, body: &Value) -> Value {
    let mut response = agent(sim)
        .put(format!("{}{path}", sim.base_url))
        .send_json(body)
        .expect("PUT");
    response.body_mut().read_json().unwrap_or(Value::Null)
}

/// Seeds what publish expects to find: a golden image the bundle does not carry, a template.
pub fn seed_appliance(sim: &Simulator) {
    let (status, _) = post(
        sim,
        "/sim/seed",
        &json!({
            "/rest/golden-images": [{"type": "GoldenImage", "name": GOLDEN_IMAGE, "description": "seeded", "size": 1024}],
            "/rest/server-profile-templates": [{"type": "ServerProfileTemplateV8", "name": TEMPLATE, "description": "web tier",
                "osDeploymentSettings": {"osDeploymentPlanUri": null, "osCustomAttributes": [
                    {"name": "HOSTNAME", "value": "set-by-template"}, {"name": "MGMT.constraint", "value": "dhcp"}]}}],
        }),
    );
    assert_eq!(status, 201);
}

pub fn requests(sim: &Simulator) -> Value {
    get(sim, "/sim/requests")
}

pub fn reset_requests(sim: &Simulator) {
    agent(sim)
        .delete(format!("{}/sim/requests", sim.base_url))
        .call()
        .expect("DELETE");
}

/// Requests that change something, login/logout excluded (a session is not appliance state).
pub fn writes(sim: &Simulator) -> Vec<String> {
    let counts = requests(sim)["counts"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    counts
        .iter()
        .filter(|(k, _)| !k.starts_with("GET ") && !k.ends_with(" /rest/login-sessions"))
        .map(|(k, v)| format!("{k} ×{v}"))
        .collect()
}

/// A small bundle: two plan scripts, one build plan, two deployment plans (A attaches the seeded
/// golden image through the sidecar, B none), attributes including a password.
pub fn test_bundle(dir: &Path, version: &str, hostname_default: &str) -> PathBuf {
    let name = format!("t-bundle_{version}");
    let mount = PlanScript::new(
        "0b8e7a52-2c52-4c5e-9a55-6f0f0c1e0a01".into(),
        "t - mount".into(),
        "Mount root".into(),
        "general",
        "mount /dev/sda1 /\n".into(),
    );
    let host = PlanScript::new(
        "0b8e7a52-2c52-4c5e-9a55-6f0f0c1e0a02".into(),
        "t - hostname".into(),
        "Set host name".into(),
        "deploy",
        format!("# {version}\nwrite /etc/hostname \"@HOSTNAME@\"\n"),
    );
    let mut build = BuildPlan::new(
        "0b8e7a52-2c52-4c5e-9a55-6f0f0c1e0b01".into(),
        "t - Deploy".into(),
        "Deploy".into(),
        "deploy",
    );
    build.steps = vec![BuildStep::new(1, &mount), BuildStep::new(2, &host)];
    let mut hostname = CustomAttribute::new("HOSTNAME", AttributeType::String);
    hostname.value = Some(hostname_default.into());
    let root_pw = CustomAttribute::new("ROOT_PW", AttributeType::Password);
    build.custom_attributes = vec![hostname.clone(), root_pw.clone()];
    let plan_attributes = |visible: bool| {
        let mut attrs = vec![hostname.clone(), root_pw.clone()];
        for a in &mut attrs {
            a.visible = Some(visible);
            a.editable = Some(true);
        }
        attrs
    };
    let mut plan_a = DeploymentPlan::new(
        "0b8e7a52-2c52-4c5e-9a55-6f0f0c1e0c01".into(),
        PLAN_A.into(),
        "Plan A".into(),
        "t - Deploy".into(),
        String::new(),
    );
    plan_a.custom_attributes = plan_attributes(true);
    let mut plan_b = DeploymentPlan::new(
        "0b8e7a52-2c52-4c5e-9a55-6f0f0c1e0c02".into(),
        PLAN_B.into(),
        "Plan B".into(),
        "t - Deploy".into(),
        String::new(),
    );
    plan_b.custom_attributes = plan_attributes(false);
    let bundle = Bundle {
        manifest: Manifest::new(
            &name,
            "test bundle",
            false,
            "2026-11-26T12:00:00.000Z".into(),
        ),
        checksum: ChecksumFlavour::Sha256,
        plan_scripts: vec![mount, host],
        golden_images: vec![],
        build_plans: vec![build],
        deployment_plans: vec![plan_a, plan_b],
    };
    let path = dir.join(format!("{name}.zip"));
    write_bundle(&bundle, &path).expect("bundle written");
    std::fs::write(
        dir.join(format!("{name}.publish.json")),
        json!({"deploymentPlans": {PLAN_A: {"goldenImage": GOLDEN_IMAGE}}}).to_string(),
    )
    .unwrap();
    path
}

/// `i3s-bundle publish` against the simulator, credentials in the environment, fast timings.
pub fn publish(sim: &Simulator, args: &[&str]) -> std::process::Output {
    command(sim, "publish", args)
}

pub fn command(sim: &Simulator, subcommand: &str, args: &[&str]) -> std::process::Output {
    command_with_env(sim, subcommand, args, &[])
}

/// [`command`] with extra environment variables (e.g. `SSL_CERT_FILE`).
pub fn command_with_env(
    sim: &Simulator,
    subcommand: &str,
    args: &[&str],
    env: &[(&str, &std::path::Path)],
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_i3s-bundle"));
    cmd.arg(subcommand).args(args);
    // Fast timings unless the test sets its own.
    for (flag, value) in [
        ("--poll-interval", "5ms"),
        ("--retry-delay", "5ms"),
        ("--attempts", "6"),
        ("--task-timeout", "30"),
    ] {
        if !args.contains(&flag) {
            cmd.args([flag, value]);
        }
    }
    // The simulator serves plain http unless told otherwise: a cleartext login needs --insecure.
    if sim.base_url.starts_with("http://") && !args.contains(&"--insecure") {
        cmd.arg("--insecure");
    }
    for (key, _) in std::env::vars() {
        if key.starts_with("ONEVIEWSDK_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("ONEVIEWSDK_IP", &sim.base_url)
        .env("ONEVIEWSDK_IMAGE_STREAMER_IP", &sim.base_url)
        .env("ONEVIEWSDK_USERNAME", "administrator")
        .env("ONEVIEWSDK_PASSWORD", PASSWORD)
        .env("CI", "true");
    cmd.envs(env.iter().copied());
    cmd.output().expect("i3s-bundle runs")
}

pub fn text(output: &std::process::Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The appliance state reduced to what must be equal between runs: per collection, each
/// object's name and the fields that matter, URIs replaced by the referenced object's name.
pub fn canonical_state(sim: &Simulator) -> Value {
    let state = get(sim, "/sim/state");
    let resources = state["resources"].as_object().cloned().unwrap_or_default();
    let name_of_uri = |uri: &str| -> Value {
        resources
            .values()
            .flat_map(|v| v.as_array().cloned().unwrap_or_default())
            .find(|r| r["uri"] == uri)
            .map(|r| r["name"].clone())
            .unwrap_or(json!(uri))
    };
    let mut out = serde_json::Map::new();
    for (collection, members) in &resources {
        let mut items: Vec<Value> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| match collection.as_str() {
                "/rest/artifact-bundles" => json!({"name": m["name"], "checkSum": m["checkSum"], "description": m["description"]}),
                "/rest/plan-scripts" => json!({"name": m["name"], "content": m["content"]}),
                "/rest/build-plans" => json!({"name": m["name"], "steps": m["buildStep"].as_array().unwrap().iter().map(|s| name_of_uri(s["planScriptUri"].as_str().unwrap())).collect::<Vec<_>>()}),
                "/rest/deployment-plans" => json!({"name": m["name"], "buildPlan": name_of_uri(m["oeBuildPlanURI"].as_str().unwrap_or_default()),
                    "goldenImage": name_of_uri(m["goldenImageURI"].as_str().unwrap_or_default()),
                    "attributes": m["customAttributes"].as_array().unwrap().iter().map(|a| json!([a["name"], a["value"], a["visible"]])).collect::<Vec<_>>()}),
                "/rest/server-profile-templates" => json!({"name": m["name"], "description": m["description"], "os": m["osDeploymentSettings"]["osCustomAttributes"],
                    "planSet": m["osDeploymentSettings"]["osDeploymentPlanUri"].as_str().is_some_and(|u| u.starts_with("/rest/os-deployment-plans/"))}),
                _ => json!({"name": m["name"]}),
            })
            .collect();
        items.sort_by_key(|v| v.to_string());
        out.insert(collection.clone(), Value::Array(items));
    }
    Value::Object(out)
}

/// Every collection holds each name once.
pub fn assert_no_duplicates(sim: &Simulator) {
    let state = get(sim, "/sim/state");
    for (collection, members) in state["resources"].as_object().unwrap() {
        let mut names: Vec<&str> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        let total = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), total, "duplicates in {collection}: {members}");
    }
}

pub fn reference_bundle(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hudsonalpha")
        .join(name)
}
