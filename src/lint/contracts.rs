//! Contracts between steps (I3S060–I3S061): a marker file a first-boot script tests for must be
//! written by an earlier step of the same build plan (the `.DAS.consumed` bug); a container used
//! by name (`docker exec NAME`) must be started by an earlier step.
use super::effects::{Effects, basename};
use super::target::{ScriptView, Target};
use super::{ArtifactKind, Sink};
use crate::bundle::BuildPlan;
use regex::Regex;
use std::sync::LazyLock;

static MARKER_TEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:\[\[?|\btest)\s+(?:!\s+)?-[efs]\s+"?(/[^\s"\];|&)]+)"#)
        .expect("marker test pattern")
});
static FILE_WRITE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:>>?|\btee(?:\s+-a)?|\btouch|\b(?:cp|mv|install)\s+(?:-\S+\s+)*\S+)\s*"?(/[^\s"';|&)]+)"#)
        .expect("file write pattern")
});
static DOCKER_EXEC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\bdocker\s+exec\s+((?:-[A-Za-z]+\s+)*)"?([A-Za-z0-9][\w.-]*)"#)
        .expect("docker exec")
});
static DOCKER_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"\bdocker\s+(?:run|create)\b[^\n]*?--name(?:=|\s+)["']?([A-Za-z0-9][\w.-]*)"#)
        .expect("docker name")
});

/// A marker is a hidden file or one whose name says so; system files (`/proc/...`,
/// `/usr/sbin/ntpq`) are facts about the machine, not contracts between steps.
fn is_marker(path: &str) -> bool {
    let name = basename(path);
    (name.starts_with('.') && name.len() > 1)
        || ["marker", ".done", ".consumed", ".installed"]
            .iter()
            .any(|m| name.contains(m))
}

/// A line of shell inside an uploaded file: (step, content line, text).
fn shell_lines<'v>(steps: &[&'v ScriptView<'v>]) -> Vec<ShellLine<'v>> {
    let mut lines = Vec::new();
    for (step, view) in steps.iter().enumerate() {
        for command in &view.parsed.commands {
            if let Some(doc) = &command.heredoc {
                for (line, text) in doc.lines() {
                    let code = text.trim_start();
                    if !code.starts_with('#') {
                        lines.push((step, *view, line, text));
                    }
                }
            }
        }
    }
    lines
}

pub fn check(target: &Target, sink: &mut Sink) {
    for plan in &target.bundle.build_plans {
        let steps: Vec<&ScriptView> = target.steps(plan).into_iter().flatten().collect();
        let lines = shell_lines(&steps);
        let effects = Effects::of(&steps);
        check_markers(plan, &lines, &effects, sink);
        check_containers(plan, &lines, sink);
    }
}

/// A shell line of a plan's here-documents: step index, script, content line, text.
type ShellLine<'v> = (usize, &'v ScriptView<'v>, usize, &'v str);

/// Whether `found` (path or name, step, line) has `what` before the given step and line.
fn earlier(found: &[(String, usize, usize)], what: &str, step: usize, line: usize) -> bool {
    found
        .iter()
        .any(|(p, s, l)| p == what && (*s < step || *s == step && *l < line))
}

/// I3S060: a step tests for a marker file no earlier step writes.
fn check_markers(plan: &BuildPlan, lines: &[ShellLine], effects: &Effects, sink: &mut Sink) {
    let mut producers: Vec<(String, usize, usize)> = Vec::new();
    for (step, _, line, text) in lines {
        for caps in FILE_WRITE.captures_iter(text) {
            producers.push((caps[1].to_string(), *step, *line));
        }
    }
    producers.extend(
        effects
            .files
            .iter()
            .map(|f| (f.path.clone(), f.at.step, f.at.line)),
    );

    let mut reported = std::collections::HashSet::new();
    for (step, view, line, text) in lines {
        for caps in MARKER_TEST.captures_iter(text) {
            let path = &caps[1];
            if !is_marker(path)
                || earlier(&producers, path, *step, *line)
                || !reported.insert(path.to_string())
            {
                continue;
            }
            let column = caps.get(1).map(|m| text[..m.start()].chars().count() + 1);
            let later = producers
                .iter()
                .find(|(p, s, _)| p == path && *s != *step)
                .map(|(_, s, _)| format!(" (step {} writes it, too late)", s + 1))
                .unwrap_or_default();
            sink.at_script_as(
                "I3S060",
                view,
                ArtifactKind::BuildPlan,
                &plan.name,
                *line,
                column,
                path.chars().count(),
                format!(
                    "build plan {:?}: step {} ({:?}) tests for marker {path}, but no earlier step writes it{later}",
                    plan.name,
                    step + 1,
                    view.script.name
                ),
            );
        }
    }
}

/// I3S061: `docker exec` into a container no earlier step starts.
fn check_containers(plan: &BuildPlan, lines: &[ShellLine], sink: &mut Sink) {
    let mut started: Vec<(String, usize, usize)> = Vec::new();
    for (step, _, line, text) in lines {
        for caps in DOCKER_NAME.captures_iter(text) {
            started.push((caps[1].to_string(), *step, *line));
        }
    }
    let mut reported = std::collections::HashSet::new();
    for (step, view, line, text) in lines {
        for caps in DOCKER_EXEC.captures_iter(text) {
            let name = &caps[2];
            if earlier(&started, name, *step, *line) || !reported.insert(name.to_string()) {
                continue;
            }
            let column = caps.get(2).map(|m| text[..m.start()].chars().count() + 1);
            sink.at_script_as(
                "I3S061",
                view,
                ArtifactKind::BuildPlan,
                &plan.name,
                *line,
                column,
                name.len(),
                format!(
                    "build plan {:?}: step {} ({:?}) runs `docker exec {name}`, but no earlier step starts a container named {name}",
                    plan.name,
                    step + 1,
                    view.script.name
                ),
            );
        }
    }
}
