//! The attribute registry and the rendered content agree: every registry entry is used, secrets
//! only ever land in root-only files, downloads are pinned and the lab's constants are gone.
use crate::content_support;
use content_support::*;

use std::collections::BTreeSet;

#[test]
fn every_registry_entry_is_used_and_every_placeholder_registered() {
    let registry = registry();
    let mut used = BTreeSet::new();
    for plan in our_plans() {
        for content in plan.contents() {
            for name in i3s_bundle::placeholder::used_names(content).into_keys() {
                assert!(
                    registry.contains_key(&name),
                    "{}: @{name}@ is not in attributes.toml",
                    plan.label()
                );
                used.insert(name);
            }
        }
    }
    let unused: Vec<_> = registry.keys().filter(|k| !used.contains(*k)).collect();
    assert!(
        unused.is_empty(),
        "registry entries no plan uses: {unused:?}"
    );
    for (name, entry) in &registry {
        assert!(
            !entry.description.trim().is_empty(),
            "{name} has no description"
        );
        if entry.is_secret() {
            assert!(entry.default.is_none(), "secret {name} has a default");
        }
        // Every entry's sample value passes its own type and constraints (sample_value asserts).
        sample_value(name, entry);
    }
}

#[test]
fn secrets_only_reach_root_only_files() {
    let registry = registry();
    let secrets: Vec<&String> = registry
        .iter()
        .filter(|(_, e)| e.is_secret())
        .map(|(n, _)| n)
        .collect();
    assert!(
        secrets.len() >= 3,
        "expected the Consul token, gossip key and OpenStack password as secrets"
    );
    for plan in our_plans() {
        let tree = plan.tree();
        for (path, (content, mode)) in &tree.files {
            let secret_here: Vec<_> = secrets
                .iter()
                .filter(|s| content.contains(&format!("@{s}")))
                .collect();
            if secret_here.is_empty() {
                continue;
            }
            assert_eq!(
                mode & 0o077,
                0,
                "{}: {path} holds {secret_here:?} but has mode {mode:o}",
                plan.label()
            );
            let dir = &path[..path.rfind('/').unwrap()];
            let dir_mode = tree.dirs.get(dir).copied().unwrap_or(0o755);
            assert_eq!(
                dir_mode & 0o077,
                0,
                "{}: {path} holds a secret in {dir} (mode {dir_mode:o})",
                plan.label()
            );
            assert!(
                !path.starts_with("/etc/systemd/") && !path.starts_with("/usr/local/bin/"),
                "{}: secret {secret_here:?} in a unit or script {path}",
                plan.label()
            );
        }
        // Never as a placeholder default, and never outside an upload (a guestfish command line).
        for content in plan.contents() {
            for p in i3s_bundle::placeholder::scan(content) {
                if secrets.contains(&&p.name) {
                    assert!(
                        p.default.is_none(),
                        "{}: secret {} has a placeholder default",
                        plan.label(),
                        p.name
                    );
                }
            }
            let script = parse_script(content).unwrap();
            for cmd in &script.commands {
                assert!(
                    !secrets
                        .iter()
                        .any(|s| cmd.words.iter().any(|w| w.contains(&format!("@{s}")))),
                    "{}: a secret placeholder on a guestfish command line (line {})",
                    plan.label(),
                    cmd.line
                );
            }
        }
    }
}

#[test]
fn downloads_are_pinned_and_lab_constants_are_gone() {
    let registry = registry();
    let defaults: Vec<String> = registry
        .values()
        .filter_map(|e| e.default.clone())
        .collect();
    for plan in our_plans() {
        for (name, content) in &plan.steps {
            let text = substitute_samples(content);
            for word in text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'') {
                if word.starts_with("http") || word.contains(":latest") {
                    assert!(
                        !word.contains("latest") && !word.contains("/master/"),
                        "{name}: unpinned download {word}"
                    );
                }
            }
            for constant in [
                "8.8.8.8",
                "lab01",
                "'demo'",
                "--instances 25",
                "hybrid-k8s",
                "mpatha",
            ] {
                assert!(
                    !content.contains(constant),
                    "{name}: lab constant {constant:?} is hard-coded"
                );
            }
            assert!(
                !content.contains("docker exec consul consul kv"),
                "{name}: reads Consul KV through the CLI without a token"
            );
        }
    }
    for d in &defaults {
        assert!(
            !d.contains("latest") && !d.contains("/master/"),
            "unpinned registry default {d}"
        );
    }
    // The version attributes exist and have pinned defaults.
    for name in [
        "CONSUL_VERSION",
        "DATADOG_AGENT_VERSION",
        "CNI_MANIFEST_URL",
    ] {
        let d = registry[name].default.clone().unwrap_or_default();
        assert!(
            d.chars().any(|c| c.is_ascii_digit()),
            "{name} default {d:?} names no version"
        );
    }
    let version = regex::Regex::new(r"^[0-9]+\.[0-9]+\.[0-9]+$").unwrap();
    for os in ["centos7.4", "centos-stream10"] {
        for key in ["k8s_version", "containerd_version"] {
            let v = profile(os)[key].as_str().unwrap().to_string();
            assert!(
                version.is_match(&v),
                "{os}: {key} {v:?} is no pinned version"
            );
        }
    }
    for os in ["centos7.4", "fedora27"] {
        let v = profile(os)["docker_ce_version"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            v.chars().next().unwrap().is_ascii_digit(),
            "{os}: docker_ce_version {v}"
        );
    }
}

