//! The simulator parts `deploy` stands on, spoken to directly over loopback HTTP: OneView server
//! hardware and profiles, and the Consul stand-in.
use i3s_bundle::consul::acl::Policy;
use i3s_bundle::simulator::consul::{Access, AclTokens, ConsulStandIn, NodeState};
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
    // No token: the anonymous token, which may read nothing; Consul filters health reads.
    assert_eq!(call("GET", &url, &[], None), (200, json!([])));
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
    // The anonymous token sees none of the node's checks.
    assert_eq!(call("GET", &url, &[], None), (200, json!([])));

    let seen = consul.requests();
    assert_eq!(seen.iter().filter(|r| !r.token_ok).count(), 3);
    assert_eq!(consul.health_reads("n1"), seen.len());
}

/// Sends a request with a raw body; returns status, the body as text and the response headers.
fn raw(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, ureq::http::HeaderMap) {
    let mut request = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let mut response = agent()
        .run(request.body(body.to_vec()).unwrap())
        .expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, text, headers)
}

/// A stand-in with role tokens and the local agent of node `n1`.
struct Agent {
    consul: ConsulStandIn,
    url: String,
}

const ADMIN: &str = "admin-secret";

impl Agent {
    fn start(policies: &[(&str, &str)]) -> Agent {
        let mut tokens = AclTokens::default();
        for (token, rules) in policies {
            tokens.add(token, Access::Policy(Policy::parse(rules)));
        }
        tokens.add(ADMIN, Access::Management);
        let mut consul =
            ConsulStandIn::start_with("127.0.0.1:0".parse().unwrap(), tokens, None).unwrap();
        let url = consul
            .add_agent("127.0.0.1:0".parse().unwrap(), "n1")
            .unwrap();
        Agent { consul, url }
    }

    /// A call to the agent with `token` in X-Consul-Token: (status, body).
    fn call(&self, method: &str, path: &str, token: &str, body: &str) -> (u16, String) {
        let (status, text, _) = raw(
            method,
            &format!("{}{path}", self.url),
            &[("X-Consul-Token", token)],
            body.as_bytes(),
        );
        (status, text)
    }

    /// Node n1's checks as the server reports them to a management token: id → (status, output).
    fn health(&self) -> std::collections::BTreeMap<String, (String, String)> {
        self.health_of("n1")
    }

    fn health_of(&self, node: &str) -> std::collections::BTreeMap<String, (String, String)> {
        let (status, checks) = call(
            "GET",
            &format!("{}/v1/health/node/{node}", self.consul.base_url),
            &[("X-Consul-Token", ADMIN)],
            None,
        );
        assert_eq!(status, 200);
        checks
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let text = |k: &str| c[k].as_str().unwrap().to_string();
                (text("CheckID"), (text("Status"), text("Output")))
            })
            .collect()
    }
}

fn denied(token: &str, permission: &str, name: &str) -> (u16, String) {
    (
        403,
        format!(
            "Permission denied: token with AccessorID '{token}' lacks permission '{permission}' on \"{name}\""
        ),
    )
}

const ANONYMOUS: &str = "00000000-0000-0000-0000-000000000002";

