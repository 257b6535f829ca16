//! The simulator parts `deploy` stands on, spoken to directly over loopback HTTP: OneView server
//! hardware and profiles, and the Consul stand-in.
use i3s_bundle::simulator::consul::{ConsulStandIn, NodeState};
use i3s_bundle::simulator::servers::{lab_seed, name_id};
use i3s_bundle::simulator::{SimConfig, Simulator};
use serde_json::{Value, json};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// Sends a request; returns status and JSON body (Null when not JSON).
fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> (u16, Value) {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    if body.is_some() {
        request = request.header("Content-Type", "application/json");
    }
    let mut response = agent().run(request.body(bytes).unwrap()).expect("request");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

struct OneView {
    sim: Simulator,
    session: String,
}

impl OneView {
    fn start() -> OneView {
        let sim = Simulator::start(SimConfig {
            password: "pw".into(),
            task_polls: 0,
            ..SimConfig::default()
        })
        .unwrap();
        let (status, _) = call(
            "POST",
            &format!("{}/sim/seed", sim.base_url),
            &[],
            Some(&lab_seed(&["frame1"], 2, &[("frame1", 2)])),
        );
        assert_eq!(status, 201);
        let (status, body) = call(
            "POST",
            &format!("{}/rest/login-sessions", sim.base_url),
            &[],
            Some(&json!({"userName": "administrator", "password": "pw"})),
        );
        assert_eq!(status, 200);
        OneView {
            session: body["sessionID"].as_str().unwrap().to_string(),
            sim,
        }
    }
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        call(
            method,
            &format!("{}{path}", self.sim.base_url),
            &[("auth", &self.session), ("X-API-Version", "2000")],
            body,
        )
    }
    /// Follows a 202 task to its end.
    fn task(&self, answer: (u16, Value)) -> Value {
        assert_eq!(answer.0, 202, "{}", answer.1);
        let (status, task) = self.call("GET", answer.1["uri"].as_str().unwrap(), None);
        assert_eq!(status, 200);
        task
    }
}

#[test]
fn server_hardware_and_profiles_behave_like_oneview() {
    let ov = OneView::start();
    let hardware = format!("/rest/server-hardware/{}", name_id("frame1, bay 1"));
    // Authentication is required.
    let (status, _) = call("GET", &format!("{}{hardware}", ov.sim.base_url), &[], None);
    assert_eq!(status, 401);
    // The enclosure lists bay 1 with its hardware and bay 2 empty.
    let (_, frames) = ov.call(
        "GET",
        "/rest/enclosures?filter=%22name%3D%27frame1%27%22",
        None,
    );
    assert_eq!(
        frames["members"][0]["deviceBays"][0]["deviceUri"],
        hardware.as_str()
    );
    assert!(frames["members"][0]["deviceBays"][1]["deviceUri"].is_null());

    let profile = json!({"type": "ServerProfileV12", "name": "p1", "serverHardwareUri": hardware,
        "osDeploymentSettings": {"osCustomAttributes": [{"name": "A", "value": "1"}]}});
    // Bad requests are refused with the appliance's error shape.
    let (status, error) = ov.call("POST", "/rest/server-profiles", Some(&json!({"type": "ServerProfileV12", "name": "p0", "serverHardwareUri": "/rest/server-hardware/nope"})));
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (400, Some("INVALID_SERVER_HARDWARE"))
    );
    let (status, error) = ov.call(
        "PUT",
        &format!("{hardware}/powerState"),
        Some(&json!({"powerState": "Up", "powerControl": "MomentaryPress"})),
    );
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (400, Some("INVALID_POWER_STATE"))
    );

    // Create: a task whose resource is the profile; the hardware points back at it.
    let task = ov.task(ov.call("POST", "/rest/server-profiles", Some(&profile)));
    assert_eq!(task["taskState"], "Completed");
    let uri = task["associatedResource"]["resourceUri"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, created) = ov.call("GET", &uri, None);
    assert_eq!(
        created["osDeploymentSettings"]["osCustomAttributes"],
        json!([{"name": "A", "value": "1"}])
    );
    let (_, hw) = ov.call("GET", &hardware, None);
    assert_eq!(hw["serverProfileUri"], uri.as_str());
    // A second profile on the same hardware, or with the same name: 409.
    let (status, _) = ov.call(
        "POST",
        "/rest/server-profiles",
        Some(&json!({"type": "ServerProfileV12", "name": "p2", "serverHardwareUri": hardware})),
    );
    assert_eq!(status, 409);
    let (status, _) = ov.call("POST", "/rest/server-profiles", Some(&profile));
    assert_eq!(status, 409);

    // Power on; deleting the profile of a running server is refused; power off, then delete.
    let task = ov.task(ov.call(
        "PUT",
        &format!("{hardware}/powerState"),
        Some(&json!({"powerState": "On", "powerControl": "MomentaryPress"})),
    ));
    assert_eq!(task["taskState"], "Completed");
    assert_eq!(ov.call("GET", &hardware, None).1["powerState"], "On");
    let (status, error) = ov.call("DELETE", &uri, None);
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (400, Some("SERVER_HARDWARE_POWERED_ON"))
    );
    ov.task(ov.call(
        "PUT",
        &format!("{hardware}/powerState"),
        Some(&json!({"powerState": "Off", "powerControl": "PressAndHold"})),
    ));
    let task = ov.task(ov.call("DELETE", &uri, None));
    assert_eq!(
        (task["name"].as_str(), task["taskState"].as_str()),
        (Some("Delete"), Some("Completed"))
    );
    assert_eq!(ov.call("GET", &uri, None).0, 404);
    assert!(ov.call("GET", &hardware, None).1["serverProfileUri"].is_null());
    // Unknown paths stay 404 in the appliance's shape.
    let (status, error) = ov.call("GET", "/rest/nothing-here", None);
    assert_eq!(
        (status, error["errorCode"].as_str()),
        (404, Some("RESOURCE_NOT_FOUND"))
    );
}

