//! `deploy` / `undeploy` over real HTTP on loopback: the appliance simulator (OneView + Image
//! Streamer) and the Consul stand-in, driven through the real binary.
//!
//! A "lab" holds enclosure frame1 (bays 1-4, bay 4 empty), a deployment plan with typed attributes
//! (including a password and a NIC), and a template pointing at it. Nodes come up in the Consul
//! stand-in only when a test's driver thread sees the server powered on in the simulator — so a
//! deploy that did not power on, or did not wait, fails these tests.
use i3s_bundle::simulator::consul::{ConsulStandIn, NodeState};
use i3s_bundle::simulator::servers::{lab_seed, name_id};
use i3s_bundle::simulator::{SimConfig, Simulator};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "OneView-Pa55-d3ploy-91c2";
/// The deployer's Consul ACL token (CONSUL_HTTP_TOKEN).
const CONSUL_TOKEN: &str = "c0n5ul-acl-t0ken-5e1f-4b2a-deploy";
/// The node's own token, a password attribute of the plan (from [secrets]).
const NODE_TOKEN: &str = "n0de-t0ken-77aa-secret";
const TEMPLATE: &str = "Docker CentOS 7.4";
const PLAN: &str = "i3s-bundle - CentOS 7.4 - Docker CE";
const PLAN_ID: &str = "5d1f7a3e-0000-4000-8000-00000000d0c0";
const NODE: &str = "docker-03.example.org";

fn seed(base_url: &str, seed: &Value) {
    let response = agent()
        .post(format!("{base_url}/sim/seed"))
        .send_json(seed)
        .expect("seed");
    assert_eq!(response.status().as_u16(), 201, "seeding {seed}");
}

/// The lab: frame1 with bays 1-4 (4 empty), the deployment plan, the template.
fn seed_lab(base_url: &str) {
    seed(base_url, &lab_seed(&["frame1"], 4, &[("frame1", 4)]));
    let osdp_uri = format!(
        "/rest/os-deployment-plans/{}",
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, PLAN_ID.as_bytes())
    );
    let attribute = |name: &str, kind: &str, value: &str, constraints: Value| json!({"name": name, "type": kind, "value": value, "description": "", "constraints": constraints.to_string(), "editable": true, "visible": true});
    seed(
        base_url,
        &json!({
            "/rest/build-plans": [{"id": "bp-1", "type": "OeBuildPlanV5", "name": "Docker CE", "oeBuildPlanType": "deploy", "buildStep": [], "customAttributes": []}],
            "/rest/deployment-plans": [{"id": PLAN_ID, "type": "OEDeploymentPlanV5", "name": PLAN, "oeBuildPlanURI": "/rest/build-plans/bp-1", "customAttributes": [
            attribute("SERVER_FQDN", "fqdn", "", json!({"helpText": "e.g. node01.example.org"})),
            attribute("CONSUL_FQDN", "string", "", json!({})),
            attribute("DATADOG_TAG", "string", "", json!({"regex": "^[A-Za-z0-9_.-]+$"})),
            attribute("VLAN_ID", "number", "0", json!({"minimum": "0", "maximum": "4094"})),
            attribute("BOND_MODE", "option", "active-backup", json!({"options": ["active-backup", "802.3ad"]})),
            attribute("SERVER_GW", "ipv4", "", json!({})),
            attribute("CONSUL_ACL_TOKEN", "password", "", json!({})),
            attribute("MGMT", "nic", "", json!({"ipv4dhcp": true, "ipv4static": true})),
            ]}],
        }),
    );
    seed(
        base_url,
        &json!({
            "/rest/server-profile-templates": [{"type": "ServerProfileTemplateV8", "name": TEMPLATE, "description": "Docker nodes",
            "connectionSettings": {"connections": [{"id": 3, "name": "Deployment Network A", "boot": {"priority": "Primary"}}]},
            "osDeploymentSettings": {"osDeploymentPlanUri": osdp_uri, "osCustomAttributes": [
                {"name": "SERVER_FQDN", "value": ""}, {"name": "VLAN_ID", "value": "0"}, {"name": "BOND_MODE", "value": "active-backup"},
                {"name": "MGMT.connectionid", "value": "3"}, {"name": "MGMT.constraint", "value": "dhcp"}]}}],
        }),
    );
}

struct Lab {
    sim: Simulator,
    consul: ConsulStandIn,
    dir: tempfile::TempDir,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
}

