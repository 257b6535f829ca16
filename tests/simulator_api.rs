//! The simulator on its own, over real HTTP on loopback: the appliance behaviour publish (and
//! later deploy) rely on, checked request by request.
use crate::publish_support;
use i3s_bundle::bundle::{
    BuildPlan, Bundle, ChecksumFlavour, DeploymentPlan, Manifest, write_bundle,
};
use i3s_bundle::simulator::{SimConfig, Simulator};
use publish_support::{PASSWORD, get, post, sim_config, start, test_bundle};
use serde_json::{Value, json};
use std::path::Path;

struct Api<'a> {
    sim: &'a Simulator,
    agent: ureq::Agent,
    session: String,
    version: u32,
}

impl<'a> Api<'a> {
    fn login(sim: &'a Simulator) -> Api<'a> {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .new_agent();
        let mut response = agent
            .post(format!("{}/rest/login-sessions", sim.base_url))
            .send_json(
                json!({"userName": "administrator", "password": PASSWORD, "authLoginDomain": ""}),
            )
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.body_mut().read_json().unwrap();
        Api {
            sim,
            agent,
            session: body["sessionID"].as_str().unwrap().to_string(),
            version: 2000,
        }
    }
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Option<String>, Value) {
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.sim.base_url))
            .header("auth", &self.session)
            .header("X-API-Version", self.version.to_string());
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        {
            request = request.header("Content-Type", "application/json");
        }
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let mut response = self.agent.run(request.body(bytes).unwrap()).unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        let text = response.body_mut().read_to_string().unwrap();
        (
            response.status().as_u16(),
            location,
            serde_json::from_str(&text).unwrap_or(Value::Null),
        )
    }
    fn get(&self, path: &str) -> (u16, Value) {
        let (s, _, v) = self.send("GET", path, None, &[]);
        (s, v)
    }
    /// Polls a task to its end, returning (polls, final task).
    fn wait(&self, task_uri: &str) -> (u32, Value) {
        for polls in 1..50 {
            let (status, task) = self.get(task_uri);
            assert_eq!(status, 200);
            if task["taskState"] == "Completed" || task["taskState"] == "Error" {
                return (polls, task);
            }
            assert_eq!(task["taskState"], "Running");
        }
        panic!("task {task_uri} never ended")
    }
    fn upload(&self, file: &Path, name: &str) -> (u16, Option<String>, Value) {
        let boundary = "XbOuNdArYx";
        let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
        body.extend(std::fs::read(file).unwrap());
        body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
        let request = ureq::http::Request::builder()
            .method("POST")
            .uri(format!("{}/rest/artifact-bundles", self.sim.base_url))
            .header("auth", &self.session)
            .header("X-API-Version", "2000")
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .unwrap();
        let mut response = self.agent.run(request).unwrap();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        (
            response.status().as_u16(),
            location,
            response.body_mut().read_json().unwrap_or(Value::Null),
        )
    }
}

