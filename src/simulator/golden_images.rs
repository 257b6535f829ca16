//! Golden image upload (docs/appliance-api.md §0 row 31): `POST
//! /rest/golden-images?name=..&description=..`, multipart field `file` (the payload zip),
//! name/description also accepted as form fields. Streamed to disk; the stored resource carries
//! `checkSum` (sha256 of the upload) and `size`.
use super::Shared;
use super::http::{accepted, error, query_pairs};
use crate::appliance::api::GOLDEN_IMAGES;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use std::sync::Arc;

pub async fn upload(shared: &Arc<Shared>, request: Request, query: Option<&str>) -> Response {
    let params = query_pairs(query);
    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let mut name = param("name");
    let mut description = param("description");
    let mut multipart = match Multipart::from_request(request, &()).await {
        Ok(m) => m,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "INVALID_MULTIPART",
                &format!("not a multipart body: {e}"),
                "",
            );
        }
    };
    let mut stored: Option<(std::path::PathBuf, String, u64)> = None;
    loop {
        let mut field = match super::bundles::next_field(&mut multipart).await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(response) => return response,
        };
        match field.name().unwrap_or_default() {
            "name" => name = field.text().await.ok().or(name),
            "description" => description = field.text().await.ok().or(description),
            "file" => {
                let path = shared
                    .data_dir
                    .join(format!("golden-{}.zip", uuid::Uuid::new_v4()));
                match super::bundles::store_field(&mut field, &path, None).await {
                    Ok((sha256, size)) => stored = Some((path, sha256, size)),
                    Err(response) => {
                        let _ = std::fs::remove_file(&path);
                        return response;
                    }
                }
            }
            _ => {
                let _ = field.bytes().await;
            }
        }
    }
    let Some((path, sha256, size)) = stored else {
        return error(
            StatusCode::BAD_REQUEST,
            "NO_FILE",
            "the upload has no `file` field",
            "",
        );
    };
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        let _ = std::fs::remove_file(&path);
        return error(
            StatusCode::BAD_REQUEST,
            "NAME_REQUIRED",
            "a golden image upload needs a name",
            "",
        );
    };
    // The payload must be a zip (the appliance takes a zip holding the raw disk image).
    let is_zip = std::fs::File::open(&path)
        .ok()
        .and_then(|mut f| crate::bundle::container::read_central_directory(&mut f, 16).ok())
        .is_some_and(|entries| !entries.is_empty());
    if !is_zip {
        let _ = std::fs::remove_file(&path);
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_FILE_TYPE",
            "a golden image upload must be a zip holding the disk image",
            "",
        );
    }
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
                "type": "GoldenImage", "name": name, "description": description.unwrap_or_default(),
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
