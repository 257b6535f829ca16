//! Profiles carry the OS, templates carry the capability (issue #12, point 1).
//!
//! Every OS difference lives in `golden-images/<os>/profile.toml` as a named fact that templates
//! read as `os.<key>`. These tests hold the line: no template names an OS, a release or a package
//! command, or branches on `os.id` / `os.display_name`; every fact a template reads is documented in
//! `docs/adding-an-os.md` and present in every profile; a fact value a template does not implement
//! yet fails the render naming the fact.
use crate::content_support;

use content_support::{profile, root};
use i3s_bundle::render::template::{Renderer, TemplateStore};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every template file, shared pieces (`_lib/`) included: (path relative to the repo, text).
fn templates() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "j2") {
                out.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&root().join("templates"), &mut paths);
    paths.sort();
    assert!(paths.len() > 10, "templates/ holds too few templates");
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let rel = p.strip_prefix(root()).unwrap().display().to_string();
            (rel, text)
        })
        .collect()
}

/// What a template must not contain, each with what to do instead.
fn line_rules() -> Vec<(Regex, &'static str)> {
    let rule = |re: &str| Regex::new(re).unwrap();
    vec![
        (
            rule(
                r"(?i)\b(centos|fedora|rhel|red ?hat|rocky|alma(linux)?|debian|ubuntu|suse|sles|oracle ?linux)\b",
            ),
            "an OS name: move the difference into a profile fact",
        ),
        (
            rule(r"(?i)\b(el|fc)[0-9]{1,2}\b|\.el[0-9]|\b[0-9]\.[0-9]+\.(1[0-9]|2[0-9])[0-9]{2}\b"),
            "an OS release token (el9, fc27, 7.4.1708): move it into a profile fact",
        ),
        (
            rule(
                r"\b(yum|dnf5?|apt-get|apt|zypper)\s+(-y\s+)?(install|remove|erase|list|makecache|clean|config-manager|update|upgrade)\b|\byum-config-manager\b",
            ),
            "a hard-coded package command: use os.package_manager / os.repo_add",
        ),
        (
            rule(r"/etc/yum\.repos\.d|/etc/apt/"),
            "a hard-coded repository directory: use os.repo_dir",
        ),
    ]
}

/// Findings of one template: "path:line: what (`text`)".
fn scan(path: &str, text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        for (re, what) in line_rules() {
            if let Some(m) = re.find(line) {
                found.push(format!("{path}:{}: {what} (`{}`)", n + 1, m.as_str()));
            }
        }
    }
    // os.id / os.display_name may name things (descriptions, messages) but never decide anything.
    let identity = r"\bos\.(id|display_name)\b";
    let tag = Regex::new(r"(?s)\{%-?(.*?)-?%\}|\{\{-?(.*?)-?\}\}").unwrap();
    let block_condition = Regex::new(&format!(r"(?s)^\s*(if|elif)\b.*{identity}")).unwrap();
    let inline_condition = Regex::new(&format!(r"(?s)\bif\b[^{{}}]*?{identity}")).unwrap();
    let comparison = Regex::new(&format!(
        r"{identity}\s*(==|!=|<|>|\bin\b|\bis\b|\.startswith|\.endswith|\[)|(==|!=|\bin)\s*{identity}"
    ))
    .unwrap();
    for m in tag.captures_iter(text) {
        let whole = m.get(0).unwrap();
        let body = m.get(1).or(m.get(2)).unwrap().as_str();
        let is_block = whole.as_str().starts_with("{%");
        if (is_block && block_condition.is_match(body))
            || (!is_block && inline_condition.is_match(body))
            || comparison.is_match(body)
        {
            let line = text[..whole.start()].matches('\n').count() + 1;
            found.push(format!(
                "{path}:{line}: a condition on os.id/os.display_name: branch on a profile fact (`{}`)",
                whole.as_str().chars().take(100).collect::<String>()
            ));
        }
    }
    found
}

#[test]
#[ignore = "slow: renders every template for every OS, ~20 s (cargo test -- --include-ignored)"]
fn no_template_names_an_os_or_branches_on_one() {
    let found: Vec<String> = templates()
        .iter()
        .flat_map(|(path, text)| scan(path, text))
        .collect();
    assert!(
        found.is_empty(),
        "templates must carry capabilities only; OS differences belong in golden-images/<os>/profile.toml \
         (docs/adding-an-os.md):\n{}",
        found.join("\n")
    );
}

