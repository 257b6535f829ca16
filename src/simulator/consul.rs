//! A Consul stand-in: small HTTP servers on loopback speaking the part of Consul's HTTP API our
//! pipeline uses, with Consul's ACL enforcement and test controls.
//!
//! - The read `deploy` waits on: `GET /v1/health/node/<node>` (checks the token may not read are
//!   left out, as Consul does).
//! - The local agent API the plan scripts call (`agent` submodule): agent self, service and check
//!   registration and deregistration, TTL check updates (`update`, `pass`, `warn`, `fail`), KV.
//!   A real agent acts for the node it runs on, so the stand-in runs **one agent listener per
//!   node**: [`ConsulStandIn::add_agent`] (`simulate --consul-agent NODE=ADDR`) listens on ADDR
//!   and every agent call there acts for NODE. The agent joins (its node gets Consul's
//!   `serfHealth` check) on its first call; the checks it registers and updates are what the
//!   health read reports for NODE. The first listener is the "server" agent, node `consul-server`.
//! - ACLs (`tokens` submodule): each token maps to a policy (the shipped
//!   `templates/consul-policies/*.hcl`, any directory of them, or global management); the
//!   default policy is deny; what each endpoint requires is [`crate::consul::acl`]'s table.
//!
//! What a node reports follows the readiness contract of `templates/consul-agent.j2`: a TTL check
//! with ID `first-boot` that is `warning` while first boot runs, `passing` with output `ready`, or
//! `critical` with output `failed: <units>`; plus Consul's own `serfHealth` check. TTL checks an
//! agent registered turn `critical` ("TTL expired") when not updated within their TTL.
//!
//! Controls: the Rust API ([`ConsulStandIn::set_node`], …) or, without a token, `PUT /sim/nodes/<node>`
//! with `{"state": "absent|booting|ready|failed|expired", "units": "x.service"}` and
//! `GET /sim/requests` (the requests seen, each with whether its token was known and the status).
//!
//! Auto-boot ([`ConsulStandIn::start_auto`], `i3s-bundle simulate --consul-listen`): a node nobody
//! set by hand and no stand-in agent serves comes up by itself once the appliance simulator holds a
//! server profile carrying the node name as a custom attribute value on powered-on hardware —
//! `warning` for a few reads, then `passing` — and reports `TTL expired` once that server is off
//! again or its profile is gone (undeploy), so that a redeploy boots it afresh.
mod agent;
pub mod tokens;

use crate::appliance::api::{SERVER_HARDWARE, SERVER_PROFILES};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
pub use tokens::{Access, AclTokens};

/// The node name of the stand-in's first listener (a server agent).
pub const SERVER_NODE: &str = "consul-server";

/// The datacenter the stand-in reports.
pub const DATACENTER: &str = "dc1";

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
    /// The request presented a token the stand-in knows.
    pub token_ok: bool,
    /// The HTTP status it got.
    pub status: u16,
    /// The node of the agent listener that answered.
    pub agent: String,
}

/// One health check as Consul keeps it.
#[derive(Debug, Clone)]
struct Check {
    id: String,
    name: String,
    status: String,
    output: String,
    notes: String,
    service_id: String,
    service_name: String,
    service_tags: Vec<String>,
    /// Consul's `Type`: `ttl`, `http`, `tcp`, or empty for `serfHealth`.
    kind: &'static str,
    ttl: Option<Duration>,
    /// When a TTL check was last updated (its TTL clock).
    updated: Instant,
    create_index: u64,
    modify_index: u64,
}

impl Check {
    fn new(id: &str, name: &str, status: &str, kind: &'static str) -> Check {
        Check {
            id: id.to_string(),
            name: name.to_string(),
            status: status.to_string(),
            output: String::new(),
            notes: String::new(),
            service_id: String::new(),
            service_name: String::new(),
            service_tags: Vec::new(),
            kind,
            ttl: None,
            updated: Instant::now(),
            create_index: 0,
            modify_index: 0,
        }
    }

