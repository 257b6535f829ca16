//! A Consul stand-in: its own small HTTP server on loopback speaking the part of Consul's HTTP API
//! that `deploy` waits on — `GET /v1/health/node/<node>` — with ACL token checking, and test
//! controls that make a node join, come up ready, report a failed first-boot unit, or never come up.
//!
//! What a node reports follows the readiness contract of `templates/consul-agent.j2`: a TTL check
//! with ID `first-boot` that is `warning` while first boot runs, `passing` with output `ready`, or
//! `critical` with output `failed: <units>`; plus Consul's own `serfHealth` check.
//!
//! Controls: the Rust API ([`ConsulStandIn::set_node`], …) or, without a token, `PUT /sim/nodes/<node>`
//! with `{"state": "absent|booting|ready|failed|expired", "units": "x.service"}` and
//! `GET /sim/requests` (the requests seen, each with whether its token was accepted).
//!
//! Auto-boot ([`ConsulStandIn::start_auto`], `i3s-bundle simulate --consul-listen`): a node nobody
//! set by hand comes up by itself once the appliance simulator holds a server profile carrying the
//! node name as a custom attribute value on powered-on hardware — `warning` for a few reads, then
//! `passing` — and reports `TTL expired` once that server is off again or its profile is gone
//! (undeploy), so that a redeploy boots it afresh.
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// What a node reports in Consul.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    /// Not registered (the agent has not joined yet): `[]`.
    Absent,
    /// Joined; first boot still running (`first-boot` warning).
    Booting,
    /// First boot finished (`first-boot` passing, output `ready`).
    Ready,
    /// A first-boot unit failed (`first-boot` critical, output `failed: <units>`).
    Failed(String),
    /// The reporter stopped (`first-boot` critical, `TTL expired`), e.g. a powered-off node.
    Expired,
}

/// One request the stand-in answered.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    /// The `X-Consul-Token` header matched the ACL token.
    pub token_ok: bool,
}

#[derive(Debug, Default)]
struct Node {
    state: Option<NodeState>,
    /// Raft index of the last change to the node's checks (Consul's `ModifyIndex`).
    modify_index: u64,
    /// After this many more health reads, switch to `then` (for scripted boots).
    after_reads: Option<(u32, NodeState)>,
}

#[derive(Debug, Default)]
struct Data {
    nodes: BTreeMap<String, Node>,
    index: u64,
    requests: Vec<SeenRequest>,
    /// Nodes set through the controls: auto-boot leaves them alone.
    manual: std::collections::BTreeSet<String>,
}

/// Where auto-boot looks for powered-on servers, and how many reads a boot takes.
#[derive(Debug, Clone)]
pub struct AutoBoot {
    /// Base URL of the appliance simulator (its `/sim/state` is read).
    pub appliance: String,
    /// Health reads answered `warning` before `passing`.
    pub boot_reads: u32,
}

impl Data {
    fn set(&mut self, node: &str, state: NodeState) {
        self.index += 1;
        let index = self.index;
        let entry = self.nodes.entry(node.to_string()).or_default();
        if entry.state.as_ref() != Some(&state) {
            entry.modify_index = index;
        }
        entry.state = Some(state);
    }
}

/// A running stand-in.
pub struct ConsulStandIn {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    data: Arc<Mutex<Data>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ConsulStandIn {
    /// Listens on `listen` (port 0: any free port); requests need `X-Consul-Token: <token>`.
    pub fn start(listen: SocketAddr, token: &str) -> Result<ConsulStandIn, String> {
        Self::start_auto(listen, token, None)
    }

