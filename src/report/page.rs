//! The page's data: what the template shows, built from the inspect report (manifest, checksum
//! status, masked attribute values), the lint target (parsed scripts) and the lint findings.
//! Anchors: `bp{N}` build plans, `bp{N}-step-{serial}`, `bp{N}-attr-{NAME}`, `dp{N}`, `gi{N}`,
//! `rule-{ID}`, `ps-diff-{N}`.
use super::Input;
use super::boot::{BootGraph, first_boot_graph};
use super::script::{Block, blocks, code_html};
use super::svg::{Drawing, draw};
use crate::bundle::inspect::AttributeSummary;
use crate::lint::target::ScriptView;
use crate::lint::{Finding, Severity};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct FindingView {
    pub rule: String,
    pub severity: Severity,
    pub artifact_kind: String,
    pub artifact: String,
    pub message: String,
    pub location: String,
    pub help: &'static str,
}

#[derive(Debug, Serialize)]
pub struct RuleView {
    pub id: &'static str,
    pub name: &'static str,
    pub text: String,
}

#[derive(Debug, Serialize)]
pub struct StepRef {
    pub serial: String,
    pub anchor: String,
}

#[derive(Debug, Serialize)]
pub struct AttributeView {
    pub anchor: String,
    #[serde(flatten)]
    pub summary: AttributeSummary,
    pub used_by: Vec<StepRef>,
    /// `added`, `changed`, `removed` on a diff page.
    pub change: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct StepView {
    pub anchor: String,
    pub serial: String,
    pub script: String,
    pub script_type: String,
    pub description: String,
    pub resolved: bool,
    pub blocks: Vec<BlockView>,
    /// The attributes its placeholders name.
    #[serde(skip)]
    pub uses: Vec<String>,
    pub change: Option<&'static str>,
    /// The anchor of the script's side-by-side diff (diff page, changed scripts).
    pub diff_anchor: Option<String>,
}

/// A script block as the page shows it: code, or the file a here-document writes; `html` is
/// its lines' markup ([`code_html`]), written once here instead of a template loop per token.
#[derive(Debug, Serialize)]
pub struct BlockView {
    /// `code` or `file`.
    pub kind: &'static str,
    pub path: Option<String>,
    pub mode: Option<String>,
    pub tag: Option<String>,
    pub closed: bool,
    pub html: String,
}

#[derive(Debug, Serialize)]
pub struct UnitView {
    pub name: String,
    pub path: Option<String>,
    pub step: Option<String>,
    pub readiness: bool,
    pub change: Option<&'static str>,
    /// The edges it declares (indices into the graph's edges), for the text table.
    pub declares: Vec<usize>,
}

#[derive(Debug, Serialize)]
pub struct EdgeView {
    pub from: String,
    pub to: String,
    pub directive: &'static str,
    pub change: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct GraphView {
    pub id: String,
    pub units: Vec<UnitView>,
    pub edges: Vec<EdgeView>,
    pub drawing: Drawing,
}

#[derive(Debug, Serialize)]
pub struct PlanView {
    pub anchor: String,
    pub name: String,
    pub plan_type: String,
    pub description: String,
    pub steps: Vec<StepView>,
    pub attributes: Vec<AttributeView>,
    pub graph: Option<GraphView>,
    pub change: Option<&'static str>,
    pub old_name: Option<String>,
    pub details: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct DeploymentView {
    pub anchor: String,
    pub name: String,
    pub description: String,
    pub build_plan: String,
    pub build_plan_anchor: Option<String>,
    pub golden_image: Option<String>,
    pub golden_image_anchor: Option<String>,
    pub attributes: Vec<AttributeSummary>,
    pub change: Option<&'static str>,
}

pub fn finding_view(f: &Finding) -> FindingView {
    FindingView {
        rule: f.rule.clone(),
        severity: f.severity,
        artifact_kind: f.artifact_kind.to_string(),
        artifact: f.artifact.clone(),
        message: f.message.clone(),
        location: f.place.to_string(),
        help: f.help(),
    }
}

/// The explanation of every rule a finding names, in id order.
pub fn rules_of(findings: &[Finding]) -> Vec<RuleView> {
    let mut ids: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter()
        .filter_map(|id| {
            let rule = crate::lint::rule(id)?;
            Some(RuleView {
                id: rule.id,
                name: rule.name,
                text: crate::lint::rules::explain(id)?,
            })
        })
        .collect()
}

/// The steps of build plan `index` with their script views and serial numbers.
pub fn plan_steps<'t>(
    input: &'t Input,
    index: usize,
) -> Vec<(&'t str, Option<&'t ScriptView<'t>>)> {
    let plan = &input.target.bundle.build_plans[index];
    plan.steps
        .iter()
        .map(|s| s.serial_number.as_str())
        .zip(input.target.steps(plan))
        .collect()
}

/// The first-boot graph of a deploy build plan (empty for other plans).
pub fn plan_graph(input: &Input, index: usize) -> BootGraph {
    let plan = &input.target.bundle.build_plans[index];
    if !plan.build_plan_type.eq_ignore_ascii_case("deploy") {
        return BootGraph::default();
    }
    let steps: Vec<(&str, &ScriptView)> = plan_steps(input, index)
        .into_iter()
        .filter_map(|(serial, view)| Some((serial, view?)))
        .collect();
    first_boot_graph(&steps)
}

/// Up to this many lint findings, their table is open on the page; more are folded into a
/// `<details>`: a browser lays out a visible table in full before the page has loaded (~0.5 ms a
/// row on a loaded 2-core machine: seconds for the 10,000 findings of a large generated bundle).
pub const FOLD_FINDINGS: usize = 200;

/// Up to this many build plans, first-boot graphs get layout's crossing reduction (see
/// [`super::svg::draw`]); a bundle of thousands of plans is drawn without it, in time.
pub const TIDY_PLANS: usize = 200;

/// One build plan's view (no change marks: [`super::diff`] adds them).
pub fn plan_view(input: &Input, index: usize) -> PlanView {
    let plan = &input.target.bundle.build_plans[index];
    let summary = &input.report.build_plans[index];
    let anchor = format!("bp{index}");
    let known = |name: &str| summary.attributes.iter().any(|a| a.name == name);
    let steps: Vec<StepView> = plan_steps(input, index)
        .into_iter()
        .map(|(serial, view)| {
            let parsed = view.map(blocks).unwrap_or_default();
            StepView {
                anchor: format!("{anchor}-step-{serial}"),
                serial: serial.to_string(),
                script: view.map_or_else(|| step_name(plan, serial), |v| v.script.name.clone()),
                script_type: view.map(|v| v.script.plan_type.clone()).unwrap_or_default(),
                description: view
                    .and_then(|v| v.script.description.clone())
                    .unwrap_or_default(),
                resolved: view.is_some(),
                uses: placeholders(&parsed),
                blocks: parsed
                    .iter()
                    .map(|b| block_view(b, &anchor, known))
                    .collect(),
                change: None,
                diff_anchor: None,
            }
        })
        .collect();
    let attributes = summary
        .attributes
        .iter()
        .map(|a| AttributeView {
            anchor: format!("{anchor}-attr-{}", a.name),
            summary: a.clone(),
            used_by: steps
                .iter()
                .filter(|s| uses(s, &a.name))
                .map(|s| StepRef {
                    serial: s.serial.clone(),
                    anchor: s.anchor.clone(),
                })
                .collect(),
            change: None,
        })
        .collect();
    let graph = plan_graph(input, index);
    PlanView {
        graph: (!graph.is_empty())
            .then(|| graph_view(&format!("g-{anchor}"), &graph, None, tidy(input))),
        anchor,
        name: plan.name.clone(),
        plan_type: plan.build_plan_type.clone(),
        description: plan.description.clone().unwrap_or_default(),
        steps,
        attributes,
        change: None,
        old_name: None,
        details: Vec::new(),
    }
}

fn step_name(plan: &crate::bundle::BuildPlan, serial: &str) -> String {
    plan.steps
        .iter()
        .find(|s| s.serial_number == serial)
        .map(|s| s.plan_script_name.clone())
        .unwrap_or_default()
}

/// Whether a step's script names the attribute in a placeholder.
fn uses(step: &StepView, name: &str) -> bool {
    step.uses.iter().any(|u| u == name)
}

/// The attribute names a script's placeholders use, each once.
fn placeholders(blocks: &[Block]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for span in blocks.iter().flat_map(Block::lines).flat_map(|l| &l.spans) {
        if let Some(name) = span.attribute.as_ref().filter(|n| !names.contains(n)) {
            names.push(name.clone());
        }
    }
    names
}

fn block_view(block: &Block, plan: &str, known: impl Fn(&str) -> bool) -> BlockView {
    let html = code_html(block.lines(), plan, known);
    match block {
        Block::Code { .. } => BlockView {
            kind: "code",
            path: None,
            mode: None,
            tag: None,
            closed: true,
            html,
        },
        Block::File {
            path,
            mode,
            tag,
            closed,
            ..
        } => BlockView {
            kind: "file",
            path: Some(path.clone()),
            mode: mode.clone(),
            tag: Some(tag.clone()),
            closed: *closed,
            html,
        },
    }
}

/// Whether this bundle's graphs get crossing reduction.
pub fn tidy(input: &Input) -> bool {
    input.report.build_plans.len() <= TIDY_PLANS
}

/// The graph drawn, with change marks against `old` when given (a diff page draws the union).
pub fn graph_view(id: &str, graph: &BootGraph, old: Option<&BootGraph>, tidy: bool) -> GraphView {
    let mut union = graph.clone();
    if let Some(old) = old {
        for unit in &old.units {
            if union.unit(&unit.name).is_none() {
                union.units.push(unit.clone());
            }
        }
        for edge in &old.edges {
            if !union.edges.contains(edge) {
                union.edges.push(edge.clone());
            }
        }
    }
    let mark = |in_new: bool, in_old: bool| match (old, in_new, in_old) {
        (None, ..) => None,
        (Some(_), true, false) => Some("added"),
        (Some(_), false, true) => Some("removed"),
        _ => None,
    };
    let units = union
        .units
        .iter()
        .map(|u| UnitView {
            name: u.name.clone(),
            path: u.path.clone(),
            step: u.step.clone(),
            readiness: u.readiness,
            change: mark(
                graph.unit(&u.name).is_some(),
                old.is_some_and(|o| o.unit(&u.name).is_some()),
            ),
            declares: (0..union.edges.len())
                .filter(|&e| union.edges[e].from == u.name)
                .collect(),
        })
        .collect();
    let edges = union
        .edges
        .iter()
        .map(|e| EdgeView {
            from: e.from.clone(),
            to: e.to.clone(),
            directive: e.kind.directive(),
            change: mark(
                graph.edges.contains(e),
                old.is_some_and(|o| o.edges.contains(e)),
            ),
        })
        .collect();
    GraphView {
        id: id.to_string(),
        units,
        edges,
        drawing: draw(&union, tidy),
    }
}

/// Deployment plans, linked to their build plan and golden image when the bundle has them.
pub fn deployment_views(input: &Input) -> Vec<DeploymentView> {
    let report = input.report;
    report
        .deployment_plans
        .iter()
        .enumerate()
        .map(|(i, d)| DeploymentView {
            anchor: format!("dp{i}"),
            name: d.name.clone(),
            description: d.description.clone(),
            build_plan: d.build_plan.clone(),
            build_plan_anchor: report
                .build_plans
                .iter()
                .position(|b| b.name == d.build_plan)
                .map(|b| format!("bp{b}")),
            golden_image: d.golden_image.clone(),
            golden_image_anchor: d.golden_image.as_ref().and_then(|g| {
                report
                    .golden_images
                    .iter()
                    .position(|x| &x.name == g)
                    .map(|x| format!("gi{x}"))
            }),
            attributes: d.attributes.clone(),
            change: None,
        })
        .collect()
}