fn names(collection: &Value) -> Vec<String> {
    collection["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn version_login_and_error_bodies() {
    let sim = start(sim_config());
    assert_eq!(
        get(&sim, "/rest/version"),
        json!({"currentVersion": 2000, "minimumVersion": 300})
    );
    let (status, body) = post(
        &sim,
        "/rest/login-sessions",
        &json!({"userName": "administrator", "password": "wrong"}),
    );
    assert_eq!(status, 401);
    for key in [
        "errorCode",
        "message",
        "details",
        "recommendedActions",
        "nestedErrors",
    ] {
        assert!(body.get(key).is_some(), "error body lacks {key}: {body}");
    }
    // No session: 401 on every other path (both "hosts").
    let unauthenticated = get(&sim, "/rest/plan-scripts");
    assert_eq!(unauthenticated["errorCode"], "AUTHORIZATION");
    let api = Api::login(&sim);
    assert_eq!(api.get("/rest/plan-scripts").0, 200);
    assert_eq!(
        api.send("PUT", "/rest/login-sessions", None, &[]).2["sessionID"],
        api.session.as_str()
    );
    assert_eq!(api.send("DELETE", "/rest/login-sessions", None, &[]).0, 204);
    assert_eq!(
        api.get("/rest/plan-scripts").0,
        401,
        "a session ends at logout"
    );
}

#[test]
fn collections_filter_sort_and_page() {
    let sim = start(sim_config());
    let api = Api::login(&sim);
    for name in ["beta", "alpha", "alphabet", "Gamma", "delta"] {
        let (status, _, created) = api.send("POST", "/rest/plan-scripts", Some(json!({"type": "PlanScript", "name": name, "planType": "deploy", "content": "echo"})), &[]);
        assert_eq!(status, 201, "{created}");
    }
    assert_eq!(
        api.send(
            "POST",
            "/rest/plan-scripts",
            Some(json!({"type": "PlanScript", "name": "alpha"})),
            &[]
        )
        .0,
        409,
        "names are unique"
    );
    let exact = api
        .get("/rest/plan-scripts?start=0&count=-1&filter=%22name%3D%27alpha%27%22")
        .1;
    assert_eq!(names(&exact), ["alpha"]);
    let like = api
        .get("/rest/plan-scripts?filter=name%20matches%20%27ALPHA%25%27&sort=name:desc")
        .1;
    assert_eq!(names(&like), ["alphabet", "alpha"]);
    let page = api
        .get("/rest/plan-scripts?start=0&count=2&sort=name:asc")
        .1;
    assert_eq!(
        (names(&page), page["total"].clone()),
        (vec!["Gamma".to_string(), "alpha".into()], json!(5))
    );
    let next = page["nextPageUri"].as_str().unwrap().to_string();
    let page2 = api.get(&next).1;
    assert_eq!(names(&page2), ["alphabet", "beta"]);
}

#[test]
fn deployment_plan_type_and_references_are_validated() {
    let sim = start(sim_config());
    let mut api = Api::login(&sim);
    let (_, _, script) = api.send(
        "POST",
        "/rest/plan-scripts",
        Some(json!({"type": "PlanScript", "name": "s", "content": ""})),
        &[],
    );
    let (status, _, plan) = api.send(
        "POST",
        "/rest/build-plans",
        Some(json!({"type": "OeBuildPlanV5", "name": "bp", "oeBuildPlanType": "deploy", "buildStep": [{"serialNumber": "1", "planScriptUri": script["uri"]}]})),
        &[],
    );
    assert_eq!(status, 201, "{plan}");
    let dp = |kind: &str, bp: &Value, gi: &str| json!({"type": kind, "name": "dp", "oeBuildPlanURI": bp, "goldenImageURI": gi, "hpProvided": "false"});
    let (status, _, body) = api.send(
        "POST",
        "/rest/deployment-plans",
        Some(dp("OEDeploymentPlan", &plan["uri"], "")),
        &[],
    );
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("\"type\" field content, \"OEDeploymentPlan\""),
        "{body}"
    );
    let (status, _, body) = api.send(
        "POST",
        "/rest/deployment-plans",
        Some(dp(
            "OEDeploymentPlanV5",
            &json!("/rest/build-plans/nope"),
            "",
        )),
        &[],
    );
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (400, Some("INVALID_REFERENCE"))
    );
    let (status, _, body) = api.send(
        "POST",
        "/rest/deployment-plans",
        Some(dp(
            "OEDeploymentPlanV5",
            &plan["uri"],
            "/rest/golden-images/nope",
        )),
        &[],
    );
    assert_eq!(status, 400, "{body}");
    let (status, _, created) = api.send(
        "POST",
        "/rest/deployment-plans",
        Some(dp("OEDeploymentPlanV5", &plan["uri"], "")),
        &[],
    );
    assert_eq!(status, 201, "{created}");
    // API 300 wants the old type.
    api.version = 300;
    let mut update = created.clone();
    update["description"] = json!("x");
    assert_eq!(
        api.send(
            "PUT",
            created["uri"].as_str().unwrap(),
            Some(update.clone()),
            &[]
        )
        .0,
        400
    );
    update["type"] = json!("OEDeploymentPlan");
    assert_eq!(
        api.send("PUT", created["uri"].as_str().unwrap(), Some(update), &[])
            .0,
        200
    );
    // In use: the plan script cannot be deleted while the build plan uses it.
    assert_eq!(
        api.send("DELETE", script["uri"].as_str().unwrap(), None, &[])
            .0,
        409
    );
    // OneView mirrors the plan under its own id, pointing back with nativePlanUri.
    let osdp = api
        .get("/rest/os-deployment-plans/?filter=%22name%3D%27dp%27%22")
        .1;
    let member = &osdp["members"][0];
    assert_eq!(member["nativePlanUri"], created["uri"]);
    assert_ne!(member["id"], created["id"]);
}