    /// Like [`start`](Self::start), with nodes booting by themselves when their server is on.
    pub fn start_auto(
        listen: SocketAddr,
        token: &str,
        auto: Option<AutoBoot>,
    ) -> Result<ConsulStandIn, String> {
        let listener = std::net::TcpListener::bind(listen)
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let data = Arc::new(Mutex::new(Data::default()));
        let shared = (data.clone(), Arc::new(token.to_string()), Arc::new(auto));
        let router = axum::Router::new().fallback(handle).with_state(shared);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                let _ = axum::serve(listener, router)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        ready_rx
            .recv()
            .map_err(|_| "the Consul stand-in thread ended before listening".to_string())??;
        Ok(ConsulStandIn {
            addr,
            base_url: format!("http://{addr}"),
            data,
            shutdown: Some(stop_tx),
            thread: Some(thread),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `node` report `state` from now on.
    pub fn set_node(&self, node: &str, state: NodeState) {
        let mut data = self.lock();
        data.manual.insert(node.to_string());
        data.set(node, state);
    }

    /// Makes `node` report `now`, and `then` after `reads` more health reads of it.
    pub fn script_node(&self, node: &str, now: NodeState, reads: u32, then: NodeState) {
        let mut data = self.lock();
        data.manual.insert(node.to_string());
        data.set(node, now);
        data.nodes.get_mut(node).expect("just set").after_reads = Some((reads, then));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.lock().requests.clone()
    }

    /// Health reads of `node` so far (with any token).
    pub fn health_reads(&self, node: &str) -> usize {
        let path = format!("/v1/health/node/{node}");
        self.lock()
            .requests
            .iter()
            .filter(|r| r.path == path)
            .count()
    }
}

impl Drop for ConsulStandIn {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

type SharedData = (Arc<Mutex<Data>>, Arc<String>, Arc<Option<AutoBoot>>);

fn reply(status: StatusCode, body: Value, index: Option<u64>) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    if let Some(index) = index.and_then(|i| HeaderValue::from_str(&i.to_string()).ok()) {
        response.headers_mut().insert("X-Consul-Index", index);
    }
    response
}

/// Consul answers ACL failures with 403 and a plain-text reason.
fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain")],
        "ACL not found",
    )
        .into_response()
}

async fn handle(
    axum::extract::State((data, token, auto)): axum::extract::State<SharedData>,
    request: Request,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    if let Some(node) = path.strip_prefix("/sim/nodes/") {
        let body = axum::body::to_bytes(request.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        return control(&data, node, &body);
    }
    if path == "/sim/requests" {
        let data = data.lock().unwrap_or_else(|p| p.into_inner());
        let list: Vec<Value> = data
            .requests
            .iter()
            .map(|r| json!({"method": r.method, "path": r.path, "tokenOk": r.token_ok}))
            .collect();
        return reply(StatusCode::OK, Value::Array(list), None);
    }
    let token_ok = request
        .headers()
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        == Some(token.as_str());
    if let (Some(auto), Some(node)) = (auto.as_ref().clone(), path.strip_prefix("/v1/health/node/"))
    {
        let manual = data
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .manual
            .contains(node);
        if token_ok && !manual {
            let (node, appliance) = (node.to_string(), auto.appliance.clone());
            let probe = node.clone();
            let powered = tokio::task::spawn_blocking(move || server_state(&appliance, &probe))
                .await
                .unwrap_or(None);
            auto_boot(
                &mut data.lock().unwrap_or_else(|p| p.into_inner()),
                &node,
                powered,
                auto.boot_reads,
            );
        }
    }
    let mut data = data.lock().unwrap_or_else(|p| p.into_inner());
    data.requests.push(SeenRequest {
        method: method.clone(),
        path: path.clone(),
        token_ok,
    });
    if !token_ok {
        return forbidden();
    }
    match (method.as_str(), path.strip_prefix("/v1/health/node/")) {
        ("GET", Some(node)) if !node.is_empty() && !node.contains('/') => {
            let checks = health(&mut data, node);
            let index = data.index;
            reply(StatusCode::OK, checks, Some(index))
        }
        _ => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("Unsupported path {path}"),
        )
            .into_response(),
    }
}

/// The node's checks as Consul lists them, advancing a scripted node by one read.
fn health(data: &mut Data, node: &str) -> Value {
    let Some(entry) = data.nodes.get_mut(node) else {
        return json!([]);
    };
    let state = entry.state.clone().unwrap_or(NodeState::Absent);
    let modify_index = entry.modify_index;
    if let Some((reads, then)) = entry.after_reads.take() {
        if reads <= 1 {
            data.set(node, then);
        } else {
            entry.after_reads = Some((reads - 1, then));
        }
    }
    let (status, output) = match &state {
        NodeState::Absent => return json!([]),
        NodeState::Booting => ("warning", "first boot in progress".to_string()),
        NodeState::Ready => ("passing", "ready".to_string()),
        NodeState::Failed(units) => ("critical", format!("failed: {units}")),
        NodeState::Expired => ("critical", "TTL expired".to_string()),
    };
    let check = |id: &str, name: &str, status: &str, output: &str| {
        json!({"Node": node, "CheckID": id, "Name": name, "Status": status, "Notes": "", "Output": output,
               "ServiceID": "", "ServiceName": "", "ServiceTags": [], "Type": if id == "serfHealth" { "" } else { "ttl" },
               "CreateIndex": 1, "ModifyIndex": modify_index})
    };
    json!([
        check(
            "serfHealth",
            "Serf Health Status",
            "passing",
            "Agent alive and reachable"
        ),
        check("first-boot", "first boot", status, &output)
    ])
}

fn control(data: &Arc<Mutex<Data>>, node: &str, body: &[u8]) -> Response {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let units = request
        .get("units")
        .and_then(Value::as_str)
        .unwrap_or("unknown.service")
        .to_string();
    let state = match request.get("state").and_then(Value::as_str) {
        Some("absent") => NodeState::Absent,
        Some("booting") => NodeState::Booting,
        Some("ready") => NodeState::Ready,
        Some("failed") => NodeState::Failed(units),
        Some("expired") => NodeState::Expired,
        _ => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "state must be absent, booting, ready, failed or expired"}),
                None,
            );
        }
    };
    let mut data = data.lock().unwrap_or_else(|p| p.into_inner());
    data.manual.insert(node.to_string());
    data.set(node, state);
    reply(StatusCode::OK, json!({"node": node}), None)
}

