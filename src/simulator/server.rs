//! Request dispatch: authentication, counters, fault injection, then one handler per resource.
use super::Shared;
use super::bundles;
use super::golden_images;
use super::http::{
    accepted, api_version, collection_response, error, is_multipart, json_response, list,
    not_found, query_pairs, read_json, target,
};
use super::servers;
use super::state::{self, State};
use crate::appliance::api::{
    ARTIFACT_BUNDLE_DOWNLOADS, ARTIFACT_BUNDLES, BUILD_PLANS, DEPLOYMENT_PLANS, GOLDEN_IMAGES,
    LOGIN_SESSIONS, NEW_PROFILE, OS_DEPLOYMENT_PLANS, OS_DEPLOYMENT_PLANS_AS_SDK, PLAN_SCRIPTS,
    SERVER_PROFILE_TEMPLATES, SESSIONS_IDLE_TIMEOUT, TASKS, VERSION,
};
use crate::appliance::types;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// Every request goes through here.
pub async fn dispatch(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: Request,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    if path.starts_with("/sim/") {
        return super::admin::handle(&shared, method, &path, request).await;
    }
    let key = format!("{method} {}", normalise(&path));
    let (latency, fault) = {
        let mut state = shared.lock();
        *state.counts.entry(key).or_default() += 1;
        let p = state.faults.error_5xx;
        let fault = if p > 0.0 && state.rng.next_f64() < p {
            if method != Method::GET && state.rng.next_f64() < 0.5 {
                Some(FaultAt::After)
            } else {
                Some(FaultAt::Before)
            }
        } else {
            None
        };
        (state.faults.latency_ms, fault)
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    let response = if fault == Some(FaultAt::Before) {
        injected_500()
    } else {
        let response = route(&shared, method.clone(), &path, query.as_deref(), request).await;
        if fault == Some(FaultAt::After) {
            injected_500()
        } else {
            response
        }
    };
    let status = response.status().as_u16();
    let reset = {
        let mut state = shared.lock();
        let full = match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        state.log.push((method.to_string(), full, status));
        method == Method::DELETE && reset_this_delete(&mut state)
    };
    if method != Method::GET {
        shared.persist();
    }
    if reset {
        // Done, then the connection drops without an answer (the reset-delete fault); a
        // handler that unwinds is how the simulator cuts a connection (see bundles::upload).
        std::panic::resume_unwind(Box::new("simulated connection reset"));
    }
    response
}

/// Counts a DELETE down towards the reset-delete fault; true for the one to cut.
fn reset_this_delete(state: &mut State) -> bool {
    match state.faults.reset_delete {
        0 => false,
        1 => {
            state.faults.reset_delete = 0;
            true
        }
        _ => {
            state.faults.reset_delete -= 1;
            false
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FaultAt {
    Before,
    After,
}

fn injected_500() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL_ERROR",
        "An internal error occurred (injected fault).",
        "The appliance simulator was told to fail this request.",
    )
}

/// `/rest/os-deployment-plans/` and `/rest/os-deployment-plans` are one collection.
fn normalise(path: &str) -> &str {
    if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    }
}

async fn route(
    shared: &Arc<Shared>,
    method: Method,
    raw_path: &str,
    query: Option<&str>,
    request: Request,
) -> Response {
    let path = normalise(raw_path);
    // Public endpoints.
    match (&method, path) {
        (&Method::GET, VERSION) => return version(shared),
        (&Method::POST, LOGIN_SESSIONS) => return login(shared, request).await,
        _ => {}
    }
    // Everything else needs a session issued by the OneView side (shared by both hosts).
    let session = match session(shared, request.headers()) {
        Ok(session) => session,
        Err(response) => return response,
    };
    let (collection, below) = target(path);
    // The route table stays one match: each arm is one call, read top down like the API.
    match (&method, collection, below.as_slice()) {
        (&Method::PUT, LOGIN_SESSIONS, []) => {
            json_response(StatusCode::OK, json!({"sessionID": session}))
        }
        (&Method::DELETE, LOGIN_SESSIONS, []) => logout(shared, &session),
        (&Method::GET, _, _) if path == SESSIONS_IDLE_TIMEOUT => {
            json_response(StatusCode::OK, json!({"idleTimeout": 86_400_000}))
        }
        (&Method::GET, TASKS, [_]) => poll_task(shared, path),
        // Artifact bundles.
        (&Method::POST, ARTIFACT_BUNDLES, []) => bundles::upload(shared, request).await,
        (&Method::POST, GOLDEN_IMAGES, []) if is_multipart(request.headers()) => {
            golden_images::upload(shared, request, query).await
        }
        (&Method::GET, _, [.., id])
            if state::collection_of(path) == Some(ARTIFACT_BUNDLE_DOWNLOADS) =>
        {
            bundles::download(shared, id).await
        }
        (&Method::PUT, ARTIFACT_BUNDLES, [_]) => put_bundle(shared, path, query, request).await,
        (&Method::DELETE, ARTIFACT_BUNDLES, [_]) => bundles::delete(shared, path),
        // OneView views.
        (&Method::GET, OS_DEPLOYMENT_PLANS, []) => os_deployment_plans(shared, query),
        (&Method::GET, OS_DEPLOYMENT_PLANS, [_]) => os_deployment_plan(shared, path),
        (&Method::GET, SERVER_PROFILE_TEMPLATES, [_, NEW_PROFILE]) => new_profile(shared, path),
        (&Method::PUT, SERVER_PROFILE_TEMPLATES, [_]) => put_template(shared, path, request).await,
        // Generic collections.
        (&Method::GET, _, []) if is_stored(shared, collection) => list(shared, path, query),
        (&Method::GET, _, [_]) if is_stored(shared, collection) => get(shared, path),
        (&Method::POST, _, []) if is_stored(shared, collection) => {
            with_body(shared, request, |body, version| {
                create(shared, path, body, version)
            })
            .await
        }
        (&Method::PUT, _, [_]) if is_stored(shared, collection) => {
            with_body(shared, request, |body, version| {
                update(shared, path, body, version)
            })
            .await
        }
        (&Method::DELETE, _, [_]) if is_stored(shared, collection) => delete(shared, path),
        // Enclosures, server hardware and server profiles (deploy).
        _ => servers::route(shared, method, path, query, request).await,
    }
}

fn version(shared: &Shared) -> Response {
    let state = shared.lock();
    json_response(
        StatusCode::OK,
        json!({"currentVersion": state.current_version, "minimumVersion": state.minimum_version}),
    )
}

/// The session the `auth` header names, if the OneView login issued it; else the 401 answer.
fn session(shared: &Shared, headers: &HeaderMap) -> Result<String, Response> {
    let session = headers
        .get("auth")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match session {
        Some(session) if shared.lock().sessions.contains(&session) => Ok(session),
        _ => Err(error(
            StatusCode::UNAUTHORIZED,
            "AUTHORIZATION",
            "Authentication failed: the session id in the auth header is missing or not valid.",
            "",
        )),
    }
}

fn logout(shared: &Shared, session: &str) -> Response {
    shared.lock().sessions.remove(session);
    StatusCode::NO_CONTENT.into_response()
}

fn poll_task(shared: &Shared, uri: &str) -> Response {
    match shared.lock().poll_task(uri) {
        Some(task) => json_response(StatusCode::OK, task),
        None => not_found(uri),
    }
}

/// `PUT` on a bundle: an extract (`text/plain`, or `?extract=true`), else a rename (JSON body).
async fn put_bundle(
    shared: &Arc<Shared>,
    uri: &str,
    query: Option<&str>,
    request: Request,
) -> Response {
    let text_plain = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("text/plain"));
    let params = query_pairs(query);
    let flag = |name: &str| {
        params
            .iter()
            .any(|(k, v)| k == name && v.eq_ignore_ascii_case("true"))
    };
    if text_plain || flag("extract") {
        bundles::extract(shared, uri, flag("extract"), flag("forceImport")).await
    } else {
        match read_json(request).await {
            Ok(body) => bundles::rename(shared, uri, &body),
            Err(response) => response,
        }
    }
}