    fn json(&self, node: &str) -> Value {
        json!({"Node": node, "CheckID": self.id, "Name": self.name, "Status": self.status,
               "Notes": self.notes, "Output": self.output, "ServiceID": self.service_id,
               "ServiceName": self.service_name, "ServiceTags": self.service_tags,
               "Type": self.kind, "CreateIndex": self.create_index, "ModifyIndex": self.modify_index})
    }
}

/// A service an agent registered.
#[derive(Debug, Clone)]
struct Service {
    name: String,
    tags: Vec<String>,
}

#[derive(Debug, Default)]
struct Node {
    /// The state last set through the controls or auto-boot.
    state: Option<NodeState>,
    checks: BTreeMap<String, Check>,
    /// By service ID.
    services: BTreeMap<String, Service>,
    /// After this many more health reads, switch to `then` (for scripted boots).
    after_reads: Option<(u32, NodeState)>,
}

/// A KV entry.
#[derive(Debug, Clone)]
struct Entry {
    value: Vec<u8>,
    flags: u64,
    create_index: u64,
    modify_index: u64,
}

#[derive(Debug, Default)]
struct Data {
    nodes: BTreeMap<String, Node>,
    /// Consul's Raft index: every write moves it on.
    index: u64,
    kv: BTreeMap<String, Entry>,
    requests: Vec<SeenRequest>,
    /// Nodes set through the controls: auto-boot leaves them alone.
    manual: BTreeSet<String>,
    /// Nodes a stand-in agent serves: they report what their agent registers; auto-boot leaves
    /// them alone too.
    agents: BTreeSet<String>,
}

/// Where auto-boot looks for powered-on servers, and how many reads a boot takes.
#[derive(Debug, Clone)]
pub struct AutoBoot {
    /// Base URL of the appliance simulator (its `/sim/state` is read).
    pub appliance: String,
    /// Health reads answered `warning` before `passing`.
    pub boot_reads: u32,
}

const FIRST_BOOT: &str = "first-boot";

