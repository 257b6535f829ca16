//! `bundles-src/<bundle>.toml`: one bundle, its build plans and deployment plans.
use super::{read_text, toml_error};
use crate::bundle::ChecksumFlavour;
use crate::error::{Error, Location, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Debug, Clone)]
pub struct BundleFile {
    pub path: PathBuf,
    pub text: String,
    pub bundle: BundleMeta,
    pub build_plans: Vec<BuildPlanSource>,
    pub deployment_plans: Vec<DeploymentPlanSource>,
    /// Golden images the bundle carries (metadata and payload).
    pub golden_images: Vec<GoldenImageSource>,
    /// Byte offset of each line start: locations in O(log n), as a build asks for one per step.
    line_starts: Vec<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    bundle: BundleMeta,
    #[serde(default)]
    build_plan: Vec<BuildPlanSource>,
    #[serde(default)]
    deployment_plan: Vec<DeploymentPlanSource>,
    #[serde(default)]
    golden_image: Vec<GoldenImageSource>,
}

/// How artifact names derive from the bundle (documented in docs/source-format.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactNames {
    /// `<prefix> - <name>`: names (and so uuids) stay the same across versions; re-importing a
    /// new version updates the artifacts in place.
    #[default]
    Stable,
    /// `<prefix> - <name> - <version>` (HPE's naming guidance). The uuid still derives from the
    /// unversioned name, so a new version updates in place too.
    Versioned,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleMeta {
    pub name: Spanned<String>,
    /// The one version source: zip name, MANIFEST `Artifact Name`, Time Stamp (when a date).
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// The OS profile (`golden-images/<os>/profile.toml`); needed by templates.
    pub os: Option<Spanned<String>>,
    #[serde(default)]
    pub checksum: Option<Spanned<String>>,
    #[serde(default)]
    pub read_only: bool,
    /// Artifact names are `<artifact_prefix> - <name>`; without a prefix, names are used as is.
    #[serde(default)]
    pub artifact_prefix: Option<String>,
    #[serde(default)]
    pub artifact_names: ArtifactNames,
    /// Pins the MANIFEST Time Stamp (imported bundles keep theirs).
    #[serde(default)]
    pub time_stamp: Option<Spanned<String>>,
    /// Plain plan scripts to carry even when no build plan uses them (file stems).
    #[serde(default)]
    pub plan_scripts: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildPlanSource {
    pub name: Spanned<String>,
    #[serde(rename = "type", default = "deploy")]
    pub plan_type: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// A pinned uuid (imported plans).
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    #[serde(default)]
    pub steps: Vec<Spanned<StepSource>>,
    /// A pinned attribute list: kept as is; drift from the placeholders is a warning.
    #[serde(default)]
    pub attributes: Option<Vec<Spanned<PinnedAttribute>>>,
}

fn deploy() -> Spanned<String> {
    Spanned::new(0..0, "deploy".to_string())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSource {
    /// `templates/<template>.j2`
    pub template: Option<String>,
    /// `plan-scripts/<plan_script>.gf`
    pub plan_script: Option<String>,
    #[serde(default)]
    pub params: toml::Table,
}

/// One pinned build-plan attribute: a name (everything from the registry) or a table that
/// overrides registry fields for this plan.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PinnedAttribute {
    Name(String),
    Full {
        name: String,
        value: Option<String>,
        #[serde(rename = "type")]
        attribute_type: Option<String>,
        description: Option<String>,
        constraints: Option<toml::Value>,
    },
}

impl PinnedAttribute {
    pub fn name(&self) -> &str {
        match self {
            PinnedAttribute::Name(name) | PinnedAttribute::Full { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentPlanSource {
    pub name: Spanned<String>,
    pub build_plan: Spanned<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    /// `true` (default): the OS profile's golden image; a string: that image; `false`: none.
    #[serde(default)]
    pub golden_image: Option<Spanned<toml::Value>>,
    #[serde(default)]
    pub attributes: BTreeMap<String, Spanned<DeploymentAttribute>>,
}

/// `[[golden_image]]`: a golden image the bundle carries. The payload is the form the appliance
/// takes (a zip holding the one raw disk image: `i3s-bundle golden-image pack` writes it); it is
/// streamed into the bundle, never loaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenImageSource {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: String,
    /// Path of the payload, relative to the project root.
    pub payload: Spanned<String>,
    #[serde(default)]
    pub id: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeploymentAttribute {
    pub value: Option<String>,
    pub visible: Option<bool>,
    pub editable: Option<bool>,
    pub id: Option<String>,
}

impl BundleFile {
    pub fn load(path: &Path) -> Result<BundleFile> {
        let text = read_text(path)?;
        Self::parse(path, text)
    }

    pub fn parse(path: &Path, text: String) -> Result<BundleFile> {
        let raw: RawFile = toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        let file = BundleFile {
            path: path.to_path_buf(),
            bundle: raw.bundle,
            build_plans: raw.build_plan,
            deployment_plans: raw.deployment_plan,
            golden_images: raw.golden_image,
            line_starts: std::iter::once(0)
                .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            text,
        };
        file.check()?;
        Ok(file)
    }

    /// Where a spanned value sits in this file.
    pub fn at<T>(&self, spanned: &Spanned<T>) -> Location {
        let span = spanned.span();
        if span.is_empty() && span.start == 0 {
            Location::file(&self.path)
        } else {
            let offset = span.start.min(self.text.len());
            let line = self.line_starts.partition_point(|&start| start <= offset);
            let line_start = self.line_starts[line - 1];
            let column = self
                .text
                .get(line_start..offset)
                .map_or(1, |t| t.chars().count() + 1);
            Location::file(&self.path).at(line, column)
        }
    }

    pub fn checksum(&self) -> Result<ChecksumFlavour> {
        match &self.bundle.checksum {
            None => Ok(ChecksumFlavour::Sha256),
            Some(c) => c
                .get_ref()
                .parse()
                .map_err(|e: crate::bundle::checksum::UnknownFlavour| {
                    Error::at(self.at(c), e.to_string())
                }),
        }
    }

    fn check(&self) -> Result<()> {
        let name = &self.bundle.name;
        if name.get_ref().trim().is_empty() || name.get_ref().contains(['/', '\\']) {
            return Err(Error::at(
                self.at(name),
                format!(
                    "bundle name {:?} must be non-empty and contain no '/' or '\\'",
                    name.get_ref()
                ),
            ));
        }
        if self.bundle.version.contains(['/', '\\']) {
            return Err(Error::at(
                Location::file(&self.path),
                "version must not contain '/' or '\\'",
            ));
        }
        self.checksum()?;
        self.check_build_plans()?;
        self.check_deployment_plans()
    }

    /// Build plans: unique names, a known type, well-formed steps, a uuid if pinned.
    fn check_build_plans(&self) -> Result<()> {
        let mut seen = BTreeMap::new();
        for plan in &self.build_plans {
            if let Some(first) = seen.insert(plan.name.get_ref().clone(), plan.name.span()) {
                let (line, _) = crate::error::line_column(&self.text, first.start);
                return Err(Error::at(
                    self.at(&plan.name),
                    format!(
                        "a second build plan named {:?} (the first is on line {line})",
                        plan.name.get_ref()
                    ),
                ));
            }
            if !["deploy", "capture"].contains(&plan.plan_type.get_ref().as_str()) {
                return Err(Error::at(
                    self.at(&plan.plan_type),
                    format!(
                        "build plan type {:?} is not deploy or capture",
                        plan.plan_type.get_ref()
                    ),
                ));
            }
            for step in &plan.steps {
                let s = step.get_ref();
                match (&s.template, &s.plan_script) {
                    (Some(_), None) => {}
                    (None, Some(_)) if s.params.is_empty() => {}
                    (None, Some(_)) => {
                        return Err(Error::at(
                            self.at(step),
                            "a plain plan script takes no params (only templates do)",
                        ));
                    }
                    _ => {
                        return Err(Error::at(
                            self.at(step),
                            "a step names exactly one of `template` or `plan_script`",
                        ));
                    }
                }
            }
            check_uuid(self, plan.id.as_ref())?;
        }
        Ok(())
    }

    /// Deployment plans: unique names, their build plan in this bundle, a golden image setting
    /// of the right type, a uuid if pinned.
    fn check_deployment_plans(&self) -> Result<()> {
        let mut seen = BTreeMap::new();
        for plan in &self.deployment_plans {
            if seen.insert(plan.name.get_ref().clone(), ()).is_some() {
                return Err(Error::at(
                    self.at(&plan.name),
                    format!("a second deployment plan named {:?}", plan.name.get_ref()),
                ));
            }
            if !self
                .build_plans
                .iter()
                .any(|b| b.name.get_ref() == plan.build_plan.get_ref())
            {
                return Err(Error::at(
                    self.at(&plan.build_plan),
                    format!(
                        "no build plan named {:?} in this bundle",
                        plan.build_plan.get_ref()
                    ),
                ));
            }
            if let Some(g) = &plan.golden_image
                && !matches!(
                    g.get_ref(),
                    toml::Value::Boolean(_) | toml::Value::String(_)
                )
            {
                return Err(Error::at(
                    self.at(g),
                    "golden_image is true, false or an image name",
                ));
            }
            check_uuid(self, plan.id.as_ref())?;
        }
        Ok(())
    }
}

fn check_uuid(file: &BundleFile, id: Option<&Spanned<String>>) -> Result<()> {
    if let Some(id) = id
        && !crate::bundle::is_canonical_uuid(&id.get_ref().to_ascii_lowercase())
    {
        return Err(Error::at(
            file.at(id),
            format!("id {:?} is not a uuid (8-4-4-4-12 hex)", id.get_ref()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example_shape() {
        let text = r#"
[bundle]
name = "b"
version = "2026.11.26"
os = "centos7.4"
[[build_plan]]
name = "Docker-CE"
steps = [ { template = "mount" }, { template = "nic-bond", params = { addressing = "static" } }, { plan_script = "hook" } ]
attributes = [ "A", { name = "VLAN_ID", value = "0" } ]
[[deployment_plan]]
name = "D"
build_plan = "Docker-CE"
golden_image = false
[deployment_plan.attributes.VLAN_ID]
value = "0"
"#;
        let file = BundleFile::parse(Path::new("b.toml"), text.to_string()).unwrap();
        let plan = &file.build_plans[0];
        assert_eq!(plan.steps.len(), 3);
        assert_eq!(file.at(&plan.steps[1]).line, Some(8));
        let pinned = plan.attributes.as_ref().unwrap();
        assert_eq!(pinned[1].get_ref().name(), "VLAN_ID");
        assert!(matches!(pinned[0].get_ref(), PinnedAttribute::Name(n) if n == "A"));
    }

    #[test]
    fn unknown_keys_and_bad_steps_name_the_line() {
        let e = BundleFile::parse(
            Path::new("b.toml"),
            "[bundle]\nname = \"b\"\nbogus = 1\n".into(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("b.toml:3"), "{e}");
        let e = BundleFile::parse(
            Path::new("b.toml"),
            "[bundle]\nname = \"b\"\n[[build_plan]]\nname = \"p\"\nsteps = [\n {}\n]\n".into(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("b.toml:6"), "{e}");
    }
}
