//! Secrets rules (I3S090–I3S091). I3S090 (password attributes with a default value) is checked
//! with the other attribute declarations in `attributes`; here: a password attribute's value
//! written into a file whose mode is not restricted.
use super::effects::Effects;
use super::target::{ScriptView, Target};
use super::{ArtifactKind, Sink};
use crate::placeholder;
use regex::Regex;
use std::collections::HashSet;
use std::sync::LazyLock;

static REDIRECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:>>?|\btee(?:\s+-a)?)\s*"?(/[^\s"';|&)]+)"#).expect("redirect")
});
static RESTRICT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\bumask\s+0?0?77\b|\bchmod\s+(?:0?[0-7]00|[ugo]*-r|go-rwx|og-rwx)\b")
        .expect("restrict")
});

pub fn check(target: &Target, sink: &mut Sink) {
    let mut secrets: HashSet<&str> = HashSet::new();
    for plan in &target.bundle.build_plans {
        secrets.extend(
            plan.custom_attributes
                .iter()
                .filter(|a| a.attribute_type.is_secret())
                .map(|a| a.name.as_str()),
        );
    }
    if secrets.is_empty() {
        return;
    }
    for view in &target.scripts {
        check_script(view, &secrets, sink);
    }
}

fn check_script(view: &ScriptView, secrets: &HashSet<&str>, sink: &mut Sink) {
    let effects = Effects::of(&[view]);
    let name = &view.script.name;
    let uses_secret = |text: &str| {
        placeholder::scan(text)
            .into_iter()
            .find(|p| secrets.contains(p.name.as_str()))
    };
    // A here-document holding the secret is itself a file with the secret in it.
    for file in &effects.files {
        let Some(content) = &file.content else {
            continue;
        };
        let Some(secret) = uses_secret(content) else {
            continue;
        };
        let restricted = effects.mode(&file.path).is_some_and(|m| m & 0o077 == 0);
        let is_script = content.starts_with("#!");
        if !restricted && !is_script {
            sink.at_script_as(
                "I3S091",
                view,
                ArtifactKind::PlanScript,
                name,
                file.at.line,
                None,
                1,
                format!(
                    "plan script {name:?}: {} holds password attribute @{}@ but its mode is never restricted (chmod 0600)",
                    file.path, secret.name
                ),
            );
        }
        // Inside a shell script: `echo @PW@ > /file` without umask/chmod.
        if is_script && let Some(first) = file.body_line {
            let restricts = RESTRICT.is_match(content);
            for (i, line) in content.lines().enumerate() {
                if let (Some(secret), Some(target)) = (uses_secret(line), REDIRECT.captures(line)) {
                    if restricts {
                        continue;
                    }
                    sink.at_script(
                        "I3S091",
                        view,
                        first + i,
                        None,
                        format!(
                            "plan script {name:?}: writes password attribute @{}@ into {} without umask 077 or chmod 0600",
                            secret.name, &target[1]
                        ),
                    );
                }
            }
        }
    }
}
