//! The HTTP helpers the simulator's handlers share: JSON and error responses in the appliance's
//! shape, `202 Accepted` with a task, query decoding, JSON bodies, streamed files. Kept apart
//! from the router (server.rs) so the handlers it calls do not import it back.
use super::Shared;
use super::state::{self, State, error_body};
use crate::appliance::api::REST_PREFIX;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub fn json_response(status: StatusCode, value: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

pub fn error(status: StatusCode, code: &str, message: &str, details: &str) -> Response {
    let actions: &[&str] = match status {
        StatusCode::UNAUTHORIZED => &["Log in again and retry."],
        StatusCode::NOT_FOUND => &["Verify the URI and try again."],
        StatusCode::PRECONDITION_FAILED => {
            &["Get the resource again and retry with its current eTag."]
        }
        _ => &["Verify parameters and try again."],
    };
    json_response(status, error_body(code, message, details, actions))
}

/// `202 Accepted`, `Location: <task>`, the task in the body (docs/appliance-api.md §2.1, satisfies
/// every SDK).
pub fn accepted(task: Value) -> Response {
    let location = task["uri"].as_str().unwrap_or_default().to_string();
    let mut response = json_response(StatusCode::ACCEPTED, task);
    if let Ok(value) = location.parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

pub fn not_found(path: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "RESOURCE_NOT_FOUND",
        &format!("The resource {path} was not found."),
        "",
    )
}

pub fn api_version(headers: &HeaderMap, state: &State) -> u32 {
    headers
        .get("x-api-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(state.current_version)
}

pub fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("multipart/form-data"))
}

/// `/rest/x/a/b` → (`/rest/x`, `[a, b]`): the collection a path is under and the segments below
/// it, as the routes match them; a path outside `/rest/` is under no collection (`""`).
pub fn target(path: &str) -> (&str, Vec<&str>) {
    let Some(inside) = path.strip_prefix(REST_PREFIX) else {
        return ("", Vec::new());
    };
    let end = inside
        .find('/')
        .map_or(path.len(), |i| REST_PREFIX.len() + i);
    let below = match &path[end..] {
        "" => Vec::new(),
        rest => rest.split('/').skip(1).collect(),
    };
    (&path[..end], below)
}

pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub async fn read_json(request: Request) -> Result<Value, Response> {
    let bytes = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                &format!("could not read the body: {e}"),
                "",
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
            &format!("The request body is not valid JSON: {e}"),
            "",
        )
    })
}

/// Streams a file as a response body.
pub async fn file_body(path: &std::path::Path) -> Result<Body, std::io::Error> {
    let file = tokio::fs::File::open(path).await?;
    let stream = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buffer = vec![0u8; 256 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(buffer)),
                    file,
                ))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok(Body::from_stream(stream))
}

/// A stored collection, filtered, sorted and paged as the query asks.
pub fn list(shared: &Shared, collection: &str, query: Option<&str>) -> Response {
    let state = shared.lock();
    collection_response(state.list(collection), query, collection)
}

/// Members as a collection page (docs/appliance-api.md §2.5); a bad filter is a 400.
pub fn collection_response(members: &[Value], query: Option<&str>, path: &str) -> Response {
    match state::query(members, &query_pairs(query), path) {
        Ok(page) => json_response(StatusCode::OK, page),
        Err(e) => error(
            StatusCode::BAD_REQUEST,
            "INVALID_FILTER",
            &e.to_string(),
            "",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::api::{PLAN_SCRIPTS, SERVER_HARDWARE, VERSION, member};

    #[test]
    fn target_splits_the_collection_from_the_segments_below_it() {
        assert_eq!(target(PLAN_SCRIPTS), (PLAN_SCRIPTS, vec![]));
        assert_eq!(
            target(&member(PLAN_SCRIPTS, "abc")),
            (PLAN_SCRIPTS, vec!["abc"])
        );
        let power = format!("{}/powerState", member(SERVER_HARDWARE, "h1"));
        assert_eq!(target(&power), (SERVER_HARDWARE, vec!["h1", "powerState"]));
        assert_eq!(target(VERSION), (VERSION, vec![]));
        assert_eq!(target("/sim/state"), ("", vec![]));
    }
}
