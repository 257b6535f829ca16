//! Shell rules (I3S070–I3S072) on the bash/sh files plan scripts upload: shellcheck (with
//! placeholders replaced by typed sample values, findings mapped back to the plan-script line),
//! a literal newline inside a `sed` s-command, unterminated shell here-documents.
use super::target::{ScriptView, Target};
use super::{ArtifactKind, Severity, Sink};
use crate::bundle::CustomAttribute;
use crate::error::{Error, Result};
use crate::guestfish::HereDoc;
use crate::placeholder;
use regex::Regex;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{LazyLock, Mutex};

/// The shell a here-document body is written for, from its shebang (`#!/bin/bash`, `#! /bin/sh`,
/// `#!/usr/bin/env bash`).
pub fn shell_of(body: &str) -> Option<&'static str> {
    let first = body.lines().next()?.trim();
    let interpreter = first.strip_prefix("#!")?.trim();
    let mut words = interpreter.split_whitespace();
    let mut program = words.next()?;
    if program.ends_with("/env") {
        program = words.next()?;
    }
    match program.rsplit('/').next()? {
        "bash" => Some("bash"),
        "sh" | "dash" => Some("sh"),
        "ksh" => Some("ksh"),
        _ => None,
    }
}

/// Every (plan script, here-document) whose body is a shell script.
pub fn shell_bodies<'t>(
    target: &'t Target,
) -> Vec<(&'t ScriptView<'t>, &'t HereDoc, &'static str)> {
    let mut found = Vec::new();
    for view in &target.scripts {
        for command in &view.parsed.commands {
            if let Some(doc) = &command.heredoc
                && let Some(shell) = shell_of(&doc.body)
            {
                found.push((view, doc, shell));
            }
        }
    }
    found
}

static SED_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|[\s;|&(`])sed\s").expect("sed pattern"));
static SHELL_HEREDOC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[^<])<<(-?)\s*(['"]?)([A-Za-z_][A-Za-z0-9_]*)(['"]?)"#)
        .expect("heredoc pattern")
});

pub fn check(target: &Target, sink: &mut Sink) {
    for (view, doc, _) in shell_bodies(target) {
        sed_newlines(view, doc, sink);
        shell_heredocs(view, doc, sink);
    }
}

/// I3S071: a quoted sed expression that starts an `s` command and spans lines.
fn sed_newlines(view: &ScriptView, doc: &HereDoc, sink: &mut Sink) {
    let body = &doc.body;
    for found in SED_START.find_iter(body) {
        let start = found.end();
        let mut chars = body[start..].char_indices().peekable();
        while let Some((offset, c)) = chars.next() {
            match c {
                '\n' | ';' | '|' | '&' => break,
                '\'' | '"' => {
                    let open = start + offset + 1;
                    let Some(close) = body[open..].find(c).map(|i| open + i) else {
                        break;
                    };
                    let expression = &body[open..close];
                    let is_substitution =
                        expression
                            .trim_start()
                            .strip_prefix('s')
                            .is_some_and(|rest| {
                                rest.chars().next().is_some_and(|d| {
                                    !d.is_alphanumeric() && !d.is_whitespace() && d != '\\'
                                })
                            });
                    if expression.contains('\n') && is_substitution {
                        let line = doc.body_line
                            + body[..found.start()].matches('\n').count()
                            + usize::from(body[found.start()..].starts_with('\n'));
                        let line_start = body[..start].rfind('\n').map_or(0, |p| p + 1);
                        let column = body[line_start..open].chars().count();
                        sink.at_script_as(
                            "I3S071",
                            view,
                            ArtifactKind::PlanScript,
                            &view.script.name,
                            line,
                            Some(column),
                            1,
                            format!(
                                "plan script {:?}: `sed` s-command holds a literal newline (continues on line {}): GNU sed fails with \"unterminated `s' command\"",
                                view.script.name,
                                line + expression.matches('\n').count()
                            ),
                        );
                    }
                    // Skip past the quoted part.
                    while chars.peek().is_some_and(|(o, _)| start + o <= close) {
                        chars.next();
                    }
                }
                _ => {}
            }
        }
    }
}

