//! Here-document rules (I3S030–I3S035): every `upload -<<TAG path` is closed by `TAG` alone on a
//! line, holds no nested `upload -<<`, has no `- <<` space, targets an absolute path; no CRLF.
use super::target::Target;
use super::{ArtifactKind, Sink};
use crate::guestfish::ProblemKind;

pub fn check(target: &Target, sink: &mut Sink) {
    for view in &target.scripts {
        let name = &view.script.name;
        for problem in &view.parsed.problems {
            let id = match &problem.kind {
                ProblemKind::UnterminatedHereDoc { .. } => "I3S030",
                ProblemKind::NestedHereDoc { .. } => "I3S031",
                ProblemKind::SpacedHereDoc | ProblemKind::EmptyHereDocTag => "I3S032",
                ProblemKind::TerminatorNotAlone { .. } => "I3S034",
                ProblemKind::CarriageReturn => "I3S035",
                ProblemKind::UnterminatedQuote | ProblemKind::QuoteNotSeparated => continue,
            };
            let width = match &problem.kind {
                ProblemKind::NestedHereDoc { .. } => "upload".len(),
                _ => 1,
            };
            sink.at_script_as(
                id,
                view,
                ArtifactKind::PlanScript,
                name,
                problem.line,
                problem.column,
                width,
                format!("plan script {name:?}: {}", problem.message),
            );
        }
        for command in &view.parsed.commands {
            let Some(doc) = &command.heredoc else {
                continue;
            };
            if !doc.path.starts_with('/') {
                let what = if doc.path.is_empty() {
                    "no target path".to_string()
                } else {
                    format!("target path {:?} is not absolute", doc.path)
                };
                sink.at_script(
                    "I3S033",
                    view,
                    command.line,
                    None,
                    format!(
                        "plan script {name:?}: here-document `{}` has {what}",
                        doc.tag
                    ),
                );
            }
        }
    }
}
