//! Renders a report: human (rustc-like: location, caret, help) and JSON. SARIF is in `sarif`.
use super::{Finding, Report, Severity, rule};
use std::fmt::Write;

/// rustc-like text: one block per finding, then notices and a summary line.
pub fn human(report: &Report) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        render_finding(&mut out, finding);
    }
    for notice in &report.notices {
        let _ = writeln!(out, "notice: {notice}\n");
    }
    let _ = writeln!(out, "{}", summary(report));
    out
}

fn render_finding(out: &mut String, f: &Finding) {
    let code = f.code.as_ref().map(|c| format!("/{c}")).unwrap_or_default();
    let _ = writeln!(out, "{}[{}{code}]: {}", f.severity, f.rule, f.message);
    let _ = writeln!(out, "  --> {}", f.place);
    if let (Some(line), Some(text)) = (f.place.line, &f.snippet) {
        let number = line.to_string();
        let pad = " ".repeat(number.len());
        let shown: String = text.replace('\t', "    ");
        let _ = writeln!(out, "{pad} |");
        let _ = writeln!(out, "{number} | {shown}");
        let column = f
            .place
            .column
            .unwrap_or_else(|| text.chars().take_while(|c| c.is_whitespace()).count() + 1);
        let before: String = text
            .chars()
            .take(column.saturating_sub(1))
            .map(|c| if c == '\t' { "    " } else { " " })
            .collect();
        let width = if f.place.column.is_some() {
            f.width
        } else {
            text.trim().chars().count().max(1)
        };
        let _ = writeln!(out, "{pad} | {before}{}", "^".repeat(width.max(1)));
        let _ = writeln!(out, "{pad} = help: {}", f.help());
    } else {
        let _ = writeln!(out, "   = help: {}", f.help());
    }
    out.push('\n');
}

pub fn summary(report: &Report) -> String {
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    let suppressed = if report.suppressed > 0 {
        format!(" ({} allowed)", report.suppressed)
    } else {
        String::new()
    };
    format!(
        "{}, {}, {} in {}{suppressed}",
        plural(count(Severity::Error), "error"),
        plural(count(Severity::Warning), "warning"),
        plural(count(Severity::Note), "note"),
        plural(report.inputs.len(), "input"),
    )
}

/// `lint --json`: findings (with their rule's help), notices and counts.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct LintJson<'a> {
    /// Always "i3s-bundle lint".
    pub tool: &'static str,
    pub version: &'static str,
    pub inputs: &'a [std::path::PathBuf],
    pub findings: Vec<FindingJson<'a>>,
    pub notices: &'a [String],
    pub summary: Summary,
}

/// A finding as `lint --json` prints it: the finding, its rule's name and help, and its place
/// as one `file[!entry[ content]][:line[:column]]` string.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct FindingJson<'a> {
    #[serde(flatten)]
    pub finding: &'a Finding,
    pub rule_name: &'static str,
    pub help: &'static str,
    pub location: String,
}

#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub notes: usize,
    /// Findings dropped by allow lists.
    pub allowed: usize,
}

pub fn json_report(report: &Report) -> LintJson<'_> {
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    LintJson {
        tool: "i3s-bundle lint",
        version: env!("CARGO_PKG_VERSION"),
        inputs: &report.inputs,
        findings: report
            .findings
            .iter()
            .map(|f| FindingJson {
                finding: f,
                rule_name: rule(&f.rule).map_or("", |r| r.name),
                help: f.help(),
                location: f.place.to_string(),
            })
            .collect(),
        notices: &report.notices,
        summary: Summary {
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            notes: count(Severity::Note),
            allowed: report.suppressed,
        },
    }
}

/// Machine-readable JSON (see [`LintJson`]).
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(&json_report(report)).unwrap_or_default() + "\n"
}
