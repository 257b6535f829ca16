//! Artifact bundles: streamed multipart upload, extract (a real read + verify of the zip, then
//! the artifacts it holds), download, rename, delete (docs/appliance-api.md §3).
use super::Shared;
use super::http::{accepted, error, file_body, is_multipart};
use super::state::{State, bundle_listing, error_body};
use crate::appliance::api::{
    ARTIFACT_BUNDLE_DOWNLOADS, ARTIFACT_BUNDLES, BUILD_PLANS, DEPLOYMENT_PLANS, GOLDEN_IMAGES,
    PLAN_SCRIPTS, category, member,
};
use crate::bundle::model::DeploymentPlan;
use crate::bundle::{Bundle, GoldenImageEntry, Payload, ReadOptions, read_bundle, verify::verify};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Removes a partial upload unless it was completed (also on a simulated connection reset).
struct PartialFile(Option<PathBuf>);
impl Drop for PartialFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The next part of a multipart upload; a malformed body is the appliance's 400 answer.
pub(super) async fn next_field<'a>(
    multipart: &'a mut Multipart,
) -> Result<Option<axum::extract::multipart::Field<'a>>, Response> {
    multipart.next_field().await.map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_MULTIPART",
            &format!("reading the upload: {e}"),
            "",
        )
    })
}

/// Streams one multipart field to `path`, hashing it on the way: uploads are gigabytes and never
/// held in memory. With `cut_at`, the connection is dropped once that many bytes have arrived
/// (the "reset mid-upload" fault). On error the caller removes the file.
pub(super) async fn store_field(
    field: &mut axum::extract::multipart::Field<'_>,
    path: &Path,
    cut_at: Option<u64>,
) -> Result<(String, u64), Response> {
    use tokio::io::AsyncWriteExt;
    let storage = |e: std::io::Error| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "STORAGE",
            &format!("cannot store the upload: {e}"),
            "",
        )
    };
    let mut file = tokio::fs::File::create(path).await.map_err(storage)?;
    let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
    let mut size = 0u64;
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                sha2::Digest::update(&mut hasher, &chunk);
                size += chunk.len() as u64;
                file.write_all(&chunk).await.map_err(storage)?;
                if cut_at.is_some_and(|cut| size >= cut) {
                    // Unwinding out of the handler makes the server close the socket unanswered.
                    drop(file);
                    std::panic::resume_unwind(Box::new("simulated connection reset"));
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "INCOMPLETE_UPLOAD",
                    &format!("the upload was interrupted: {e}"),
                    "",
                ));
            }
        }
    }
    // tokio writes in the background: flush before anyone reads the file.
    file.flush().await.map_err(storage)?;
    Ok((hex::encode(sha2::Digest::finalize(hasher)), size))
}

/// The zip of an upload, as stored.
struct Upload {
    /// The bundle's name: the file name without `.zip`.
    name: String,
    path: PathBuf,
    sha256: String,
    size: u64,
}

/// A multipart body; anything else is the appliance's 400 answer.
pub(super) async fn multipart(request: Request) -> Result<Multipart, Response> {
    Multipart::from_request(request, &()).await.map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            "INVALID_MULTIPART",
            &format!("not a multipart body: {e}"),
            "",
        )
    })
}

