//! The page's whole data, and on a diff page the change marks: artifacts by the diff's verdicts
//! (matched by uuid, then name, as `bundle::diff` does), steps and attributes against the old
//! partner plan, side-by-side rows of changed plan scripts, first-boot graphs of both versions.
use super::Input;
use super::page::{
    DeploymentView, FindingView, PlanView, RuleView, deployment_views, finding_view, graph_view,
    plan_graph, plan_view, rules_of, tidy,
};
use crate::bundle::diff::BundleDiff;
use crate::bundle::diff::{ArtifactChange, ChangeKind, EntryChange, FieldChange};
use crate::bundle::inspect::{GoldenImageSummary, InspectReport};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct PageData<'a> {
    pub title: String,
    pub version: &'static str,
    pub report: &'a InspectReport,
    pub findings: Vec<FindingView>,
    /// More findings than this and their table is folded (`<details>`).
    pub fold_findings: usize,
    pub lint_summary: String,
    pub notices: &'a [String],
    pub rules: Vec<RuleView>,
    /// Rendered on their own, in parallel (`super::render_page`).
    #[serde(skip)]
    pub build_plans: Vec<PlanView>,
    pub deployment_plans: Vec<DeploymentView>,
    pub golden_images: Vec<GoldenView<'a>>,
    pub changes: Option<Changes>,
}

#[derive(Debug, Serialize)]
pub struct GoldenView<'a> {
    pub anchor: String,
    #[serde(flatten)]
    pub image: &'a GoldenImageSummary,
    pub change: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Changes {
    pub old_path: String,
    pub count: usize,
    pub manifest: Vec<FieldChange>,
    pub artifacts: Vec<ChangeView>,
    pub entries: Vec<EntryChange>,
}

#[derive(Debug, Serialize)]
pub struct ChangeView {
    pub kind: &'static str,
    pub change: ChangeKind,
    pub name: String,
    pub old_name: Option<String>,
    pub details: Vec<String>,
    pub anchor: Option<String>,
    pub rows: Vec<Row>,
}

/// One row of a side-by-side diff; `tag` is `equal`, `delete`, `insert`, `replace` or `gap`.
#[derive(Debug, Serialize)]
pub struct Row {
    pub tag: &'static str,
    pub old_line: Option<usize>,
    pub old: String,
    pub new_line: Option<usize>,
    pub new: String,
}

fn label(change: ChangeKind) -> &'static str {
    match change {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Renamed => "renamed",
        ChangeKind::Changed => "changed",
    }
}

/// Everything the page template shows; `old` makes it a diff page.
pub fn page_data<'a>(input: &'a Input, old: Option<(&Input, &BundleDiff)>) -> PageData<'a> {
    let report = input.report;
    // Plans are independent: highlighting and graph layout run in parallel.
    let mut build_plans: Vec<PlanView> = {
        use rayon::prelude::*;
        (0..report.build_plans.len())
            .into_par_iter()
            .map(|i| plan_view(input, i))
            .collect()
    };
    let mut deployment_plans = deployment_views(input);
    let mut golden_images: Vec<GoldenView> = report
        .golden_images
        .iter()
        .enumerate()
        .map(|(i, image)| GoldenView {
            anchor: format!("gi{i}"),
            image,
            change: None,
        })
        .collect();
    let changes = old.map(|(old, diff)| {
        let changes = changes(old, input, diff);
        mark_plans(&mut build_plans, old, input, diff, &changes);
        for d in &mut deployment_plans {
            d.change = verdict(&diff.deployment_plans, &d.name);
        }
        for g in &mut golden_images {
            g.change = verdict(&diff.golden_images, &g.image.name);
        }
        changes
    });
    let title = match &changes {
        Some(c) => format!("{} → {}", c.old_path, report.path),
        None => report.manifest.artifact_name.clone(),
    };
    PageData {
        title,
        version: env!("CARGO_PKG_VERSION"),
        report,
        findings: input.lint.findings.iter().map(finding_view).collect(),
        fold_findings: super::page::FOLD_FINDINGS,
        lint_summary: crate::lint::output::summary(input.lint),
        notices: &input.lint.notices,
        rules: rules_of(&input.lint.findings),
        build_plans,
        deployment_plans,
        golden_images,
        changes,
    }
}

/// The diff's verdict on the artifact now called `name` (not for removals).
fn verdict(changes: &[ArtifactChange], name: &str) -> Option<&'static str> {
    changes
        .iter()
        .find(|c| c.name == name && c.change != ChangeKind::Removed)
        .map(|c| label(c.change))
}

fn changes(old: &Input, new: &Input, diff: &BundleDiff) -> Changes {
    let artifacts = diff
        .artifact_changes()
        .enumerate()
        .map(|(i, (kind, c))| {
            let rows = if kind == "plan script" && c.content_diff.is_some() {
                let before = old
                    .target
                    .bundle
                    .plan_script_by_name(c.old_name.as_deref().unwrap_or(&c.name));
                let after = new.target.bundle.plan_script_by_name(&c.name);
                side_by_side(
                    before.map_or("", |s| s.content.as_str()),
                    after.map_or("", |s| s.content.as_str()),
                )
            } else {
                Vec::new()
            };
            ChangeView {
                kind,
                change: c.change,
                name: c.name.clone(),
                old_name: c.old_name.clone(),
                details: c.details.clone(),
                anchor: (!rows.is_empty()).then(|| format!("ps-diff-{i}")),
                rows,
            }
        })
        .collect();
    Changes {
        old_path: old.report.path.clone(),
        count: diff.artifact_changes().count() + diff.manifest.len() + diff.entries.len(),
        manifest: diff.manifest.clone(),
        artifacts,
        entries: diff.entries.clone(),
    }
}