#[test]
fn consul_agent_takes_the_token_where_consul_does_and_answers_refusals_with_consuls_403() {
    let agent = Agent::start(&[
        ("reader", r#"agent_prefix "" { policy = "read" }"#),
        ("no-agent", r#"node_prefix "" { policy = "write" }"#),
    ]);
    let self_url = format!("{}/v1/agent/self", agent.url);
    let node_name = |text: &str| {
        let json: Value = serde_json::from_str(text).unwrap();
        json["Config"]["NodeName"].as_str().unwrap().to_string()
    };
    // X-Consul-Token, Authorization: Bearer, ?token= (deprecated, still honoured).
    for (headers, url) in [
        (vec![("X-Consul-Token", "reader")], self_url.clone()),
        (vec![("Authorization", "Bearer reader")], self_url.clone()),
        (vec![], format!("{self_url}?token=reader")),
    ] {
        let (status, text, _) = raw("GET", &url, &headers, b"");
        assert_eq!(
            (status, node_name(&text)),
            (200, "n1".to_string()),
            "{headers:?} {url}"
        );
    }
    // ?token= wins over the header, as in Consul's parseTokenInternal.
    let (status, _, _) = raw(
        "GET",
        &format!("{self_url}?token=no-agent"),
        &[("X-Consul-Token", "reader")],
        b"",
    );
    assert_eq!(status, 403);
    // No token: the anonymous token under the default policy deny.
    let (status, text, _) = raw("GET", &self_url, &[], b"");
    assert_eq!((status, text), denied(ANONYMOUS, "agent:read", "n1"));
    // A token Consul does not know.
    assert_eq!(
        agent.call("GET", "/v1/agent/self", "forged", ""),
        (403, "ACL not found".to_string())
    );
    // A policy without agent:read.
    let (status, text) = agent.call("GET", "/v1/agent/self", "no-agent", "");
    let accessor = text
        .split('\'')
        .nth(1)
        .expect("the AccessorID in the refusal")
        .to_string();
    assert_ne!(accessor, ANONYMOUS);
    assert_eq!((status, text), denied(&accessor, "agent:read", "n1"));
    // The stand-in recorded each answer.
    let statuses: Vec<(u16, bool)> = agent
        .consul
        .requests()
        .iter()
        .map(|r| (r.status, r.token_ok))
        .collect();
    assert_eq!(
        statuses,
        [
            (200, true),
            (200, true),
            (200, true),
            (403, true),
            (403, false),
            (403, false),
            (403, true)
        ]
    );
}

#[test]
fn consul_rules_exact_beats_prefix_and_the_longest_prefix_wins() {
    let agent = Agent::start(&[(
        "app",
        r#"
key_prefix "app/" { policy = "read" }
key_prefix "app/nodes/" { policy = "write" }
key "app/nodes/locked" { policy = "read" }
key "app/secret" { policy = "deny" }
service_prefix "" { policy = "read" }
service "web" { policy = "write" }
service_prefix "web-" { policy = "deny" }
"#,
    )]);
    let put = |key: &str, token: &str| agent.call("PUT", &format!("/v1/kv/{key}"), token, "v");
    let get = |key: &str| agent.call("GET", &format!("/v1/kv/{key}?raw"), "app", "");
    for key in ["app/other", "app/secret", "app/nodes/locked"] {
        assert_eq!(put(key, ADMIN), (200, "true".to_string()));
    }
    // The longer prefix app/nodes/ (write) beats app/ (read).
    assert_eq!(put("app/nodes/n1", "app"), (200, "true".to_string()));
    assert_eq!(agent.consul.kv("app/nodes/n1"), Some(b"v".to_vec()));
    // An exact rule beats every prefix: read-only app/nodes/locked, denied app/secret.
    assert_eq!(
        put("app/nodes/locked", "app"),
        denied(&accessor(&agent, "app"), "key:write", "app/nodes/locked")
    );
    assert_eq!(
        get("app/secret"),
        denied(&accessor(&agent, "app"), "key:read", "app/secret")
    );
    // app/ alone: read, not write.
    assert_eq!(get("app/other"), (200, "v".to_string()));
    assert_eq!(put("app/other", "app").0, 403);
    // Outside every rule: the default policy, deny.
    assert_eq!(put("other", "app").0, 403);
    // Services: exact "web" write; "web-db" under the longer prefix "web-" deny, not the
    // exact rule; "db" under "" read only.
    let register = |name: &str| {
        agent.call(
            "PUT",
            "/v1/agent/service/register",
            "app",
            &json!({"Name": name, "Port": 80}).to_string(),
        )
    };
    assert_eq!(register("web"), (200, String::new()));
    assert_eq!(
        register("web-db"),
        denied(&accessor(&agent, "app"), "service:write", "web-db")
    );
    assert_eq!(
        register("db"),
        denied(&accessor(&agent, "app"), "service:write", "db")
    );
}

/// The AccessorID the stand-in gave `token`, read from a refusal of it.
fn accessor(agent: &Agent, token: &str) -> String {
    let (_, text) = agent.call("PUT", "/v1/kv/no-rule-grants-this", token, "");
    text.split('\'').nth(1).unwrap().to_string()
}

#[test]
fn consul_agent_checks_drive_what_the_health_read_reports() {
    // The Docker role's shipped policy.
    let rules = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("templates/consul-policies/docker.hcl"),
    )
    .unwrap();
    let agent = Agent::start(&[
        ("docker", &rules),
        ("kv-only", r#"key_prefix "synergy/" { policy = "read" }"#),
    ]);
    let (status, body) = agent.call(
        "PUT",
        "/v1/agent/check/register",
        "docker",
        r#"{"ID": "first-boot", "Name": "first boot", "TTL": "90s"}"#,
    );
    assert_eq!((status, body.as_str()), (200, ""));
    let first_boot = |agent: &Agent| agent.health()["first-boot"].clone();
    let pair = |s: &str, o: &str| (s.to_string(), o.to_string());
    // Consul's initial status of a registered check; the agent joined (serfHealth).
    assert_eq!(first_boot(&agent), pair("critical", ""));
    assert_eq!(agent.health()["serfHealth"].0, "passing");
    let update = |status: &str, output: &str| {
        agent.call(
            "PUT",
            "/v1/agent/check/update/first-boot",
            "docker",
            &json!({"Status": status, "Output": output}).to_string(),
        )
    };
    assert_eq!(update("warning", "first boot in progress").0, 200);
    assert_eq!(
        first_boot(&agent),
        pair("warning", "first boot in progress")
    );
    assert_eq!(update("passing", "ready").0, 200);
    assert_eq!(first_boot(&agent), pair("passing", "ready"));
    assert_eq!(
        agent
            .call(
                "PUT",
                "/v1/agent/check/fail/first-boot?note=failed%3A%20docker-install.service",
                "docker",
                ""
            )
            .0,
        200
    );
    assert_eq!(
        first_boot(&agent),
        pair("critical", "failed: docker-install.service")
    );
    assert_eq!(
        agent
            .call(
                "PUT",
                "/v1/agent/check/warn/first-boot?note=rebooting",
                "docker",
                ""
            )
            .0,
        200
    );
    assert_eq!(first_boot(&agent), pair("warning", "rebooting"));
    assert_eq!(
        agent
            .call(
                "PUT",
                "/v1/agent/check/pass/first-boot?note=ready",
                "docker",
                ""
            )
            .0,
        200
    );
    assert_eq!(first_boot(&agent), pair("passing", "ready"));
    // What Consul refuses: an unknown status, an unknown check, a token without node:write.
    assert_eq!(update("fine", "x").0, 400);
    let (status, text) = agent.call(
        "PUT",
        "/v1/agent/check/update/first_boot",
        "docker",
        r#"{"Status": "passing"}"#,
    );
    assert_eq!(status, 404, "{text}");
    assert!(
        text.starts_with("Unknown check ID \"first_boot\""),
        "{text}"
    );
    assert_eq!(
        agent.call("PUT", "/v1/agent/check/pass/first-boot", "kv-only", ""),
        denied(&accessor(&agent, "kv-only"), "node:write", "n1")
    );
    assert_eq!(first_boot(&agent), pair("passing", "ready"));

    // A service and its TTL check: service:write on "docker"; the check is the service's.
    let definition = json!({"ID": "docker", "Name": "docker", "Port": 0,
        "Checks": [{"CheckID": "service:docker", "Name": "docker health", "TTL": "90s"}]});
    assert_eq!(
        agent
            .call(
                "PUT",
                "/v1/agent/service/register",
                "docker",
                &definition.to_string()
            )
            .0,
        200
    );
    let service_check =
        json!({"Status": "passing", "Output": "docker.service is active"}).to_string();
    assert_eq!(
        agent
            .call(
                "PUT",
                "/v1/agent/check/update/service:docker",
                "docker",
                &service_check
            )
            .0,
        200
    );
    assert_eq!(
        agent.health()["service:docker"],
        pair("passing", "docker.service is active")
    );
    // Registering the service again keeps its check's status (Consul restores it).
    agent.call(
        "PUT",
        "/v1/agent/service/register",
        "docker",
        &definition.to_string(),
    );
    assert_eq!(agent.health()["service:docker"].0, "passing");
    // A token that may not read the node sees none of it, and Consul says it filtered.
    let (status, text, headers) = raw(
        "GET",
        &format!("{}/v1/health/node/n1", agent.consul.base_url),
        &[("X-Consul-Token", "kv-only")],
        b"",
    );
    assert_eq!((status, text.as_str()), (200, "[]"));
    assert_eq!(headers["X-Consul-Results-Filtered-By-ACLs"], "true");
    // Deregistering the service drops its check.
    assert_eq!(
        agent
            .call("PUT", "/v1/agent/service/deregister/docker", "docker", "")
            .0,
        200
    );
    assert!(!agent.health().contains_key("service:docker"));

    // A TTL check not updated within its TTL goes critical, keeping the last output.
    agent.call(
        "PUT",
        "/v1/agent/check/register",
        "docker",
        r#"{"ID": "short", "Name": "short", "TTL": "200ms"}"#,
    );
    agent.call("PUT", "/v1/agent/check/pass/short?note=ok", "docker", "");
    assert_eq!(agent.health()["short"], pair("passing", "ok"));
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(
        agent.health()["short"],
        pair(
            "critical",
            "TTL expired (last output before timeout follows): ok"
        )
    );
}

#[test]
fn consul_kv_answers_as_consul_does() {
    let agent = Agent::start(&[("kv", r#"key_prefix "synergy/" { policy = "write" }"#)]);
    // Absent: 404 with no body.
    assert_eq!(
        agent.call("GET", "/v1/kv/synergy/root", "kv", ""),
        (404, String::new())
    );
    assert_eq!(
        agent.call("PUT", "/v1/kv/synergy/root", "kv", "ssh-ed25519 AAAA"),
        (200, "true".into())
    );
    let (status, text) = agent.call("GET", "/v1/kv/synergy/root", "kv", "");
    assert_eq!(status, 200);
    let entries: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(entries[0]["Key"], "synergy/root");
    assert_eq!(entries[0]["Value"], "c3NoLWVkMjU1MTkgQUFBQQ==");
    let index = entries[0]["ModifyIndex"].as_u64().unwrap();
    assert_eq!(
        agent.call("GET", "/v1/kv/synergy/root?raw", "kv", ""),
        (200, "ssh-ed25519 AAAA".into())
    );
    // Check-and-set: only against the current ModifyIndex.
    assert_eq!(
        agent.call(
            "PUT",
            &format!("/v1/kv/synergy/root?cas={}", index + 1),
            "kv",
            "x"
        ),
        (200, "false".into())
    );
    assert_eq!(
        agent.call("PUT", "/v1/kv/synergy/root?cas=0", "kv", "x"),
        (200, "false".into())
    );
    assert_eq!(
        agent.call(
            "PUT",
            &format!("/v1/kv/synergy/root?cas={index}"),
            "kv",
            "y"
        ),
        (200, "true".into())
    );
    assert_eq!(
        agent.call("DELETE", "/v1/kv/synergy/root", "kv", ""),
        (200, "true".into())
    );
    assert_eq!(agent.call("GET", "/v1/kv/synergy/root", "kv", "").0, 404);
    // Consul's limit on a value, and a method the endpoint does not take.
    let big = "x".repeat(512 * 1024 + 1);
    assert_eq!(agent.call("PUT", "/v1/kv/synergy/big", "kv", &big).0, 413);
    assert_eq!(agent.call("POST", "/v1/kv/synergy/root", "kv", "").0, 405);
}

/// `i3s-bundle simulate` with a stand-in agent for a node, its tokens from a file and the
/// shipped policies: what a boot test runs.
#[test]
fn simulate_runs_a_consul_agent_per_node_with_tokens_mapped_to_policies() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "# role token\ndocker 7d1e-docker\n").unwrap();
    let policies =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/consul-policies");
    let simulate = |agent: &str, tokens: &std::path::Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_i3s-bundle"));
        command
            .args([
                "simulate",
                "--listen",
                "127.0.0.1:0",
                "--consul-listen",
                "127.0.0.1:0",
            ])
            .args(["--consul-agent", agent, "--consul-tokens"])
            .arg(tokens)
            .arg("--consul-policies")
            .arg(&policies)
            .env_remove("I3S_SIM_CONSUL_TOKEN");
        command
    };
    let mut child = Stop(
        simulate("node01=127.0.0.1:0", &tokens)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut lines = std::io::BufReader::new(child.0.stdout.take().unwrap()).lines();
    let agent = loop {
        let line = lines.next().expect("a line from simulate").unwrap();
        if let Some(url) = line.strip_prefix("consul agent of node node01 listening on ") {
            break url.to_string();
        }
    };
    let token = [("X-Consul-Token", "7d1e-docker")];
    let (status, body) = call("GET", &format!("{agent}/v1/agent/self"), &token, None);
    assert_eq!(
        (status, body["Config"]["NodeName"].as_str()),
        (200, Some("node01"))
    );
    // docker.hcl grants synergy/nodes/ write and synergy/datadog read only.
    let (status, text, _) = raw(
        "PUT",
        &format!("{agent}/v1/kv/synergy/nodes/node01/status"),
        &token,
        b"ready",
    );
    assert_eq!((status, text.as_str()), (200, "true"));
    let (status, text, _) = raw(
        "PUT",
        &format!("{agent}/v1/kv/synergy/datadog"),
        &token,
        b"x",
    );
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("lacks permission 'key:write' on \"synergy/datadog\""),
        "{text}"
    );
    drop(child);

    // Refused before anything listens: an agent off loopback, a token line that is not
    // `POLICY TOKEN`, a policy that is not there.
    let out = simulate("node01=192.0.2.1:8500", &tokens).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("loopback"),
        "{stderr}"
    );
    std::fs::write(&tokens, "docker\n").unwrap();
    let out = simulate("node01=127.0.0.1:0", &tokens).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("tokens:1"),
        "{stderr}"
    );
    std::fs::write(&tokens, "no-such-role 7d1e\n").unwrap();
    let out = simulate("node01=127.0.0.1:0", &tokens).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("tokens:1") && stderr.contains("docker, "),
        "{stderr}"
    );
    // A line written the wrong way round must not print the token.
    std::fs::write(&tokens, "7d1e-secret docker\n").unwrap();
    let out = simulate("node01=127.0.0.1:0", &tokens).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("tokens:1"),
        "{stderr}"
    );
    assert!(!stderr.contains("7d1e"), "the token leaked: {stderr}");
}