/// Capabilities an OS cannot have, as its profile says: (template, os, the fact whose value makes
/// the template refuse). RDO ships packstack for CentOS only (`openstack_release_package = ""`).
/// Fedora 27 has no Kubernetes pins (`k8s_version = ""`): the Kubernetes capabilities refuse.
const REFUSALS: [(&str, &str, &str); 3] = [
    ("openstack-aio", "fedora27", "openstack_release_package"),
    ("k8s-master", "fedora27", "k8s_version"),
    ("k8s-worker", "fedora27", "k8s_version"),
];

#[test]
fn templates_render_for_both_profiles_with_every_parameter_choice() {
    let dir = root().join("templates");
    let mut count = 0;
    let mut refused = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if file.starts_with('_') || !file.ends_with(".j2") {
            continue;
        }
        let template = file.trim_end_matches(".j2");
        let front = front_matter(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut variants = vec![toml::Table::new()];
        if let Some(toml::Value::Table(params)) = front.get("params") {
            for (key, spec) in params {
                if let Some(toml::Value::Array(choices)) = spec.get("choices") {
                    variants = variants
                        .into_iter()
                        .flat_map(|v| {
                            choices.iter().map(move |c| {
                                let mut v = v.clone();
                                v.insert(key.clone(), c.clone());
                                v
                            })
                        })
                        .collect();
                }
            }
        }
        for os in ["centos7.4", "fedora27"] {
            for params in &variants {
                let rendered = render(template, os, params);
                if let Some((_, _, fact)) = REFUSALS.iter().find(|r| (r.0, r.1) == (template, os)) {
                    let error = rendered.expect_err(&format!("{file} ({os}) renders"));
                    assert!(error.contains(fact), "{file} ({os}): {error}");
                    refused.push((template.to_string(), os));
                    continue;
                }
                let r = rendered.unwrap_or_else(|e| panic!("{file} ({os}, {params}): {e}"));
                parse_script(&r.content).unwrap_or_else(|e| panic!("{file} ({os}): {e}"));
                assert!(
                    !r.content.contains("{{") && !r.content.contains("{%"),
                    "{file}: unrendered template syntax"
                );
                count += 1;
            }
        }
    }
    assert!(count >= 32, "rendered {count} variants");
    assert_eq!(refused.len(), REFUSALS.len(), "refusals seen: {refused:?}");
}

/// docs/versions.md is the one list of every pin: each version and repository a profile or the
/// registry pins appears there (in backquotes), so the page cannot fall behind the content.
#[test]
fn docs_list_every_pin() {
    let page = std::fs::read_to_string(root().join("docs/versions.md")).unwrap();
    let mut missing = Vec::new();
    let mut check = |what: String, value: &str| {
        if !value.is_empty() && !page.contains(&format!("`{value}`")) {
            missing.push(format!("{what} = {value:?}"));
        }
    };
    let mut oses = 0;
    for entry in std::fs::read_dir(root().join("golden-images")).unwrap() {
        let os = entry.unwrap().file_name().to_string_lossy().to_string();
        let facts = profile(&os);
        oses += 1;
        for key in [
            "os_repo_default",
            "docker_ce_repo",
            "docker_ce_version",
            "docker_package",
            "k8s_version",
            "containerd_version",
        ] {
            // A Docker CE repository matters only where Docker CE is pinned.
            if key == "docker_ce_repo" && facts["docker_ce_version"].as_str() == Some("") {
                continue;
            }
            let value = facts.get(key).and_then(|v| v.as_str()).unwrap_or_default();
            check(format!("{os}: {key}"), value);
        }
    }
    assert!(oses >= 4, "{oses} OS profiles");
    for (name, entry) in registry() {
        let Some(default) = entry.default.as_deref() else {
            continue;
        };
        if default.contains("://") || name.ends_with("_VERSION") || name.ends_with("_RELEASE") {
            check(format!("attributes.toml: {name}"), default);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/versions.md lacks these pins (add a row with where each comes from):\n{}",
        missing.join("\n")
    );
}

/// `run --boot` stands in for a unit a container cannot run by writing its done-stamp where
/// `firstboot` units write theirs (and node-status looks): the two must name the same directory.
#[test]
fn the_boot_stand_in_writes_the_done_stamp_the_firstboot_macro_uses() {
    let dir = i3s_bundle::image::boot::DONE_STAMP_DIR;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let systemd = std::fs::read_to_string(root.join("templates/_lib/systemd.j2")).unwrap();
    assert!(
        systemd.contains(&format!("ConditionPathExists=!{dir}/\" ~ name ~ \".done")),
        "firstboot's condition no longer names {dir}/<name>.done"
    );
    assert!(
        systemd.contains(&format!("STAMP_DIR=${{STAMP_DIR:-{dir}}}")),
        "firstboot's script no longer stamps into {dir}"
    );
    let agent = std::fs::read_to_string(root.join("templates/consul-agent.j2")).unwrap();
    assert!(
        agent.contains(&format!("STAMP_DIR=${{STAMP_DIR:-{dir}}}")),
        "node-status no longer reads the stamps from {dir}"
    );
}
