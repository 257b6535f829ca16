//! Host rules (I3S044–I3S045): a plan script changes the image and nothing else.
//!
//! I3S044: constructs that reach the machine running guestfish (`!`, `<!`, `| cmd`, host file
//! arguments, host built-ins; the list is `guestfish::host`'s). I3S045: a placeholder on a
//! guestfish command line whose attribute accepts values that change the line's structure (a
//! blank, a quote, a leading `|`, an empty value): the appliance substitutes values into the
//! script's text before guestfish parses it, so such a value is code.
use super::target::{ScriptView, Target};
use super::{ArtifactKind, Sink};
use crate::bundle::{AttributeType, CustomAttribute, attribute};
use crate::guestfish::host::host_escapes;
use crate::placeholder;
use std::collections::BTreeSet;

/// Values that change a command line's structure wherever a placeholder stands on it. An
/// attribute is safe there when its type and constraints reject every one of them.
const STRUCTURAL_PROBES: &[&str] = &[
    "", "a b", "a\tb", "a\"b", "\"", "a'b", "'", "|a", "| a", "a\nb",
];

pub fn check(target: &Target, sink: &mut Sink) {
    for view in &target.scripts {
        for escape in host_escapes(&view.parsed) {
            sink.at_script(
                "I3S044",
                view,
                escape.line,
                column(view, escape.line, &escape.construct),
                format!(
                    "plan script {:?}: `{}` {}",
                    view.script.name, escape.construct, escape.effect
                ),
            );
        }
    }
    injectable_placeholders(target, sink);
}

fn injectable_placeholders(target: &Target, sink: &mut Sink) {
    let mut reported = BTreeSet::new();
    for plan in &target.bundle.build_plans {
        for view in target.steps(plan).into_iter().flatten() {
            for p in placeholder::scan(&view.script.content) {
                if in_heredoc_body(view, p.line) {
                    continue;
                }
                let attribute = plan.custom_attributes.iter().find(|a| a.name == p.name);
                if attribute.is_some_and(rejects_structural_values)
                    || !reported.insert((view.script.id.clone(), p.line, p.key()))
                {
                    continue;
                }
                let kind = attribute.map_or("undeclared".to_string(), |a| {
                    a.attribute_type.as_str().to_string()
                });
                sink.at_script_as(
                    "I3S045",
                    view,
                    ArtifactKind::PlanScript,
                    &view.script.name,
                    p.line,
                    Some(p.column),
                    p.key().len() + 2,
                    format!(
                        "plan script {:?}: @{}@ ({kind}, build plan {:?}) stands on a guestfish command line, where a value with a blank, a quote or a leading `|` changes the command",
                        view.script.name,
                        p.key(),
                        plan.name
                    ),
                );
            }
        }
    }
}

/// Whether no value the attribute accepts can change a command line's structure.
fn rejects_structural_values(attribute: &CustomAttribute) -> bool {
    if matches!(attribute.attribute_type, AttributeType::Password) {
        // Password values are never checked against a pattern by the appliance UI.
        return false;
    }
    STRUCTURAL_PROBES.iter().all(|probe| {
        attribute::check_value(&attribute.attribute_type, &attribute.constraints, probe).is_err()
    })
}

fn in_heredoc_body(view: &ScriptView, line: usize) -> bool {
    view.parsed.commands.iter().any(|c| {
        c.heredoc
            .as_ref()
            .is_some_and(|h| line >= h.body_line && h.end_line.is_none_or(|end| line <= end))
    })
}

fn column(view: &ScriptView, line: usize, construct: &str) -> Option<usize> {
    let text = view.script.content.split('\n').nth(line.checked_sub(1)?)?;
    let byte = text.find(construct)?;
    Some(text[..byte].chars().count() + 1)
}
