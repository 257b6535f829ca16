//! The local agent API our plan scripts call (`templates/_lib/sh.j2` `consul_api`,
//! `templates/consul-agent.j2`), acting for the listener's node, with Consul's answers:
//! - `GET /v1/agent/self`:
//!   <https://developer.hashicorp.com/consul/api-docs/agent#read-configuration>
//! - `PUT /v1/agent/service/register`, `PUT /v1/agent/service/deregister/:id`:
//!   <https://developer.hashicorp.com/consul/api-docs/agent/service>
//! - `PUT /v1/agent/check/register`, `…/deregister/:id`, `…/update/:id`, `…/pass|warn|fail/:id`:
//!   <https://developer.hashicorp.com/consul/api-docs/agent/check>
//! - `GET`/`PUT`/`DELETE /v1/kv/:key`: <https://developer.hashicorp.com/consul/api-docs/kv>
//!
//! Each call is checked in Consul's order: the request is decoded and validated (400), the
//! object looked up (404 for an unknown check or service ID), then the token's permission
//! ([`crate::consul::acl::needs_with`], 403), then it takes effect. HTTP and TCP checks are
//! registered but not run: they keep their initial status (Consul's default, `critical`).
use super::tokens::Caller;
use super::{Check, Data, Entry, Service, reply, text};
use crate::consul::acl::{self, Owner};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::net::SocketAddr;

/// One call to the agent listener of `node`.
pub(super) struct Call<'a> {
    pub node: &'a str,
    pub addr: SocketAddr,
    pub caller: &'a Caller<'a>,
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// Consul's limit on a KV value: 512 KiB
/// (<https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size>).
const KV_MAX_VALUE: usize = 512 * 1024;

/// An endpoint's handler.
type Answer = fn(&mut Data, &Call<'_>) -> Response;

/// Answers an agent or KV call; `None`: not an endpoint the stand-in serves.
pub(super) fn handle(data: &mut Data, call: &Call<'_>) -> Option<Response> {
    let path = call.path;
    let (methods, answer): (&[&str], Answer) = match path {
        "/v1/agent/self" => (&["GET"], agent_self),
        "/v1/agent/service/register" => (&["PUT"], service_register),
        "/v1/agent/check/register" => (&["PUT"], check_register),
        p if p.starts_with("/v1/agent/service/deregister/") => (&["PUT"], service_deregister),
        p if acl::check_id(p).is_some() => (&["PUT"], check_call),
        p if p.starts_with("/v1/kv/") && p.len() > 7 => (&["GET", "PUT", "DELETE"], kv),
        _ => return None,
    };
    if !methods.contains(&call.method) {
        return Some(not_allowed(call.method, methods));
    }
    if path.starts_with("/v1/agent/") {
        data.join(call.node);
    }
    Some(answer(data, call))
}

/// 405 with the methods the endpoint takes (Consul's `MethodNotAllowedError`).
pub(super) fn not_allowed(method: &str, methods: &[&str]) -> Response {
    let mut response = text(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method {method} not allowed"),
    );
    let allow = std::iter::once("OPTIONS")
        .chain(methods.iter().copied())
        .collect::<Vec<_>>()
        .join(",");
    if let Ok(allow) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// 403 unless the caller has every permission the endpoint needs.
fn permitted(call: &Call<'_>, services: &[String], owner: Owner<'_>) -> Result<(), Response> {
    let needs = acl::needs_with(call.method, call.path, call.node, services, owner)
        .expect("the endpoints served are in the ACL table");
    match call.caller.refusal(&needs) {
        Some(reason) => Err(text(StatusCode::FORBIDDEN, reason)),
        None => Ok(()),
    }
}

/// 200 with no body: what Consul's agent writes answers.
fn done() -> Response {
    StatusCode::OK.into_response()
}

fn bad_request(reason: impl Into<String>) -> Response {
    text(StatusCode::BAD_REQUEST, reason)
}

/// The JSON body; Consul decodes field names case-insensitively.
fn decode(call: &Call<'_>) -> Result<Value, Response> {
    if call.body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(call.body)
        .map_err(|e| bad_request(format!("Request decode failed: {e}")))
}

fn field<'v>(object: &'v Value, name: &str) -> Option<&'v Value> {
    object
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

fn text_field(object: &Value, name: &str) -> String {
    field(object, name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn agent_self(data: &mut Data, call: &Call<'_>) -> Response {
    if let Err(refused) = permitted(call, &[], Owner::FromId) {
        return refused;
    }
    let node_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_DNS, call.node.as_bytes());
    let ip = call.addr.ip().to_string();
    let body = json!({
        "Config": {"Datacenter": super::DATACENTER, "PrimaryDatacenter": super::DATACENTER,
                   "NodeName": call.node, "NodeID": node_id.to_string(),
                   "Server": call.node == super::SERVER_NODE, "Revision": "stand-in",
                   "Version": "1.20.0"},
        "Coord": {"Vec": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "Error": 1.5, "Adjustment": 0.0, "Height": 1.0e-5},
        "Member": {"Name": call.node, "Addr": ip, "Port": 8301,
                   "Tags": {"dc": super::DATACENTER, "role": "node", "id": node_id.to_string()},
                   "Status": 1},
        "Meta": {},
        "Stats": {"agent": {"checks": data.nodes.get(call.node).map_or(0, |n| n.checks.len()).to_string(),
                            "services": data.nodes.get(call.node).map_or(0, |n| n.services.len()).to_string()}}
    });
    reply(StatusCode::OK, body, None)
}

/// A check definition from a registration body, or Consul's 400 saying why it is not valid.
fn check_from(definition: &Value, id: String, name: String) -> Result<Check, Response> {
    let ttl = text_field(definition, "TTL");
    let kind = if !ttl.is_empty() {
        "ttl"
    } else if field(definition, "HTTP").is_some() {
        "http"
    } else if field(definition, "TCP").is_some() {
        "tcp"
    } else {
        return Err(bad_request(
            "Invalid check: TTL must be > 0 for TTL checks (the stand-in serves TTL, HTTP and TCP checks)",
        ));
    };
    let mut check = Check::new(&id, &name, "critical", kind);
    if kind == "ttl" {
        let ttl = humantime::parse_duration(&ttl)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                bad_request(format!(
                    "Invalid check: TTL {ttl:?} is not a positive duration"
                ))
            })?;
        check.ttl = Some(ttl);
    } else if text_field(definition, "Interval").is_empty() {
        return Err(bad_request(
            "Invalid check: Interval must be > 0 for HTTP and TCP checks",
        ));
    }
    let status = text_field(definition, "Status");
    if !status.is_empty() {
        if !matches!(status.as_str(), "passing" | "warning" | "critical") {
            return Err(bad_request(format!("Invalid check status: {status:?}")));
        }
        check.status = status;
    }
    check.notes = text_field(definition, "Notes");
    Ok(check)
}

