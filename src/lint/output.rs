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

/// Machine-readable JSON: findings (with their rule's help), notices and counts.
pub fn json(report: &Report) -> String {
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut value = serde_json::to_value(f).unwrap_or_default();
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "rule_name".into(),
                    rule(&f.rule).map_or("", |r| r.name).into(),
                );
                object.insert("help".into(), f.help().into());
                object.insert("location".into(), f.place.to_string().into());
            }
            value
        })
        .collect();
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    let doc = serde_json::json!({
        "tool": "i3s-bundle lint",
        "version": env!("CARGO_PKG_VERSION"),
        "inputs": report.inputs,
        "findings": findings,
        "notices": report.notices,
        "summary": {"errors": count(Severity::Error), "warnings": count(Severity::Warning), "notes": count(Severity::Note), "allowed": report.suppressed},
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