pub async fn upload(shared: &Arc<Shared>, request: Request) -> Response {
    if !is_multipart(request.headers()) {
        return error(
            StatusCode::BAD_REQUEST,
            "NOT_SIMULATED",
            "Creating a bundle from existing artifacts (JSON POST) is not simulated; upload a zip as multipart/form-data.",
            "",
        );
    }
    let header_name = request
        .headers()
        .get("uploadfilename")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_length: u64 = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let received = match multipart(request).await {
        Ok(parts) => receive(shared, parts, header_name.as_deref(), content_length).await,
        Err(response) => return response,
    };
    let (description, upload) = match received {
        Ok((description, Some(upload))) => (description, upload),
        Ok((_, None)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "NO_FILE",
                "The multipart body has no \"file\" field.",
                "",
            );
        }
        Err(response) => return response,
    };
    // The appliance reads the bundle's manifest on upload; an unreadable zip fails the task.
    let read_path = upload.path.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        // On upload only the listing is read; payload digests are checked by the extract.
        let options = ReadOptions {
            hash_payloads: false,
            ..ReadOptions::default()
        };
        read_bundle(&read_path, &options)
    })
    .await;
    let mut state = shared.lock();
    let fails = state.next_task_fails("Create");
    let bundle = match loaded {
        Ok(Ok(loaded)) if !fails => loaded.bundle,
        Ok(Err(e)) => {
            let _ = std::fs::remove_file(&upload.path);
            let errors = vec![error_body(
                "INVALID_BUNDLE",
                &format!("{}.zip is not a valid artifact bundle: {e}", upload.name),
                "",
                &["Check the bundle with i3s-bundle verify."],
            )];
            return accepted(state.task("Create", "", &upload.name, true, errors, false));
        }
        _ => {
            let _ = std::fs::remove_file(&upload.path);
            return accepted(state.task("Create", "", &upload.name, true, vec![], false));
        }
    };
    accepted(register(&mut state, &bundle, upload, description))
}

/// Reads the upload's parts: an optional `description`, and the zip (`file`) streamed to disk.
async fn receive(
    shared: &Shared,
    mut multipart: Multipart,
    header_name: Option<&str>,
    content_length: u64,
) -> Result<(Option<String>, Option<Upload>), Response> {
    let mut description: Option<String> = None;
    let mut stored: Option<Upload> = None;
    while let Some(mut field) = next_field(&mut multipart).await? {
        match field.name().unwrap_or_default() {
            "description" => description = field.text().await.ok(),
            "file" => {
                stored = Some(store_bundle(shared, &mut field, header_name, content_length).await?)
            }
            _ => {
                let _ = field.bytes().await;
            }
        }
    }
    Ok((description, stored))
}

/// The `file` part: named like the zip (or the `uploadfilename` header), refused when a bundle
/// has that name, streamed to a partial file renamed once complete. The reset-upload fault cuts
/// the connection half-way through the body.
async fn store_bundle(
    shared: &Shared,
    field: &mut axum::extract::multipart::Field<'_>,
    header_name: Option<&str>,
    content_length: u64,
) -> Result<Upload, Response> {
    let file_name = field
        .file_name()
        .or(header_name)
        .unwrap_or_default()
        .to_string();
    let Some(name) = file_name
        .strip_suffix(".zip")
        .or_else(|| file_name.strip_suffix(".ZIP"))
        .map(str::to_string)
    else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "INVALID_FILE_TYPE",
            &format!("{file_name:?}: only .zip artifact bundles can be uploaded."),
            "",
        ));
    };
    let reset = {
        let mut state = shared.lock();
        if state.by_name(ARTIFACT_BUNDLES, &name).is_some() {
            return Err(error(
                StatusCode::CONFLICT,
                "DUPLICATE_NAME",
                &format!("An artifact bundle named {name:?} already exists."),
                "",
            ));
        }
        let reset = state.faults.upload_resets > 0;
        if reset {
            state.faults.upload_resets -= 1;
        }
        reset
    };
    let id = uuid::Uuid::new_v4().to_string();
    let path = shared.data_dir.join(format!("{id}.zip"));
    let mut partial = PartialFile(Some(shared.data_dir.join(format!("{id}.zip.partial"))));
    let cut_at = reset.then_some((content_length / 2).max(1));
    let (sha256, size) = store_field(field, partial.0.as_ref().expect("set"), cut_at).await?;
    let temp = partial.0.take().expect("set");
    std::fs::rename(&temp, &path).map_err(|e| {
        error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "STORAGE",
            &format!("cannot store the upload: {e}"),
            "",
        )
    })?;
    Ok(Upload {
        name,
        path,
        sha256,
        size,
    })
}

