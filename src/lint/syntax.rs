//! guestfish rules (I3S040–I3S043): every line outside here-documents and comments is a known
//! guestfish command with a plausible argument count; quoting; no appliance setup commands.
use super::target::{ScriptView, Target};
use super::{ArtifactKind, Sink};
use crate::guestfish::commands::{self, Effect};
use crate::guestfish::{Command, ProblemKind};

pub fn check(target: &Target, sink: &mut Sink) {
    for view in &target.scripts {
        check_quotes(view, sink);
        for command in &view.parsed.commands {
            if matches!(command.name.as_str(), "!" | "<!") {
                continue; // a host shell line, reported by I3S044
            }
            check_command(view, command, sink);
        }
    }
}

/// I3S042: an unterminated quote, or one not separated from its neighbours.
fn check_quotes(view: &ScriptView, sink: &mut Sink) {
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
}

/// I3S040, I3S041 and I3S043 on one guestfish command: unknown, wrong argument count, setup.
fn check_command(view: &ScriptView, command: &Command, sink: &mut Sink) {
    let name = &view.script.name;
    let (inner, args) = commands::unprefix(&command.name, &command.args);
    let column = view
        .script
        .content
        .split('\n')
        .nth(command.line - 1)
        .and_then(|l| l.find(inner))
        .map(|c| c + 1);
    let at_command = |sink: &mut Sink, id: &str, width: usize, message: String| {
        sink.at_script_as(
            id,
            view,
            ArtifactKind::PlanScript,
            name,
            command.line,
            column,
            width,
            message,
        );
    };
    let Some(spec) = commands::lookup(inner) else {
        let hint = commands::suggest(inner)
            .map(|s| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default();
        let ignored = if command.ignore_errors {
            "; the leading `-` only hides the failure"
        } else {
            ""
        };
        at_command(
            sink,
            "I3S040",
            inner.chars().count(),
            format!("plan script {name:?}: `{inner}` is not a guestfish command{hint}{ignored}"),
        );
        return;
    };
    if !spec.accepts(args.len()) {
        at_command(
            sink,
            "I3S041",
            inner.len(),
            format!(
                "plan script {name:?}: `{inner}` takes {}, found {}",
                spec.arity(),
                args.len()
            ),
        );
    }
    if spec.effect == Effect::Setup {
        at_command(
            sink,
            "I3S043",
            inner.len(),
            format!(
                "plan script {name:?}: `{inner}` sets up guestfish; the appliance does that before the plan runs"
            ),
        );
    }
}