fn os_deployment_plans(shared: &Shared, query: Option<&str>) -> Response {
    let state = shared.lock();
    collection_response(&state.os_deployment_plans(), query, OS_DEPLOYMENT_PLANS)
}

fn os_deployment_plan(shared: &Shared, uri: &str) -> Response {
    let state = shared.lock();
    match state
        .os_deployment_plans()
        .into_iter()
        .find(|v| v["uri"] == uri)
    {
        Some(v) => json_response(StatusCode::OK, v),
        None => not_found(uri),
    }
}

/// `GET {template}/new-profile`: the skeleton of a server profile made from the template.
fn new_profile(shared: &Shared, path: &str) -> Response {
    let state = shared.lock();
    let template_uri = path.rsplit_once('/').map_or(path, |(template, _)| template);
    match state.get(template_uri) {
        Some(t) => json_response(
            StatusCode::OK,
            json!({"type": "ServerProfileV12", "name": "", "serverProfileTemplateUri": template_uri, "serverHardwareUri": null,
                   "osDeploymentSettings": t.get("osDeploymentSettings").cloned().unwrap_or(Value::Null)}),
        ),
        None => not_found(template_uri),
    }
}

fn get(shared: &Shared, uri: &str) -> Response {
    match shared.lock().get(uri) {
        Some(v) => json_response(StatusCode::OK, v.clone()),
        None => not_found(uri),
    }
}