/// `PUT /v1/agent/service/register`: the service and its checks. Checks it had keep their
/// status (Consul snapshots check states around a service registration, `agent.go`
/// `AddService`); `?replace-existing-checks` drops the checks the definition no longer has.
fn service_register(data: &mut Data, call: &Call<'_>) -> Response {
    let body = match decode(call) {
        Ok(body) => body,
        Err(bad) => return bad,
    };
    let name = text_field(&body, "Name");
    if name.is_empty() {
        return bad_request("Missing service name");
    }
    let id = Some(text_field(&body, "ID"))
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| name.clone());
    let tags: Vec<String> = field(&body, "Tags")
        .and_then(Value::as_array)
        .map(|t| {
            t.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let checks = match service_checks(&body, &id, &name) {
        Ok(checks) => checks,
        Err(bad) => return bad,
    };
    let node = call.node;
    let mut services = vec![name.clone()];
    if let Some(old) = data.nodes.get(node).and_then(|n| n.services.get(&id)) {
        services.push(old.name.clone());
    }
    if let Err(refused) = permitted(call, &services, Owner::FromId) {
        return refused;
    }
    let replace = super::super::http::query_pairs(call.query)
        .iter()
        .any(|(k, v)| k == "replace-existing-checks" && v != "false");
    let entry = data.nodes.entry(node.to_string()).or_default();
    entry.services.insert(
        id.clone(),
        Service {
            name: name.clone(),
            tags: tags.clone(),
        },
    );
    if replace {
        let keep: Vec<&str> = checks.iter().map(|c| c.id.as_str()).collect();
        entry
            .checks
            .retain(|cid, c| c.service_id != id || keep.contains(&cid.as_str()));
    }
    for mut check in checks {
        if let Some(old) = data.nodes.get(node).and_then(|n| n.checks.get(&check.id)) {
            (check.status, check.output) = (old.status.clone(), old.output.clone());
        }
        check.service_id = id.clone();
        check.service_name = name.clone();
        check.service_tags = tags.clone();
        data.put_check(node, check);
    }
    data.next_index();
    done()
}

/// The checks a service definition carries (`Check`, then `Checks`), with Consul's defaults:
/// ID `service:<id>[:<n>]`, name `Service '<name>' check`.
fn service_checks(body: &Value, id: &str, name: &str) -> Result<Vec<Check>, Response> {
    let mut definitions: Vec<Value> = field(body, "Checks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(single) = field(body, "Check").filter(|c| c.is_object()) {
        definitions.insert(0, single.clone());
    }
    let count = definitions.len();
    let mut checks = Vec::new();
    for (i, definition) in definitions.iter().enumerate() {
        let check_id = Some(text_field(definition, "CheckID"))
            .filter(|c| !c.is_empty())
            .or_else(|| Some(text_field(definition, "ID")).filter(|c| !c.is_empty()))
            .unwrap_or_else(|| match count {
                1 => format!("service:{id}"),
                _ => format!("service:{id}:{}", i + 1),
            });
        let check_name = Some(text_field(definition, "Name"))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("Service '{name}' check"));
        checks.push(check_from(definition, check_id, check_name)?);
    }
    Ok(checks)
}