/// Stores the artifact bundle resource of an upload read as `bundle`; returns its `Create`
/// task. The description sent with the upload wins over the zip's, unless the drop-bundle-tag
/// fault loses it (and the checksum).
fn register(
    state: &mut State,
    bundle: &Bundle,
    upload: Upload,
    description: Option<String>,
) -> Value {
    let id = upload
        .path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let (description, checksum) = if state.faults.drop_bundle_tag {
        (bundle.manifest.description.clone(), "0".to_string())
    } else {
        (
            description
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| bundle.manifest.description.clone()),
            upload.sha256,
        )
    };
    let mut resource = json!({
        "type": "ArtifactsBundle", "name": upload.name, "description": description,
        "artifactsbundleID": id, "readOnly": bundle.manifest.read_only, "importbundle": true, "recoverBundle": false,
        "backupService": false, "checkSum": checksum, "size": upload.size, "downloadURI": member(ARTIFACT_BUNDLE_DOWNLOADS, &id),
        "lastBackUpDownload": null,
    });
    bundle_listing(resource.as_object_mut().expect("object"), bundle);
    let created = state.insert(ARTIFACT_BUNDLES, resource, Some(id.clone()));
    state.bundle_files.insert(id, upload.path);
    let uri = created["uri"].as_str().unwrap_or_default().to_string();
    state.task("Create", &uri, &upload.name, false, vec![], false)
}

pub async fn download(shared: &Arc<Shared>, id: &str) -> Response {
    let found = {
        let mut state = shared.lock();
        if state.faults.download_failures > 0 {
            state.faults.download_failures -= 1;
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "The download service is busy (injected fault).",
                "Try again later.",
            );
        }
        state.bundle_files.get(id).cloned().zip(
            state
                .get(&member(ARTIFACT_BUNDLES, id))
                .and_then(|b| b["name"].as_str().map(str::to_string)),
        )
    };
    let Some((path, name)) = found else {
        return error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            &format!("No artifact bundle with id {id}."),
            "",
        );
    };
    match file_body(&path).await {
        Ok(body) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/zip".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}.zip\""),
                ),
            ],
            body,
        )
            .into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "STORAGE",
            &format!("cannot read the bundle: {e}"),
            "",
        ),
    }
}

pub fn rename(shared: &Arc<Shared>, uri: &str, body: &Value) -> Response {
    let mut state = shared.lock();
    let Some(mut bundle) = state.get(uri).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            &format!("The resource {uri} was not found."),
            "",
        );
    };
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return error(
            StatusCode::BAD_REQUEST,
            "INVALID_RESOURCE",
            "Only the name of an artifact bundle can be changed; the body has none.",
            "",
        );
    };
    if state
        .by_name(ARTIFACT_BUNDLES, name)
        .is_some_and(|b| b["uri"] != uri)
    {
        return error(
            StatusCode::CONFLICT,
            "DUPLICATE_NAME",
            &format!("An artifact bundle named {name:?} already exists."),
            "",
        );
    }
    let fails = state.next_task_fails("Update");
    if !fails {
        bundle["name"] = json!(name);
        state.replace(uri, bundle);
    }
    accepted(state.task("Update", uri, name, fails, vec![], false))
}

pub fn delete(shared: &Arc<Shared>, uri: &str) -> Response {
    let mut state = shared.lock();
    let Some(bundle) = state.get(uri).cloned() else {
        return error(
            StatusCode::NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            &format!("The resource {uri} was not found."),
            "",
        );
    };
    let fails = state.next_task_fails("Delete");
    if !fails {
        state.remove(uri);
        if let Some(path) = state
            .bundle_files
            .remove(bundle["id"].as_str().unwrap_or_default())
        {
            let _ = std::fs::remove_file(path);
        }
    }
    let name = bundle["name"].as_str().unwrap_or_default().to_string();
    accepted(state.task("Delete", uri, &name, fails, vec![], false))
}

