//! What an incremental rebuild of a bundle reuses from its previous build (issue #14: one template
//! changed in a 10,000-template project rebuilds a little, not a tenth of the project).
//!
//! Next to each zip a build writes `<out>/.<zip>.memo.json`: for every templated plan script, the
//! template and parameters it was rendered with, every file the render read (by SHA-256), what
//! the render gave besides the content (name, type, description) and the zip entry holding it.
//! The next build of the bundle (not `--force`) renders a plan script again only when one of
//! those files changed or it is rendered with other parameters or another bundle name, version or
//! OS profile; otherwise it takes the content from the previous zip. Every other step of the
//! build runs as on a clean build (build plans, attributes, ids, deployment plans, manifest), and
//! the writer copies the compressed bytes of every entry whose bytes did not change, so the zip is
//! byte for byte the one a clean build writes. The memo counts only for the zip it names (its
//! SHA-256) and this tool; a zip edited or truncated since, a memo missing or unreadable: a full
//! build.
use crate::bundle::reuse::PreviousZip;
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What a build of one zip rendered (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Memo {
    pub tool: String,
    /// The zip these renders are in.
    pub zip_sha256: String,
    /// What every render of the bundle sees besides its template and parameters (see
    /// [`context`]).
    pub context: String,
    pub scripts: Vec<MemoScript>,
}

/// One templated plan script as rendered.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MemoScript {
    pub template: String,
    /// The merged parameters, canonical JSON.
    pub params: String,
    /// Every template file the render read (itself first), by name, with its SHA-256.
    pub sources: Vec<(String, String)>,
    pub short_name: String,
    pub plan_type: String,
    pub description: String,
    /// The zip entry holding the plan script.
    pub entry: String,
}

/// The memo file of `<out>/<zip_name>`.
pub fn path(out: &Path, zip_name: &str) -> PathBuf {
    out.join(format!(".{zip_name}.memo.json"))
}

/// The digest of a bundle's render context: its name and version, and its OS profile.
pub fn context(name: &str, version: &str, profile: Option<(&str, &str)>) -> String {
    let mut hasher = Sha256::new();
    for part in [
        name,
        version,
        profile.map_or("", |p| p.0),
        profile.map_or("", |p| p.1),
    ] {
        hasher.update(part.len().to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

impl Memo {
    /// Writes the memo of `<out>/<zip_name>` (temp file, then rename).
    pub fn write(&self, out: &Path, zip_name: &str) -> Result<()> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| Error::other(format!("serializing the build memo: {e}")))?;
        crate::fs::write_atomic(&path(out, zip_name), &bytes)
    }
}

/// A previous build to reuse: its memo and its zip, both checked.
pub struct Reuse {
    memo: Memo,
    by_key: HashMap<(String, String), usize>,
    previous: PreviousZip,
}

#[derive(serde::Deserialize)]
struct Content {
    content: String,
}

impl Reuse {
    /// The previous build of `<out>/<zip_name>` as the build cache recorded it (its SHA-256),
    /// when its memo is this tool's and names that very zip, and the zip still has that SHA-256.
    pub fn load(out: &Path, zip_name: &str, sha256: &str, tool: &str) -> Option<Reuse> {
        let bytes = std::fs::read(path(out, zip_name)).ok()?;
        let memo: Memo = serde_json::from_slice(&bytes).ok()?;
        if memo.tool != tool || memo.zip_sha256 != sha256 {
            return None;
        }
        let previous = PreviousZip::load(&out.join(zip_name), sha256)?;
        let by_key = memo
            .scripts
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.template.clone(), s.params.clone()), i))
            .collect();
        Some(Reuse {
            memo,
            by_key,
            previous,
        })
    }

    /// Whether the renders were made in this context (see [`context`]).
    pub fn same_context(&self, context: &str) -> bool {
        self.memo.context == context
    }

    /// The render of `template` with these canonical parameters, if memoized.
    pub fn script(&self, template: &str, params: &str) -> Option<&MemoScript> {
        let index = self
            .by_key
            .get(&(template.to_string(), params.to_string()))?;
        self.memo.scripts.get(*index)
    }

    /// The content of the plan script in entry `entry` of the previous zip.
    pub fn content(&self, entry: &str) -> Option<String> {
        let bytes = self.previous.content(entry)?;
        serde_json::from_slice::<Content>(bytes)
            .ok()
            .map(|c| c.content)
    }

    pub fn previous(&self) -> &PreviousZip {
        &self.previous
    }
}