/// `PUT /v1/agent/service/deregister/:service_id`: the service and its checks.
fn service_deregister(data: &mut Data, call: &Call<'_>) -> Response {
    let id = percent_decode(&call.path["/v1/agent/service/deregister/".len()..]);
    let Some(service) = data
        .nodes
        .get(call.node)
        .and_then(|n| n.services.get(&id))
        .cloned()
    else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name."
            ),
        );
    };
    if let Err(refused) = permitted(call, &[], Owner::Service(&service.name)) {
        return refused;
    }
    data.next_index();
    if let Some(node) = data.nodes.get_mut(call.node) {
        node.services.remove(&id);
        node.checks.retain(|_, c| c.service_id != id);
    }
    done()
}

/// `PUT /v1/agent/check/register`: a node check, or a check of a registered service. The
/// check starts over at its initial status.
fn check_register(data: &mut Data, call: &Call<'_>) -> Response {
    let body = match decode(call) {
        Ok(body) => body,
        Err(bad) => return bad,
    };
    let name = text_field(&body, "Name");
    if name.is_empty() {
        return bad_request("Missing check name");
    }
    let id = Some(text_field(&body, "ID"))
        .filter(|i| !i.is_empty())
        .or_else(|| Some(text_field(&body, "CheckID")).filter(|i| !i.is_empty()))
        .unwrap_or_else(|| name.clone());
    let mut check = match check_from(&body, id, name) {
        Ok(check) => check,
        Err(bad) => return bad,
    };
    let service_id = text_field(&body, "ServiceID");
    let service = match service_id.as_str() {
        "" => None,
        sid => match data.nodes.get(call.node).and_then(|n| n.services.get(sid)) {
            Some(service) => Some(service.clone()),
            None => return bad_request(format!("ServiceID {sid:?} does not exist")),
        },
    };
    let owner = service
        .as_ref()
        .map_or(Owner::Node, |s| Owner::Service(&s.name));
    if let Err(refused) = permitted(call, &[], owner) {
        return refused;
    }
    // Replacing a check of another owner needs that owner's permission too.
    if let Some(old) = data
        .nodes
        .get(call.node)
        .and_then(|n| n.checks.get(&check.id))
    {
        let old_owner = match old.service_name.as_str() {
            "" => Owner::Node,
            name => Owner::Service(name),
        };
        if let Err(refused) = permitted(call, &[], old_owner) {
            return refused;
        }
    }
    if let Some(service) = service {
        check.service_id = service_id;
        check.service_name = service.name;
        check.service_tags = service.tags;
    }
    data.put_check(call.node, check);
    done()
}