/// Reads the JSON body and the API version the request asks for, then handles them.
async fn with_body(
    shared: &Shared,
    request: Request,
    handle: impl FnOnce(Value, u32) -> Response,
) -> Response {
    let version = api_version(request.headers(), &shared.lock());
    match read_json(request).await {
        Ok(body) => handle(body, version),
        Err(response) => response,
    }
}

/// A collection the generic handlers serve: the built-in ones and any seeded through
/// `/sim/seed` (so a later feature can add e.g. enclosures without new routes).
/// Collections with behaviour of their own (`servers.rs`) are never served generically.
fn is_stored(shared: &Shared, collection: &str) -> bool {
    !servers::OWNED.contains(&collection)
        && (state::STORED.iter().any(|(p, _, _)| *p == collection)
            || shared.lock().resources.contains_key(collection))
}

async fn login(shared: &Arc<Shared>, request: Request) -> Response {
    let body = match read_json(request).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut state = shared.lock();
    let user = body
        .get("userName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let password = body
        .get("password")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if user != state.user || password != state.password {
        return error(
            StatusCode::UNAUTHORIZED,
            "AUTHN_AUTH_FAIL",
            "Invalid user name or password.",
            "",
        );
    }
    let session = uuid::Uuid::new_v4().simple().to_string();
    state.sessions.insert(session.clone());
    json_response(
        StatusCode::OK,
        json!({"sessionID": session, "partnerData": {}}),
    )
}

/// The `type` a collection expects at an API version (the client's own mapping: one owner).
fn expected_type(collection: &str, version: u32) -> Option<&'static str> {
    match collection {
        DEPLOYMENT_PLANS => Some(types::deployment_plan_type(version)),
        BUILD_PLANS => Some(types::build_plan_type(version)),
        PLAN_SCRIPTS => Some(types::PLAN_SCRIPT_TYPE),
        GOLDEN_IMAGES => Some(types::GOLDEN_IMAGE_TYPE),
        _ => None,
    }
}

