//! `inspect`: a bundle's contents as a stable, serializable report (the `--json` shape).
use super::read::LoadedBundle;
use super::verify::{Area, Severity, verify};
use super::{ChecksumFlavour, EntryKind};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InspectReport {
    pub path: String,
    pub manifest: super::Manifest,
    pub checksum: ChecksumStatus,
    pub entries: usize,
    pub plan_scripts: Vec<PlanScriptSummary>,
    pub build_plans: Vec<BuildPlanSummary>,
    pub deployment_plans: Vec<DeploymentPlanSummary>,
    pub golden_images: Vec<GoldenImageSummary>,
    pub unknown_entries: Vec<String>,
    pub problems: Vec<super::verify::Problem>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ChecksumStatus {
    /// `sha256`, `sha1`, or null when the bundle has no checksum file.
    pub flavour: Option<ChecksumFlavour>,
    /// `ok` (every entry listed and matching), `mismatch`, or `missing`.
    pub status: &'static str,
    pub mismatched: Vec<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PlanScriptSummary {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub plan_type: String,
    pub description: String,
    pub size: usize,
    pub lines: usize,
    /// Attribute names the content uses, sorted, with the placeholder default if one is given.
    pub placeholders: Vec<PlaceholderSummary>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PlaceholderSummary {
    pub name: String,
    pub default: Option<String>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct BuildPlanSummary {
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub build_plan_type: String,
    pub description: String,
    pub steps: Vec<StepSummary>,
    pub attributes: Vec<AttributeSummary>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StepSummary {
    pub serial: String,
    pub plan_script: String,
    pub plan_script_id: Option<String>,
    /// Whether the step's URI resolves to a plan script in this bundle.
    pub resolved: bool,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AttributeSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub attribute_type: String,
    /// The default (build plan) or preset value (deployment plan); never shown for passwords.
    pub value: Option<String>,
    pub description: String,
    pub constraints: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub editable: Option<bool>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DeploymentPlanSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    pub build_plan: String,
    pub build_plan_in_bundle: bool,
    pub golden_image: Option<String>,
    pub attributes: Vec<AttributeSummary>,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GoldenImageSummary {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Size of the payload entry (itself a zip holding the disk image), null when absent.
    pub payload_size: Option<u64>,
}

fn attribute_summary(a: &super::CustomAttribute) -> AttributeSummary {
    let secret = a.attribute_type.is_secret();
    AttributeSummary {
        name: a.name.clone(),
        attribute_type: a.attribute_type.to_string(),
        value: if secret {
            a.default_value().map(|_| "********".to_string())
        } else {
            a.value.clone()
        },
        description: a.description.clone().unwrap_or_default(),
        constraints: a.constraints.encode(),
        visible: a.visible,
        editable: a.editable,
    }
}

fn plan_script_summary(s: &super::PlanScript) -> PlanScriptSummary {
    PlanScriptSummary {
        id: s.id.clone(),
        name: s.name.clone(),
        plan_type: s.plan_type.clone(),
        description: s.description.clone().unwrap_or_default(),
        size: s.content.len(),
        lines: s.content.lines().count(),
        placeholders: crate::placeholder::used_names(&s.content)
            .into_iter()
            .map(|(name, default)| PlaceholderSummary { name, default })
            .collect(),
    }
}

fn build_plan_summary(scripts: &super::ScriptIndex, p: &super::BuildPlan) -> BuildPlanSummary {
    BuildPlanSummary {
        id: p.id.clone(),
        name: p.name.clone(),
        build_plan_type: p.build_plan_type.clone(),
        description: p.description.clone().unwrap_or_default(),
        steps: scripts
            .steps_of(p)
            .map(|(step, script)| StepSummary {
                serial: step.serial_number.clone(),
                plan_script: step.plan_script_name.clone(),
                plan_script_id: step.plan_script_id().map(str::to_string),
                resolved: script.is_some(),
            })
            .collect(),
        attributes: p.custom_attributes.iter().map(attribute_summary).collect(),
    }
}

fn deployment_plan_summary(
    build_plans: &std::collections::HashSet<&str>,
    p: &super::DeploymentPlan,
) -> DeploymentPlanSummary {
    DeploymentPlanSummary {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone().unwrap_or_default(),
        build_plan: p.build_plan.clone(),
        build_plan_in_bundle: build_plans.contains(p.build_plan.as_str()),
        golden_image: p.golden_image_name().map(str::to_string),
        attributes: p.custom_attributes.iter().map(attribute_summary).collect(),
    }
}

fn golden_image_summary(loaded: &LoadedBundle, g: &super::GoldenImageEntry) -> GoldenImageSummary {
    GoldenImageSummary {
        id: g.image.id.clone(),
        name: g.image.name.clone(),
        description: g.image.description.clone().unwrap_or_default(),
        payload_size: loaded
            .entries
            .iter()
            .find(|e| e.kind == EntryKind::GoldenImagePayload && e.name == g.image.name)
            .map(|e| e.size),
    }
}

pub fn inspect(loaded: &LoadedBundle) -> InspectReport {
    let bundle = &loaded.bundle;
    let scripts = bundle.script_index();
    let build_plans: std::collections::HashSet<&str> =
        bundle.build_plans.iter().map(|p| p.name.as_str()).collect();
    let verified = verify(loaded);
    let mismatched: Vec<String> = verified
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error && p.area == Area::Checksum)
        .map(|p| p.entry.clone())
        .collect();
    let flavour = loaded.checksum_files.first().map(|c| c.flavour);
    let status = match (flavour, mismatched.is_empty()) {
        (None, _) => "missing",
        (Some(_), true) => "ok",
        (Some(_), false) => "mismatch",
    };
    InspectReport {
        path: loaded.path.display().to_string(),
        manifest: bundle.manifest.clone(),
        checksum: ChecksumStatus {
            flavour,
            status,
            mismatched,
        },
        entries: loaded.entries.len(),
        plan_scripts: bundle
            .plan_scripts
            .iter()
            .map(plan_script_summary)
            .collect(),
        build_plans: bundle
            .build_plans
            .iter()
            .map(|p| build_plan_summary(&scripts, p))
            .collect(),
        deployment_plans: bundle
            .deployment_plans
            .iter()
            .map(|p| deployment_plan_summary(&build_plans, p))
            .collect(),
        golden_images: bundle
            .golden_images
            .iter()
            .map(|g| golden_image_summary(loaded, g))
            .collect(),
        unknown_entries: loaded.unknown_entries().map(|e| e.name.clone()).collect(),
        problems: verified.problems,
    }
}

impl std::fmt::Display for InspectReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let m = &self.manifest;
        writeln!(f, "{}", self.path)?;
        writeln!(f, "  artifact name  {}", m.artifact_name)?;
        writeln!(
            f,
            "  description    {}",
            m.description.replace('\n', "\n                 ")
        )?;
        writeln!(f, "  read only      {}", m.read_only)?;
        writeln!(f, "  time stamp     {}", m.time_stamp)?;
        writeln!(f, "  artifact type  {}", m.artifact_type)?;
        let flavour = self
            .checksum
            .flavour
            .map_or("none".to_string(), |f| f.to_string());
        writeln!(
            f,
            "  checksums      {flavour}, {} ({} entries)",
            self.checksum.status, self.entries
        )?;
        self.write_plans(f)?;
        writeln!(f, "\ngolden images ({})", self.golden_images.len())?;
        for g in &self.golden_images {
            match g.payload_size {
                Some(size) => writeln!(f, "  {}  payload {size} B", g.name)?,
                None => writeln!(f, "  {}  (no payload)", g.name)?,
            }
        }
        if !self.unknown_entries.is_empty() {
            writeln!(f, "\nunknown entries: {}", self.unknown_entries.join(", "))?;
        }
        for p in &self.problems {
            writeln!(
                f,
                "{}: {}: {}",
                if p.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                },
                p.entry,
                p.message
            )?;
        }
        Ok(())
    }
}

impl InspectReport {
    /// The plan scripts with the placeholders they use, the build plans with their steps, and
    /// the deployment plans, each with its attributes.
    fn write_plans(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "\nplan scripts ({})", self.plan_scripts.len())?;
        for s in &self.plan_scripts {
            let names: Vec<String> = s
                .placeholders
                .iter()
                .map(|p| match &p.default {
                    Some(d) => format!("{}:{d}", p.name),
                    None => p.name.clone(),
                })
                .collect();
            writeln!(f, "  {:<8} {:>6} B  {}", s.plan_type, s.size, s.name)?;
            if !names.is_empty() {
                writeln!(f, "                    uses {}", names.join(", "))?;
            }
        }
        writeln!(f, "\nbuild plans ({})", self.build_plans.len())?;
        for p in &self.build_plans {
            writeln!(f, "  {} [{}]", p.name, p.build_plan_type)?;
            for s in &p.steps {
                let mark = if s.resolved {
                    ""
                } else {
                    "   <- not in bundle"
                };
                writeln!(f, "    {:>2}. {}{mark}", s.serial, s.plan_script)?;
            }
            write_attributes(f, &p.attributes)?;
        }
        writeln!(f, "\ndeployment plans ({})", self.deployment_plans.len())?;
        for p in &self.deployment_plans {
            let image = p.golden_image.as_deref().unwrap_or("(none)");
            writeln!(
                f,
                "  {}\n    build plan {}{}\n    golden image {image}",
                p.name,
                p.build_plan,
                if p.build_plan_in_bundle {
                    ""
                } else {
                    " (not in bundle)"
                }
            )?;
            write_attributes(f, &p.attributes)?;
        }
        Ok(())
    }
}

fn write_attributes(
    f: &mut std::fmt::Formatter<'_>,
    attributes: &[AttributeSummary],
) -> std::fmt::Result {
    for a in attributes {
        let value = a
            .value
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| format!(" = {v:?}"))
            .unwrap_or_default();
        writeln!(f, "       @{}@ {}{value}", a.name, a.attribute_type)?;
    }
    Ok(())
}
