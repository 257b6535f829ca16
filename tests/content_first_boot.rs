//! Does the node come up? One test per first-boot defect of issue #11: each runs the rendered
//! content (bash fragments under stubs, fake sysfs, loopback HTTP) or checks it against what the
//! upstream documentation says a node needs (Consul ACLs and ports, kubeadm ports, package
//! archives). Every test here failed on the content before the fix.
use crate::content_support;
use content_support::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// Helpers

/// The CentOS 7.4 bundle's plan named `name` (the reference lab's bundle has every use case).
fn our_plan(name: &str) -> Plan {
    our_plans()
        .into_iter()
        .find(|p| p.bundle == "centos7.4" && p.name.ends_with(name))
        .unwrap_or_else(|| panic!("no plan {name}"))
}

fn deploy_plans() -> Vec<Plan> {
    our_plans()
        .into_iter()
        .filter(|p| p.kind == "deploy")
        .collect()
}

/// Every upload of a plan, in order.
fn uploads(plan: &Plan) -> Vec<Upload> {
    plan.steps
        .iter()
        .flat_map(|(_, c)| parse_script(c).unwrap().uploads)
        .collect()
}

/// The uploaded file `path` of a plan.
fn file_of(plan: &Plan, path: &str) -> String {
    uploads(plan)
        .into_iter()
        .rfind(|u| u.path == path)
        .unwrap_or_else(|| panic!("{}: no upload to {path}", plan.label()))
        .content
}

/// The bash scripts of a plan with placeholders replaced by typed sample values.
fn bash_scripts(plan: &Plan) -> Vec<(String, String)> {
    uploads(plan)
        .into_iter()
        .filter(|u| u.content.starts_with("#!/bin/bash"))
        .map(|u| (u.path, substitute_samples(&u.content)))
        .collect()
}

