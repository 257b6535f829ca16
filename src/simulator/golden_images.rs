//! Golden image upload (docs/appliance-api.md §0 row 31): `POST
//! /rest/golden-images?name=..&description=..`, multipart field `file` (the payload zip),
//! name/description also accepted as form fields. Streamed to disk; the stored resource carries
//! `checkSum` (sha256 of the upload) and `size`.
use super::Shared;
use super::bundles::{multipart, next_field, store_field};
use super::http::{accepted, error, query_pairs};
use crate::appliance::api::GOLDEN_IMAGES;
use axum::extract::{Multipart, Request};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// What an upload sent: the form fields (over the query's) and the stored payload.
struct Form {
    name: Option<String>,
    description: Option<String>,
    /// Where the payload went, its sha256 and size.
    file: Option<(PathBuf, String, u64)>,
}

pub async fn upload(shared: &Arc<Shared>, request: Request, query: Option<&str>) -> Response {
    let params = query_pairs(query);
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let form = Form {
        name: param("name"),
        description: param("description"),
        file: None,
    };
    let received = match multipart(request).await {
        Ok(parts) => receive(shared, parts, form).await,
        Err(response) => return response,
    };
    let form = match received {
        Ok(form) => form,
        Err(response) => return response,
    };
    let Some((path, sha256, size)) = form.file else {
        return error(
            StatusCode::BAD_REQUEST,
            "NO_FILE",
            "the upload has no `file` field",
            "",
        );
    };
    let name = match checked(&path, form.name) {
        Ok(name) => name,
        Err(response) => {
            let _ = std::fs::remove_file(&path);
            return response;
        }
    };
    let mut state = shared.lock();
    if state.by_name(GOLDEN_IMAGES, &name).is_some() {
        let _ = std::fs::remove_file(&path);
        return error(
            StatusCode::CONFLICT,
            "DUPLICATE_NAME",
            &format!("A golden image named {name:?} already exists."),
            "",
        );
    }
    let fails = state.next_task_fails("Create");
    let uri = if fails {
        String::new()
    } else {
        let created = state.insert(
            GOLDEN_IMAGES,
            json!({
                "type": "GoldenImage", "name": name, "description": form.description.unwrap_or_default(),
                "imageCapture": false, "readOnly": false, "size": size, "checkSum": sha256,
                "osVolumeURI": null, "buildPlanUri": null, "bundleName": null, "bundleURI": null,
            }),
            None,
        );
        created["uri"].as_str().unwrap_or_default().to_string()
    };
    let task = state.task("Create", &uri, &name, fails, vec![], false);
    accepted(task)
}

/// Reads the parts into `form`: `name`, `description`, and `file` streamed to the data directory.
async fn receive(
    shared: &Shared,
    mut multipart: Multipart,
    mut form: Form,
) -> Result<Form, Response> {
    while let Some(mut field) = next_field(&mut multipart).await? {
        match field.name().unwrap_or_default() {
            "name" => form.name = field.text().await.ok().or(form.name),
            "description" => form.description = field.text().await.ok().or(form.description),
            "file" => {
                let path = shared
                    .data_dir
                    .join(format!("golden-{}.zip", uuid::Uuid::new_v4()));
                match store_field(&mut field, &path, None).await {
                    Ok((sha256, size)) => form.file = Some((path, sha256, size)),
                    Err(response) => {
                        let _ = std::fs::remove_file(&path);
                        return Err(response);
                    }
                }
            }
            _ => {
                let _ = field.bytes().await;
            }
        }
    }
    Ok(form)
}

/// The upload's name, once it has one and its payload is a zip (the appliance takes a zip
/// holding the raw disk image).
fn checked(path: &std::path::Path, name: Option<String>) -> Result<String, Response> {
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "NAME_REQUIRED",
            "a golden image upload needs a name",
            "",
        ));
    };
    let is_zip = std::fs::File::open(path)
        .ok()
        .and_then(|mut f| crate::bundle::container::read_central_directory(&mut f, 16).ok())
        .is_some_and(|entries| !entries.is_empty());
    if !is_zip {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_FILE_TYPE",
            "a golden image upload must be a zip holding the disk image",
            "",
        ));
    }
    Ok(name)
}
