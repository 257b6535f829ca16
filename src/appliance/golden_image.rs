//! `golden-image upload`: send a golden image payload (from `pack`) to the appliance, streamed,
//! idempotent by name and content hash.
//!
//! The sha256 of the payload goes into the description (`… [sha256:<hex>]`) because what an
//! appliance puts in `checkSum` is not documented; an image with the same name whose description
//! or `checkSum` carries the same hash is left alone, one with a different hash is an error
//! (nothing is replaced behind the user's back).
use super::{Client, Host};
use crate::error::{Error, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

use super::api::GOLDEN_IMAGES as COLLECTION;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UploadAction {
    Created,
    Unchanged,
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct UploadReport {
    pub name: String,
    pub action: UploadAction,
    pub uri: String,
    pub sha256: String,
    pub size: u64,
}

/// The payload's sha256, streamed; also checks it is a zip holding exactly one entry.
pub fn payload_digest(file: &Path) -> Result<(String, u64)> {
    let mut handle = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let entries =
        crate::bundle::container::read_central_directory(&mut handle, 16).map_err(|e| {
            Error::Usage(format!(
                "{}: not a golden image payload (a zip holding the disk image): {e}",
                file.display()
            ))
        })?;
    if entries.len() != 1 {
        return Err(Error::Usage(format!(
            "{}: a golden image payload holds exactly one entry (the raw disk image), this zip has {}",
            file.display(),
            entries.len()
        )));
    }
    let mut handle = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = handle.read(&mut buf).map_err(|e| Error::io(file, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// The description stored on the appliance, carrying the content hash.
pub fn tagged_description(description: Option<&str>, sha256: &str) -> String {
    match description.filter(|d| !d.is_empty()) {
        Some(d) => format!("{d} [sha256:{sha256}]"),
        None => format!("[sha256:{sha256}]"),
    }
}

fn carries_hash(image: &Value, sha256: &str) -> bool {
    let text = |k: &str| {
        image
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    text("checkSum") == sha256 || text("description").contains(&format!("[sha256:{sha256}]"))
}

/// Uploads `file` as golden image `name` unless it is already there.
pub fn upload(
    client: &Client,
    file: &Path,
    name: &str,
    description: Option<&str>,
    progress: &dyn Fn(u64),
) -> Result<UploadReport> {
    let digest = payload_digest(file)?;
    upload_checked(client, file, digest, name, description, progress)
}

/// [`upload`] with the payload already checked and hashed by [`payload_digest`] (so a caller
/// can refuse a bad file before logging in).
pub fn upload_checked(
    client: &Client,
    file: &Path,
    (sha256, size): (String, u64),
    name: &str,
    description: Option<&str>,
    progress: &dyn Fn(u64),
) -> Result<UploadReport> {
    if name.trim().is_empty() {
        return Err(Error::Usage("--name must not be empty".to_string()));
    }
    let existing = super::lookup::named(
        client,
        Host::ImageStreamer,
        COLLECTION,
        "golden image",
        name,
    )?;
    if let Some(image) = &existing {
        let uri = image
            .get("uri")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        if carries_hash(image, &sha256) {
            return Ok(UploadReport {
                name: name.to_string(),
                action: UploadAction::Unchanged,
                uri,
                sha256,
                size,
            });
        }
        return Err(Error::other(format!(
            "golden image {name:?} already exists on the appliance ({uri}) with other content; \
             delete it there or upload under another name (nothing was uploaded)"
        )));
    }
    let description = tagged_description(description, &sha256);
    let path = format!(
        "{COLLECTION}?name={}&description={}",
        crate::appliance::client::percent_encode(name),
        crate::appliance::client::percent_encode(&description)
    );
    let file_name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "golden-image.zip".into());
    let answer = client.upload(
        Host::ImageStreamer,
        &path,
        file,
        &file_name,
        &[("name", name), ("description", &description)],
        progress,
    )?;
    let created = client.finish(Host::ImageStreamer, answer)?;
    let uri = created
        .get("uri")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Ok(UploadReport {
        name: name.to_string(),
        action: UploadAction::Created,
        uri,
        sha256,
        size,
    })
}