fn executable(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = write(dir, name, body);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn path_with(dir: &Path) -> String {
    format!("{}:{}", dir.display(), std::env::var("PATH").unwrap())
}

/// Logical lines of a bash script: backslash continuations joined.
fn logical_lines(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(line);
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

/// The attribute assignment lines (`NAME='value'`) of a rendered script.
fn assignments(script: &str) -> String {
    let re = regex::Regex::new(r"^[A-Z][A-Z0-9_]*='[^']*'$").unwrap();
    script
        .lines()
        .filter(|l| re.is_match(l))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `{#- contract ... -#}` block of a template: TOML listing what the capability listens on,
/// writes as secrets and calls in Consul.
fn contract(template: &str) -> toml::Table {
    let text =
        std::fs::read_to_string(root().join("templates").join(format!("{template}.j2"))).unwrap();
    let Some(start) = text.find("{#- contract") else {
        return toml::Table::new();
    };
    let body = &text[start + "{#- contract".len()..];
    let end = body.find("-#}").unwrap();
    toml::from_str(&body[..end]).unwrap_or_else(|e| panic!("{template}.j2 contract: {e}"))
}

fn contract_list(template: &str, key: &str) -> Vec<String> {
    contract(template)
        .get(key)
        .and_then(|v| v.as_array())
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The template names behind a plan's steps (plan script name → template, via the bundle source).
fn templates_of(plan: &Plan) -> Vec<String> {
    let sources = bundles();
    let source = &sources[&plan.bundle];
    let bp = source
        .build_plan
        .iter()
        .find(|b| plan.name.ends_with(&b.name))
        .unwrap();
    bp.steps.iter().filter_map(|s| s.template.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Consul ACL: every endpoint the scripts call is granted by the role's shipped policy

// The endpoint → ACL table (with the Consul documentation it comes from) and the policy
// matching rules live in the library, where lint rule I3S113 uses them too: `lint::consul`.
use i3s_bundle::lint::consul::{self, Level, Need, Policy};

const NODE: &str = "node01.example.org";

fn needs_of(method: &str, path: &str, services: &[String]) -> Result<Vec<Need>, String> {
    consul::needs_of(method, path, NODE, services).ok_or_else(|| {
        format!(
            "{method} {path}: not in the endpoint table (lint::consul); add it with the ACL Consul documents for it"
        )
    })
}

/// The role services a plan declares: (name, definition JSON, whether a `.unit` file makes it
/// a TTL check that consul-health.sh updates).
fn role_services(plan: &Plan) -> Vec<(String, String, bool)> {
    let all = uploads(plan);
    all.iter()
        .filter(|u| u.path.starts_with("/etc/consul-services.d/") && u.path.ends_with(".json"))
        .map(|u| {
            let json: serde_json::Value = serde_json::from_str(&u.content).unwrap();
            let name = json["Name"].as_str().unwrap().to_string();
            let unit = format!("/etc/consul-services.d/{name}.unit");
            let ttl = all.iter().any(|o| o.path == unit);
            (name, substitute_samples(&u.content), ttl)
        })
        .collect()
}

/// The Consul calls a plan's rendered scripts make: (method, path), variables resolved.
fn consul_calls(plan: &Plan) -> Result<BTreeSet<(String, String)>, String> {
    let ttl_services: Vec<String> = role_services(plan)
        .into_iter()
        .filter(|(_, _, ttl)| *ttl)
        .map(|(name, _, _)| name)
        .collect();
    let api = regex::Regex::new(r#"consul_api\s+(GET|PUT)\s+"?([^"\s]+)"#).unwrap();
    let kv = regex::Regex::new(r#"consul_kv_(get|put)\s+"?([^"\s)]+)"#).unwrap();
    let update = regex::Regex::new(r#"check_update\s+"?([^"\s]+)"#).unwrap();
    let mut out = BTreeSet::new();
    for (path, script) in bash_scripts(plan) {
        let script = script
            .replace("$CONSUL_KV_PREFIX", "synergy")
            .replace("$K8S_CLUSTER_NAME", "sample-value")
            .replace("$(hostname)", NODE);
        for line in script.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.contains("() {") {
                continue;
            }
            let mut calls = Vec::new();
            for c in api.captures_iter(line) {
                calls.push((c[1].to_string(), c[2].to_string()));
            }
            for c in kv.captures_iter(line) {
                let method = if &c[1] == "get" { "GET" } else { "PUT" };
                calls.push((method.into(), format!("/v1/kv/{}", &c[2])));
            }
            for c in update.captures_iter(line) {
                let id = c[1].replace("$service", "*");
                if id == "service:*" {
                    // consul-health.sh updates the TTL checks: the services with a .unit file.
                    for s in &ttl_services {
                        calls.push(("PUT".into(), format!("/v1/agent/check/update/service:{s}")));
                    }
                } else {
                    calls.push(("PUT".into(), format!("/v1/agent/check/update/{id}")));
                }
            }
            for (method, endpoint) in calls {
                // Function bodies (consul_kv_get's "$key", check_update's "$1") are expanded at
                // their call sites above.
                if endpoint.contains("$key") || endpoint.contains("$1") {
                    continue;
                }
                if endpoint.contains('$') {
                    return Err(format!(
                        "{path}: endpoint {endpoint} has an unresolved variable"
                    ));
                }
                out.insert((method, endpoint));
            }
        }
    }
    Ok(out)
}

/// The Consul endpoints a plan's rendered scripts call, with the ACL each needs.
fn consul_needs(plan: &Plan) -> Result<BTreeSet<Need>, String> {
    let services: Vec<String> = role_services(plan).into_iter().map(|(n, _, _)| n).collect();
    let mut out = BTreeSet::new();
    for (method, endpoint) in consul_calls(plan)? {
        for need in needs_of(&method, &endpoint, &services)? {
            out.insert(need);
        }
    }
    Ok(out)
}

/// The role policy file of a deploy build plan: templates/consul-policies/<plan name as slug>.hcl.
fn policy_file(plan: &Plan) -> PathBuf {
    let short = plan.name.rsplit(" - ").next().unwrap();
    let slug: String = short
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    root()
        .join("templates/consul-policies")
        .join(format!("{slug}.hcl"))
}

fn denied(needs: &BTreeSet<Need>, policy: &Policy) -> Vec<String> {
    needs
        .iter()
        .filter(|n| !policy.grants(n))
        .map(|n| n.to_string())
        .collect()
}

#[test]
fn every_consul_endpoint_the_scripts_call_is_granted_by_the_role_policy() {
    let mut checked = 0;
    for plan in deploy_plans() {
        let needs = consul_needs(&plan).unwrap_or_else(|e| panic!("{}: {e}", plan.label()));
        assert!(
            needs.iter().any(|n| n.resource == "agent"),
            "{}: the agent probe was not found",
            plan.label()
        );
        let file = policy_file(&plan);
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", plan.label(), file.display()));
        let policy = Policy::parse(&text);
        let missing = denied(&needs, &policy);
        assert!(
            missing.is_empty(),
            "{}: {} does not grant {missing:?}",
            plan.label(),
            file.display()
        );
        // Least privilege: the whole-keyspace and agent write are never granted.
        for (resource, name, _, level) in policy.rules() {
            assert!(
                !(resource == "key" && name.is_empty() && level > Level::Deny),
                "{}: grants the whole KV store",
                file.display()
            );
            assert!(
                !(resource == "agent" && level > Level::Read),
                "{}: grants agent:write",
                file.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 6, "checked {checked} plans");

    // Workers only read k8s/; only the master writes the join command.
    let worker = Policy::parse(
        &std::fs::read_to_string(policy_file(&our_plan("Kubernetes worker"))).unwrap(),
    );
    let master = Policy::parse(
        &std::fs::read_to_string(policy_file(&our_plan("Kubernetes master"))).unwrap(),
    );
    let join = Need {
        resource: "key",
        name: "k8s/prod/join".into(),
        level: Level::Write,
    };
    assert!(!worker.grants(&join) && master.grants(&join));
    assert!(worker.grants(&Need {
        level: Level::Read,
        ..join
    }));

    // The policy the README documented before: no agent rule, so GET /v1/agent/self got 403.
    let documented = Policy::parse(
        r#"node_prefix ""          { policy = "write" }
service_prefix ""       { policy = "write" }
key_prefix "synergy/"   { policy = "read" }
key_prefix "synergy/nodes/" { policy = "write" }
key_prefix "k8s/"       { policy = "write" }"#,
    );
    let needs = consul_needs(&our_plan("Docker CE")).unwrap();
    let refused = denied(&needs, &documented);
    assert!(
        refused.iter().any(|r| r.starts_with("agent:read")),
        "{refused:?}"
    );
}

/// Serves every request on loopback with `status` until the test ends.
fn serve_forever(status: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut stream = stream;
            let reply = "Permission denied";
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    port
}

#[test]
fn consul_health_fails_when_the_agent_refuses_the_token() {
    let plan = our_plan("Docker CE");
    let script = substitute_samples(&file_of(&plan, "/usr/local/bin/consul-health.sh"));
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "acl-token", "5f4f2b9e\n");
    let port = serve_forever("403 Forbidden");
    let script = script
        .replace("http://127.0.0.1:8500", &format!("http://127.0.0.1:{port}"))
        .replace("/etc/consul.d/acl-token", token.to_str().unwrap())
        .replace("/var/lib/node-status", dir.path().to_str().unwrap())
        .replace("/run/", &format!("{}/", dir.path().display()))
        .replace("/etc/consul-services.d", dir.path().to_str().unwrap());
    let path = write(dir.path(), "consul-health.sh", &script);
    let out = run(Command::new("bash").arg(&path));
    assert!(
        !out.status.success(),
        "consul-health.sh exited 0 although the agent refused its token"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("403"), "{stderr}");
}

// The same calls against the simulator's Consul stand-in: the local agent of node NODE with the
// role's shipped policy behind the node token, Consul's ACL rules enforced.
use i3s_bundle::simulator::consul::{AclTokens, ConsulStandIn};

const ROLE_TOKEN: &str = "3f1c7a52-role";
const ADMIN_TOKEN: &str = "9b2e44d0-admin";

/// A stand-in whose tokens are ROLE_TOKEN with `policy` of templates/consul-policies (or of
/// `dir`) and ADMIN_TOKEN with global management, and the agent of NODE; returns its URL.
fn stand_in(policy: &str, dir: Option<&Path>) -> (ConsulStandIn, String) {
    let temp = tempfile::tempdir().unwrap();
    let file = write(
        temp.path(),
        "tokens",
        &format!("# POLICY TOKEN\n{policy} {ROLE_TOKEN}\nglobal-management {ADMIN_TOKEN}\n"),
    );
    let shipped = root().join("templates/consul-policies");
    let mut tokens = AclTokens::default();
    tokens.load(&file, Some(dir.unwrap_or(&shipped))).unwrap();
    let mut consul =
        ConsulStandIn::start_with("127.0.0.1:0".parse().unwrap(), tokens, None).unwrap();
    let agent = consul
        .add_agent("127.0.0.1:0".parse().unwrap(), NODE)
        .unwrap();
    (consul, agent)
}

/// One HTTP call with a token: (status, body).
fn consul_call(method: &str, url: &str, token: &str, body: &[u8]) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let request = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("X-Consul-Token", token)
        .body(body.to_vec())
        .unwrap();
    let mut response = agent.run(request).expect("request");
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// The policy name of a plan's role (templates/consul-policies/<name>.hcl).
fn policy_name(plan: &Plan) -> String {
    let file = policy_file(plan);
    file.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The body consul-health.sh registers the first-boot check with.
fn first_boot_registration(plan: &Plan) -> String {
    let script = file_of(plan, "/usr/local/bin/consul-health.sh");
    let line = logical_lines(&script)
        .into_iter()
        .find(|l| l.contains("/v1/agent/check/register"))
        .expect("consul-health.sh registers the first-boot check");
    line.split('\'')
        .nth(1)
        .expect("a quoted JSON body")
        .to_string()
}

#[test]
fn every_consul_call_of_a_plan_succeeds_against_the_stand_in_agent_with_the_role_policy() {
    let mut checked = 0;
    for plan in deploy_plans() {
        let (consul, agent) = stand_in(&policy_name(&plan), None);
        let mut calls: Vec<(String, String)> = consul_calls(&plan).unwrap().into_iter().collect();
        // A node's order: the agent probe, its services, its first-boot check, then the rest.
        calls.sort_by_key(|(_, path)| match path.as_str() {
            "/v1/agent/self" => 0,
            "/v1/agent/service/register" => 1,
            "/v1/agent/check/register" => 2,
            _ => 3,
        });
        for (method, path) in calls {
            let bodies: Vec<String> = match path.as_str() {
                "/v1/agent/service/register" => role_services(&plan)
                    .into_iter()
                    .map(|(_, d, _)| d)
                    .collect(),
                "/v1/agent/check/register" => vec![first_boot_registration(&plan)],
                p if p.starts_with("/v1/agent/check/update/") => {
                    vec![r#"{"Status": "passing", "Output": "ok"}"#.to_string()]
                }
                _ => vec!["value".to_string()],
            };
            if method == "GET" && path.starts_with("/v1/kv/") {
                // The operator, or a peer node, wrote the key before.
                let url = format!("{}{path}", consul.base_url);
                assert_eq!(consul_call("PUT", &url, ADMIN_TOKEN, b"seed").0, 200);
            }
            for body in bodies {
                let (status, answer) = consul_call(
                    &method,
                    &format!("{agent}{path}"),
                    ROLE_TOKEN,
                    body.as_bytes(),
                );
                assert_eq!(
                    status,
                    200,
                    "{}: {method} {path} with the token of {}.hcl: {answer}",
                    plan.label(),
                    policy_name(&plan)
                );
            }
            checked += 1;
        }
        // Nothing was refused, and the node registered its first-boot check.
        assert!(
            consul.requests().iter().all(|r| r.status == 200),
            "{}",
            plan.label()
        );
        let health = consul_call(
            "GET",
            &format!("{}/v1/health/node/{NODE}", consul.base_url),
            ADMIN_TOKEN,
            b"",
        );
        assert!(
            health.1.contains("\"CheckID\":\"first-boot\""),
            "{}: {health:?}",
            plan.label()
        );
    }
    assert!(checked > 20, "only {checked} calls");
}

/// consul-health.sh of the Docker CE plan with its services, the status file, the token file and
/// the agent address pointed into `dir` and at `agent`, and a systemctl that says `active`.
fn consul_health_script(dir: &Path, agent: &str) -> PathBuf {
    let plan = our_plan("Docker CE");
    let services = dir.join("services");
    std::fs::create_dir_all(&services).unwrap();
    for upload in uploads(&plan) {
        if let Some(name) = upload.path.strip_prefix("/etc/consul-services.d/") {
            write(&services, name, &substitute_samples(&upload.content));
        }
    }
    let token = write(dir, "acl-token", &format!("{ROLE_TOKEN}\n"));
    executable(
        dir,
        "systemctl",
        "#!/bin/bash\n[[ $1 == is-active ]] && echo active\n",
    );
    let script = substitute_samples(&file_of(&plan, "/usr/local/bin/consul-health.sh"))
        .replace("http://127.0.0.1:8500", agent)
        .replace("/etc/consul.d/acl-token", token.to_str().unwrap())
        .replace("/var/lib/node-status", dir.to_str().unwrap())
        .replace("/run/", &format!("{}/", dir.display()))
        .replace("/etc/consul-services.d", services.to_str().unwrap());
    write(dir, "consul-health.sh", &script)
}

/// What `deploy` reads for NODE from the stand-in.
fn deploy_reads(consul: &ConsulStandIn) -> i3s_bundle::deploy::consul::Readiness {
    use i3s_bundle::deploy::consul::{ConsulClient, readiness};
    let client = ConsulClient::new(
        &consul.base_url,
        i3s_bundle::appliance::Secret::new(ADMIN_TOKEN),
        std::time::Duration::from_secs(5),
        None,
        i3s_bundle::appliance::log::Log::new(0),
    )
    .unwrap();
    readiness(&client.first_boot(NODE).unwrap())
}

#[test]
fn consul_health_reports_through_the_agent_what_deploy_reads() {
    use i3s_bundle::deploy::consul::Readiness;
    let (consul, agent) = stand_in("docker", None);
    let dir = tempfile::tempdir().unwrap();
    let script = consul_health_script(dir.path(), &agent);
    let bash = |status: &str| {
        write(dir.path(), "status", &format!("{status}\n"));
        run(Command::new("bash")
            .arg(&script)
            .env("PATH", path_with(dir.path())))
    };
    let out = bash("ready");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(deploy_reads(&consul), Readiness::Ready);
    let health = consul_call(
        "GET",
        &format!("{}/v1/health/node/{NODE}", consul.base_url),
        ADMIN_TOKEN,
        b"",
    )
    .1;
    let checks: serde_json::Value = serde_json::from_str(&health).unwrap();
    let docker = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["CheckID"] == "service:docker")
        .unwrap_or_else(|| panic!("no service check in {health}"));
    assert_eq!(docker["Status"], "passing", "{health}");
    assert_eq!(docker["ServiceName"], "docker", "{health}");

    let out = bash("failed: docker-install.service");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        deploy_reads(&consul),
        Readiness::Failed(vec!["docker-install.service".into()])
    );
}

#[test]
fn consul_health_fails_the_boot_when_the_policy_lacks_agent_read() {
    // The Docker role's shipped policy without its agent rule.
    let policies = tempfile::tempdir().unwrap();
    let shipped =
        std::fs::read_to_string(root().join("templates/consul-policies/docker.hcl")).unwrap();
    let without: String = shipped
        .lines()
        .filter(|l| !l.starts_with("agent"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(without, shipped);
    write(policies.path(), "docker.hcl", &without);
    let (consul, agent) = stand_in("docker", Some(policies.path()));
    let dir = tempfile::tempdir().unwrap();
    let script = consul_health_script(dir.path(), &agent);
    write(dir.path(), "status", "ready\n");
    let out = run(Command::new("bash")
        .arg(&script)
        .env("PATH", path_with(dir.path())));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "consul-health.sh passed without agent:read"
    );
    assert!(
        stderr.contains("403") && stderr.contains("agent:read"),
        "{stderr}"
    );
    // The stand-in refused the probe with Consul's answer, and the node never reported.
    let refused: Vec<_> = consul
        .requests()
        .into_iter()
        .filter(|r| r.status == 403)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].path, "/v1/agent/self");
    let (status, body) = consul_call("GET", &format!("{agent}/v1/agent/self"), ROLE_TOKEN, b"");
    assert_eq!(status, 403);
    assert!(
        body.starts_with("Permission denied: token with AccessorID '")
            && body.ends_with(&format!("lacks permission 'agent:read' on \"{NODE}\"")),
        "{body}"
    );
    assert!(matches!(
        deploy_reads(&consul),
        i3s_bundle::deploy::consul::Readiness::Waiting(_)
    ));
}

#[test]
fn consul_kv_functions_store_and_read_through_the_agent() {
    let plan = our_plan("Docker CE");
    let (consul, agent) = stand_in("docker", None);
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "acl-token", &format!("{ROLE_TOKEN}\n"));
    let script = file_of(&plan, "/usr/local/bin/node-status.sh");
    let functions: String = ["consul_api", "consul_kv_get", "consul_kv_put"]
        .iter()
        .map(|f| bash_function(&script, f).unwrap_or_else(|| panic!("{f} in node-status.sh")))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("http://127.0.0.1:8500", &agent);
    let value = write(dir.path(), "value", "failed: kubelet.service\n");
    // The readiness marker node-status writes, then the operator's root key hostname-ssh reads
    // (set beforehand with the management token), then a key outside the policy.
    let root_key = format!("{}/v1/kv/synergy/root", consul.base_url);
    assert_eq!(
        consul_call("PUT", &root_key, ADMIN_TOKEN, b"ssh-ed25519 AAAA").0,
        200
    );
    let out = run(Command::new("bash").arg("-c").arg(format!(
        "set -e\nCONSUL_TOKEN_FILE={}\nsleep() {{ :; }}\n{functions}\n\
         consul_kv_put synergy/nodes/{NODE}/status {}\nconsul_kv_get synergy/root 1\n\
         if consul_kv_get synergy/other 1; then exit 9; fi",
        token.display(),
        value.display()
    )));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "ssh-ed25519 AAAA");
    assert_eq!(
        consul.kv(&format!("synergy/nodes/{NODE}/status")),
        Some(b"failed: kubelet.service\n".to_vec())
    );
    // The denied read was refused, not missing.
    assert!(
        consul
            .requests()
            .iter()
            .any(|r| r.path == "/v1/kv/synergy/other" && r.status == 403)
    );
}

// ---------------------------------------------------------------------------------------------
// 2. SELinux: labelled bind mounts, uploads relabelled at first boot

#[test]
fn container_bind_mounts_are_labelled_and_uploads_are_relabelled() {
    // Both golden images are installed enforcing.
    for os in ["centos7.4", "fedora27"] {
        let ks =
            std::fs::read_to_string(root().join("golden-images").join(os).join("ks.cfg")).unwrap();
        assert!(ks.contains("selinux --enforcing"), "{os}");
    }
    let volume = regex::Regex::new(r"(?:-v|--volume)[ =](\S+)").unwrap();
    let mut mounts = 0;
    for plan in deploy_plans() {
        for (path, script) in bash_scripts(&plan) {
            for line in logical_lines(&script) {
                if !line.contains("docker run") {
                    continue;
                }
                for c in volume.captures_iter(&line) {
                    mounts += 1;
                    let options = c[1].splitn(3, ':').nth(2).unwrap_or("");
                    assert!(
                        options.split(',').any(|o| o == "z" || o == "Z"),
                        "{}: {path}: bind mount {} has no SELinux label option (:z or :Z)",
                        plan.label(),
                        &c[1]
                    );
                }
            }
        }
        // guestfish writes files without SELinux labels: the first boot relabels the volume.
        assert!(
            plan.tree().files.contains_key("/.autorelabel"),
            "{}: nothing relabels the uploaded files",
            plan.label()
        );
    }
    assert!(mounts >= 12, "found {mounts} bind mounts");
}

// ---------------------------------------------------------------------------------------------
// 3. Firewall: what the docs say each role must accept is opened

/// Inbound ports by template, from upstream documentation:
/// - Consul client agents: LAN Serf 8301 TCP and UDP (8300 and 8302 are for servers only)
///   https://developer.hashicorp.com/consul/docs/install/ports
/// - kubeadm control plane: 6443, 2379-2380, 10250, 10257, 10259; workers: 10250, 30000-32767
///   https://kubernetes.io/docs/reference/networking/ports-and-protocols/
/// - Flannel's VXLAN backend: 8472/udp on every node
///   https://github.com/flannel-io/flannel/blob/master/Documentation/backends.md#vxlan
///
/// OpenStack: packstack writes its own iptables rules for the services it installs
/// (https://www.rdoproject.org/install/packstack/), so only Consul's port is ours to open there.
fn documented_ports(template: &str) -> &'static [&'static str] {
    match template {
        "consul-agent" => &["8301/tcp", "8301/udp"],
        "k8s-master" => &[
            "6443/tcp",
            "2379-2380/tcp",
            "10250/tcp",
            "10257/tcp",
            "10259/tcp",
            "8472/udp",
        ],
        "k8s-worker" => &["10250/tcp", "30000-32767/tcp", "8472/udp"],
        _ => &[],
    }
}

fn opened_ports(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("open_ports "))
        .flat_map(|rest| rest.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn first_boot_opens_consul_gossip_and_every_role_port() {
    for plan in deploy_plans() {
        let scripts = bash_scripts(&plan);
        let opened: BTreeSet<String> = scripts.iter().flat_map(|(_, s)| opened_ports(s)).collect();
        for template in templates_of(&plan) {
            for port in documented_ports(&template) {
                assert!(
                    opened.contains(*port),
                    "{}: {template} needs {port} open, the plan opens {opened:?}",
                    plan.label()
                );
            }
            // The contract block lists the same ports, for the lint that reads it.
            let declared = contract_list(&template, "ports");
            for port in documented_ports(&template) {
                assert!(
                    declared.iter().any(|d| d == port),
                    "{template}.j2 contract lacks {port}"
                );
            }
        }
        // A script that turns firewalld off (OpenStack: packstack manages iptables) re-opens
        // Consul's gossip port after doing so.
        for (path, script) in &scripts {
            let lines: Vec<&str> = script.lines().collect();
            if let Some(off) = lines.iter().position(|l| {
                l.contains("systemctl")
                    && l.contains("firewalld")
                    && (l.contains("stop") || l.contains("disable"))
            }) {
                assert!(
                    lines[off..]
                        .iter()
                        .any(|l| l.trim().starts_with("open_ports ") && l.contains("8301/udp")),
                    "{}: {path} stops firewalld and never re-opens 8301",
                    plan.label()
                );
            }
        }
    }
}

#[test]
fn open_ports_uses_firewalld_permanently_or_the_iptables_service() {
    let plan = our_plan("Docker CE");
    let script = file_of(&plan, "/usr/local/bin/consul-install.sh");
    let function = bash_function(&script, "open_ports").expect("open_ports in consul-install.sh");
    let run_with = |firewalld: bool, iptables: bool| -> String {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("calls.log");
        for tool in ["firewall-cmd", "iptables", "service", "iptables-save"] {
            executable(
                dir.path(),
                tool,
                &format!("#!/bin/sh\necho \"{tool} $*\" >>{}\n", log.display()),
            );
        }
        executable(
            dir.path(),
            "systemctl",
            &format!(
                "#!/bin/sh\necho \"systemctl $*\" >>{log}\ncase \"$*\" in *firewalld*) exit {};; *iptables*) exit {};; esac\nexit 1\n",
                if firewalld { 0 } else { 3 },
                if iptables { 0 } else { 3 },
                log = log.display()
            ),
        );
        let out = run(Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail\n{function}\nopen_ports 8301/tcp 8301/udp 2379-2380/tcp"
            ))
            .env("PATH", path_with(dir.path())));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.starts_with("systemctl"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let firewalld = run_with(true, false);
    for port in ["8301/tcp", "8301/udp", "2379-2380/tcp"] {
        assert!(
            firewalld.contains(&format!("firewall-cmd --permanent --add-port={port}")),
            "{firewalld}"
        );
    }
    assert!(firewalld.ends_with("firewall-cmd --reload"), "{firewalld}");
    let iptables = run_with(false, true);
    assert!(
        iptables.contains("iptables -I INPUT -p udp --dport 8301 -j ACCEPT")
            && iptables.contains("iptables -I INPUT -p tcp --dport 2379:2380 -j ACCEPT")
            && iptables.contains("service iptables save"),
        "{iptables}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Package sources that exist

#[test]
fn os_repositories_are_an_attribute_defaulting_to_the_archives() {
    // End-of-life releases: their archive (current releases: their mirror tree). Every OS's
    // default is its profile's os_repo_default, so a new OS needs no edit here.
    for (os, archive) in [
        ("centos7.4", "https://vault.centos.org/7.4.1708"),
        (
            "fedora27",
            "https://archives.fedoraproject.org/pub/archive/fedora/linux",
        ),
    ] {
        assert_eq!(
            profile(os)["os_repo_default"].as_str(),
            Some(archive),
            "{os}"
        );
    }
    for plan in deploy_plans() {
        let os = &bundles()[&plan.bundle].bundle.os;
        let archive = profile(os)["os_repo_default"].as_str().unwrap().to_string();
        let archive = archive.as_str();
        let facts = profile(os);
        let repo_dir = format!("{}/", facts["repo_dir"].as_str().unwrap());
        let repos: Vec<Upload> = uploads(&plan)
            .into_iter()
            .filter(|u| u.path.starts_with(&repo_dir))
            .collect();
        assert!(!repos.is_empty(), "{}: no OS repository file", plan.label());
        let mut enabled = 0;
        if facts["repo_format"].as_str() == Some("deb822") {
            // deb822 stanzas (sources.list(5)): each one's URIs is OS_REPO_URL's placeholder.
            for repo in &repos {
                for stanza in repo.content.split("\n\n").filter(|s| !s.trim().is_empty()) {
                    enabled += 1;
                    let uris = stanza
                        .lines()
                        .find_map(|l| l.strip_prefix("URIs: "))
                        .unwrap_or_else(|| panic!("{}: stanza without URIs", plan.label()));
                    let placeholder = i3s_bundle::placeholder::scan(uris).into_iter().next();
                    let placeholder = placeholder.unwrap_or_else(|| {
                        panic!("{}: URIs {uris} is not an attribute", plan.label())
                    });
                    assert_eq!(placeholder.name, "OS_REPO_URL");
                    assert_eq!(placeholder.default.as_deref(), Some(archive));
                    for key in ["Types: deb", "Suites: ", "Components: ", "Signed-By: /"] {
                        assert!(
                            stanza.contains(key),
                            "{}: no {key} in {stanza}",
                            plan.label()
                        );
                    }
                }
            }
            assert!(enabled >= 2, "{}: {enabled} sources", plan.label());
            continue;
        }
        for repo in &repos {
            for section in repo
                .content
                .split("\n[")
                .skip_while(|s| s.trim().is_empty())
            {
                if section.lines().any(|l| l.trim() == "enabled=0") {
                    continue;
                }
                enabled += 1;
                assert!(
                    !section.contains("mirrorlist=") && !section.contains("metalink="),
                    "{}: {}: an enabled repository uses a mirror list",
                    plan.label(),
                    repo.path
                );
                let baseurl = section
                    .lines()
                    .find_map(|l| l.strip_prefix("baseurl="))
                    .unwrap_or_else(|| {
                        panic!("{}: {} section without baseurl", plan.label(), repo.path)
                    });
                let placeholder = i3s_bundle::placeholder::scan(baseurl)
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| {
                        panic!("{}: baseurl {baseurl} is not an attribute", plan.label())
                    });
                assert_eq!(placeholder.name, "OS_REPO_URL");
                assert_eq!(
                    placeholder.default.as_deref(),
                    Some(archive),
                    "{}",
                    plan.label()
                );
            }
        }
        assert!(
            enabled >= 2,
            "{}: {enabled} enabled repositories",
            plan.label()
        );
    }
}

/// The placeholder defaults of a script: `@NAME:default@` → (NAME, default).
fn placeholder_defaults(content: &str) -> BTreeMap<String, String> {
    i3s_bundle::placeholder::scan(content)
        .into_iter()
        .filter_map(|p| Some((p.key(), p.default?)))
        .collect()
}

#[test]
fn kubernetes_comes_from_pkgs_k8s_io_with_containerd_and_a_maintained_cni() {
    let registry = registry();
    let cni = registry["CNI_MANIFEST_URL"].default.clone().unwrap();
    assert!(
        regex::Regex::new(r"^https://github\.com/flannel-io/flannel/releases/download/v[0-9]+\.[0-9]+\.[0-9]+/kube-flannel\.yml$")
            .unwrap()
            .is_match(&cni),
        "{cni}"
    );
    let sources = bundles();
    let plans: Vec<Plan> = our_plans()
        .into_iter()
        .filter(|p| p.name.contains("Kubernetes"))
        .collect();
    // The reference lab's CentOS 7.4 and the current CentOS Stream 10 both run Kubernetes.
    for stem in ["centos7.4", "centos-stream10"] {
        let roles = plans.iter().filter(|p| p.bundle == stem).count();
        assert_eq!(roles, 2, "{stem}: {roles} Kubernetes plans");
    }
    for plan in &plans {
        let os = profile(&sources[&plan.bundle].bundle.os);
        let pin = |key: &str| os[key].as_str().unwrap().to_string();
        let k8s_step = plan
            .steps
            .iter()
            .find(|(name, _)| name.contains("Kubernetes"))
            .unwrap_or_else(|| panic!("{}: no Kubernetes step", plan.label()));
        // The profile owns the pins: they are the placeholders' defaults.
        let defaults = placeholder_defaults(&k8s_step.1);
        let version = pin("k8s_version");
        assert_eq!(defaults["K8S_VERSION"], version, "{}", plan.label());
        assert_eq!(
            defaults["CONTAINERD_VERSION"],
            pin("containerd_version"),
            "{}",
            plan.label()
        );
        let minor: Vec<u32> = version
            .split('.')
            .take(2)
            .map(|p| p.parse().unwrap())
            .collect();
        // dockershim was removed in 1.24: the version needs a CRI runtime.
        assert!(minor[0] == 1 && minor[1] >= 24, "{version}");
        // The community-owned repositories are per minor version:
        // https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/install-kubeadm/
        let repo = &defaults["K8S_REPO_URL"];
        assert_eq!(
            repo,
            &format!("https://pkgs.k8s.io/core:/stable:/v1.{}/rpm/", minor[1]),
            "{}",
            plan.label()
        );
        assert_eq!(
            defaults["K8S_REPO_GPGKEY"],
            format!("{repo}repodata/repomd.xml.key")
        );
        let scripts = bash_scripts(plan);
        let k8s = &scripts.iter().find(|(p, _)| p.contains("k8s-")).unwrap().1;
        assert!(
            k8s.contains(&format!(
                "CONTAINERD_VERSION='{}'",
                pin("containerd_version")
            )),
            "{}: the containerd pin is not what the script installs",
            plan.label()
        );
        assert!(
            k8s.contains("install -y \"containerd.io-$CONTAINERD_VERSION\""),
            "{}: containerd is not installed",
            plan.label()
        );
        assert!(
            k8s.contains("criSocket: unix:///run/containerd/containerd.sock"),
            "{}: kubeadm is not pointed at containerd",
            plan.label()
        );
        assert!(!k8s.contains("weave"), "{}", plan.label());
    }
}

// ---------------------------------------------------------------------------------------------
// 5. OpenStack all-in-one refuses a VLAN

#[test]
fn openstack_all_in_one_refuses_a_tagged_vlan_at_deploy_validation() {
    let plan = our_plan("OpenStack all-in-one");
    assert!(
        !plan.declared.iter().any(|a| a == "VLAN_ID"),
        "the all-in-one plan still offers VLAN_ID"
    );
    assert!(
        plan.description.contains("untagged"),
        "{}",
        plan.description
    );
    // deploy validation names the attribute the plan does not take.
    let compiled = compiled();
    let bundle = &compiled.iter().find(|(s, _)| s == "centos7.4").unwrap().1;
    let bp = bundle
        .build_plans
        .iter()
        .find(|b| b.name.ends_with("OpenStack all-in-one"))
        .unwrap();
    let given = vec![i3s_bundle::deploy::usecase::Given {
        name: "VLAN_ID".into(),
        value: i3s_bundle::deploy::usecase::GivenValue::Text("120".into()),
        table: "attributes",
        line: 3,
    }];
    let problems = i3s_bundle::deploy::attributes::resolve(
        "OpenStack all-in-one",
        &bp.custom_attributes,
        &[],
        &given,
    )
    .expect_err("VLAN_ID must be refused");
    assert!(
        problems
            .iter()
            .any(|p| format!("{p:?}").contains("VLAN_ID")),
        "{problems:?}"
    );
    // The compute node keeps its VLAN (nova-compute has no br-ex port on the bond).
    assert!(
        our_plan("OpenStack compute")
            .declared
            .iter()
            .any(|a| a == "VLAN_ID")
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Waits long enough, join tokens that do not expire under a late worker

/// Seconds `consul_kv_get` of `script` waits before giving up on the line calling it for `key`.
fn kv_wait_seconds(script: &str, key: &str) -> u64 {
    let function = bash_function(script, "consul_kv_get").expect("consul_kv_get");
    let call = script
        .lines()
        .find(|l| l.contains("consul_kv_get") && l.contains(key) && !l.contains("() {"))
        .unwrap_or_else(|| panic!("no consul_kv_get of {key}"));
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("slept");
    let out = run(Command::new("bash").arg("-c").arg(format!(
        "{}\nCONSUL_KV_PREFIX=synergy\n{function}\nconsul_api() {{ return 22; }}\nsleep() {{ echo \"$1\" >>{}; }}\n{call}\ntrue",
        assignments(script),
        log.display()
    )));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn peer_key_waits_outlast_a_packstack_run() {
    let registry = registry();
    for name in ["PEER_WAIT_MINUTES", "CONSUL_KV_WAIT_MINUTES"] {
        assert!(registry.contains_key(name), "{name} is not an attribute");
    }
    // The compute node waits for the controller's packstack (30-60 minutes) to publish its key.
    let compute = bash_scripts(&our_plan("OpenStack compute"));
    let script = &compute
        .iter()
        .find(|(p, _)| p.ends_with("openstack-compute-install.sh"))
        .unwrap()
        .1;
    let waited = kv_wait_seconds(script, "packstack");
    assert!(waited >= 60 * 60, "waits {waited} s for the packstack key");
    // A worker waits for its master as long.
    let worker = bash_scripts(&our_plan("Kubernetes worker"));
    let script = &worker
        .iter()
        .find(|(p, _)| p.ends_with("k8s-worker-install.sh"))
        .unwrap()
        .1;
    let waited = kv_wait_seconds(script, "join");
    assert!(waited >= 60 * 60, "waits {waited} s for the join command");
}

fn duration_seconds(text: &str) -> u64 {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number.parse().unwrap();
    match unit {
        "" | "s" => n,
        "min" | "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        other => panic!("unit {other}"),
    }
}

#[test]
fn master_refreshes_the_join_command_before_its_token_expires() {
    let plan = our_plan("Kubernetes master");
    let tree = plan.tree();
    let units = units(&tree);
    let timer = units
        .get("k8s-join-refresh.timer")
        .expect("a timer refreshes the join command");
    assert!(
        tree.links
            .contains_key("/etc/systemd/system/timers.target.wants/k8s-join-refresh.timer"),
        "the refresh timer is not enabled"
    );
    let every = duration_seconds(&unit_values(timer, "OnUnitActiveSec")[0]);
    let script = substitute_samples(&file_of(&plan, "/usr/local/bin/k8s-join-refresh.sh"));
    let ttl = regex::Regex::new(r"--ttl[ =](\S+)")
        .unwrap()
        .captures(&script)
        .map(|c| duration_seconds(&c[1]))
        .expect("the token is created with an explicit --ttl");
    // A refresh can fail once (master busy) and the worker still finds a live token.
    assert!(
        2 * every < ttl,
        "refresh every {every} s, token lives {ttl} s"
    );

    // Run it: kubeadm prints a fresh join command, which goes to Consul KV.
    let dir = tempfile::tempdir().unwrap();
    let token = write(dir.path(), "acl-token", "5f4f2b9e\n");
    let sent = dir.path().join("sent");
    executable(
        dir.path(),
        "kubeadm",
        "#!/bin/sh\necho 'kubeadm join 10.0.0.5:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:00ff'\n",
    );
    executable(
        dir.path(),
        "curl",
        &format!(
            "#!/bin/bash\ncat >/dev/null\nfor a; do case $a in @*) cp \"${{a#@}}\" {sent};; http*) echo \"$a\" >{sent}.url;; esac; done\n",
            sent = sent.display()
        ),
    );
    let script = script.replace("/etc/consul.d/acl-token", token.to_str().unwrap());
    let path = write(dir.path(), "refresh.sh", &script);
    let out = run(Command::new("bash")
        .arg(&path)
        .env("PATH", path_with(dir.path()))
        .env("TMPDIR", dir.path()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(format!("{}.url", sent.display()))
            .unwrap()
            .trim(),
        "http://127.0.0.1:8500/v1/kv/k8s/sample-value/join"
    );
    assert!(
        std::fs::read_to_string(&sent)
            .unwrap()
            .starts_with("kubeadm join 10.0.0.5:6443")
    );
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp."))
        .collect();
    assert!(left.is_empty(), "the join command was left in {left:?}");
}

// ---------------------------------------------------------------------------------------------
// 7. DAS cleanup: missing PVs, devices in use

#[test]
fn das_cleanup_reduces_missing_pvs_and_spares_devices_in_use() {
    let plan = our_plan("Docker CE");
    let script = substitute_samples(&file_of(&plan, "/usr/local/bin/das-cleanup.sh"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = d.join("calls.log");
    for tool in [
        "pvscan",
        "vgchange",
        "vgremove",
        "vgreduce",
        "dmsetup",
        "systemctl",
        "udevadm",
    ] {
        executable(
            d,
            tool,
            &format!("#!/bin/sh\necho \"{tool} $*\" >>{}\n", log.display()),
        );
    }
    // VG vg_old lost a PV; cl is the OS's.
    executable(
        d,
        "vgs",
        &format!(
            "#!/bin/sh\necho \"vgs $*\" >>{}\nprintf '  vg_old 1\\n  cl 0\\n  vg_docker 0\\n'\n",
            log.display()
        ),
    );
    // The OS volume is multipath device mpathc (its partition 2 is the PV of cl).
    executable(
        d,
        "pvs",
        &format!(
            "#!/bin/sh\necho \"pvs $*\" >>{}\nprintf '  /dev/mapper/mpathc2 cl\\n'\n",
            log.display()
        ),
    );
    // Fake block devices: mpatha held by another device, mpathb free, mpathc the OS volume.
    let mapper = d.join("mapper");
    std::fs::create_dir(&mapper).unwrap();
    for (name, dm) in [("mpatha", "dm-0"), ("mpathb", "dm-1"), ("mpathc", "dm-2")] {
        std::fs::write(d.join(dm), "OLD DATA").unwrap();
        std::os::unix::fs::symlink(format!("../{dm}"), mapper.join(name)).unwrap();
        std::fs::create_dir_all(d.join("sys/block").join(dm).join("holders")).unwrap();
    }
    std::fs::create_dir(d.join("sys/block/dm-0/holders/dm-7")).unwrap();
    let ledger = d.join("DAS.consumed");
    let path = write(d, "das-cleanup.sh", &script);
    let out = run(Command::new("bash")
        .arg(&path)
        .env("PATH", path_with(d))
        .env("DAS_MAPPER", &mapper)
        .env("SYS_BLOCK", d.join("sys/block"))
        .env("DAS_LEDGER", &ledger)
        .env("STAMP_DIR", d.join("stamps")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    let at = |needle: &str| {
        calls
            .find(needle)
            .unwrap_or_else(|| panic!("no `{needle}` in:\n{calls}"))
    };
    assert!(at("vgreduce --removemissing --force vg_old") < at("vgremove -f -y vg_old"));
    assert!(!calls.contains("vgremove -f -y cl"), "{calls}");
    // Only the free disk was wiped; the held one and the OS volume kept their data.
    let data = |dm: &str| std::fs::read(d.join(dm)).unwrap();
    assert!(data("dm-1").iter().all(|b| *b == 0) && data("dm-1").len() >= 512);
    assert_eq!(data("dm-0"), b"OLD DATA");
    assert_eq!(data("dm-2"), b"OLD DATA");
    // Devices in use are in the ledger, so no consumer claims them.
    let claimed = std::fs::read_to_string(&ledger).unwrap();
    assert_eq!(claimed, "mpatha\nmpathc\n");
}

// ---------------------------------------------------------------------------------------------
// 8. Readiness with done-stamps

#[test]
fn readiness_counts_a_unit_only_with_its_done_stamp() {
    let plan = our_plan("Docker CE");
    let script = file_of(&plan, "/usr/local/bin/node-status.sh");
    let functions = ["unit_ok", "first_boot_status"]
        .iter()
        .filter_map(|f| bash_function(&script, f))
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let wants = dir.path().join("wants");
    let stamps = dir.path().join("stamps");
    std::fs::create_dir(&wants).unwrap();
    std::fs::create_dir(&stamps).unwrap();
    let names = [
        "network-bond",
        "das-cleanup",
        "docker-install",
        "consul-install",
    ];
    for unit in names.iter().chain(["node-status"].iter()) {
        std::fs::write(wants.join(format!("{unit}.service")), "").unwrap();
    }
    executable(
        dir.path(),
        "systemctl",
        &format!(
            "#!/bin/sh\nfor u; do :; done\ncat {}/state-$u 2>/dev/null || printf 'ActiveState=inactive\\nConditionResult=yes\\n'\n",
            dir.path().display()
        ),
    );
    let state = |unit: &str, active: &str, condition: &str| {
        std::fs::write(
            dir.path().join(format!("state-{unit}.service")),
            format!("ActiveState={active}\nConditionResult={condition}\n"),
        )
        .unwrap();
    };
    let stamp = |unit: &str, on: bool| {
        let p = stamps.join(format!("{unit}.done"));
        if on {
            std::fs::write(p, "").unwrap();
        } else {
            let _ = std::fs::remove_file(p);
        }
    };
    let status = || {
        let out = run(Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -euo pipefail\n{functions}\nfirst_boot_status {}",
                wants.display()
            ))
            .env("STAMP_DIR", &stamps)
            .env("PATH", path_with(dir.path())));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    // Every unit ran to its end.
    for unit in names {
        state(unit, "active", "yes");
        stamp(unit, true);
    }
    assert_eq!(status(), "ready");
    // One failed.
    state("docker-install", "failed", "yes");
    stamp("docker-install", false);
    assert_eq!(status(), "failed: docker-install.service");
    // After a reboot, a unit skipped by its condition without its stamp is not done.
    state("docker-install", "active", "yes");
    stamp("docker-install", true);
    state("das-cleanup", "inactive", "no");
    stamp("das-cleanup", false);
    let s = status();
    assert!(s != "ready" && s.contains("das-cleanup.service"), "{s}");
    // Skipped with its stamp (an earlier boot finished it): fine.
    stamp("das-cleanup", true);
    assert_eq!(status(), "ready");
    // Never started (a dependency failed) on a first boot: no stamp, not done.
    state("consul-install", "inactive", "yes");
    stamp("consul-install", false);
    assert_eq!(status(), "failed: consul-install.service");

    // Every first-boot script writes its stamp as its very last action.
    for plan in deploy_plans() {
        let tree = plan.tree();
        for link in tree
            .links
            .keys()
            .filter(|l| l.contains("runlast.target.wants/"))
        {
            let unit = link
                .rsplit('/')
                .next()
                .unwrap()
                .trim_end_matches(".service");
            if unit == "node-status" {
                continue;
            }
            let script = &tree.files[&format!("/usr/local/bin/{unit}.sh")].0;
            let last = script.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
            assert_eq!(
                last,
                format!("touch \"$STAMP_DIR/{unit}.done\""),
                "{}: {unit}.sh does not end with its done-stamp",
                plan.label()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Smaller first-boot defects

#[test]
fn smaller_first_boot_defects_are_gone() {
    for plan in deploy_plans() {
        let scripts = bash_scripts(&plan);
        for (path, script) in &scripts {
            // nova's storage is mounted before nova starts, on every boot.
            if script.contains("/var/lib/nova xfs") {
                assert!(
                    !script.contains("_netdev"),
                    "{path}: local DAS disk mounted as _netdev"
                );
                assert!(
                    script.contains("openstack-nova-compute.service.d")
                        && script.contains("RequiresMountsFor=/var/lib/nova"),
                    "{path}: nova is not ordered after its /var/lib/nova mount"
                );
            }
            // SELinux: permissive only where persisted; never a bare setenforce 0.
            if script.contains("setenforce 0") {
                assert!(
                    script.contains("SELINUX=permissive"),
                    "{path}: setenforce 0 without persisting it"
                );
            }
            // One time service: chronyd is enabled on the images.
            assert!(
                !script.contains("enable ntpd") && !script.contains("start ntpd"),
                "{path}: starts ntpd beside chronyd"
            );
        }
        // IPv6 stays on loopback (postfix listens on ::1 by default).
        let sysctl = file_of(&plan, "/etc/sysctl.d/40-ipv6.conf");
        let mut lo = None;
        for line in sysctl.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            if k == "net.ipv6.conf.all.disable_ipv6" || k == "net.ipv6.conf.lo.disable_ipv6" {
                lo = Some(v.to_string());
            }
        }
        assert_ne!(
            lo.as_deref(),
            Some("1"),
            "{}: IPv6 off on lo breaks postfix",
            plan.label()
        );
        // das-cleanup runs after the bond is up (it restarts multipathd and udev).
        let units = units(&plan.tree());
        if !units.contains_key("das-cleanup.service") {
            continue;
        }
        assert!(
            unit_values(&units["das-cleanup.service"], "After")
                .contains(&"network-bond.service".to_string()),
            "{}: das-cleanup not after network-bond",
            plan.label()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 10. Capture removes what deploy plans leave

/// Paths that hold secrets or node state whenever a script mentions them.
const KNOWN_SECRETS: [&str; 10] = [
    "/etc/consul.d",
    "/var/lib/consul",
    "/etc/datadog-agent/datadog.yaml",
    "/root/.ssh/authorized_keys",
    "/etc/kubernetes",
    "/root/.kube",
    "/home/packstack",
    "/etc/openstack-tenant",
    "/var/lib/node-status",
    "/root/.DAS.consumed",
];

fn removed_by(capture: &Plan) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    for (_, content) in &capture.steps {
        for cmd in parse_script(content).unwrap().commands {
            let w: Vec<&str> = cmd.words.iter().map(String::as_str).collect();
            match w.as_slice() {
                ["rm-rf" | "rm-f" | "rm", p] => out.push((p.to_string(), false)),
                ["glob", "rm-f" | "rm-rf", p] => out.push((p.to_string(), true)),
                _ => {}
            }
        }
    }
    out
}

fn covers(removed: &[(String, bool)], path: &str) -> bool {
    removed.iter().any(|(r, glob)| {
        if *glob {
            let re = format!("^{}$", regex::escape(r).replace(r"\*", "[^/]*"));
            regex::Regex::new(&re).unwrap().is_match(path)
        } else {
            path == r || path.starts_with(&format!("{r}/"))
        }
    })
}

#[test]
fn capture_removes_every_secret_path_the_deploy_plans_write() {
    let secrets: Vec<String> = registry()
        .iter()
        .filter(|(_, e)| e.is_secret())
        .map(|(n, _)| format!("@{n}"))
        .collect();
    let plans = our_plans();
    for capture in plans.iter().filter(|p| p.kind == "capture") {
        let removed = removed_by(capture);
        let mut checked = 0;
        for plan in plans
            .iter()
            .filter(|p| p.bundle == capture.bundle && p.kind == "deploy")
        {
            let text = plan.contents().join("\n");
            let mut paths: BTreeSet<String> = plan
                .tree()
                .files
                .iter()
                .filter(|(_, (c, _))| secrets.iter().any(|s| c.contains(s.as_str())))
                .map(|(p, _)| p.clone())
                .collect();
            paths.extend(
                KNOWN_SECRETS
                    .iter()
                    .filter(|k| text.contains(**k))
                    .map(|k| k.to_string()),
            );
            for template in templates_of(plan) {
                for declared in contract_list(&template, "secret_paths") {
                    assert!(
                        text.contains(&declared),
                        "{template}.j2 declares {declared}, which its scripts never write"
                    );
                    paths.insert(declared);
                }
            }
            for known in KNOWN_SECRETS.iter().filter(|k| text.contains(**k)) {
                assert!(
                    templates_of(plan)
                        .iter()
                        .any(|t| contract_list(t, "secret_paths").iter().any(|d| d == known)),
                    "{}: {known} is written but no template's contract declares it",
                    plan.label()
                );
            }
            for path in &paths {
                assert!(
                    covers(&removed, path),
                    "{}: a golden image captured from a node of {} keeps {path}",
                    capture.label(),
                    plan.name
                );
                checked += 1;
            }
        }
        // Every bundle writes at least the Consul agent's and hostname-ssh's secrets.
        assert!(checked >= 5, "{}: checked {checked} paths", capture.label());
    }
}

// ---------------------------------------------------------------------------------------------
// 11. Secrets removed when a script fails

#[test]
fn secrets_are_removed_when_a_first_boot_script_fails() {
    let cases = [
        (
            "OpenStack all-in-one",
            "openstack-install.sh",
            "/etc/openstack-tenant/password",
        ),
        (
            "Kubernetes worker",
            "k8s-worker-install.sh",
            "/root/kubeadm-join.yaml",
        ),
        (
            "Kubernetes master",
            "k8s-master-install.sh",
            "/root/kubeadm-init.log",
        ),
    ];
    for (plan_name, script_name, secret) in cases {
        let plan = our_plan(plan_name);
        let script = substitute_samples(&file_of(&plan, &format!("/usr/local/bin/{script_name}")));
        let lines: Vec<&str> = script.lines().collect();
        let trap = lines
            .iter()
            .position(|l| {
                l.trim_start().starts_with("trap ") && l.contains("EXIT") && l.contains(secret)
            })
            .unwrap_or_else(|| panic!("{script_name}: no EXIT trap removes {secret}"));
        // Set before anything that can fail: before the first command after the functions.
        let first_work = lines
            .iter()
            .position(|l| l.trim() == "wait_for_network")
            .unwrap();
        assert!(trap < first_work, "{script_name}: the trap is set too late");
        // Run it: the script fails after the secret exists; the file is gone.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("secret");
        std::fs::write(&fake, "s3cret").unwrap();
        let line = lines[trap].replace(secret, fake.to_str().unwrap());
        let out = run(Command::new("bash")
            .arg("-c")
            .arg(format!("set -euo pipefail\n{line}\nfalse")));
        assert!(!out.status.success());
        assert!(!fake.exists(), "{script_name}: {secret} survives a failure");
    }
}

// ---------------------------------------------------------------------------------------------
// 12. The init skeleton models the secret rule

#[test]
fn init_example_keeps_the_root_password_out_of_scripts_and_deletes_it() {
    let dir = tempfile::tempdir().unwrap();
    i3s_bundle::source::init::init_project(dir.path()).unwrap();
    let project = i3s_bundle::build::Project::load(dir.path()).unwrap();
    let compiled =
        i3s_bundle::build::compile_bundle(&project, &dir.path().join("bundles-src/example.toml"))
            .unwrap();
    let password = "pa'ss \"w$rd";
    let plan = plans_of("example", &compiled.bundle)
        .into_iter()
        .find(|p| p.kind == "deploy")
        .unwrap();
    let mut tree = Tree::default();
    for (_, content) in &plan.steps {
        let text = i3s_bundle::placeholder::substitute(content, &|k| match k {
            "ROOT_PASSWORD" => Some(password.to_string()),
            "SERVER_FQDN" => Some("node1.example.org".to_string()),
            _ => None,
        })
        .unwrap();
        tree.apply(&parse_script(&text).unwrap());
    }
    let holders: Vec<(&String, u32)> = tree
        .files
        .iter()
        .filter(|(_, (c, _))| c.contains(password))
        .map(|(p, (_, m))| (p, *m))
        .collect();
    assert_eq!(holders.len(), 1, "{holders:?}");
    let (secret_path, mode) = holders[0];
    assert_eq!(mode & 0o077, 0, "{secret_path} has mode {mode:o}");
    let secret_dir = &secret_path[..secret_path.rfind('/').unwrap()];
    assert_eq!(
        tree.dirs.get(secret_dir).copied().unwrap_or(0o755) & 0o077,
        0
    );

    // Run the first-boot script: chpasswd reads the password on stdin, the file is deleted.
    let (script_path, (script, _)) = tree
        .files
        .iter()
        .find(|(p, (c, _))| p.starts_with("/usr/local/bin/") && c.contains(secret_path.as_str()))
        .expect("a script uses the password file");
    let work = tempfile::tempdir().unwrap();
    let fake = work.path().join("root-password");
    std::fs::write(&fake, &tree.files[secret_path].0).unwrap();
    executable(
        work.path(),
        "chpasswd",
        &format!("#!/bin/sh\ncat >{}/got\n", work.path().display()),
    );
    executable(work.path(), "systemctl", "#!/bin/sh\nexit 0\n");
    let text = script.replace(secret_path.as_str(), fake.to_str().unwrap());
    let path = write(work.path(), "script.sh", &text);
    let out = run(Command::new("bash")
        .arg(&path)
        .env("PATH", path_with(work.path())));
    assert!(
        out.status.success(),
        "{script_path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(work.path().join("got")).unwrap(),
        format!("root:{password}\n")
    );
    assert!(!fake.exists(), "the password file survives its use");
}