/// What auto-boot sees of a node's server on the appliance simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    On,
    Off,
    /// No server profile names the node (never deployed, or undeployed since).
    NoProfile,
}

/// Auto-boot: is a server whose profile names `node` (as a custom attribute value) powered on?
/// `None`: the appliance simulator does not answer (then nothing changes).
fn server_state(appliance: &str, node: &str) -> Option<Server> {
    // Its sibling on loopback, possibly with a throw-away self-signed certificate.
    let tls = ureq::tls::TlsConfig::builder()
        .disable_verification(true)
        .build();
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_global(Some(std::time::Duration::from_secs(5)))
        .build()
        .new_agent();
    let state: Value = agent
        .get(format!("{appliance}/sim/state"))
        .call()
        .ok()?
        .body_mut()
        .read_json()
        .ok()?;
    let resources = &state["resources"];
    let profiles = resources["/rest/server-profiles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(profile) = profiles.iter().find(|p| {
        p.pointer("/osDeploymentSettings/osCustomAttributes")
            .and_then(Value::as_array)
            .is_some_and(|attributes| {
                attributes.iter().any(|a| {
                    a["value"]
                        .as_str()
                        .is_some_and(|v| v.eq_ignore_ascii_case(node))
                })
            })
    }) else {
        return Some(Server::NoProfile);
    };
    let hardware = resources["/rest/server-hardware"]
        .as_array()?
        .iter()
        .find(|h| h["uri"] == profile["serverHardwareUri"])?;
    Some(if hardware["powerState"] == "On" {
        Server::On
    } else {
        Server::Off
    })
}

/// Moves an auto-booted node along: powered on and unknown (or expired) → booting, ready after
/// `boot_reads` reads; powered off, or its profile deleted (undeploy), after it was up → `TTL
/// expired`, as a real agent that stops reporting: the node stays registered with a stale check
/// until the next deploy boots it again (a redeploy). Appliance unreadable → left as it is.
fn auto_boot(data: &mut Data, node: &str, server: Option<Server>, boot_reads: u32) {
    let current = data.nodes.get(node).and_then(|n| n.state.clone());
    match (server, current) {
        (Some(Server::On), None | Some(NodeState::Absent) | Some(NodeState::Expired)) => {
            data.set(node, NodeState::Booting);
            data.nodes.get_mut(node).expect("just set").after_reads =
                Some((boot_reads.max(1), NodeState::Ready));
        }
        (Some(Server::Off | Server::NoProfile), Some(NodeState::Booting | NodeState::Ready)) => {
            data.set(node, NodeState::Expired);
            data.nodes.get_mut(node).expect("just set").after_reads = None;
        }
        _ => {}
    }
}
