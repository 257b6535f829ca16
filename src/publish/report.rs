//! The publish report: every object, what was (or would be) done to it, its URI.
use serde::Serialize;
use serde_json::Value;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    ArtifactBundle,
    PlanScript,
    BuildPlan,
    GoldenImage,
    DeploymentPlan,
    ServerProfileTemplate,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::ArtifactBundle => "artifact bundle",
            Kind::PlanScript => "plan script",
            Kind::BuildPlan => "build plan",
            Kind::GoldenImage => "golden image",
            Kind::DeploymentPlan => "deployment plan",
            Kind::ServerProfileTemplate => "profile template",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Bundle absent: upload it.
    Upload,
    /// Bundle present with other content and `--replace`: delete and upload.
    Replace,
    /// Bundle uploaded (now or before) whose artifacts are missing or differ: extract it.
    Extract,
    Create,
    Update,
    Unchanged,
}

impl Action {
    pub fn is_change(self) -> bool {
        self != Action::Unchanged
    }
}

/// One field that differs: where, the value now, the value wanted.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Change {
    pub field: String,
    pub from: Value,
    pub to: Value,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ObjectReport {
    pub kind: Kind,
    pub name: String,
    pub action: Action,
    /// The appliance URI (known once the object exists).
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Whether the action has been carried out (false in a dry run and after a failure).
    pub applied: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Everything planned was done (or, in a dry run, could be planned).
    Done,
    /// Something failed; `applied` says what was done before.
    Failed,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub dry_run: bool,
    pub outcome: Outcome,
    /// True when anything was (or, in a dry run, would be) written.
    pub changed: bool,
    pub objects: Vec<ObjectReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl Report {
    pub fn new(dry_run: bool) -> Self {
        Report {
            dry_run,
            outcome: Outcome::Done,
            changed: false,
            objects: Vec::new(),
            error: None,
            warnings: Vec::new(),
        }
    }

    pub fn fail(&mut self, error: impl Into<String>) {
        self.outcome = Outcome::Failed;
        self.error = Some(error.into());
    }

    pub fn finish(&mut self) {
        self.changed = self
            .objects
            .iter()
            .any(|o| o.action.is_change() && (o.applied || self.dry_run));
    }

    /// The human summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for o in &self.objects {
            render_object(&mut out, o, self.dry_run);
        }
        for w in &self.warnings {
            let _ = writeln!(out, "warning: {w}");
        }
        self.render_summary(&mut out);
        out
    }

    /// The last lines: what changed, or what failed and what was applied before.
    fn render_summary(&self, out: &mut String) {
        let count = |a: fn(Action) -> bool| self.objects.iter().filter(|o| a(o.action)).count();
        let changed = count(Action::is_change);
        let unchanged = count(|a| a == Action::Unchanged);
        match (self.outcome, self.dry_run) {
            (Outcome::Done, true) => {
                let _ = writeln!(
                    out,
                    "dry run: {changed} change(s) planned, {unchanged} unchanged; nothing was written"
                );
            }
            (Outcome::Done, false) if changed == 0 => {
                let _ = writeln!(
                    out,
                    "published: no change ({unchanged} objects already as wanted)"
                );
            }
            (Outcome::Done, false) => {
                let _ = writeln!(
                    out,
                    "published: {changed} change(s) applied, {unchanged} unchanged"
                );
            }
            (Outcome::Failed, _) => {
                let applied: Vec<String> = self
                    .objects
                    .iter()
                    .filter(|o| o.applied && o.action.is_change())
                    .map(|o| {
                        let action = format!("{:?}", o.action).to_lowercase();
                        format!("{} {action} {}", o.kind.label(), o.name)
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "FAILED: {}",
                    self.error.as_deref().unwrap_or("unknown error")
                );
                if applied.is_empty() {
                    let _ = writeln!(out, "nothing was changed before the failure");
                } else {
                    let _ = writeln!(out, "applied before the failure: {}", applied.join("; "));
                }
            }
        }
    }
}

/// One object's line, its changes (long texts as diffs) and its note.
fn render_object(out: &mut String, o: &ObjectReport, dry_run: bool) {
    let state = match (o.action, o.applied, dry_run) {
        (Action::Unchanged, _, _) => "",
        (_, true, _) => "",
        (_, false, true) => " (planned)",
        (_, false, false) => " (NOT applied)",
    };
    let _ = writeln!(
        out,
        "{:<17} {:<10} {}{state}{}",
        o.kind.label(),
        format!("{:?}", o.action).to_lowercase(),
        o.name,
        o.uri
            .as_deref()
            .map(|u| format!("  {u}"))
            .unwrap_or_default()
    );
    for c in &o.changes {
        match text_diff(c) {
            Some(diff) => {
                let _ = writeln!(out, "    {}:", c.field);
                for line in diff.lines() {
                    let _ = writeln!(out, "      {line}");
                }
            }
            None => {
                let _ = writeln!(
                    out,
                    "    {}: {} → {}",
                    c.field,
                    short(&c.from.to_string()),
                    short(&c.to.to_string())
                );
            }
        }
    }
    if let Some(note) = &o.note {
        let _ = writeln!(out, "    note: {note}");
    }
}

/// A text too long for one line (a plan script's content) as a unified diff, appliance side
/// first: both values cut to their first 120 characters would often look the same.
pub(super) fn text_diff(change: &Change) -> Option<String> {
    let (from, to) = (change.from.as_str()?, change.to.as_str()?);
    let long = |s: &str| s.contains('\n') || s.chars().count() > SHORT;
    if !long(from) && !long(to) {
        return None;
    }
    Some(
        similar::TextDiff::from_lines(from, to)
            .unified_diff()
            .context_radius(3)
            .header("on the appliance", "in the bundle")
            .to_string(),
    )
}

/// Values longer than this many characters are cut in the human report.
const SHORT: usize = 120;

fn short(text: &str) -> String {
    if text.chars().count() > SHORT {
        format!("{}…", text.chars().take(SHORT).collect::<String>())
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_long_text_change_shows_both_sides_where_they_differ() {
        let start = "x".repeat(SHORT + 10);
        let mut report = Report::new(true);
        report.objects.push(ObjectReport {
            kind: Kind::PlanScript,
            name: "s".into(),
            action: Action::Update,
            uri: None,
            changes: vec![Change {
                field: "content".into(),
                from: json!(format!("{start} old")),
                to: json!(format!("{start} new")),
            }],
            applied: false,
            note: None,
        });
        let text = report.render();
        assert!(
            text.contains(&format!("      -{start} old\n"))
                && text.contains(&format!("      +{start} new\n")),
            "{text}"
        );
    }
}
