//! THE model of the artifact bundle format: types, read, write, verify, inspect, diff.
//! See `docs/bundle-format.md`; every other module goes through this one.
pub mod attribute;
pub mod checksum;
pub mod container;
pub mod diff;
pub mod inspect;
pub(crate) mod json_object;
pub mod manifest;
pub mod model;
pub mod read;
pub mod reuse;
pub mod verify;
pub mod write;

pub use attribute::{AttributeType, Constraints, CustomAttribute};
pub use checksum::{ChecksumFile, ChecksumFlavour};
pub use manifest::Manifest;
pub use model::{BuildPlan, BuildStep, DeploymentPlan, GoldenImage, PlanScript};
pub use read::{LoadedBundle, ReadOptions, read_bundle};
pub use write::{WriteReport, write_bundle};

use std::path::PathBuf;

/// An artifact bundle: what one zip carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    pub manifest: Manifest,
    pub checksum: ChecksumFlavour,
    pub plan_scripts: Vec<PlanScript>,
    pub golden_images: Vec<GoldenImageEntry>,
    pub build_plans: Vec<BuildPlan>,
    pub deployment_plans: Vec<DeploymentPlan>,
}

/// A golden image's metadata and, when the bundle carries it, where its payload comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct GoldenImageEntry {
    pub image: GoldenImage,
    pub payload: Option<Payload>,
}

/// Where a golden image payload's bytes are: streamed, never loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A file on disk holding the payload (itself a zip with the raw disk image).
    File(PathBuf),
    /// An entry of an existing bundle zip.
    ZipEntry {
        zip: PathBuf,
        entry: String,
        size: u64,
    },
}

impl Bundle {
    pub fn plan_script_by_id(&self, id: &str) -> Option<&PlanScript> {
        self.plan_scripts
            .iter()
            .find(|p| p.id.eq_ignore_ascii_case(id))
    }
    pub fn plan_script_by_name(&self, name: &str) -> Option<&PlanScript> {
        self.plan_scripts.iter().find(|p| p.name == name)
    }
    pub fn build_plan_by_name(&self, name: &str) -> Option<&BuildPlan> {
        self.build_plans.iter().find(|p| p.name == name)
    }
    pub fn golden_image_by_name(&self, name: &str) -> Option<&GoldenImageEntry> {
        self.golden_images.iter().find(|g| g.image.name == name)
    }
    /// The plan scripts a build plan's steps point at, in step order (`None` for dangling steps).
    /// For many plans, build a [`Bundle::script_index`] once instead.
    pub fn steps_of<'a>(
        &'a self,
        plan: &'a BuildPlan,
    ) -> impl Iterator<Item = (&'a BuildStep, Option<&'a PlanScript>)> + 'a {
        plan.steps.iter().map(|step| {
            (
                step,
                step.plan_script_id()
                    .and_then(|id| self.plan_script_by_id(id)),
            )
        })
    }

    /// Plan scripts by lower-case id, for resolving the steps of many plans.
    pub fn script_index(&self) -> ScriptIndex<'_> {
        ScriptIndex(
            self.plan_scripts
                .iter()
                .map(|p| (p.id.to_ascii_lowercase(), p))
                .collect(),
        )
    }
}

/// Plan scripts by lower-case id.
pub struct ScriptIndex<'a>(std::collections::HashMap<String, &'a PlanScript>);

impl<'a> ScriptIndex<'a> {
    pub fn get(&self, id: &str) -> Option<&'a PlanScript> {
        self.0.get(&id.to_ascii_lowercase()).copied()
    }

    /// Like [`Bundle::steps_of`], in constant time per step.
    pub fn steps_of<'p>(
        &'p self,
        plan: &'p BuildPlan,
    ) -> impl Iterator<Item = (&'p BuildStep, Option<&'a PlanScript>)> + 'p {
        plan.steps
            .iter()
            .map(|step| (step, step.plan_script_id().and_then(|id| self.get(id))))
    }
}

/// What an entry is, from its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    PlanScript,
    GoldenImage,
    GoldenImagePayload,
    BuildPlan,
    DeploymentPlan,
    Manifest,
    Checksum,
    Unknown,
}

impl EntryKind {
    /// The JSON artifact kinds with their file-name suffix and accepted `type` values.
    pub const ARTIFACTS: [(EntryKind, &'static str, &'static [&'static str]); 4] = [
        (
            EntryKind::PlanScript,
            "_planscript.json",
            &[PlanScript::KIND],
        ),
        (
            EntryKind::GoldenImage,
            "_goldenimage.json",
            &[GoldenImage::KIND],
        ),
        (EntryKind::BuildPlan, "_buildplan.json", &BuildPlan::KINDS),
        (
            EntryKind::DeploymentPlan,
            "_deploymentplan.json",
            &DeploymentPlan::KINDS,
        ),
    ];

    /// Classifies by name; payloads are recognised later, by golden image name.
    pub fn of(name: &str) -> EntryKind {
        if name == manifest::MANIFEST_ENTRY {
            return EntryKind::Manifest;
        }
        if ChecksumFlavour::from_file_name(name).is_some() {
            return EntryKind::Checksum;
        }
        Self::ARTIFACTS
            .iter()
            .find(|(_, suffix, _)| name.ends_with(suffix))
            .map_or(EntryKind::Unknown, |(kind, _, _)| *kind)
    }

    /// The canonical entry order of the kinds ("Container" in the spec).
    pub fn rank(self) -> u8 {
        match self {
            EntryKind::PlanScript => 0,
            EntryKind::GoldenImage | EntryKind::GoldenImagePayload => 1,
            EntryKind::BuildPlan => 2,
            EntryKind::DeploymentPlan => 3,
            EntryKind::Unknown => 4,
            EntryKind::Manifest => 5,
            EntryKind::Checksum => 6,
        }
    }

    pub fn entry_name(self, id: &str) -> Option<String> {
        Self::ARTIFACTS
            .iter()
            .find(|(k, _, _)| *k == self)
            .map(|(_, suffix, _)| format!("{}{suffix}", id.to_ascii_lowercase()))
    }
}

/// True for a lower-case canonical 8-4-4-4-12 uuid.
pub fn is_canonical_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}