/// I3S072: `cat <<EOF` with no `EOF` line in the rest of the script.
fn shell_heredocs(view: &ScriptView, doc: &HereDoc, sink: &mut Sink) {
    let lines: Vec<(usize, &str)> = doc.lines().collect();
    for (index, (line, text)) in lines.iter().enumerate() {
        let code = text.trim_start();
        // Comments, and nested guestfish uploads (I3S031 reports those).
        if code.starts_with('#') || code.trim_start_matches('-').starts_with("upload ") {
            continue;
        }
        for caps in SHELL_HEREDOC.captures_iter(text) {
            if caps[2] != caps[4] {
                continue;
            }
            let word = &caps[3];
            let tabs_allowed = &caps[1] == "-";
            let closed = lines[index + 1..]
                .iter()
                .any(|(_, l)| *l == word || tabs_allowed && l.trim_start_matches('\t') == word);
            if !closed {
                sink.at_script(
                    "I3S072",
                    view,
                    *line,
                    caps.get(3).map(|m| text[..m.start()].chars().count() + 1),
                    format!(
                        "plan script {:?}: shell here-document `{word}` is never closed in {}",
                        view.script.name, doc.path
                    ),
                );
            }
        }
    }
}

/// A sample value of the attribute's type (bundle::attribute owns the samples), so shellcheck
/// sees realistic code.
pub fn sample_value(
    attribute: Option<&CustomAttribute>,
    field: Option<&str>,
    default: Option<&str>,
) -> String {
    if let Some(field) = field {
        return crate::bundle::attribute::sample_field_value(field).to_string();
    }
    if let Some(value) = attribute.and_then(|a| a.default_value()) {
        return value.to_string();
    }
    if let Some(default) = default {
        return default.to_string();
    }
    attribute.map_or_else(|| "sample".to_string(), CustomAttribute::sample_value)
}

