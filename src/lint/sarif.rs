//! SARIF 2.1.0 output (for GitHub code scanning). Findings in source files get a physical
//! location with a region; findings inside a zip point at the zip (the artifact) and carry the
//! entry and content line as a logical location, since lines of a zip are meaningless.
use super::{Report, Severity, rules::RULES};
use serde_json::{Value, json};

pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// A relative, forward-slash URI for a path (GitHub wants repository-relative paths).
fn uri(path: &std::path::Path) -> String {
    let cwd = std::env::current_dir().ok();
    let relative = cwd
        .as_deref()
        .and_then(|c| path.strip_prefix(c).ok())
        .unwrap_or(path);
    relative
        .to_string_lossy()
        .replace('\\', "/")
        .replace(' ', "%20")
}

pub fn sarif(report: &Report) -> String {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.help},
                "fullDescription": {"text": r.explain},
                "help": {"text": r.help},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"family": r.family},
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let rule_index = RULES.iter().position(|r| r.id == f.rule).unwrap_or(0);
            let mut physical = json!({"artifactLocation": {"uri": uri(&f.place.file)}});
            let mut logical = vec![json!({"name": f.artifact, "kind": "module"})];
            match (&f.place.entry, f.place.line) {
                (None, Some(line)) => {
                    let mut region = json!({"startLine": line});
                    if let Some(column) = f.place.column {
                        region["startColumn"] = json!(column);
                        region["endColumn"] = json!(column + f.width.max(1));
                    }
                    if let Some(text) = &f.snippet {
                        region["snippet"] = json!({"text": text});
                    }
                    physical["region"] = region;
                }
                (Some(entry), line) => {
                    let name = match line {
                        Some(line) => format!("{entry}:content:{line}"),
                        None => entry.clone(),
                    };
                    logical.push(json!({"name": name, "kind": "resource"}));
                }
                (None, None) => {}
            }
            let mut result = json!({
                "ruleId": f.rule,
                "ruleIndex": rule_index,
                "level": level(f.severity),
                "message": {"text": format!("{} ({})", f.message, f.place)},
                "locations": [{"physicalLocation": physical, "logicalLocations": logical}],
            });
            if let Some(code) = &f.code {
                result["properties"] = json!({"code": code});
            }
            result
        })
        .collect();
    let notifications: Vec<Value> = report
        .notices
        .iter()
        .map(|n| json!({"level": "warning", "message": {"text": n}}))
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "i3s-bundle lint",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": true,
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