impl Lab {
    fn new() -> Lab {
        let sim = Simulator::start(SimConfig {
            password: PASSWORD.into(),
            task_polls: 1,
            ..SimConfig::default()
        })
        .expect("simulator");
        let consul = ConsulStandIn::start("127.0.0.1:0".parse().unwrap(), CONSUL_TOKEN)
            .expect("consul stand-in");
        let lab = Lab {
            sim,
            consul,
            dir: tempfile::tempdir().unwrap(),
        };
        seed_lab(&lab.sim.base_url);
        lab
    }

    fn seed(&self, value: &Value) {
        seed(&self.sim.base_url, value);
    }

    fn sim_get(&self, path: &str) -> Value {
        agent()
            .get(format!("{}{path}", self.sim.base_url))
            .call()
            .expect("GET")
            .body_mut()
            .read_json()
            .expect("JSON")
    }

    fn resources(&self, collection: &str) -> Vec<Value> {
        self.sim_get("/sim/state")["resources"][collection]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn hardware(&self, bay: u32) -> Value {
        let id = name_id(&format!("frame1, bay {bay}"));
        self.resources("/rest/server-hardware")
            .into_iter()
            .find(|h| h["id"] == id.as_str())
            .expect("seeded hardware")
    }

    fn profiles(&self) -> Vec<Value> {
        self.resources("/rest/server-profiles")
    }

    /// Requests that change appliance state (login/logout are not state).
    fn writes(&self) -> Vec<String> {
        let counts = self.sim_get("/sim/requests")["counts"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        counts
            .iter()
            .filter(|(k, _)| !k.starts_with("GET ") && !k.ends_with(" /rest/login-sessions"))
            .map(|(k, v)| format!("{k} ×{v}"))
            .collect()
    }

    fn count(&self, key: &str) -> u64 {
        self.sim_get("/sim/requests")["counts"][key]
            .as_u64()
            .unwrap_or(0)
    }

    fn set_faults(&self, faults: Value) {
        let response = agent()
            .put(format!("{}/sim/faults", self.sim.base_url))
            .send_json(&faults)
            .expect("faults");
        assert_eq!(response.status().as_u16(), 200);
    }

    /// Writes a use-case file, `@CONSUL@` standing for the Consul stand-in's address.
    fn use_case(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, text.replace("@CONSUL@", &self.consul.base_url)).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_i3s-bundle"));
        cmd.args(args)
            .args([
                "--poll-interval",
                "10ms",
                "--retry-delay",
                "10ms",
                "--insecure",
            ])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ONEVIEWSDK_IP", &self.sim.base_url)
            .env("ONEVIEWSDK_IMAGE_STREAMER_IP", &self.sim.base_url)
            .env("ONEVIEWSDK_USERNAME", "administrator")
            .env("ONEVIEWSDK_PASSWORD", PASSWORD)
            .env("CONSUL_HTTP_TOKEN", CONSUL_TOKEN)
            .env("NODE_TOKEN", NODE_TOKEN);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("runs")
    }

    /// Runs `deploy` while a driver thread waits for the server in `bay` to be powered on and
    /// then makes the node report `then` (after two "first boot in progress" reads).
    fn deploy_with_boot(&self, args: &[&str], bay: u32, then: NodeState) -> (Output, bool) {
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let started = Instant::now();
        let mut still_running_when_booted = false;
        let mut child = child;
        loop {
            if self.hardware(bay)["powerState"] == "On" {
                // The node boots only now; deploy must still be waiting for it.
                still_running_when_booted = child.try_wait().expect("try_wait").is_none();
                self.consul.script_node(NODE, NodeState::Booting, 2, then);
                break;
            }
            if child.try_wait().expect("try_wait").is_some()
                || started.elapsed() > Duration::from_secs(30)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (
            child.wait_with_output().expect("output"),
            still_running_when_booted,
        )
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn assert_no_secrets(all: &str) {
    for secret in [CONSUL_TOKEN, NODE_TOKEN, PASSWORD] {
        assert!(
            !all.contains(secret),
            "a secret leaked into the output:\n{all}"
        );
    }
}

const VALID: &str = r#"# docker-03: a Docker CE node in frame1, bay 3
profile = "docker-03"
template = "Docker CentOS 7.4"

[server]
enclosure = "frame1"
bay = 3

[attributes]
SERVER_FQDN = "docker-03.example.org"
CONSUL_FQDN = "consul.example.org"
DATADOG_TAG = "docker"
VLAN_ID = 20
SERVER_GW = "10.0.0.1"

[secrets]
CONSUL_ACL_TOKEN = { env = "NODE_TOKEN" }

[consul]
address = "@CONSUL@"
node = "@SERVER_FQDN@"
"#;

fn expected_attributes() -> Value {
    json!([
        {"name": "SERVER_FQDN", "value": "docker-03.example.org"},
        {"name": "CONSUL_FQDN", "value": "consul.example.org"},
        {"name": "DATADOG_TAG", "value": "docker"},
        {"name": "VLAN_ID", "value": "20"},
        {"name": "BOND_MODE", "value": "active-backup"},
        {"name": "SERVER_GW", "value": "10.0.0.1"},
        {"name": "CONSUL_ACL_TOKEN", "value": NODE_TOKEN},
        {"name": "MGMT.connectionid", "value": "3"},
        {"name": "MGMT.constraint", "value": "dhcp"},
    ])
}

const FAST: [&str; 4] = ["--wait", "20s", "--consul-poll", "50ms"];

#[test]
fn a_valid_use_case_deploys_and_returns_0_once_the_node_reports_ready() {
    let lab = Lab::new();
    let file = lab.use_case("docker-03", VALID);
    let path = file.to_str().unwrap();
    let (output, waited) = lab.deploy_with_boot(
        &[&["deploy", path, "-vvv"][..], &FAST].concat(),
        3,
        NodeState::Ready,
    );
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(waited, "deploy ended before the node booted:\n{all}");

    // Exactly the expected profile, on bay 3, which is powered on.
    let profiles = lab.profiles();
    assert_eq!(profiles.len(), 1, "{profiles:?}");
    let profile = &profiles[0];
    assert_eq!(profile["name"], "docker-03");
    assert_eq!(
        profile["osDeploymentSettings"]["osCustomAttributes"],
        expected_attributes()
    );
    let hardware = lab.hardware(3);
    assert_eq!(profile["serverHardwareUri"], hardware["uri"]);
    assert_eq!(
        profile["serverProfileTemplateUri"],
        lab.resources("/rest/server-profile-templates")[0]["uri"]
    );
    assert_eq!(hardware["powerState"], "On");
    assert_eq!(hardware["serverProfileUri"], profile["uri"]);
    // The skeleton's other settings (from the template) are kept.
    assert_eq!(
        profile["osDeploymentSettings"]["osDeploymentPlanUri"],
        lab.resources("/rest/server-profile-templates")[0]["osDeploymentSettings"]["osDeploymentPlanUri"]
    );

    // Phases in order, each with its elapsed time; the waiter read Consul with the token.
    let stdout = String::from_utf8_lossy(&output.stdout);
    let order: Vec<usize> = [
        "] validate:",
        "] create-profile:",
        "] power-on:",
        "] wait-ready: node \"docker-03.example.org\" reports ready",
    ]
    .iter()
    .map(|p| {
        stdout
            .find(p)
            .unwrap_or_else(|| panic!("no {p:?} in:\n{stdout}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    assert!(
        stdout.contains("first-boot check warning: first boot in progress"),
        "{stdout}"
    );
    let reads = lab.consul.health_reads(NODE);
    assert!(reads >= 3, "only {reads} Consul reads");
    assert!(
        lab.consul.requests().iter().all(|r| r.token_ok),
        "{:?}",
        lab.consul.requests()
    );
    assert_no_secrets(&all);
    // Writes: one profile, one power-on.
    assert_eq!(lab.count("POST /rest/server-profiles"), 1);
    assert_eq!(
        lab.count(&format!(
            "PUT {}/powerState",
            hardware["uri"].as_str().unwrap()
        )),
        1
    );

    // undeploy: powers off, deletes, confirms by name (verbose: the listed profile holds the secret).
    let output = lab.run(&["undeploy", path, "-vvv"]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(
        all.contains("CONSUL_ACL_TOKEN"),
        "bodies are logged at -vvv:\n{all}"
    );
    assert_no_secrets(&all);
    assert!(
        all.contains("OneView lists no profile named \"docker-03\""),
        "{all}"
    );
    assert!(lab.profiles().is_empty());
    let hardware = lab.hardware(3);
    assert_eq!(
        (
            hardware["powerState"].as_str(),
            hardware["serverProfileUri"].is_null()
        ),
        (Some("Off"), true)
    );
    // Run again: nothing to do, still 0.
    let output = lab.run(&["undeploy", path]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(text(&output).contains("nothing to undeploy"));
}

/// Each invalid input: what to change in VALID, the key that must be named.
fn invalid_cases() -> Vec<(&'static str, String, &'static str)> {
    vec![
        (
            "unknown attribute",
            VALID.replace("VLAN_ID = 20", "VLAN_ID = 20\nCOLOUR = \"blue\""),
            "attributes.COLOUR",
        ),
        (
            "option not in options",
            VALID.replace("VLAN_ID = 20", "VLAN_ID = 20\nBOND_MODE = \"round-robin\""),
            "attributes.BOND_MODE",
        ),
        (
            "bad IPv4",
            VALID.replace("SERVER_GW = \"10.0.0.1\"", "SERVER_GW = \"10.0.0.256\""),
            "attributes.SERVER_GW",
        ),
        (
            "missing required value",
            VALID.replace("CONSUL_FQDN = \"consul.example.org\"\n", ""),
            "attributes.CONSUL_FQDN",
        ),
        (
            "number out of range",
            VALID.replace("VLAN_ID = 20", "VLAN_ID = 5000"),
            "attributes.VLAN_ID",
        ),
        (
            "secret written in the file",
            VALID.replace(
                "[secrets]\nCONSUL_ACL_TOKEN = { env = \"NODE_TOKEN\" }",
                "CONSUL_ACL_TOKEN = \"in-the-file-0451\"",
            ),
            "attributes.CONSUL_ACL_TOKEN",
        ),
        ("empty bay", VALID.replace("bay = 3", "bay = 4"), "server"),
        (
            "duplicate profile",
            VALID.replace("profile = \"docker-03\"", "profile = \"existing-01\""),
            "profile",
        ),
    ]
}

#[test]
fn each_invalid_input_fails_before_any_write_naming_its_key() {
    let lab = Lab::new();
    // A profile named existing-01 elsewhere (bay 1), for the duplicate-name case.
    let bay1 = lab.hardware(1);
    lab.seed(&json!({"/rest/server-profiles": [{"type": "ServerProfileV12", "name": "existing-01", "serverHardwareUri": bay1["uri"]}]}));
    for (what, text_of_case, key) in invalid_cases() {
        let file = lab.use_case("case", &text_of_case);
        let output = lab.run(&[&["deploy", file.to_str().unwrap()][..], &FAST].concat());
        let all = text(&output);
        assert_eq!(output.status.code(), Some(1), "{what}: {all}");
        // `FILE:LINE: key: message`, the line where the value was written (when it was).
        let located = if key.starts_with("attributes.") && what != "missing required value" {
            format!(r"case\.toml:\d+: {}: ", regex::escape(key))
        } else {
            format!(r"case\.toml: {}: ", regex::escape(key))
        };
        assert!(
            regex::Regex::new(&located).unwrap().is_match(&all),
            "{what}: the key {key} is not named as {located}:\n{all}"
        );
        assert!(all.contains("FAILED in phase validate"), "{what}: {all}");
        assert!(
            lab.writes().is_empty(),
            "{what}: writes were sent: {:?}",
            lab.writes()
        );
        assert_no_secrets(&all);
        assert!(!all.contains("in-the-file-0451"), "{what}: {all}");
    }
}

#[test]
fn all_problems_are_listed_at_once_and_nothing_is_written() {
    let lab = Lab::new();
    // Bay 2 already carries a profile made elsewhere (hardware in use).
    let bay2 = lab.hardware(2);
    lab.seed(&json!({"/rest/server-profiles": [{"type": "ServerProfileV12", "name": "docker-03", "serverHardwareUri": bay2["uri"]}]}));
    let case = VALID
        .replace(
            "VLAN_ID = 20",
            "VLAN_ID = 20\nCOLOUR = \"blue\"\nBOND_MODE = \"round-robin\"",
        )
        .replace("SERVER_GW = \"10.0.0.1\"", "SERVER_GW = \"10.0.0.256\"")
        .replace("CONSUL_FQDN = \"consul.example.org\"\n", "")
        .replace("bay = 3", "bay = 4");
    let file = lab.use_case("everything-wrong", &case);
    let output = lab.run(&["deploy", file.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    crate::common::assert_schema("deploy", &report);
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["failed_phase"], "validate");
    let mut keys: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["key"].as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "attributes.BOND_MODE",
            "attributes.COLOUR",
            "attributes.CONSUL_FQDN",
            "attributes.SERVER_GW",
            "profile",
            "server"
        ],
        "{report:#}"
    );
    let messages = report["problems"].to_string();
    assert!(
        messages.contains("bay 4 of enclosure \\\"frame1\\\" is empty"),
        "{messages}"
    );
    assert!(lab.writes().is_empty(), "{:?}", lab.writes());
}

#[test]
fn hardware_that_already_has_a_profile_is_refused() {
    let lab = Lab::new();
    let file = lab.use_case("docker-03", VALID);
    let (output, _) = lab.deploy_with_boot(
        &[&["deploy", file.to_str().unwrap()][..], &FAST].concat(),
        3,
        NodeState::Ready,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    lab.consul.set_node(NODE, NodeState::Ready);
    // Another use case for the same bay.
    let other = lab.use_case(
        "docker-04",
        &VALID.replace("profile = \"docker-03\"", "profile = \"docker-04\""),
    );
    let before = lab.writes();
    let output = lab.run(&["deploy", other.to_str().unwrap()]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        all.contains(
            "server: server hardware \"frame1, bay 3\" already has the server profile \"docker-03\""
        ),
        "{all}"
    );
    assert_eq!(lab.writes(), before);

    // A server without a profile that someone powered on by hand is not switched off by deploy.
    let mut frame2 = lab_seed(&["frame2"], 1, &[]);
    frame2["/rest/server-hardware"][0]["powerState"] = json!("On");
    lab.seed(&frame2);
    let on = lab.use_case(
        "docker-05",
        &VALID
            .replace("profile = \"docker-03\"", "profile = \"docker-05\"")
            .replace("frame1", "frame2")
            .replace("bay = 3", "bay = 1"),
    );
    let output = lab.run(&["deploy", on.to_str().unwrap()]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        all.contains("server: server hardware \"frame2, bay 1\" is powered on"),
        "{all}"
    );
    assert_eq!(lab.writes(), before);
}

#[test]
fn a_node_that_never_reports_ready_ends_with_exit_3_after_wait() {
    let lab = Lab::new();
    let file = lab.use_case("docker-03", VALID);
    let started = Instant::now();
    let (output, waited) = lab.deploy_with_boot(
        &[
            "deploy",
            file.to_str().unwrap(),
            "--wait",
            "1500ms",
            "--consul-poll",
            "50ms",
        ],
        3,
        NodeState::Booting,
    );
    let took = started.elapsed();
    let all = text(&output);
    assert_eq!(output.status.code(), Some(3), "{all}");
    assert!(waited);
    assert!(
        took >= Duration::from_millis(1500),
        "gave up after {took:?}"
    );
    assert!(
        all.contains("TIMED OUT in phase wait-ready")
            && all.contains("did not report ready within 1.5s"),
        "{all}"
    );
    assert!(all.contains("first boot in progress"), "{all}");
    assert_no_secrets(&all);
}

#[test]
fn a_failed_first_boot_unit_ends_with_exit_1_naming_it() {
    let lab = Lab::new();
    let file = lab.use_case("docker-03", VALID);
    let (output, waited) = lab.deploy_with_boot(
        &[&["deploy", file.to_str().unwrap(), "--json"][..], &FAST].concat(),
        3,
        NodeState::Failed("docker-install.service".into()),
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(waited);
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    crate::common::assert_schema("deploy", &report);
    assert_eq!(report["failed_phase"], "wait-ready");
    assert_eq!(report["failed_units"], json!(["docker-install.service"]));
    let last = report["phases"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("docker-install.service"),
        "{last}"
    );
    assert_no_secrets(&text(&output));
    // The human form names it too.
    let lab = Lab::new();
    let file = lab.use_case("docker-03", VALID);
    let (output, _) = lab.deploy_with_boot(
        &[&["deploy", file.to_str().unwrap()][..], &FAST].concat(),
        3,
        NodeState::Failed("k8s-master.service".into()),
    );
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        all.contains("FAILED in phase wait-ready (failed unit: k8s-master.service)"),
        "{all}"
    );
}

#[test]
fn the_consul_token_is_sent_as_a_header_and_never_printed() {
    let lab = Lab::new();
    let file = lab.use_case("docker-03", VALID);
    // Dry run, verbose, JSON: every way of printing.
    for args in [
        vec!["deploy", file.to_str().unwrap(), "--dry-run", "-vvv"],
        vec![
            "deploy",
            file.to_str().unwrap(),
            "--dry-run",
            "--json",
            "-vvv",
        ],
    ] {
        let output = lab.run(&args);
        let all = text(&output);
        assert_eq!(output.status.code(), Some(0), "{all}");
        assert_no_secrets(&all);
        assert!(
            all.contains("\"CONSUL_ACL_TOKEN\"") && all.contains("\"***\""),
            "the secret attribute is shown masked:\n{all}"
        );
    }
    assert!(lab.writes().is_empty(), "dry run wrote: {:?}", lab.writes());
    let requests = lab.consul.requests();
    assert!(
        !requests.is_empty()
            && requests
                .iter()
                .all(|r| r.token_ok && !r.path.contains(CONSUL_TOKEN)),
        "{requests:?}"
    );

    // A wrong token: refused before any write, and the token is not echoed.
    let output = lab
        .command(&["deploy", file.to_str().unwrap()])
        .env("CONSUL_HTTP_TOKEN", "wrong-t0ken-abcdef")
        .output()
        .unwrap();
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        all.contains("consul.token_env") && all.contains("refused the ACL token"),
        "{all}"
    );
    assert!(!all.contains("wrong-t0ken-abcdef"), "{all}");
    assert!(lab.writes().is_empty());
}

#[test]
fn dry_run_prints_the_profile_it_would_create() {
    let lab = Lab::new();
    let file = lab.use_case("docker-03", VALID);
    let output = lab.run(&["deploy", file.to_str().unwrap(), "--dry-run", "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    crate::common::assert_schema("deploy", &report);
    assert_eq!(report["outcome"], "valid");
    let mut expected = expected_attributes();
    expected[6]["value"] = json!("***");
    assert_eq!(
        report["profile_body"]["osDeploymentSettings"]["osCustomAttributes"],
        expected
    );
    assert_eq!(
        report["profile_body"]["serverHardwareUri"],
        lab.hardware(3)["uri"]
    );
    assert_eq!(report["profile_body"]["name"], "docker-03");
    assert!(lab.writes().is_empty());
    assert!(lab.profiles().is_empty());
}

#[test]
fn a_failed_profile_task_stops_before_power_on() {
    let lab = Lab::new();
    lab.set_faults(json!({"taskErrors": 1, "taskErrorOn": "Create", "seed": 1}));
    let file = lab.use_case("docker-03", VALID);
    let output = lab.run(&[&["deploy", file.to_str().unwrap()][..], &FAST].concat());
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        all.contains("FAILED in phase create-profile") && all.contains("injected fault"),
        "{all}"
    );
    let power = format!(
        "PUT {}/powerState",
        lab.hardware(3)["uri"].as_str().unwrap()
    );
    assert_eq!(lab.count(&power), 0, "powered on after a failed profile");
    assert_eq!(lab.hardware(3)["powerState"], "Off");
}

#[test]
fn replace_powers_off_deletes_and_waits_for_a_fresh_report() {
    let lab = Lab::new();
    let file = lab.use_case("docker-03", VALID);
    let path = file.to_str().unwrap();
    let (output, _) = lab.deploy_with_boot(
        &[&["deploy", path][..], &FAST].concat(),
        3,
        NodeState::Ready,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let first = lab.profiles()[0]["uri"].clone();
    // Let the old node keep reporting ready: the replacement must not take that for its own.
    lab.consul.set_node(NODE, NodeState::Ready);
    let output = lab.run(&["deploy", path]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output).contains("use --replace"), "{}", text(&output));

    let child = lab
        .command(&[&["deploy", path, "--replace"][..], &FAST].concat())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the new profile exists and the server is on again, then check deploy still waits.
    let started = Instant::now();
    while !(lab.profiles().first().is_some_and(|p| p["uri"] != first)
        && lab.hardware(3)["powerState"] == "On")
        && started.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut child = child;
    assert!(
        child.try_wait().unwrap().is_none(),
        "deploy --replace took the old node's report as ready"
    );
    lab.consul
        .script_node(NODE, NodeState::Booting, 2, NodeState::Ready);
    let output = child.wait_with_output().unwrap();
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(
        all.contains(
            "replace: powered off \"frame1, bay 3\" and deleted the old profile \"docker-03\""
        ),
        "{all}"
    );
    assert!(all.contains("previous deployment"), "{all}");
    let profiles = lab.profiles();
    assert_eq!(profiles.len(), 1);
    assert_ne!(profiles[0]["uri"], first);
}

#[test]
fn undeploy_refuses_a_profile_on_another_server() {
    let lab = Lab::new();
    let bay2 = lab.hardware(2);
    lab.seed(&json!({"/rest/server-profiles": [{"type": "ServerProfileV12", "name": "docker-03", "serverHardwareUri": bay2["uri"]}]}));
    let file = lab.use_case("docker-03", VALID);
    let output = lab.run(&["undeploy", file.to_str().unwrap()]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(all.contains("not on \"frame1, bay 3\""), "{all}");
    assert!(lab.writes().is_empty());
    assert_eq!(lab.profiles().len(), 1);
}

#[test]
fn an_unreadable_use_case_is_a_usage_error_naming_the_line() {
    let lab = Lab::new();
    let file = lab.use_case("broken", &VALID.replace("bay = 3", "bay = = 3"));
    let output = lab.run(&["deploy", file.to_str().unwrap()]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(all.contains("broken.toml") && all.contains(":7"), "{all}");
    let file = lab.use_case("typo", &VALID.replace("[server]", "[sever]"));
    let output = lab.run(&["deploy", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(text(&output).contains("sever"), "{}", text(&output));
}

/// The simulator as users run it (`i3s-bundle simulate --consul-listen`): nodes come up by
/// themselves once deploy powers their server on; no test driver involved.
#[test]
fn deploy_undeploy_deploy_against_the_simulate_command_with_its_consul_stand_in() {
    use std::io::BufRead;
    /// Stops the simulator process however the test ends.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut simulate = Stop(
        Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
            .args([
                "simulate",
                "--listen",
                "127.0.0.1:0",
                "--task-polls",
                "0",
                "--consul-listen",
                "127.0.0.1:0",
                "--consul-boot-reads",
                "2",
            ])
            .env("I3S_SIM_PASSWORD", PASSWORD)
            .env("I3S_SIM_CONSUL_TOKEN", CONSUL_TOKEN)
            .stdout(Stdio::piped())
            .spawn()
            .expect("simulate starts"),
    );
    let mut lines = std::io::BufReader::new(simulate.0.stdout.take().unwrap()).lines();
    let (mut appliance, mut consul) = (None, None);
    while appliance.is_none() || consul.is_none() {
        let line = lines.next().expect("a line from simulate").unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .map(str::to_string);
        if line.starts_with("simulator listening on") {
            appliance = url;
        } else if line.starts_with("consul stand-in listening on") {
            consul = url;
        }
    }
    let (appliance, consul) = (appliance.unwrap(), consul.unwrap());
    seed_lab(&appliance);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("docker-03.toml");
    std::fs::write(&file, VALID.replace("address = \"@CONSUL@\"\n", "")).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
            .args(args)
            .args(["--poll-interval", "10ms", "--insecure"])
            .env("ONEVIEWSDK_IP", &appliance)
            .env("ONEVIEWSDK_IMAGE_STREAMER_IP", &appliance)
            .env("ONEVIEWSDK_USERNAME", "administrator")
            .env("ONEVIEWSDK_PASSWORD", PASSWORD)
            .env("CONSUL_HTTP_ADDR", &consul)
            .env("CONSUL_HTTP_TOKEN", CONSUL_TOKEN)
            .env("NODE_TOKEN", NODE_TOKEN)
            .output()
            .unwrap()
    };
    let output = run(&[
        "deploy",
        file.to_str().unwrap(),
        "--consul-poll",
        "50ms",
        "--wait",
        "20s",
    ]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(0), "{all}");
    assert!(
        all.contains("first boot in progress") && all.contains("reports ready"),
        "{all}"
    );
    assert_no_secrets(&all);
    // A redeploy: the node's old `ready` is stale once its profile is gone, and the fresh boot
    // is the verdict (issue #19: this ended in exit 3 waiting on the old report).
    let output = run(&["undeploy", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let output = run(&[
        "deploy",
        file.to_str().unwrap(),
        "--consul-poll",
        "50ms",
        "--wait",
        "20s",
    ]);
    let all = text(&output);
    drop(simulate);
    assert_eq!(output.status.code(), Some(0), "redeploy: {all}");
    assert!(
        all.contains("first boot in progress") && all.contains("reports ready"),
        "{all}"
    );
}

#[test]
fn a_deployment_plan_alone_gives_a_bare_profile_with_nic_fields_from_the_use_case() {
    let lab = Lab::new();
    let bare = VALID
        .replace("template = \"Docker CentOS 7.4\"", &format!("deployment_plan = \"{PLAN}\""))
        .replace("VLAN_ID = 20", "VLAN_ID = 20\nMGMT = { connectionid = 3, constraint = \"static\", ipaddress = \"10.0.0.23\" }");
    let file = lab.use_case("bare", &bare);
    let (output, _) = lab.deploy_with_boot(
        &[&["deploy", file.to_str().unwrap()][..], &FAST].concat(),
        3,
        NodeState::Ready,
    );
    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let profile = lab.profiles()[0].clone();
    assert!(
        profile.get("serverProfileTemplateUri").is_none(),
        "{profile:#}"
    );
    assert_eq!(profile["type"], "ServerProfileV12");
    let osdp = format!(
        "/rest/os-deployment-plans/{}",
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, PLAN_ID.as_bytes())
    );
    assert_eq!(
        profile["osDeploymentSettings"]["osDeploymentPlanUri"],
        osdp.as_str()
    );
    let mut expected = expected_attributes().as_array().unwrap()[..7].to_vec();
    expected.extend([
        json!({"name": "MGMT.connectionid", "value": "3"}),
        json!({"name": "MGMT.constraint", "value": "static"}),
        json!({"name": "MGMT.ipaddress", "value": "10.0.0.23"}),
    ]);
    assert_eq!(
        profile["osDeploymentSettings"]["osCustomAttributes"],
        Value::Array(expected)
    );

    // A template that deploys another plan than the one named: refused.
    let lab = Lab::new();
    let both = VALID.replace(
        "template = \"Docker CentOS 7.4\"",
        "template = \"Docker CentOS 7.4\"\ndeployment_plan = \"Another plan\"",
    );
    let file = lab.use_case("both", &both);
    let output = lab.run(&["deploy", file.to_str().unwrap()]);
    let all = text(&output);
    assert_eq!(output.status.code(), Some(1), "{all}");
    assert!(
        all.contains("deployment_plan: template \"Docker CentOS 7.4\" deploys"),
        "{all}"
    );
    assert!(lab.writes().is_empty());
}

/// An https front for the Consul stand-in, its certificate signed by a fresh CA (a corporate
/// one, say) written to `ca_path`: one request per connection, passed on to `backend` and its
/// answer back. Returns the front's `https://127.0.0.1:PORT`.
fn tls_front(backend: &str, ca_path: &std::path::Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    use std::io::{Read, Write};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "corporate CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    std::fs::write(ca_path, ca_params.self_signed(&ca_key).unwrap().pem()).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let config = std::sync::Arc::new(
        rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
        )
        .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let backend = backend.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, backend) = (config.clone(), backend.clone());
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => return, // e.g. the client refused the certificate
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let (line, rest) = head.split_once("\r\n").unwrap();
                let mut upstream = std::net::TcpStream::connect(&backend).unwrap();
                write!(upstream, "{line}\r\nConnection: close\r\n{rest}").unwrap();
                let mut answer = Vec::new();
                upstream.read_to_end(&mut answer).unwrap();
                tls.write_all(&answer).unwrap();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    url
}

/// Deploy's Consul client trusts a CA that is only in the platform's trust store, without
/// `consul.ca_cert` (#15 point 2). The machine's store is left alone: on Linux the roots come
/// from rustls-native-certs, which reads only `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is
/// set (rustls-native-certs 0.8 src/lib.rs `load_native_certs`, called by
/// rustls-platform-verifier 0.7 src/verification/others.rs).
#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn consul_signed_by_a_ca_in_the_system_trust_store_is_trusted() {
    let lab = Lab::new();
    let corporate_ca = lab.dir.path().join("corporate-ca.pem");
    let front = tls_front(&lab.consul.base_url, &corporate_ca);
    let file = lab.use_case("docker-03", &VALID.replace("@CONSUL@", &front));
    let other_ca = lab.dir.path().join("other-ca.pem");
    tls_front(&lab.consul.base_url, &other_ca);
    let dry_run = |store: &std::path::Path| {
        lab.command(&["deploy", file.to_str().unwrap(), "--dry-run", "--json"])
            .env("SSL_CERT_FILE", store)
            .output()
            .unwrap()
    };
    let refused = dry_run(&other_ca);
    assert_ne!(refused.status.code(), Some(0), "{}", text(&refused));
    assert!(
        text(&refused).contains("consul.address")
            && text(&refused).contains("invalid peer certificate"),
        "{}",
        text(&refused)
    );
    let trusted = dry_run(&corporate_ca);
    assert_eq!(trusted.status.code(), Some(0), "{}", text(&trusted));
    let report: Value = serde_json::from_slice(&trusted.stdout).unwrap();
    crate::common::assert_schema("deploy", &report);
    assert_eq!(report["outcome"], "valid");
    assert!(
        lab.consul.health_reads(NODE) > 0,
        "Consul was read through the front"
    );
}