/// `PUT {bundle}?extract=true&forceImport=true`. Without `extract=true` the task never finishes,
/// like the appliance waiting for a UI confirmation (docs/appliance-api.md §10 #1).
pub async fn extract(shared: &Arc<Shared>, uri: &str, extract: bool, force: bool) -> Response {
    let (file, name) = {
        let state = shared.lock();
        let Some(bundle) = state.get(uri) else {
            return error(
                StatusCode::NOT_FOUND,
                "RESOURCE_NOT_FOUND",
                &format!("The resource {uri} was not found."),
                "",
            );
        };
        let name = bundle["name"].as_str().unwrap_or_default().to_string();
        (
            state
                .bundle_files
                .get(bundle["id"].as_str().unwrap_or_default())
                .cloned(),
            name,
        )
    };
    if !extract {
        let mut state = shared.lock();
        return accepted(state.task("Extract", uri, &name, false, vec![], true));
    }
    let Some(file) = file else {
        return error(
            StatusCode::CONFLICT,
            "NO_CONTENT",
            &format!("The bundle {uri} has no uploaded file to extract."),
            "",
        );
    };
    let checked = tokio::task::spawn_blocking(move || read_and_verify(&file))
        .await
        .unwrap_or_else(|e| Err(vec![e.to_string()]));
    let mut state = shared.lock();
    let fails = state.next_task_fails("Extract");
    let errors = match checked {
        Err(problems) => problems
            .iter()
            .map(|p| {
                error_body(
                    "INVALID_BUNDLE",
                    p,
                    "",
                    &["Rebuild the bundle and upload it again."],
                )
            })
            .collect(),
        Ok(_) if fails => vec![],
        Ok((bundle, digests)) => {
            let conflicts = match force {
                true => Vec::new(),
                false => conflicts(&state, &bundle),
            };
            if conflicts.is_empty() {
                materialise(&mut state, &bundle, &digests, uri, &name);
            }
            conflicts
                .iter()
                .map(|c| {
                    error_body(
                        "ARTIFACT_EXISTS",
                        c,
                        "",
                        &["Extract with forceImport=true to replace it."],
                    )
                })
                .collect()
        }
    };
    accepted(state.task("Extract", uri, &name, fails, errors, false))
}

/// What the appliance checks before importing: the zip reads, checksums and references verify.
/// Also gives the sha256 of each carried golden image payload (sha256 bundles only).
fn read_and_verify(path: &Path) -> Result<(Bundle, BTreeMap<String, String>), Vec<String>> {
    let loaded = read_bundle(path, &ReadOptions::default()).map_err(|e| vec![e.to_string()])?;
    let report = verify(&loaded);
    if !report.is_clean() {
        return Err(report
            .errors()
            .map(|p| format!("{}: {}", p.entry, p.message))
            .collect());
    }
    let digests = crate::publish::source::payload_sha256(&loaded);
    Ok((loaded.bundle, digests))
}

/// What a bundle would create that exists already, by name: an import without forceImport is
/// refused with these and changes nothing.
fn conflicts(state: &State, bundle: &Bundle) -> Vec<String> {
    let names = [
        (
            PLAN_SCRIPTS,
            bundle
                .plan_scripts
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>(),
        ),
        (
            GOLDEN_IMAGES,
            bundle
                .golden_images
                .iter()
                .map(|g| g.image.name.clone())
                .collect(),
        ),
        (
            BUILD_PLANS,
            bundle.build_plans.iter().map(|p| p.name.clone()).collect(),
        ),
        (
            DEPLOYMENT_PLANS,
            bundle
                .deployment_plans
                .iter()
                .map(|p| p.name.clone())
                .collect(),
        ),
    ];
    let mut conflicts = Vec::new();
    for (collection, list) in names {
        for name in list {
            if state.by_name(collection, &name).is_some() {
                conflicts.push(format!(
                    "{} {name:?} already exists (import without forceImport needs a confirmation)",
                    category(collection)
                ));
            }
        }
    }
    conflicts
}