impl Data {
    fn next_index(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    /// The node joins: it exists with a passing `serfHealth` check.
    fn join(&mut self, node: &str) {
        if self
            .nodes
            .get(node)
            .is_some_and(|n| n.checks.contains_key("serfHealth"))
        {
            return;
        }
        let mut serf = Check::new("serfHealth", "Serf Health Status", "passing", "");
        serf.output = "Agent alive and reachable".into();
        self.put_check(node, serf);
    }

    /// Registers (or replaces) a check; its ModifyIndex moves only when something changed.
    fn put_check(&mut self, node: &str, mut check: Check) {
        let index = self.next_index();
        let entry = self.nodes.entry(node.to_string()).or_default();
        match entry.checks.get(&check.id) {
            Some(old) => {
                check.create_index = old.create_index;
                let same = old.status == check.status
                    && old.output == check.output
                    && old.name == check.name
                    && old.service_id == check.service_id;
                check.modify_index = if same { old.modify_index } else { index };
            }
            None => (check.create_index, check.modify_index) = (index, index),
        }
        entry.checks.insert(check.id.clone(), check);
    }

    /// Sets a check's status and output and restarts its TTL clock.
    fn update_check(&mut self, node: &str, id: &str, status: &str, output: &str) {
        let Some(mut check) = self.nodes.get(node).and_then(|n| n.checks.get(id)).cloned() else {
            return;
        };
        check.status = status.to_string();
        check.output = output.to_string();
        check.updated = Instant::now();
        self.put_check(node, check);
    }

    /// TTL checks not updated within their TTL turn critical, as Consul's `CheckTTL` does
    /// ("TTL expired", followed by the last output when there was one).
    fn expire(&mut self, node: &str) {
        let now = Instant::now();
        let expired: Vec<Check> = self
            .nodes
            .get(node)
            .into_iter()
            .flat_map(|n| n.checks.values())
            .filter(|c| c.ttl.is_some_and(|ttl| now.duration_since(c.updated) > ttl))
            .filter(|c| !c.output.starts_with("TTL expired"))
            .cloned()
            .collect();
        for mut check in expired {
            check.output = match check.output.as_str() {
                "" => "TTL expired".to_string(),
                last => format!("TTL expired (last output before timeout follows): {last}"),
            };
            check.status = "critical".into();
            self.put_check(node, check);
        }
    }

    /// The controls: the node reports `state` through its `first-boot` check.
    fn set(&mut self, node: &str, state: NodeState) {
        let (status, output) = match &state {
            NodeState::Absent => {
                self.next_index();
                let entry = self.nodes.entry(node.to_string()).or_default();
                entry.checks.clear();
                entry.services.clear();
                entry.state = Some(state);
                return;
            }
            NodeState::Booting => ("warning", "first boot in progress".to_string()),
            NodeState::Ready => ("passing", "ready".to_string()),
            NodeState::Failed(units) => ("critical", format!("failed: {units}")),
            NodeState::Expired => ("critical", "TTL expired".to_string()),
        };
        self.join(node);
        let mut check = Check::new(FIRST_BOOT, "first boot", status, "ttl");
        check.output = output;
        self.put_check(node, check);
        self.nodes.get_mut(node).expect("just joined").state = Some(state);
    }
}

/// What each listener serves.
#[derive(Clone)]
struct Ctx {
    data: Arc<Mutex<Data>>,
    tokens: Arc<AclTokens>,
    auto: Arc<Option<AutoBoot>>,
    /// The node this listener's agent acts for (an [`AgentHandle`] may change it).
    node: Arc<Mutex<Arc<str>>>,
    addr: SocketAddr,
}

impl Ctx {
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn node(&self) -> Arc<str> {
        self.node.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One agent listener, to make it act for another node: a simulated machine's boot points the
/// agent on 127.0.0.1:8500 at the node that is booting (a real node runs its own agent there).
#[derive(Clone)]
pub struct AgentHandle {
    data: Arc<Mutex<Data>>,
    node: Arc<Mutex<Arc<str>>>,
    /// `http://ADDR` of the listener.
    pub base_url: String,
}

impl AgentHandle {
    /// From now on the listener's agent calls act for `node`, which only its agent drives
    /// (auto-boot leaves it alone).
    pub fn act_for(&self, node: &str) {
        *self.node.lock().unwrap_or_else(|p| p.into_inner()) = Arc::from(node);
        self.data
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .agents
            .insert(node.to_string());
    }
}

/// One HTTP listener on its own thread.
struct Listener {
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn start(
        listen: SocketAddr,
        ctx: impl FnOnce(SocketAddr) -> Ctx,
    ) -> crate::Result<(SocketAddr, Listener)> {
        let refuse = |e: std::io::Error| {
            crate::Error::Usage(format!("Consul stand-in: cannot listen on {listen}: {e}"))
        };
        let listener = std::net::TcpListener::bind(listen).map_err(refuse)?;
        listener.set_nonblocking(true).map_err(refuse)?;
        let addr = listener.local_addr().map_err(refuse)?;
        let router = axum::Router::new().fallback(handle).with_state(ctx(addr));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
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
        let started = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("its thread ended before listening")));
        started.map_err(|e| crate::Error::Usage(format!("Consul stand-in on {addr}: {e}")))?;
        Ok((
            addr,
            Listener {
                shutdown: Some(stop_tx),
                thread: Some(thread),
            },
        ))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running stand-in.
pub struct ConsulStandIn {
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base_url: String,
    data: Arc<Mutex<Data>>,
    tokens: Arc<AclTokens>,
    auto: Arc<Option<AutoBoot>>,
    /// The server listener first, then one per agent.
    listeners: Vec<Listener>,
    /// Each listener's address and the node its agent acts for.
    agent_nodes: Vec<(SocketAddr, Arc<Mutex<Arc<str>>>)>,
}

impl ConsulStandIn {
    /// Listens on `listen` (port 0: any free port) with one management token.
    pub fn start(listen: SocketAddr, token: &str) -> crate::Result<ConsulStandIn> {
        Self::start_auto(listen, token, None)
    }

    /// Like [`start`](Self::start), with nodes booting by themselves when their server is on.
    pub fn start_auto(
        listen: SocketAddr,
        token: &str,
        auto: Option<AutoBoot>,
    ) -> crate::Result<ConsulStandIn> {
        Self::start_with(listen, AclTokens::management(token), auto)
    }

    /// Listens on `listen` with these tokens (see [`AclTokens::load`]).
    pub fn start_with(
        listen: SocketAddr,
        tokens: AclTokens,
        auto: Option<AutoBoot>,
    ) -> crate::Result<ConsulStandIn> {
        let data = Arc::new(Mutex::new(Data::default()));
        let (tokens, auto) = (Arc::new(tokens), Arc::new(auto));
        let mut standin = ConsulStandIn {
            addr: listen,
            base_url: String::new(),
            data,
            tokens,
            auto,
            listeners: Vec::new(),
            agent_nodes: Vec::new(),
        };
        let addr = standin.listen(listen, SERVER_NODE)?;
        standin.addr = addr;
        standin.base_url = format!("http://{addr}");
        Ok(standin)
    }

    /// Starts the local agent of `node` on `listen` (e.g. `127.0.0.2:8500`, so that a node's
    /// scripts find it where they expect it); returns its base URL. Its agent calls act for
    /// `node`, sharing this stand-in's catalog, KV and tokens.
    pub fn add_agent(&mut self, listen: SocketAddr, node: &str) -> crate::Result<String> {
        if node.is_empty() || node.contains('/') {
            return Err(crate::Error::Usage(format!(
                "Consul agent node name {node:?}: give a node name without '/'"
            )));
        }
        let addr = self.listen(listen, node)?;
        self.lock().agents.insert(node.to_string());
        Ok(format!("http://{addr}"))
    }

    fn listen(&mut self, listen: SocketAddr, node: &str) -> crate::Result<SocketAddr> {
        let (data, tokens, auto) = (self.data.clone(), self.tokens.clone(), self.auto.clone());
        let node = Arc::new(Mutex::new(Arc::from(node)));
        let cell = node.clone();
        let (addr, listener) = Listener::start(listen, |addr| Ctx {
            data,
            tokens,
            auto,
            node,
            addr,
        })?;
        self.listeners.push(listener);
        self.agent_nodes.push((addr, cell));
        Ok(addr)
    }

    /// The listener on `addr` (the server listener or an agent's), to retarget it.
    pub fn agent(&self, addr: SocketAddr) -> Option<AgentHandle> {
        self.agent_nodes
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(a, node)| AgentHandle {
                data: self.data.clone(),
                node: node.clone(),
                base_url: format!("http://{a}"),
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

    /// The value stored under a KV key, if any.
    pub fn kv(&self, key: &str) -> Option<Vec<u8>> {
        self.lock().kv.get(key).map(|e| e.value.clone())
    }
}

impl Drop for ConsulStandIn {
    fn drop(&mut self) {
        // Agents first, the server last (each listener joins its thread).
        while let Some(listener) = self.listeners.pop() {
            drop(listener);
        }
    }
}

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

/// Consul's errors: a status and a plain-text reason.
fn text(status: StatusCode, reason: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        reason.into(),
    )
        .into_response()
}

/// Largest request body read (Consul's KV limit is 512 KiB; agent definitions are small).
const BODY_LIMIT: usize = 1 << 20;

async fn handle(
    axum::extract::State(ctx): axum::extract::State<Ctx>,
    request: Request,
) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    if let Some(node) = path.strip_prefix("/sim/nodes/") {
        let body = axum::body::to_bytes(request.into_body(), BODY_LIMIT)
            .await
            .unwrap_or_default();
        return control(&ctx.data, node, &body);
    }
    if path == "/sim/requests" {
        let data = ctx.lock();
        let list: Vec<Value> = data
            .requests
            .iter()
            .map(|r| json!({"method": r.method, "path": r.path, "tokenOk": r.token_ok, "status": r.status, "agent": r.agent}))
            .collect();
        return reply(StatusCode::OK, Value::Array(list), None);
    }
    let token = tokens::presented(request.headers(), query.as_deref());
    let body = match axum::body::to_bytes(request.into_body(), BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => {
            return text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body too large, max size: {BODY_LIMIT} bytes"),
            );
        }
    };
    let caller = ctx.tokens.resolve(token.as_deref());
    let known = caller.as_ref().is_some_and(|c| c.known);
    if let Some(node) = path.strip_prefix("/v1/health/node/") {
        prepare_auto_boot(&ctx, &agent::percent_decode(node), known).await;
    }
    let mut data = ctx.lock();
    let response = match caller {
        // Consul resolves the token before anything else.
        None => text(StatusCode::FORBIDDEN, "ACL not found"),
        Some(caller) => route(
            &mut data,
            &ctx,
            &caller,
            &method,
            &path,
            query.as_deref(),
            &body,
        ),
    };
    data.requests.push(SeenRequest {
        method,
        path,
        token_ok: known,
        status: response.status().as_u16(),
        agent: ctx.node().to_string(),
    });
    response
}

fn route(
    data: &mut Data,
    ctx: &Ctx,
    caller: &tokens::Caller<'_>,
    method: &str,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response {
    if let Some(node) = path.strip_prefix("/v1/health/node/") {
        let node = agent::percent_decode(node);
        if method != "GET" {
            return agent::not_allowed(method, &["GET"]);
        }
        if node.is_empty() || node.contains('/') {
            return text(StatusCode::NOT_FOUND, format!("Unsupported path {path}"));
        }
        return health_read(data, caller, &node);
    }
    let node = ctx.node();
    let call = agent::Call {
        node: &node,
        addr: ctx.addr,
        caller,
        method,
        path,
        query,
        body,
    };
    agent::handle(data, &call)
        .unwrap_or_else(|| text(StatusCode::NOT_FOUND, format!("Unsupported path {path}")))
}

/// `GET /v1/health/node/<node>`: the node's checks the caller may read (Consul filters, it does
/// not refuse, and says so in `X-Consul-Results-Filtered-By-ACLs`):
/// <https://developer.hashicorp.com/consul/api-docs/health#list-checks-for-node>.
fn health_read(data: &mut Data, caller: &tokens::Caller<'_>, node: &str) -> Response {
    let checks = health(data, node);
    let visible: Vec<Value> = checks
        .iter()
        .filter(|c| {
            caller.may(&crate::consul::acl::check_read_need(
                node,
                Some(c.service_name.as_str()),
            ))
        })
        .map(|c| c.json(node))
        .collect();
    let filtered = visible.len() < checks.len();
    let mut response = reply(StatusCode::OK, Value::Array(visible), Some(data.index));
    if filtered {
        response.headers_mut().insert(
            "X-Consul-Results-Filtered-By-ACLs",
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// The node's checks (TTLs applied), advancing a scripted node by one read.
fn health(data: &mut Data, node: &str) -> Vec<Check> {
    data.expire(node);
    let Some(entry) = data.nodes.get_mut(node) else {
        return Vec::new();
    };
    let checks: Vec<Check> = entry.checks.values().cloned().collect();
    if let Some((reads, then)) = entry.after_reads.take() {
        if reads <= 1 {
            data.set(node, then);
        } else {
            entry.after_reads = Some((reads - 1, then));
        }
    }
    checks
}

/// Auto-boot, before a health read: asks the appliance simulator (outside the lock) whether the
/// node's server is on, for nodes neither the controls nor an agent drive.
async fn prepare_auto_boot(ctx: &Ctx, node: &str, known_token: bool) {
    let Some(auto) = ctx.auto.as_ref().clone() else {
        return;
    };
    let driven = {
        let data = ctx.lock();
        data.manual.contains(node) || data.agents.contains(node)
    };
    if !known_token || driven {
        return;
    }
    let (probe, appliance) = (node.to_string(), auto.appliance.clone());
    let powered = tokio::task::spawn_blocking(move || server_state(&appliance, &probe))
        .await
        .unwrap_or(None);
    auto_boot(&mut ctx.lock(), node, powered, auto.boot_reads);
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
    let profiles = resources[SERVER_PROFILES]
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
    let hardware = resources[SERVER_HARDWARE]
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