/// Marks plans, steps and attributes, and redraws the graph of each changed deploy plan as the
/// union of both versions with added and removed units and edges marked.
fn mark_plans(
    plans: &mut [PlanView],
    old: &Input,
    new: &Input,
    diff: &BundleDiff,
    changes: &Changes,
) {
    let script_diff = |name: &str| {
        changes
            .artifacts
            .iter()
            .find(|c| c.kind == "plan script" && c.name == name)
            .and_then(|c| c.anchor.clone())
    };
    for (index, plan) in plans.iter_mut().enumerate() {
        let change = diff.build_plans.iter().find(|c| c.name == plan.name);
        plan.change = change.map(|c| label(c.change));
        plan.old_name = change.and_then(|c| c.old_name.clone());
        plan.details = change.map(|c| c.details.clone()).unwrap_or_default();
        let old_name = plan.old_name.clone().unwrap_or_else(|| plan.name.clone());
        let old_index = old
            .report
            .build_plans
            .iter()
            .position(|p| p.name == old_name);
        for step in &mut plan.steps {
            step.diff_anchor = script_diff(&step.script);
            // The step's script under its old name, when the diff says it was renamed.
            let was = diff
                .plan_scripts
                .iter()
                .find(|c| c.name == step.script && c.change != ChangeKind::Removed)
                .and_then(|c| c.old_name.clone());
            let before = old_index.is_some_and(|o| {
                old.report.build_plans[o]
                    .steps
                    .iter()
                    .any(|s| s.plan_script == step.script || was.as_deref() == Some(&s.plan_script))
            });
            step.change = match (before, was.is_some(), step.diff_anchor.is_some()) {
                (false, ..) => Some("added"),
                (true, _, true) => Some("changed"),
                (true, true, false) => Some("renamed"),
                (true, false, false) => None,
            };
        }
        mark_attributes(
            plan,
            old_index.map(|o| &old.report.build_plans[o].attributes),
        );
        if change.is_some() || plan.steps.iter().any(|s| s.change.is_some()) {
            let now = plan_graph(new, index);
            let before = old_index.map(|o| plan_graph(old, o)).unwrap_or_default();
            if !now.is_empty() || !before.is_empty() {
                let id = format!("g-{}", plan.anchor);
                plan.graph = Some(graph_view(&id, &now, Some(&before), tidy(new)));
            }
        }
    }
}

fn mark_attributes(
    plan: &mut PlanView,
    old: Option<&Vec<crate::bundle::inspect::AttributeSummary>>,
) {
    let Some(old) = old else {
        for a in &mut plan.attributes {
            a.change = Some("added");
        }
        return;
    };
    for a in &mut plan.attributes {
        a.change = match old.iter().find(|o| o.name == a.summary.name) {
            None => Some("added"),
            Some(o) if serde_json::to_value(o).ok() != serde_json::to_value(&a.summary).ok() => {
                Some("changed")
            }
            Some(_) => None,
        };
    }
    let removed: Vec<_> = old
        .iter()
        .filter(|o| !plan.attributes.iter().any(|a| a.summary.name == o.name))
        .collect();
    for o in removed {
        plan.attributes.push(super::page::AttributeView {
            anchor: format!("{}-attr-{}", plan.anchor, o.name),
            summary: o.clone(),
            used_by: Vec::new(),
            change: Some("removed"),
        });
    }
}

/// Side-by-side rows of a line diff: changed regions with three lines of context, a `gap` row
/// between regions.
pub fn side_by_side(old: &str, new: &str) -> Vec<Row> {
    let diff = similar::TextDiff::from_lines(old, new);
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let text = |lines: &[&str], i: usize| lines.get(i).copied().unwrap_or("").to_string();
    let mut rows = Vec::new();
    for (g, group) in diff.grouped_ops(3).into_iter().enumerate() {
        if g > 0 {
            rows.push(Row {
                tag: "gap",
                old_line: None,
                old: String::new(),
                new_line: None,
                new: String::new(),
            });
        }
        for op in group {
            let (tag, o, n) = op.as_tag_tuple();
            let tag = match tag {
                similar::DiffTag::Equal => "equal",
                similar::DiffTag::Delete => "delete",
                similar::DiffTag::Insert => "insert",
                similar::DiffTag::Replace => "replace",
            };
            for k in 0..o.len().max(n.len()) {
                let (oi, ni) = (o.start + k, n.start + k);
                rows.push(Row {
                    tag,
                    old_line: (k < o.len()).then_some(oi + 1),
                    old: if k < o.len() {
                        text(&old_lines, oi)
                    } else {
                        String::new()
                    },
                    new_line: (k < n.len()).then_some(ni + 1),
                    new: if k < n.len() {
                        text(&new_lines, ni)
                    } else {
                        String::new()
                    },
                });
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_by_side_pairs_replacements_and_keeps_context() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let new = "a\nb\nc\nd\nE\nf\ng\nh\ni\nj\nk\n";
        let rows = side_by_side(old, new);
        let replaced = rows.iter().find(|r| r.tag == "replace").unwrap();
        assert_eq!((replaced.old.as_str(), replaced.new.as_str()), ("e", "E"));
        assert_eq!((replaced.old_line, replaced.new_line), (Some(5), Some(5)));
        let inserted = rows.iter().find(|r| r.tag == "insert").unwrap();
        assert_eq!((inserted.old_line, inserted.new.as_str()), (None, "k"));
        assert!(rows.iter().all(|r| r.old != "a"), "context is three lines");
    }
}