/// Creates (or replaces) every artifact of the bundle, rewriting the bundle's name references
/// into URIs: plan scripts, golden images, build plans, then the deployment plans that use them.
fn materialise(
    state: &mut State,
    bundle: &Bundle,
    payload_sha256: &BTreeMap<String, String>,
    bundle_uri: &str,
    bundle_name: &str,
) {
    let read_only = bundle.manifest.read_only;
    let mut script_uris: HashMap<String, String> = HashMap::new();
    for script in &bundle.plan_scripts {
        let value = serde_json::to_value(script).expect("serialisable");
        let uri = upsert(state, PLAN_SCRIPTS, value, &script.id, read_only);
        script_uris.insert(script.id.to_ascii_lowercase(), uri);
    }
    let mut image_uris: HashMap<String, String> = HashMap::new();
    for entry in &bundle.golden_images {
        let value = golden_image(entry, payload_sha256, bundle_uri, bundle_name);
        let uri = upsert(state, GOLDEN_IMAGES, value, &entry.image.id, read_only);
        image_uris.insert(entry.image.name.clone(), uri);
    }
    let mut build_plan_uris: HashMap<String, String> = HashMap::new();
    for plan in &bundle.build_plans {
        let mut value = serde_json::to_value(plan).expect("serialisable");
        if let Some(steps) = value.get_mut("buildStep").and_then(Value::as_array_mut) {
            for step in steps {
                let old = step["planScriptUri"]
                    .as_str()
                    .unwrap_or_default()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                if let Some(uri) = script_uris.get(&old) {
                    step["planScriptUri"] = json!(uri);
                }
            }
        }
        let uri = upsert(state, BUILD_PLANS, value, &plan.id, read_only);
        build_plan_uris.insert(plan.name.clone(), uri);
    }
    for plan in &bundle.deployment_plans {
        let value = deployment_plan(state, plan, &build_plan_uris, &image_uris);
        upsert(state, DEPLOYMENT_PLANS, value, &plan.id, read_only);
    }
}

/// Stores an imported artifact: replaces the one of its name, else creates it with the bundle's
/// id. Returns its URI.
fn upsert(
    state: &mut State,
    collection: &str,
    mut value: Value,
    id: &str,
    read_only: bool,
) -> String {
    let object = value.as_object_mut().expect("object");
    object.insert("readOnly".into(), json!(read_only));
    object.remove("uri");
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    match state
        .by_name(collection, &name)
        .and_then(|v| v["uri"].as_str())
        .map(str::to_string)
    {
        Some(uri) => {
            state.replace(&uri, value);
            uri
        }
        None => state.insert(collection, value, Some(id.to_ascii_lowercase()))["uri"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    }
}

/// An imported golden image: the bundle it came from, its payload's size and hash.
fn golden_image(
    entry: &GoldenImageEntry,
    payload_sha256: &BTreeMap<String, String>,
    bundle_uri: &str,
    bundle_name: &str,
) -> Value {
    let mut value = serde_json::to_value(&entry.image).expect("serialisable");
    let size = match &entry.payload {
        Some(Payload::ZipEntry { size, .. }) => *size,
        Some(Payload::File(path)) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        None => 0,
    };
    let object = value.as_object_mut().expect("object");
    for (key, v) in [
        ("bundleURI", json!(bundle_uri)),
        ("bundleName", json!(bundle_name)),
        ("importedFromBundle", json!(true)),
        ("size", json!(size)),
    ] {
        object.insert(key.into(), v);
    }
    // Like an uploaded image (golden_images.rs), the imported one carries its payload's hash.
    if let Some(digest) = payload_sha256.get(&entry.image.name) {
        object.insert("checkSum".into(), json!(digest));
    }
    value
}

/// An imported deployment plan pointing at its build plan and golden image (those of the
/// bundle, else existing ones of that name); custom attributes without an id get one.
fn deployment_plan(
    state: &State,
    plan: &DeploymentPlan,
    build_plan_uris: &HashMap<String, String>,
    image_uris: &HashMap<String, String>,
) -> Value {
    let mut value = serde_json::to_value(plan).expect("serialisable");
    let build_plan = build_plan_uris.get(&plan.build_plan).cloned().or_else(|| {
        state
            .by_name(BUILD_PLANS, &plan.build_plan)
            .and_then(|v| v["uri"].as_str())
            .map(str::to_string)
    });
    let image = plan.golden_image_name().and_then(|name| {
        image_uris.get(name).cloned().or_else(|| {
            state
                .by_name(GOLDEN_IMAGES, name)
                .and_then(|v| v["uri"].as_str())
                .map(str::to_string)
        })
    });
    value["oeBuildPlanURI"] = json!(build_plan.unwrap_or_default());
    value["goldenImageURI"] = json!(image.unwrap_or_default());
    if let Some(attributes) = value
        .get_mut("customAttributes")
        .and_then(Value::as_array_mut)
    {
        for attribute in attributes {
            if attribute.get("id").is_none_or(Value::is_null) {
                attribute["id"] = json!(uuid::Uuid::new_v4().to_string());
            }
        }
    }
    value
}