#[test]
fn consul_stand_in_checks_the_token_and_reports_the_first_boot_check() {
    let consul = ConsulStandIn::start("127.0.0.1:0".parse().unwrap(), "tok-1").unwrap();
    let url = format!("{}/v1/health/node/n1", consul.base_url);
    assert_eq!(call("GET", &url, &[], None).0, 403);
    assert_eq!(
        call("GET", &url, &[("X-Consul-Token", "tok-2")], None).0,
        403
    );
    let read = || call("GET", &url, &[("X-Consul-Token", "tok-1")], None);
    assert_eq!(read(), (200, json!([])));

    let first_boot = |checks: &Value| {
        checks
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["CheckID"] == "first-boot")
            .cloned()
            .unwrap()
    };
    consul.script_node(
        "n1",
        NodeState::Booting,
        2,
        NodeState::Failed("docker-install.service".into()),
    );
    let booting = first_boot(&read().1);
    assert_eq!(
        (booting["Status"].as_str(), booting["Output"].as_str()),
        (Some("warning"), Some("first boot in progress"))
    );
    assert_eq!(first_boot(&read().1)["Status"], "warning");
    let failed = first_boot(&read().1);
    assert_eq!(
        (failed["Status"].as_str(), failed["Output"].as_str()),
        (Some("critical"), Some("failed: docker-install.service"))
    );
    assert!(failed["ModifyIndex"].as_u64() > booting["ModifyIndex"].as_u64());

    // The HTTP control, without a token.
    let (status, _) = call(
        "PUT",
        &format!("{}/sim/nodes/n1", consul.base_url),
        &[],
        Some(&json!({"state": "ready"})),
    );
    assert_eq!(status, 200);
    let ready = first_boot(&read().1);
    assert_eq!(
        (ready["Status"].as_str(), ready["Output"].as_str()),
        (Some("passing"), Some("ready"))
    );
    // Setting the same state again is no change: same ModifyIndex.
    consul.set_node("n1", NodeState::Ready);
    assert_eq!(first_boot(&read().1)["ModifyIndex"], ready["ModifyIndex"]);

    let seen = consul.requests();
    assert_eq!(seen.iter().filter(|r| !r.token_ok).count(), 2);
    assert_eq!(consul.health_reads("n1"), seen.len());
}
