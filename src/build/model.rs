//! What compiling a bundle source works with and produces: the project every bundle of a build
//! shares, the inputs read, and the [`CompiledBundle`] (the pipeline is in `compile.rs`).
use super::naming::{TimeEnvironment, TimeSource};
use crate::bundle::Bundle;
use crate::error::Result;
use crate::render::{Renderer, ScriptOrigin, TemplateStore};
use crate::source::{BundleFile, Layout, Registry};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every bundle of a build shares.
pub struct Project {
    pub layout: Layout,
    pub registry: Registry,
    pub templates: Arc<TemplateStore>,
    /// Shared pieces compiled once per build; bundles render with copies of it.
    pub renderer: Renderer,
    pub time: TimeEnvironment,
}

impl Project {
    pub fn load(root: &Path) -> Result<Project> {
        let layout = Layout::new(root);
        if layout.registry().exists() {
            layout.check_inside([layout.registry()])?;
        }
        let registry = Registry::load(&layout.registry())?;
        let templates = TemplateStore::new(layout.templates_dir());
        let renderer = Renderer::new(templates.clone());
        renderer.compile_shared();
        Ok(Project {
            renderer,
            time: TimeEnvironment::from_env(root),
            layout,
            registry,
            templates,
        })
    }
}

/// One file a bundle was built from, as read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Input {
    /// Relative to the project root.
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub mtime_ns: u128,
}

impl Input {
    pub(super) fn of(layout: &Layout, path: &Path, text: &str) -> Input {
        let meta = std::fs::metadata(path).ok();
        Input {
            path: layout.relative(path),
            sha256: hex::encode(Sha256::digest(text.as_bytes())),
            size: meta.as_ref().map_or(text.len() as u64, |m| m.len()),
            mtime_ns: meta.as_ref().map_or(0, crate::fs::mtime_ns),
        }
    }
}

/// A deployment plan's golden image that `publish` attaches on the appliance (the bundle itself
/// names it only when it carries the image).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct GoldenImageAttachment {
    pub deployment_plan: String,
    pub golden_image: String,
}

/// Where a plan script of the bundle came from (for `render` to find it by any of its names).
#[derive(Debug, Clone)]
pub struct ScriptInfo {
    pub id: String,
    pub artifact_name: String,
    /// The name before the artifact prefix: the template's rendered `name` or the header `name`.
    pub short_name: String,
    /// `mount.j2` for templates; the file stem for plain plan scripts.
    pub source_name: String,
    pub origin: ScriptOrigin,
    /// The template's capability contract (empty for plain plan scripts).
    pub contract: crate::source::contract::Contract,
}

/// A bundle compiled from source, ready to write.
#[derive(Debug, Clone)]
pub struct CompiledBundle {
    pub file: BundleFile,
    pub bundle: Bundle,
    pub zip_name: String,
    pub inputs: Vec<Input>,
    pub time_source: TimeSource,
    pub used_attributes: BTreeSet<String>,
    pub warnings: Vec<String>,
    pub attachments: Vec<GoldenImageAttachment>,
    pub scripts: Vec<ScriptInfo>,
    /// What an incremental rebuild may reuse from this build (see [`super::memo`]).
    pub memo: super::memo::Memo,
    /// Plan scripts taken from the previous build instead of rendered.
    pub reused_scripts: usize,
}