/// The scanner itself: each rule catches what it is for and lets names in descriptions pass.
#[test]
fn the_os_name_scanner_catches_names_releases_commands_and_identity_conditions() {
    let bad = [
        "yum install -y \"centos-release-openstack-$R\"",
        "# SELinux permissive on RHEL-family hosts",
        "baseurl=https://vault.example.org/7.4.1708/os/",
        "rpm -q kernel | grep -q el9",
        "dnf install -y docker",
        "cat >/etc/yum.repos.d/x.repo <<REPO",
        "{% if os.id == \"fedora27\" %}x{% endif %}",
        "{% elif os.display_name %}x{% endif %}",
        "{{ 'a' if os.id.startswith('c') else 'b' }}",
        "{% set legacy = os.id in ['x'] %}",
    ];
    for sample in bad {
        assert!(
            !scan("sample.j2", sample).is_empty(),
            "the scanner misses {sample:?}"
        );
    }
    let good = [
        "description = \"Mount the {{ os.display_name }} root {{ os.root_lv }}\"",
        "{% if os.network_stack == \"networkmanager\" %}x{% endif %}",
        "{{ fail(\"no \" ~ os.id) }}",
        "{{ os.package_manager }} install -y {{ os.docker_package }}",
        "baseurl=https://yum.datadoghq.com/stable/7/x86_64/",
        "echo \"Docker CE 18.09 and later\"",
    ];
    for sample in good {
        assert_eq!(
            scan("sample.j2", sample),
            Vec::<String>::new(),
            "{sample:?}"
        );
    }
}

/// Every `os.<key>` the templates read, with the templates that read it.
fn facts_read() -> BTreeMap<String, BTreeSet<String>> {
    let key = Regex::new(r"\bos\.([a-z_][a-z0-9_]*)").unwrap();
    let mut facts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (path, text) in templates() {
        for m in key.captures_iter(&text) {
            facts
                .entry(m[1].to_string())
                .or_default()
                .insert(path.clone());
        }
    }
    facts
}

