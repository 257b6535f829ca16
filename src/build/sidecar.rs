//! The publish sidecar `X.publish.json` a build writes next to every `X.zip`: what the zip cannot
//! say — the golden image each deployment plan attaches on the appliance when the bundle does not
//! carry it — in a visible file that travels with the zip (CI artifact actions drop hidden files
//! such as the build cache, which records the same attachments):
//!
//! ```json
//! {"zip": "X.zip", "sha256": "<zip's sha256>", "deploymentPlans": {"PLAN": {"goldenImage": "IMAGE"}}}
//! ```
//!
//! `sha256` ties it to the very zip it was written with: `publish` refuses a sidecar whose hash
//! names another build of the zip. Hand-written sidecars may leave out `zip` and `sha256`.
use super::model::GoldenImageAttachment;
use crate::error::Result;
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// `X.publish.json` for `X.zip`.
pub fn path(zip: &Path) -> PathBuf {
    zip.with_extension("publish.json")
}

/// The sidecar's bytes for a zip with this hash and these attachments (deterministic: pretty
/// JSON, plans in attachment order, trailing newline).
pub fn text(zip_name: &str, sha256: &str, attachments: &[GoldenImageAttachment]) -> String {
    let plans: Map<String, Value> = attachments
        .iter()
        .map(|a| {
            (
                a.deployment_plan.clone(),
                json!({ "goldenImage": a.golden_image }),
            )
        })
        .collect();
    let value = json!({ "zip": zip_name, "sha256": sha256, "deploymentPlans": plans });
    let mut text = serde_json::to_string_pretty(&value).expect("JSON values serialize");
    text.push('\n');
    text
}

/// Writes the sidecar of `zip` (temp file, then rename), replacing an earlier one.
pub fn write(zip: &Path, sha256: &str, attachments: &[GoldenImageAttachment]) -> Result<()> {
    let name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    crate::fs::write_atomic(&path(zip), text(&name, sha256, attachments).as_bytes())
}

/// Whether the sidecar of `zip` is the one a build with these attachments writes (a missing or
/// edited sidecar makes the bundle stale, so the next build writes it again).
pub fn is_current(zip: &Path, sha256: &str, attachments: &[GoldenImageAttachment]) -> bool {
    let name = zip
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    std::fs::read_to_string(path(zip)).is_ok_and(|t| t == text(&name, sha256, attachments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_sidecar_is_current_until_edited() {
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("B_1.zip");
        let attachments = vec![GoldenImageAttachment {
            deployment_plan: "Plan A".into(),
            golden_image: "Debian 12".into(),
        }];
        write(&zip, "ab12", &attachments).unwrap();
        assert!(is_current(&zip, "ab12", &attachments));
        assert!(!is_current(&zip, "cd34", &attachments));
        assert!(!is_current(&zip, "ab12", &[]));
        let value: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("B_1.publish.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            value["deploymentPlans"]["Plan A"]["goldenImage"],
            "Debian 12"
        );
        assert_eq!(value["zip"], "B_1.zip");
        std::fs::remove_file(path(&zip)).unwrap();
        assert!(!is_current(&zip, "ab12", &attachments));
    }
}