#[test]
fn bundle_upload_extract_download_and_tasks() {
    let sim = start(SimConfig {
        task_polls: 2,
        ..sim_config()
    });
    let api = Api::login(&sim);
    let dir = tempfile::tempdir().unwrap();
    let zip = test_bundle(dir.path(), "1.0", "node1");
    let (status, location, task) = api.upload(&zip, "t-bundle_1.0.zip");
    assert_eq!(status, 202);
    assert_eq!(
        location.as_deref(),
        task["uri"].as_str(),
        "Location and body name the same task"
    );
    assert_eq!(task["taskState"], "New");
    let (polls, done) = api.wait(location.as_deref().unwrap());
    assert_eq!(
        (polls, done["taskState"].as_str()),
        (3, Some("Completed")),
        "two polls Running, then Completed"
    );
    let bundle_uri = done["associatedResource"]["resourceUri"]
        .as_str()
        .unwrap()
        .to_string();
    let bundle = api.get(&bundle_uri).1;
    assert_eq!(bundle["name"], "t-bundle_1.0");
    assert_eq!(
        bundle["deploymentPlans"][0]["deploymentplanName"],
        "t - Plan A"
    );
    assert!(bundle.get("goldenimage").is_some() && bundle.get("goldenImages").is_some());
    assert_eq!(
        api.upload(&zip, "t-bundle_1.0.zip").0,
        409,
        "a bundle name exists once"
    );

    // Without ?extract=true the extract never finishes (docs/appliance-api.md §10 #1).
    let (status, location, _) =
        api.send("PUT", &bundle_uri, None, &[("Content-Type", "text/plain")]);
    assert_eq!(status, 202);
    for _ in 0..6 {
        assert_eq!(
            api.get(location.as_deref().unwrap()).1["taskState"],
            "Running"
        );
    }
    assert!(names(&api.get("/rest/plan-scripts").1).is_empty());
    let (status, location, _) = api.send(
        "PUT",
        &format!("{bundle_uri}?extract=true&forceImport=true"),
        None,
        &[("Content-Type", "text/plain;charset=UTF-8")],
    );
    assert_eq!(status, 202);
    assert_eq!(
        api.wait(location.as_deref().unwrap()).1["taskState"],
        "Completed"
    );
    let mut scripts = names(&api.get("/rest/plan-scripts").1);
    scripts.sort();
    assert_eq!(scripts, ["t - hostname", "t - mount"]);
    let plans = api.get("/rest/deployment-plans").1;
    let build_plan = &api.get("/rest/build-plans").1["members"][0];
    assert!(
        plans["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["oeBuildPlanURI"] == build_plan["uri"])
    );
    assert!(
        build_plan["buildStep"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| api.get(s["planScriptUri"].as_str().unwrap()).0 == 200)
    );
    // Extracting again without forceImport is refused with the appliance's words.
    let (_, location, _) = api.send(
        "PUT",
        &format!("{bundle_uri}?extract=true&forceImport=false"),
        None,
        &[("Content-Type", "text/plain")],
    );
    let failed = api.wait(location.as_deref().unwrap()).1;
    assert_eq!(failed["taskState"], "Error");
    assert!(
        failed["taskErrors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("already exists"),
        "{failed}"
    );

    // Download: the very bytes uploaded.
    let id = bundle_uri.rsplit('/').next().unwrap();
    let mut response = api
        .agent
        .get(format!(
            "{}/rest/artifact-bundles/download/{id}",
            sim.base_url
        ))
        .header("auth", &api.session)
        .call()
        .unwrap();
    let bytes = response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .unwrap();
    assert_eq!(bytes, std::fs::read(&zip).unwrap());

    // Delete: an async task named "Delete".
    let (status, location, _) = api.send("DELETE", &bundle_uri, None, &[]);
    assert_eq!(status, 202);
    let deleted = api.wait(location.as_deref().unwrap()).1;
    assert_eq!(deleted["name"], "Delete");
    assert_eq!(api.get(&bundle_uri).0, 404);
}

#[test]
fn extract_validates_the_bundle_like_the_appliance() {
    let sim = start(sim_config());
    let api = Api::login(&sim);
    let dir = tempfile::tempdir().unwrap();
    // A deployment plan naming a build plan the bundle does not carry.
    let bundle = Bundle {
        manifest: Manifest::new("broken", "broken", false, "2026-11-26T12:00:00.000Z".into()),
        checksum: ChecksumFlavour::Sha256,
        plan_scripts: vec![],
        golden_images: vec![],
        build_plans: vec![BuildPlan::new(
            "0b8e7a52-2c52-4c5e-9a55-6f0f0c1e0d01".into(),
            "bp".into(),
            "".into(),
            "deploy",
        )],
        deployment_plans: vec![DeploymentPlan::new(
            "0b8e7a52-2c52-4c5e-9a55-6f0f0c1e0d02".into(),
            "dp".into(),
            "".into(),
            "no such build plan".into(),
            String::new(),
        )],
    };
    let zip = dir.path().join("broken.zip");
    write_bundle(&bundle, &zip).unwrap();
    let (_, location, _) = api.upload(&zip, "broken.zip");
    let uri = api.wait(location.as_deref().unwrap()).1["associatedResource"]["resourceUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, location, _) = api.send(
        "PUT",
        &format!("{uri}?extract=true&forceImport=true"),
        None,
        &[("Content-Type", "text/plain")],
    );
    let task = api.wait(location.as_deref().unwrap()).1;
    assert_eq!(task["taskState"], "Error");
    let message = task["taskErrors"][0]["message"].as_str().unwrap();
    assert!(message.contains("no such build plan"), "{task}");
    assert!(
        names(&api.get("/rest/build-plans").1).is_empty(),
        "a refused import creates nothing"
    );
    // Not a zip at all: the upload task fails.
    let junk = dir.path().join("junk.zip");
    std::fs::write(&junk, b"not a zip").unwrap();
    let (_, location, _) = api.upload(&junk, "junk.zip");
    let task = api.wait(location.as_deref().unwrap()).1;
    assert_eq!(task["taskState"], "Error");
    assert!(names(&api.get("/rest/artifact-bundles").1) == ["broken"]);
}

#[test]
fn server_profile_template_etag() {
    let sim = start(sim_config());
    publish_support::seed_appliance(&sim);
    let api = Api::login(&sim);
    let template = api.get("/rest/server-profile-templates").1["members"][0].clone();
    let uri = template["uri"].as_str().unwrap().to_string();
    let mut stale = template.clone();
    stale["eTag"] = json!("1/0");
    stale["description"] = json!("mine");
    let (status, _, body) = api.send("PUT", &uri, Some(stale.clone()), &[]);
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (412, Some("ETAG_MISMATCH"))
    );
    // The Image Streamer URI is not what a template takes.
    let mut wrong = template.clone();
    wrong["osDeploymentSettings"]["osDeploymentPlanUri"] = json!("/rest/deployment-plans/x");
    assert_eq!(api.send("PUT", &uri, Some(wrong), &[]).0, 400);
    let mut fresh = template.clone();
    fresh["description"] = json!("mine");
    let (status, location, _) = api.send(
        "PUT",
        &uri,
        Some(fresh),
        &[("If-Match", template["eTag"].as_str().unwrap())],
    );
    assert_eq!(status, 202);
    api.wait(location.as_deref().unwrap());
    let now = api.get(&uri).1;
    assert_eq!(now["description"], "mine");
    assert_ne!(now["eTag"], template["eTag"]);
    // If-Match: * disables the check.
    assert_eq!(
        api.send("PUT", &uri, Some(stale), &[("If-Match", "*")]).0,
        202
    );
    let (status, skeleton) = api.get(&format!("{uri}/new-profile"));
    assert_eq!(
        (status, skeleton["serverProfileTemplateUri"].as_str()),
        (200, Some(uri.as_str()))
    );
}

#[test]
fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let config = SimConfig {
        state_file: Some(state.clone()),
        data_dir: Some(dir.path().join("data")),
        ..sim_config()
    };
    let zip = test_bundle(dir.path(), "1.0", "node1");
    {
        let sim = start(config.clone());
        publish_support::seed_appliance(&sim);
        let api = Api::login(&sim);
        let (_, location, _) = api.upload(&zip, "t-bundle_1.0.zip");
        api.wait(location.as_deref().unwrap());
        sim.shutdown();
    }
    let sim = start(config);
    let api = Api::login(&sim);
    assert_eq!(
        names(&api.get("/rest/artifact-bundles").1),
        ["t-bundle_1.0"]
    );
    assert_eq!(
        names(&api.get("/rest/server-profile-templates").1),
        [publish_support::TEMPLATE]
    );
}