/// Checks `type` and the references a resource makes (docs/appliance-api.md §11 item 8).
fn validate(state: &State, collection: &str, body: &Value, version: u32) -> Result<(), Response> {
    let bad = |message: String| {
        Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_RESOURCE",
            &message,
            "",
        ))
    };
    if !body.is_object() {
        return bad("The request body must be a JSON object.".into());
    }
    if body
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return bad("The name field is required.".into());
    }
    if let Some(expected) = expected_type(collection, version) {
        let found = body.get("type").and_then(Value::as_str).unwrap_or_default();
        if found != expected {
            return bad(format!(
                "The \"type\" field content, \"{found}\", included in this request is invalid. Expected \"{expected}\" at API version {version}."
            ));
        }
    }
    let reference = |field: &str, prefix: &str, optional: bool| -> Result<(), Response> {
        let uri = body.get(field).and_then(Value::as_str).unwrap_or_default();
        if uri.is_empty() && optional {
            return Ok(());
        }
        if !uri.starts_with(prefix) || state.get(uri).is_none() {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "INVALID_REFERENCE",
                &format!("The {field} {uri:?} does not refer to an existing resource."),
                "",
            ));
        }
        Ok(())
    };
    match collection {
        DEPLOYMENT_PLANS => {
            reference("oeBuildPlanURI", BUILD_PLANS, false)?;
            reference("goldenImageURI", GOLDEN_IMAGES, true)?;
        }
        BUILD_PLANS => {
            for step in body
                .get("buildStep")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let uri = step
                    .get("planScriptUri")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if state.get(uri).is_none() {
                    return bad(format!(
                        "Build step {} refers to plan script {uri:?}, which does not exist.",
                        step.get("serialNumber").unwrap_or(&Value::Null)
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn create(shared: &Arc<Shared>, collection: &str, body: Value, version: u32) -> Response {
    let mut state = shared.lock();
    if let Err(response) = validate(&state, collection, &body, version) {
        return response;
    }
    let name = body["name"].as_str().unwrap_or_default().to_string();
    if state.by_name(collection, &name).is_some() {
        return error(
            StatusCode::CONFLICT,
            "DUPLICATE_NAME",
            &format!("A resource named {name:?} already exists."),
            "",
        );
    }
    if collection == GOLDEN_IMAGES || collection == SERVER_PROFILE_TEMPLATES {
        // Asynchronous on the appliance.
        let fails = state.next_task_fails("Create");
        let (uri, name) = if fails {
            (String::new(), name)
        } else {
            let created = state.insert(collection, body, None);
            (
                created["uri"].as_str().unwrap_or_default().to_string(),
                name,
            )
        };
        let task = state.task("Create", &uri, &name, fails, vec![], false);
        return accepted(task);
    }
    let created = state.insert(collection, body, None);
    json_response(StatusCode::CREATED, created)
}

fn update(shared: &Arc<Shared>, uri: &str, body: Value, version: u32) -> Response {
    let collection = state::collection_of(uri).unwrap_or_default().to_string();
    let mut state = shared.lock();
    let Some(current) = state.get(uri).cloned() else {
        return not_found(uri);
    };
    if let Err(response) = validate(&state, &collection, &body, version) {
        return response;
    }
    if current.get("readOnly").and_then(Value::as_bool) == Some(true) {
        return error(
            StatusCode::FORBIDDEN,
            "READ_ONLY",
            &format!("{uri} was imported from a read-only bundle and cannot be changed."),
            "",
        );
    }
    let name = body["name"].as_str().unwrap_or_default();
    if state
        .by_name(&collection, name)
        .is_some_and(|other| other["uri"] != uri)
    {
        return error(
            StatusCode::CONFLICT,
            "DUPLICATE_NAME",
            &format!("A resource named {name:?} already exists."),
            "",
        );
    }
    match state.replace(uri, body) {
        Some(updated) => json_response(StatusCode::OK, updated),
        None => not_found(uri),
    }
}

fn delete(shared: &Arc<Shared>, uri: &str) -> Response {
    let mut state = shared.lock();
    let Some(current) = state.get(uri).cloned() else {
        return not_found(uri);
    };
    // Something still pointing at it?
    let users: Vec<String> = state
        .resources
        .values()
        .flatten()
        .filter(|v| v.to_string().contains(&format!("\"{uri}\"")) && v["uri"] != uri)
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect();
    if !users.is_empty() {
        return error(
            StatusCode::CONFLICT,
            "RESOURCE_IN_USE",
            &format!("{} is used by: {}", current["name"], users.join(", ")),
            "",
        );
    }
    state.remove(uri);
    StatusCode::NO_CONTENT.into_response()
}

/// Server profile template PUT: eTag checked (412 unless `If-Match: *`), the OS deployment plan
/// must be a OneView `/rest/os-deployment-plans/` URI, asynchronous answer.
async fn put_template(shared: &Arc<Shared>, uri: &str, request: Request) -> Response {
    let headers = request.headers().clone();
    let mut body = match read_json(request).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut state = shared.lock();
    if state.get(uri).is_none() {
        return not_found(uri);
    }
    if state.faults.etag_races > 0 {
        state.faults.etag_races -= 1;
        another_writer(&mut state, uri);
    }
    if let Err(response) = check_etag(&state, uri, &headers, &body) {
        return response;
    }
    if let Some(plan) = body
        .pointer("/osDeploymentSettings/osDeploymentPlanUri")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        && !state.os_deployment_plans().iter().any(|o| o["uri"] == plan)
    {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_OS_DEPLOYMENT_PLAN",
            &format!(
                "osDeploymentPlanUri {plan:?} is not a OneView OS deployment plan ({OS_DEPLOYMENT_PLANS_AS_SDK}...)."
            ),
            "",
        );
    }
    let fails = state.next_task_fails("Update");
    let name = body["name"].as_str().unwrap_or_default().to_string();
    if !fails {
        body.as_object_mut().map(|o| o.remove("eTag"));
        state.replace(uri, body);
    }
    let task = state.task("Update", uri, &name, fails, vec![], false);
    accepted(task)
}

/// The `etag-race` fault: another writer changes the template (a new eTag) first.
fn another_writer(state: &mut State, uri: &str) {
    let mut other = state.get(uri).cloned().expect("exists");
    let description = format!(
        "{} [changed by another writer]",
        other
            .get("description")
            .and_then(Value::as_str)
            .unwrap_or_default()
    )
    .trim()
    .to_string();
    other["description"] = json!(description);
    state.replace(uri, other);
}

/// A PUT naming an eTag (`If-Match` or the body's) other than the current one is refused with
/// 412, unless `If-Match: *`.
fn check_etag(state: &State, uri: &str, headers: &HeaderMap, body: &Value) -> Result<(), Response> {
    let current_etag = state
        .get(uri)
        .and_then(|v| v["eTag"].as_str())
        .unwrap_or_default()
        .to_string();
    let if_match = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_string());
    let body_etag = body.get("eTag").and_then(Value::as_str).map(str::to_string);
    let wildcard = if_match.as_deref() == Some("*");
    let stale = |tag: &Option<String>| tag.as_ref().is_some_and(|t| *t != current_etag);
    if !wildcard && (stale(&if_match) || stale(&body_etag)) {
        return Err(error(
            StatusCode::PRECONDITION_FAILED,
            "ETAG_MISMATCH",
            &format!(
                "The resource {uri} was changed since it was read (eTag {} is not the current {current_etag}).",
                if_match.or(body_etag).unwrap_or_default()
            ),
            "",
        ));
    }
    Ok(())
}
