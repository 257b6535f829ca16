//! Versioning and naming policy: one version per bundle (`[bundle] version`) drives the zip file
//! name, the MANIFEST `Artifact Name` and (with `artifact_names = "versioned"`) artifact names;
//! the MANIFEST `Time Stamp` comes from the source, never the wall clock.
use crate::bundle::manifest::{format_time_stamp, parse_time_stamp};
use crate::error::{Error, Result};
use crate::source::bundle_file::{ArtifactNames, BundleFile};
use std::path::Path;
use std::sync::OnceLock;

/// `<name>_<version>`, or `<name>` for a bundle without a version.
pub fn artifact_name(file: &BundleFile) -> String {
    let name = file.bundle.name.get_ref();
    if file.bundle.version.is_empty() {
        name.clone()
    } else {
        format!("{name}_{}", file.bundle.version)
    }
}

/// The inverse of [`artifact_name`] for names found on an appliance: `("<name>", Some("<version>"))`
/// when the part after the last `_` looks like a version (starts with a digit, or `v` and a
/// digit), else `(whole name, None)`. A bundle's versions share the first part.
pub fn split_versioned(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('_') {
        Some((base, version))
            if !base.is_empty()
                && version
                    .trim_start_matches(['v', 'V'])
                    .starts_with(|c: char| c.is_ascii_digit()) =>
        {
            (base, Some(version))
        }
        _ => (name, None),
    }
}

/// Orders versions as people read them: digit runs by value, the rest as text
/// (`2026.9.1` < `2026.10.1`, `1.2` < `1.10`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(text: &str) -> Vec<(u8, u128, String)> {
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            let digit = c.is_ascii_digit();
            let end = rest
                .find(|c: char| c.is_ascii_digit() != digit)
                .unwrap_or(rest.len());
            let (run, tail) = rest.split_at(end);
            out.push(match digit {
                true => (0, run.parse().unwrap_or(u128::MAX), String::new()),
                false => (1, 0, run.to_string()),
            });
            rest = tail;
        }
        out
    }
    parts(a).cmp(&parts(b)).then_with(|| a.cmp(b))
}

/// The zip file name: the MANIFEST `Artifact Name` + `.zip` (the appliance names an uploaded
/// bundle after its file name, so the two must agree).
pub fn zip_file_name(file: &BundleFile) -> String {
    format!("{}.zip", artifact_name(file))
}

/// An artifact's name: `<prefix> - <name>` (plus ` - <version>` under the versioned policy).
pub fn artifact_display_name(file: &BundleFile, name: &str) -> String {
    let out = identity_name(file, name);
    if file.bundle.artifact_names == ArtifactNames::Versioned && !file.bundle.version.is_empty() {
        format!("{out} - {}", file.bundle.version)
    } else {
        out
    }
}

/// The name an artifact's uuid derives from: the display name without any version suffix, so a
/// new version updates the same artifacts on the appliance.
pub fn identity_name(file: &BundleFile, name: &str) -> String {
    match file
        .bundle
        .artifact_prefix
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        Some(prefix) => format!("{prefix} - {name}"),
        None => name.to_string(),
    }
}

/// Where a Time Stamp came from; recorded in the build cache so a change invalidates it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "source", content = "value")]
pub enum TimeSource {
    /// `[bundle] time_stamp` (imported bundles).
    Pinned,
    /// `SOURCE_DATE_EPOCH` with this value.
    SourceDateEpoch(String),
    /// The version is a date (`2026.11.26`, `2018-06-09`).
    VersionDate,
    /// The last commit time of the project's git repository (seconds).
    GitCommit(i64),
    /// None of the above: 1980-01-01 (the zip epoch), with a warning.
    Fallback,
}

/// The time-dependent facts of the environment, read once per build.
#[derive(Debug, Default)]
pub struct TimeEnvironment {
    pub source_date_epoch: Option<String>,
    root: std::path::PathBuf,
    git: OnceLock<Option<i64>>,
}

impl TimeEnvironment {
    pub fn from_env(root: &Path) -> Self {
        TimeEnvironment {
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .filter(|v| !v.trim().is_empty()),
            root: root.to_path_buf(),
            git: OnceLock::new(),
        }
    }

    /// Seconds of the last commit, when the root is in a git work tree.
    pub fn git_commit_time(&self) -> Option<i64> {
        *self.git.get_or_init(|| {
            let out = std::process::Command::new("git")
                .arg("-C")
                .arg(&self.root)
                .args(["log", "-1", "--format=%ct"])
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            if !out.status.success() {
                return None;
            }
            String::from_utf8_lossy(&out.stdout).trim().parse().ok()
        })
    }

