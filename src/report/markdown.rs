//! `diff` and `lint` as compact Markdown (GitHub-flavoured: a summary line, then one collapsible
//! `<details>` per artifact), for a pull request comment or a CI job summary.
use crate::bundle::diff::BundleDiff;
use crate::bundle::diff::{ChangeKind, EntryChange, FieldChange};
use crate::lint::{Report, Severity};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct DiffData<'a> {
    pub old: &'a str,
    pub new: &'a str,
    pub equal: bool,
    pub counts: Vec<(&'static str, usize)>,
    pub manifest: &'a [FieldChange],
    pub artifacts: Vec<ArtifactItem<'a>>,
    pub entries: &'a [EntryChange],
}

#[derive(Debug, Serialize)]
pub struct ArtifactItem<'a> {
    pub kind: &'static str,
    pub change: ChangeKind,
    pub name: &'a str,
    pub old_name: Option<&'a str>,
    pub details: &'a [String],
    pub content_diff: Option<&'a str>,
}

pub fn diff_data<'a>(old: &'a str, new: &'a str, diff: &'a BundleDiff) -> DiffData<'a> {
    let artifacts: Vec<ArtifactItem> = diff
        .artifact_changes()
        .map(|(kind, c)| ArtifactItem {
            kind,
            change: c.change,
            name: &c.name,
            old_name: c.old_name.as_deref(),
            details: &c.details,
            content_diff: c.content_diff.as_deref(),
        })
        .collect();
    let count = |k: ChangeKind| artifacts.iter().filter(|a| a.change == k).count();
    DiffData {
        old,
        new,
        equal: diff.is_empty(),
        counts: vec![
            ("added", count(ChangeKind::Added)),
            ("removed", count(ChangeKind::Removed)),
            ("renamed", count(ChangeKind::Renamed)),
            ("changed", count(ChangeKind::Changed)),
        ],
        manifest: &diff.manifest,
        artifacts,
        entries: &diff.entries,
    }
}

#[derive(Debug, Serialize)]
pub struct LintData {
    pub summary: String,
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
    pub notices: Vec<String>,
    pub groups: Vec<LintGroup>,
}

/// The findings about one artifact.
#[derive(Debug, Serialize)]
pub struct LintGroup {
    pub kind: String,
    pub artifact: String,
    pub worst: Severity,
    pub findings: Vec<LintRow>,
}

#[derive(Debug, Serialize)]
pub struct LintRow {
    pub severity: Severity,
    pub rule: String,
    pub location: String,
    pub message: String,
    pub help: &'static str,
}

/// Findings grouped per artifact (in report order), worst first within the page.
pub fn lint_data(report: &Report) -> LintData {
    let mut groups: Vec<LintGroup> = Vec::new();
    for f in &report.findings {
        let kind = f.artifact_kind.to_string();
        let index = match groups
            .iter()
            .position(|g| g.kind == kind && g.artifact == f.artifact)
        {
            Some(i) => i,
            None => {
                groups.push(LintGroup {
                    kind,
                    artifact: f.artifact.clone(),
                    worst: f.severity,
                    findings: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let group = &mut groups[index];
        group.worst = group.worst.max(f.severity);
        group.findings.push(LintRow {
            severity: f.severity,
            rule: match &f.code {
                Some(code) => format!("{}/{code}", f.rule),
                None => f.rule.clone(),
            },
            location: f.place.to_string(),
            message: f.message.clone(),
            help: f.help(),
        });
    }
    groups.sort_by_key(|g| std::cmp::Reverse(g.worst));
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    LintData {
        summary: crate::lint::output::summary(report),
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        notes: count(Severity::Note),
        notices: report.notices.clone(),
        groups,
    }
}

/// A table cell: one line, `|` escaped, HTML-escaped (GitHub renders inline HTML in cells).
pub fn cell(value: String) -> String {
    let one_line = value.replace(['\n', '\r'], " ");
    let escaped = minijinja::HtmlEscape(&one_line).to_string();
    escaped.replace('|', "\\|")
}

/// A fenced code block around `value` whose fence no run of backticks inside can close.
pub fn fence(value: String, language: Option<String>) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in value.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let ticks = "`".repeat((longest + 1).max(3));
    let body = value.trim_end_matches('\n');
    format!("{ticks}{}\n{body}\n{ticks}", language.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_stay_one_escaped_line_and_fences_outlast_backticks() {
        assert_eq!(cell("a|b\n<c>".into()), "a\\|b &lt;c&gt;");
        assert_eq!(
            fence("x ``` y\n".into(), Some("diff".into())),
            "````diff\nx ``` y\n````"
        );
    }
}