/// The facts `profile` lacks, each as a message naming the key, its readers and the doc.
fn missing_facts(
    os_dir: &str,
    profile: &toml::Table,
    facts: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    facts
        .iter()
        // `id` defaults to the directory name (src/source/profile.rs).
        .filter(|(key, _)| key.as_str() != "id" && !profile.contains_key(key.as_str()))
        .map(|(key, readers)| {
            format!(
                "golden-images/{os_dir}/profile.toml lacks `{key}`, which {} read(s); \
                 docs/adding-an-os.md says what it changes and which value to give",
                readers.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect()
}

fn profiles() -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(root().join("golden-images"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("profile.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no golden-images/<os>/profile.toml");
    dirs
}

#[test]
fn every_fact_the_templates_read_is_documented_and_in_every_profile() {
    let facts = facts_read();
    assert!(
        facts.contains_key("network_stack") && facts.contains_key("package_manager"),
        "the fact scan found too little: {:?}",
        facts.keys().collect::<Vec<_>>()
    );
    let doc_path = root().join("docs/adding-an-os.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/adding-an-os.md");
    let mut problems: Vec<String> = facts
        .iter()
        .filter(|(key, _)| !doc.contains(&format!("| `{key}` |")))
        .map(|(key, readers)| {
            format!(
                "docs/adding-an-os.md has no row `| `{key}` |` in its facts table, but {} read(s) os.{key}",
                readers.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    for os in profiles() {
        problems.extend(missing_facts(&os, &profile(&os), &facts));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A profile missing a fact is reported by the key's name and its readers.
#[test]
fn a_profile_without_a_fact_is_named_with_the_fact() {
    let facts = facts_read();
    let os = profiles().remove(0);
    let mut table = profile(&os);
    assert_eq!(missing_facts(&os, &table, &facts), Vec::<String>::new());
    table.remove("network_stack");
    let missing = missing_facts(&os, &table, &facts);
    assert_eq!(missing.len(), 1, "{missing:?}");
    assert!(
        missing[0].contains("lacks `network_stack`")
            && missing[0].contains("templates/nic-bond.j2"),
        "{}",
        missing[0]
    );
}

/// Renders a template for the CentOS 7.4 profile with some facts replaced.
fn render_with(template: &str, facts: &[(&str, toml::Value)]) -> Result<String, String> {
    let renderer = Renderer::new(TemplateStore::new(root().join("templates")));
    let file = format!("{template}.j2");
    let front = renderer
        .store()
        .front_matter(&file)
        .map_err(|e| e.to_string())?;
    let params = Renderer::merge_params(&front, &toml::Table::new()).map_err(|e| e.to_string())?;
    let mut os = profile("centos7.4");
    os.insert("id".into(), "centos7.4".into());
    for (key, value) in facts {
        os.insert(key.to_string(), value.clone());
    }
    renderer
        .render(&file, Some(&os), &params, ("test-bundle", "2026.11.26"))
        .map(|r| r.content)
        .map_err(|e| e.to_string())
}

#[test]
fn a_fact_value_a_template_does_not_implement_fails_the_render_naming_the_fact() {
    let cases: [(&str, &str, toml::Value); 7] = [
        ("docker-ce", "docker_ce_version", "".into()),
        ("docker-ce", "docker_ce_storage", "zfs".into()),
        ("docker", "docker_package", "".into()),
        ("nic-bond", "network_stack", "wicked".into()),
        ("generalize", "network_stack", "wicked".into()),
        ("hostname-ssh", "sshd_dropin_dir", "sshd_config.d".into()),
        ("openstack-aio", "openstack_release_package", "".into()),
    ];
    for (template, key, value) in cases {
        render_with(template, &[])
            .unwrap_or_else(|e| panic!("{template} with the CentOS 7.4 profile: {e}"));
        let error = render_with(template, &[(key, value.clone())])
            .expect_err(&format!("{template} rendered with {key} = {value}"));
        assert!(
            error.contains(key) && error.contains(&format!("templates/{template}.j2")),
            "{template} with {key} = {value}: the error names neither the fact nor the template: {error}"
        );
    }
}

#[test]
fn capture_follows_the_network_stack_the_devices_file_and_the_logger() {
    let modern = render_with(
        "generalize",
        &[
            ("network_stack", "networkmanager".into()),
            ("lvm_devices_file", "/etc/lvm/devices/system.devices".into()),
            ("syslog_files", toml::Value::Array(vec![])),
        ],
    )
    .unwrap();
    assert!(modern.contains("glob rm-f /etc/NetworkManager/system-connections/*\n"));
    assert!(modern.contains("rm-f /etc/lvm/devices/system.devices\n"));
    assert!(!modern.contains("network-scripts"), "{modern}");
    assert!(!modern.contains("/var/log/messages"), "{modern}");
    assert!(modern.contains("touch /var/log/wtmp\n"));

    let legacy = render_with("generalize", &[]).unwrap();
    assert!(legacy.contains("glob rm-f /etc/sysconfig/network-scripts/ifcfg-bond*\n"));
    assert!(!legacy.contains("NetworkManager") && !legacy.contains("devices"));
    for log in ["/var/log/messages", "/var/log/secure"] {
        for command in ["rm-f", "touch", "chmod 0600"] {
            assert!(
                legacy.contains(&format!("{command} {log}\n")),
                "{command} {log}"
            );
        }
    }
}

#[test]
fn key_only_ssh_goes_into_the_drop_in_directory_when_the_profile_names_one() {
    let modern = render_with(
        "hostname-ssh",
        &[("sshd_dropin_dir", "/etc/ssh/sshd_config.d".into())],
    )
    .unwrap();
    for line in [
        "install -d -m 0755 /etc/ssh/sshd_config.d\n",
        "    \"PasswordAuthentication no\" \"KbdInteractiveAuthentication no\" \\\n",
        "mv -f /etc/ssh/sshd_config.d/40-i3s.conf.new /etc/ssh/sshd_config.d/40-i3s.conf\n",
        "sshd -t\n",
    ] {
        assert!(modern.contains(line), "{line:?} missing:\n{modern}");
    }
    assert!(!modern.contains("harden_sshd /etc/ssh/sshd_config\n"));
    assert!(!modern.contains("ChallengeResponseAuthentication no\""));

    let legacy = render_with("hostname-ssh", &[]).unwrap();
    assert!(legacy.contains("harden_sshd /etc/ssh/sshd_config\n"));
    assert!(!legacy.contains("sshd_config.d"));
}