    /// Whether a recorded time source still gives the same time stamp in this environment.
    pub fn still_valid(&self, recorded: &TimeSource) -> bool {
        match recorded {
            TimeSource::Pinned => true,
            TimeSource::SourceDateEpoch(v) => self.source_date_epoch.as_deref() == Some(v.as_str()),
            TimeSource::VersionDate => self.source_date_epoch.is_none(),
            TimeSource::GitCommit(t) => {
                self.source_date_epoch.is_none() && self.git_commit_time() == Some(*t)
            }
            TimeSource::Fallback => {
                self.source_date_epoch.is_none() && self.git_commit_time().is_none()
            }
        }
    }
}

/// A date at the start of a version: `2026.11.26`, `2018-06-09`, `v2026.11.26-2`.
fn version_date(version: &str) -> Option<time::OffsetDateTime> {
    static DATE: OnceLock<regex::Regex> = OnceLock::new();
    let re = DATE.get_or_init(|| {
        regex::Regex::new(r"^v?(\d{4})[-.](\d{1,2})[-.](\d{1,2})(?:$|[^\d])").expect("date pattern")
    });
    let caps = re.captures(version)?;
    let month = time::Month::try_from(caps[2].parse::<u8>().ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(caps[1].parse().ok()?, month, caps[3].parse().ok()?).ok()?;
    Some(date.midnight().assume_utc())
}

/// The MANIFEST Time Stamp of a bundle: pinned, else SOURCE_DATE_EPOCH, else the version's date,
/// else the last commit time, else 1980-01-01.
pub fn time_stamp(file: &BundleFile, env: &TimeEnvironment) -> Result<(String, TimeSource)> {
    if let Some(pinned) = &file.bundle.time_stamp {
        let at = parse_time_stamp(pinned.get_ref()).ok_or_else(|| {
            Error::at(
                file.at(pinned),
                format!(
                    "time_stamp {:?} is not an ISO-8601 UTC time such as 2018-06-09T15:09:48.084Z",
                    pinned.get_ref()
                ),
            )
        })?;
        // Keep the text when it already is canonical (an imported bundle's exact stamp).
        let text = if format_time_stamp(at) == *pinned.get_ref() {
            pinned.get_ref().clone()
        } else {
            format_time_stamp(at)
        };
        return Ok((text, TimeSource::Pinned));
    }
    if let Some(epoch) = &env.source_date_epoch {
        let at = crate::bundle::manifest::source_date_epoch(epoch)?;
        return Ok((
            format_time_stamp(at),
            TimeSource::SourceDateEpoch(epoch.clone()),
        ));
    }
    if let Some(at) = version_date(&file.bundle.version) {
        return Ok((format_time_stamp(at), TimeSource::VersionDate));
    }
    if let Some(seconds) = env.git_commit_time()
        && let Ok(at) = time::OffsetDateTime::from_unix_timestamp(seconds)
    {
        return Ok((format_time_stamp(at), TimeSource::GitCommit(seconds)));
    }
    Ok(("1980-01-01T00:00:00.000Z".to_string(), TimeSource::Fallback))
}

#[cfg(test)]
mod tests {
    #[test]
    fn versioned_names_split_and_order() {
        use super::{compare_versions, split_versioned};
        assert_eq!(
            split_versioned("i3s-bundle-CentOS7.4_2026.11.26"),
            ("i3s-bundle-CentOS7.4", Some("2026.11.26"))
        );
        assert_eq!(split_versioned("my_bundle"), ("my_bundle", None));
        assert_eq!(split_versioned("plain"), ("plain", None));
        assert!(compare_versions("2026.9.1", "2026.10.1").is_lt());
        assert!(compare_versions("1.10", "1.2").is_gt());
    }
    use super::*;

    #[test]
    fn version_dates() {
        assert_eq!(
            format_time_stamp(version_date("2026.11.26").unwrap()),
            "2026-11-26T00:00:00.000Z"
        );
        assert_eq!(
            format_time_stamp(version_date("v2018-06-09-rc1").unwrap()),
            "2018-06-09T00:00:00.000Z"
        );
        assert!(version_date("1.2.3").is_none());
        assert!(version_date("2026.13.01").is_none());
    }
}