#[test]
fn the_simulate_command_serves_and_prints_its_address() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
        .args([
            "simulate",
            "--listen",
            "127.0.0.1:0",
            "--faults",
            "latency=1ms",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let mut response = ureq::get(format!("{url}/rest/version")).call().unwrap();
    let version: Value = response.body_mut().read_json().unwrap();
    assert_eq!(version["currentVersion"], 2000);
    child.kill().unwrap();
    child.wait().unwrap();
    // A bad fault spec is a usage error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
        .args(["simulate", "--faults", "bogus=1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn seeded_collections_are_served_like_built_in_ones() {
    // What later features (deploy: enclosures, server hardware) build on.
    let sim = start(sim_config());
    let (status, _) = post(
        &sim,
        "/sim/seed",
        &json!({"/rest/enclosures": [{"name": "enc1", "deviceBays": [{"bayNumber": 1}]}, {"name": "enc2"}]}),
    );
    assert_eq!(status, 201);
    let api = Api::login(&sim);
    let (status, list) = api.get("/rest/enclosures?filter=%22name%3D%27enc2%27%22");
    assert_eq!((status, names(&list)), (200, vec!["enc2".to_string()]));
    let uri = api.get("/rest/enclosures").1["members"][0]["uri"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(api.get(&uri).1["deviceBays"][0]["bayNumber"], 1);
    assert_eq!(
        post(&sim, "/sim/seed", &json!({"/rest/x": [{"noname": 1}]})).0,
        400
    );
}