/// The TTL updates (`update` with a JSON body, `pass`/`warn`/`fail` with `?note=`) and
/// `deregister` of an existing check.
fn check_call(data: &mut Data, call: &Call<'_>) -> Response {
    let (verb, raw_id) = acl::check_id(call.path).expect("routed on check_id");
    let id = percent_decode(raw_id);
    let (status, output) = match verb {
        "update" => {
            let body = match decode(call) {
                Ok(body) => body,
                Err(bad) => return bad,
            };
            let status = text_field(&body, "Status");
            if !matches!(status.as_str(), "passing" | "warning" | "critical") {
                return bad_request(format!("Invalid check status: {status:?}"));
            }
            (status, text_field(&body, "Output"))
        }
        "deregister" => (String::new(), String::new()),
        verb => {
            let note = super::super::http::query_pairs(call.query)
                .into_iter()
                .find(|(k, _)| k == "note")
                .map(|(_, v)| v)
                .unwrap_or_default();
            let status = match verb {
                "pass" => "passing",
                "warn" => "warning",
                _ => "critical",
            };
            (status.to_string(), note)
        }
    };
    let Some(check) = data
        .nodes
        .get(call.node)
        .and_then(|n| n.checks.get(&id))
        .cloned()
    else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "Unknown check ID {id:?}. Ensure that the check ID is passed, not the check name."
            ),
        );
    };
    let owner = match check.service_name.as_str() {
        "" => Owner::Node,
        name => Owner::Service(name),
    };
    if let Err(refused) = permitted(call, &[], owner) {
        return refused;
    }
    if verb == "deregister" {
        data.next_index();
        if let Some(node) = data.nodes.get_mut(call.node) {
            node.checks.remove(&id);
        }
        return done();
    }
    if check.ttl.is_none() {
        return text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("CheckID {id:?} does not have associated TTL"),
        );
    }
    data.update_check(call.node, &id, &status, &output);
    done()
}

/// `GET` (JSON entries, or the bare value with `?raw`; 404 when absent), `PUT` (`true`, or
/// `false` when a `?cas=` index does not match) and `DELETE` (`true`) of one key.
fn kv(data: &mut Data, call: &Call<'_>) -> Response {
    let key = percent_decode(&call.path["/v1/kv/".len()..]);
    let params = super::super::http::query_pairs(call.query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if ["recurse", "keys", "acquire", "release"]
        .iter()
        .any(|p| param(p).is_some())
    {
        return bad_request(
            "the Consul stand-in serves single keys only (no recurse, keys, acquire or release)",
        );
    }
    if let Err(refused) = permitted(call, &[], Owner::FromId) {
        return refused;
    }
    match call.method {
        "GET" => kv_get(data, &key, param("raw").is_some()),
        "PUT" => kv_put(data, key, call.body, param("cas"), param("flags")),
        _ => {
            data.next_index();
            data.kv.remove(&key);
            reply(StatusCode::OK, json!(true), None)
        }
    }
}

/// `GET /v1/kv/:key`: the entry as JSON, or its bare value (`raw`); 404 when absent.
fn kv_get(data: &Data, key: &str, raw: bool) -> Response {
    let Some(entry) = data.kv.get(key) else {
        let mut missing = StatusCode::NOT_FOUND.into_response();
        if let Ok(index) = HeaderValue::from_str(&data.index.to_string()) {
            missing.headers_mut().insert("X-Consul-Index", index);
        }
        return missing;
    };
    if raw {
        let mut raw = (StatusCode::OK, entry.value.clone()).into_response();
        raw.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        return raw;
    }
    let body = json!([{"LockIndex": 0, "Key": key, "Flags": entry.flags,
                       "Value": base64(&entry.value), "CreateIndex": entry.create_index,
                       "ModifyIndex": entry.modify_index}]);
    reply(StatusCode::OK, body, Some(entry.modify_index))
}

/// `PUT /v1/kv/:key`: `true`, or `false` when a `cas` index does not match the entry's.
fn kv_put(
    data: &mut Data,
    key: String,
    value: &[u8],
    cas: Option<&str>,
    flags: Option<&str>,
) -> Response {
    if value.len() > KV_MAX_VALUE {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "Request body({} bytes) too large, max size: {KV_MAX_VALUE} bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.",
                value.len()
            ),
        );
    }
    let current = data.kv.get(&key).map(|e| e.modify_index);
    if let Some(cas) = cas {
        let Ok(cas) = cas.parse::<u64>() else {
            return bad_request("Invalid cas index");
        };
        if current.unwrap_or(0) != cas {
            return reply(StatusCode::OK, json!(false), None);
        }
    }
    let flags = flags.and_then(|f| f.parse().ok()).unwrap_or(0);
    let index = data.next_index();
    let create_index = data.kv.get(&key).map_or(index, |e| e.create_index);
    data.kv.insert(
        key,
        Entry {
            value: value.to_vec(),
            flags,
            create_index,
            modify_index: index,
        },
    );
    reply(StatusCode::OK, json!(true), None)
}

/// Decodes `%XX` in a path segment (no `+`: that is a query-string convention).
pub(super) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding, as Consul encodes KV values in JSON.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_percent_decoding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(percent_decode("a%2Fb%20c%zz"), "a/b c%zz");
    }
}