/// The body with every placeholder replaced by a sample value.
pub fn with_samples(body: &str, attributes: &HashMap<&str, &CustomAttribute>) -> String {
    let lookup = |key: &str| -> Option<String> {
        let (name, field) = key
            .split_once('.')
            .map_or((key, None), |(n, f)| (n, Some(f)));
        Some(sample_value(attributes.get(name).copied(), field, None))
    };
    match placeholder::substitute(body, &lookup) {
        Ok(text) => text,
        Err(_) => body.to_string(),
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct Comment {
    file: String,
    line: usize,
    column: usize,
    #[serde(rename = "endColumn", default)]
    end_column: usize,
    level: String,
    code: u32,
    message: String,
}

/// The installed shellcheck's version line, `None` when it is not installed.
pub fn shellcheck_version() -> Option<String> {
    static VERSION: LazyLock<Option<String>> = LazyLock::new(|| {
        let out = Command::new("shellcheck").arg("--version").output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find(|l| l.starts_with("version:"))
            .map(|l| l.trim().to_string())
    });
    VERSION.clone()
}

/// The shell bodies of a target with placeholders replaced, each with its cache key
/// (shellcheck version + text): `(key, text)` in `shell_bodies` order.
fn prepared(target: &Target, version: &str) -> Vec<(String, String)> {
    let mut attributes: HashMap<&str, &CustomAttribute> = HashMap::new();
    for plan in &target.bundle.build_plans {
        for a in &plan.custom_attributes {
            attributes.entry(a.name.as_str()).or_insert(a);
        }
    }
    shell_bodies(target)
        .iter()
        .map(|(_, doc, _)| {
            let text = format!("{}\n", with_samples(&doc.body, &attributes));
            let key = hex::encode(Sha256::digest(format!("{version}\0{text}").as_bytes()));
            (key, text)
        })
        .collect()
}

/// shellcheck results of this process, by body key (filled by [`prime`] and [`shellcheck`]).
static MEMO: LazyLock<Mutex<HashMap<String, Vec<Comment>>>> = LazyLock::new(Default::default);

/// Results for the given bodies: from this process's memo, the per-body disk cache, or one
/// shellcheck run (two processes) over all the others.
fn fetch(
    items: &[(String, String)],
    cache_dir: Option<&Path>,
) -> Result<HashMap<String, Vec<Comment>>> {
    let cache_path =
        |key: &str| cache_dir.map(|d| d.join("shellcheck").join(format!("{key}.json")));
    let mut results: HashMap<String, Vec<Comment>> = HashMap::new();
    let mut missing: Vec<&(String, String)> = Vec::new();
    let mut missing_keys: HashSet<&str> = HashSet::new();
    {
        let memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
        for item in items {
            if results.contains_key(&item.0) || missing_keys.contains(item.0.as_str()) {
                continue;
            }
            let cached = memo.get(&item.0).cloned().or_else(|| {
                cache_path(&item.0)
                    .and_then(|p| std::fs::read(p).ok())
                    .and_then(|b| serde_json::from_slice::<Vec<Comment>>(&b).ok())
            });
            match cached {
                Some(comments) => {
                    results.insert(item.0.clone(), comments);
                }
                None => {
                    missing_keys.insert(item.0.as_str());
                    missing.push(item);
                }
            }
        }
    }
    if !missing.is_empty() {
        let fresh = run_shellcheck(&missing)?;
        let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
        for (key, comments) in fresh {
            if let Some(path) = cache_path(&key) {
                let bytes = serde_json::to_vec(&comments).unwrap_or_default();
                let _ = crate::fs::write_atomic(&path, &bytes);
            }
            memo.insert(key.clone(), comments.clone());
            results.insert(key, comments);
        }
    }
    Ok(results)
}

/// Runs shellcheck once over the shell bodies of all targets that are not cached yet, so linting
/// several bundles costs one shellcheck run instead of one per bundle. Errors are left for
/// [`shellcheck`] to report.
pub fn prime(targets: &[&Target], cache_dir: Option<&Path>) {
    let Some(version) = shellcheck_version() else {
        return;
    };
    let items: Vec<(String, String)> = targets.iter().flat_map(|t| prepared(t, &version)).collect();
    if !items.is_empty() {
        let _ = fetch(&items, cache_dir);
    }
}

/// I3S070: shellcheck findings on every shell body, mapped to plan-script lines.
pub fn shellcheck(
    target: &Target,
    sink: &mut Sink,
    notices: &mut Vec<String>,
    cache_dir: Option<&Path>,
) {
    let bodies = shell_bodies(target);
    if bodies.is_empty() {
        return;
    }
    let Some(version) = shellcheck_version() else {
        notices.push(format!(
            "shellcheck is not installed: {} uploaded shell script(s) were NOT checked (rule I3S070 skipped); install it (apt-get install shellcheck) and run again",
            bodies.len()
        ));
        return;
    };
    let prepared = prepared(target, &version);
    let results = match fetch(&prepared, cache_dir) {
        Ok(results) => results,
        Err(why) => {
            notices.push(format!(
                "shellcheck could not run ({why}): uploaded shell scripts were NOT checked"
            ));
            return;
        }
    };

    for ((view, doc, _), (key, _)) in bodies.iter().zip(&prepared) {
        let body_lines: Vec<&str> = doc.body.split('\n').collect();
        for comment in results.get(key).into_iter().flatten() {
            let line = doc.body_line + comment.line.saturating_sub(1);
            let original = body_lines
                .get(comment.line.saturating_sub(1))
                .copied()
                .unwrap_or("");
            // Placeholders shift columns; only keep the column where none precede it.
            let column = (!original.contains('@')).then_some(comment.column);
            let width = if comment.end_column > comment.column {
                comment.end_column - comment.column
            } else {
                1
            };
            let severity = match comment.level.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                _ => Severity::Note,
            };
            sink.at_script_as(
                "I3S070",
                view,
                ArtifactKind::PlanScript,
                &view.script.name,
                line,
                column,
                width,
                format!(
                    "plan script {:?}: {}: SC{}: {}",
                    view.script.name, doc.path, comment.code, comment.message
                ),
            );
            if let Some(last) = sink.findings.last_mut() {
                last.severity = severity;
                last.code = Some(format!("SC{}", comment.code));
            }
        }
    }
}

/// Runs shellcheck over the bodies in at most two processes (2 cores), returns comments per key.
fn run_shellcheck(items: &[&(String, String)]) -> Result<Vec<(String, Vec<Comment>)>> {
    let dir = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for (key, text) in items {
        let path = dir.path().join(format!("{key}.sh"));
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        files.push((key.clone(), path));
    }
    let chunk = files.len().div_ceil(2).max(1);
    let outputs: Vec<Result<Vec<Comment>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let out = Command::new("shellcheck")
                        // SC1091: sourced files exist only on the deployed node, never here.
                        .args(["--norc", "-f", "json", "-e", "SC1091"])
                        .args(part.iter().map(|(_, p)| p))
                        .output()
                        .map_err(|e| Error::io("shellcheck", e))?;
                    // Exit 1 means "found something"; anything else without JSON is a failure.
                    serde_json::from_slice::<Vec<Comment>>(&out.stdout).map_err(|e| {
                        Error::other(format!(
                            "{e}: {}",
                            String::from_utf8_lossy(&out.stderr)
                                .lines()
                                .next()
                                .unwrap_or("")
                        ))
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::other("shellcheck thread panicked")))
            })
            .collect()
    });
    let mut by_key: HashMap<String, Vec<Comment>> =
        files.iter().map(|(k, _)| (k.clone(), Vec::new())).collect();
    for output in outputs {
        for comment in output? {
            let key = Path::new(&comment.file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            by_key.entry(key).or_default().push(comment);
        }
    }
    Ok(by_key.into_iter().collect())
}
