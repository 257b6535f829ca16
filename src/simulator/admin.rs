//! `/sim/*`: the test and CI hooks, outside the appliance API (no auth, never faulted).
//! - `GET /sim/requests`: `{"counts": {"GET /rest/x": n}, "log": [{"method","path","status"}]}`;
//!   `DELETE /sim/requests` resets both.
//! - `GET /sim/state`: every stored resource; `POST /sim/seed`: `{"/rest/<collection>":
//!   [objects]}`.
//! - `GET|PUT /sim/faults`: the fault settings (see `faults.rs`).
//! - `GET /sim/machines`: the servers that really deploy and boot (`machines.rs`), each with its
//!   phase, node name and boot reports.
use super::Shared;
use super::faults::{Faults, Rng};
use super::http::{error, json_response};
use super::state::State;
use axum::extract::Request;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn handle(
    shared: &Arc<Shared>,
    method: Method,
    path: &str,
    request: Request,
) -> Response {
    let body = match read_body(&method, request).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let mut state = shared.lock();
    let response = match (method, path) {
        (Method::GET, "/sim/requests") => {
            let log: Vec<Value> = state
                .log
                .iter()
                .map(|(m, p, s)| json!({"method": m, "path": p, "status": s}))
                .collect();
            json_response(StatusCode::OK, json!({"counts": state.counts, "log": log}))
        }
        (Method::DELETE, "/sim/requests") => {
            state.counts.clear();
            state.log.clear();
            json_response(StatusCode::OK, json!({}))
        }
        (Method::GET, "/sim/state") => json_response(StatusCode::OK, state.snapshot()),
        (Method::GET, "/sim/machines") => json_response(
            StatusCode::OK,
            shared
                .machines()
                .map_or_else(|| json!([]), |machines| machines.snapshot()),
        ),
        (Method::POST, "/sim/seed") => match state.seed(&body) {
            Ok(created) => json_response(StatusCode::CREATED, json!({"created": created})),
            Err(e) => error(StatusCode::BAD_REQUEST, "INVALID_SEED", &e.to_string(), ""),
        },
        (Method::GET, "/sim/faults") => json_response(
            StatusCode::OK,
            serde_json::to_value(&state.faults).expect("serialisable"),
        ),
        (Method::PUT, "/sim/faults") => set_faults(&mut state, body),
        _ => error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            &format!("{path}: not a simulator endpoint"),
            "",
        ),
    };
    drop(state);
    if path == "/sim/seed" {
        shared.persist();
    }
    response
}

/// The JSON body of a `POST` or `PUT` (`null` for other methods).
async fn read_body(method: &Method, request: Request) -> Result<Value, Response> {
    if method != Method::POST && method != Method::PUT {
        return Ok(Value::Null);
    }
    axum::body::to_bytes(request.into_body(), 16 << 20)
        .await
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_JSON",
                "The body must be JSON.",
                "",
            )
        })
}

/// `PUT /sim/faults`: new settings, and the generator restarted from their seed.
fn set_faults(state: &mut State, body: Value) -> Response {
    match serde_json::from_value::<Faults>(body) {
        Ok(faults) => {
            state.rng = Rng::new(faults.seed);
            state.faults = faults;
            json_response(
                StatusCode::OK,
                serde_json::to_value(&state.faults).expect("serialisable"),
            )
        }
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            "INVALID_FAULTS",
            &e.to_string(),
            "",
        ),
    }
}
