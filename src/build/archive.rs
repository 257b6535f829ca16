//! The release archive: `<out>/<project>-<version>.tar.gz` holding every bundle zip, a
//! `SHA256SUMS` (coreutils format) and the JSON release report. Deterministic: entries sorted by
//! name, mode 0644, owner 0:0 with empty names, mtime = the newest bundle Time Stamp, and a gzip
//! header without file name or time.
use crate::bundle::manifest::parse_time_stamp;
use crate::error::{Error, Result};
use crate::fs::write_atomic;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const SUMS_FILE: &str = "SHA256SUMS";
pub const REPORT_FILE: &str = "build-report.json";

/// One bundle as the release report lists it (nothing that differs between builds).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseBundle {
    pub bundle: String,
    pub version: String,
    pub file: String,
    pub sha256: String,
    pub size: u64,
    pub time_stamp: String,
    pub golden_images: Vec<super::model::GoldenImageAttachment>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReleaseReport {
    pub project: String,
    pub version: String,
    pub tool: String,
    pub bundles: Vec<ReleaseBundle>,
}

/// The archive's bytes, in memory (bundles are small; golden images never go in here).
pub fn archive_bytes(report: &ReleaseReport, out: &Path) -> Result<Vec<u8>> {
    let mut bundles = report.bundles.clone();
    bundles.sort_by(|a, b| a.file.cmp(&b.file));
    let mtime = bundles
        .iter()
        .filter_map(|b| parse_time_stamp(&b.time_stamp))
        .map(|t| t.unix_timestamp().max(0) as u64)
        .max()
        .unwrap_or(0);
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    for bundle in &bundles {
        let path = out.join(&bundle.file);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let digest = hex::encode(Sha256::digest(&bytes));
        if digest != bundle.sha256 {
            return Err(Error::other(format!(
                "{} changed while the archive was being made",
                path.display()
            )));
        }
        entries.push((bundle.file.clone(), bytes));
    }
    let sums: String = bundles
        .iter()
        .map(|b| format!("{}  {}\n", b.sha256, b.file))
        .collect();
    entries.push((SUMS_FILE.to_string(), sums.into_bytes()));
    let mut json = serde_json::to_vec_pretty(report)
        .map_err(|e| Error::other(format!("serializing the report: {e}")))?;
    json.push(b'\n');
    entries.push((REPORT_FILE.to_string(), json));
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::best());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for (name, bytes) in &entries {
        let mut header = tar::Header::new_ustar();
        header
            .set_path(name)
            .map_err(|e| Error::other(format!("archive entry {name}: {e}")))?;
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_username("").ok();
        header.set_groupname("").ok();
        header.set_cksum();
        tar.append(&header, bytes.as_slice())
            .map_err(|e| Error::other(format!("archive entry {name}: {e}")))?;
    }
    let gz = tar
        .into_inner()
        .map_err(|e| Error::other(format!("finishing the archive: {e}")))?;
    gz.finish()
        .map_err(|e| Error::other(format!("finishing the archive: {e}")))
}

/// Writes the archive atomically; returns its path and SHA-256.
pub fn write_archive(
    report: &ReleaseReport,
    out: &Path,
    file_name: &str,
) -> Result<(PathBuf, String, u64)> {
    let bytes = archive_bytes(report, out)?;
    let path = out.join(file_name);
    write_atomic(&path, &bytes)?;
    Ok((
        path,
        hex::encode(Sha256::digest(&bytes)),
        bytes.len() as u64,
    ))
}

/// What the archive is made from, hashed: when equal, the archive's bytes are equal.
pub fn inputs_digest(report: &ReleaseReport, file_name: &str) -> String {
    let json = serde_json::to_vec(report).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(file_name.as_bytes());
    hasher.update([0]);
    hasher.update(&json);
    hex::encode(hasher.finalize())
}