/// A simulated server's boot points the agent on 127.0.0.1:8500 at the node that boots
/// (`AgentHandle::act_for`): from then on its calls act for that node, and what it registers is
/// reported for that node only.
#[test]
fn an_agent_listener_retargeted_acts_for_the_new_node() {
    let agent = Agent::start(&[]);
    let addr: std::net::SocketAddr = agent.url.trim_start_matches("http://").parse().unwrap();
    let handle = agent.consul.agent(addr).expect("the agent's listener");
    let name = |agent: &Agent| -> String {
        let (status, body) = agent.call("GET", "/v1/agent/self", ADMIN, "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).unwrap()["Config"]["NodeName"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(name(&agent), "n1");
    handle.act_for("node02.example.org");
    assert_eq!(name(&agent), "node02.example.org");
    let (status, _) = agent.call(
        "PUT",
        "/v1/agent/check/register",
        ADMIN,
        r#"{"ID": "first-boot", "Name": "first boot", "TTL": "90s"}"#,
    );
    assert_eq!(status, 200);
    assert!(
        agent
            .health_of("node02.example.org")
            .contains_key("first-boot")
    );
    assert!(!agent.health().contains_key("first-boot"));
    assert!(agent.consul.agent("127.0.0.1:1".parse().unwrap()).is_none());
}
