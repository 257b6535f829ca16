//! guestfish rules (I3S040–I3S043): every line outside here-documents and comments is a known
//! guestfish command with a plausible argument count; quoting; no appliance setup commands.
use super::Sink;
use super::target::Target;
use crate::guestfish::ProblemKind;
use crate::guestfish::commands::{self, Effect};

pub fn check(target: &Target, sink: &mut Sink) {
    for view in &target.scripts {
        let name = &view.script.name;
        for problem in &view.parsed.problems {
            if matches!(
                problem.kind,
                ProblemKind::UnterminatedQuote | ProblemKind::QuoteNotSeparated
            ) {
                sink.at_script(
                    "I3S042",
                    view,
                    problem.line,
                    problem.column,
                    format!("plan script {name:?}: {}", problem.message),
                );
            }
        }
        for command in &view.parsed.commands {
            if matches!(command.name.as_str(), "!" | "<!") {
                continue; // a host shell line, reported by I3S044
            }
            let (inner, args) = commands::unprefix(&command.name, &command.args);
            let column = view
                .script
                .content
                .split('\n')
                .nth(command.line - 1)
                .and_then(|l| l.find(inner))
                .map(|c| c + 1);
            let Some(spec) = commands::lookup(inner) else {
                let hint = commands::suggest(inner)
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let ignored = if command.ignore_errors {
                    "; the leading `-` only hides the failure"
                } else {
                    ""
                };
                sink.at_script_as(
                    "I3S040",
                    view,
                    super::ArtifactKind::PlanScript,
                    name,
                    command.line,
                    column,
                    inner.chars().count(),
                    format!(
                        "plan script {name:?}: `{inner}` is not a guestfish command{hint}{ignored}"
                    ),
                );
                continue;
            };
            if !spec.accepts(args.len()) {
                sink.at_script_as(
                    "I3S041",
                    view,
                    super::ArtifactKind::PlanScript,
                    name,
                    command.line,
                    column,
                    inner.len(),
                    format!(
                        "plan script {name:?}: `{inner}` takes {}, found {}",
                        spec.arity(),
                        args.len()
                    ),
                );
            }
            if spec.effect == Effect::Setup {
                sink.at_script_as(
                    "I3S043",
                    view,
                    super::ArtifactKind::PlanScript,
                    name,
                    command.line,
                    column,
                    inner.len(),
                    format!("plan script {name:?}: `{inner}` sets up guestfish; the appliance does that before the plan runs"),
                );
            }
        }
    }
}
