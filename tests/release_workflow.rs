//! `.github/workflows/release.yml` (#15 point 1): valid against the published GitHub workflow
//! schema, and its steps work end to end when run the way the runner runs them: the build job's
//! shell steps in order (build, lint, the rehearsal publish into a simulator and the second
//! publish that must change nothing), `dist/` and the tool handed to the publish job as the
//! artifact actions hand them (hidden files dropped, file modes lost), then the publish job into
//! an "appliance" (a TLS simulator) with the tested binary. That is the case that lost the golden
//! images: the build cache is hidden, so only the sidecars carry the attachments.
//!
//! The `run:` blocks come from the YAML (python3's yaml module parses it), not a copy here.
use crate::common::require_tool;
use crate::publish_support::{PASSWORD, canonical_state, post, start};
use i3s_bundle::simulator::SimConfig;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const WORKFLOW: &str = ".github/workflows/release.yml";
const SCHEMA: &str = "tests/fixtures/github-workflow/github-workflow.json";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The workflow as JSON. YAML 1.1 (PyYAML) reads the key `on` as `true`: named back.
fn workflow() -> Value {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,yaml\nw=yaml.safe_load(open(sys.argv[1]))\nif True in w: w['on']=w.pop(True)\nprint(json.dumps(w))",
        ])
        .arg(repo().join(WORKFLOW))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Schema errors of a workflow (python3 jsonschema, draft 7 as the schema declares).
fn schema_errors(workflow: &Value) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("workflow.json");
    std::fs::write(&path, workflow.to_string()).unwrap();
    let out = Command::new("python3")
        .args([
            "-c",
            "import json,sys,jsonschema\ns=json.load(open(sys.argv[1]))\nw=json.load(open(sys.argv[2]))\nfor e in jsonschema.Draft7Validator(s).iter_errors(w): print(list(e.path), e.message[:200])",
        ])
        .arg(repo().join(SCHEMA))
        .arg(&path)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

fn tools_present() -> bool {
    if !require_tool("python3") || !require_tool("curl") {
        return false;
    }
    let modules = Command::new("python3")
        .args(["-c", "import yaml, jsonschema"])
        .status()
        .is_ok_and(|s| s.success());
    if !modules {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "python3 yaml and jsonschema are required under CI (.ci/install-lint-deps installs them)"
        );
        eprintln!("\n*** SKIPPED: python3 yaml or jsonschema is not installed ***\n");
    }
    modules
}

#[test]
fn the_release_workflow_is_valid_against_the_published_schema() {
    if !tools_present() {
        return;
    }
    let workflow = workflow();
    assert_eq!(schema_errors(&workflow), Vec::<String>::new());
    // The check can fail: a misspelt key is reported.
    let mut broken = workflow.clone();
    broken["jobs"]["build"]["step"] = json!([]);
    assert!(!schema_errors(&broken).is_empty());
    // What the issue asks of it, by structure.
    assert_eq!(workflow["defaults"]["run"]["shell"], "bash", "pipefail");
    assert!(workflow["jobs"]["publish"]["concurrency"]["group"].is_string());
    assert_eq!(
        workflow["jobs"]["test"]["if"],
        "github.event_name == 'pull_request'"
    );
    let text = std::fs::read_to_string(repo().join(WORKFLOW)).unwrap();
    for needle in [
        "github/codeql-action/upload-sarif",
        "GITHUB_STEP_SUMMARY",
        "softprops/action-gh-release",
        "--archive",
        "bash .ci/run",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    assert!(
        !text.contains("sleep 1"),
        "wait for the port, not a fixed time"
    );
    assert!(!text.contains(".i3s-bundle-cache.json"), "no hidden cache");
}

/// Runs workflow jobs on this machine as the runner would, with the artifact store between them.
struct Runner {
    artifacts: PathBuf,
    runner_temp: PathBuf,
    summary: PathBuf,
    lint_cache: PathBuf,
    secrets: BTreeMap<&'static str, String>,
}

impl Runner {
    fn run_job(&self, job: &Value, workspace: &Path) {
        std::fs::create_dir_all(workspace).unwrap();
        for step in job["steps"].as_array().unwrap() {
            let name = step["name"]
                .as_str()
                .or(step["uses"].as_str())
                .or(step["run"].as_str())
                .unwrap_or_default()
                .to_string();
            eprintln!("--- step: {name}");
            if let Some(action) = step["uses"].as_str() {
                self.action(action, &step["with"], workspace);
            } else if let Some(script) = step["run"].as_str() {
                if script.starts_with("cargo build") {
                    // The tool under test stands in for the one this would build.
                    let release = workspace.join("target/release");
                    std::fs::create_dir_all(&release).unwrap();
                    std::fs::copy(env!("CARGO_BIN_EXE_i3s-bundle"), release.join("i3s-bundle"))
                        .unwrap();
                    continue;
                }
                self.shell(&name, script, &step["env"], workspace);
            }
        }
    }

    /// `shell: bash` (the workflow's default): `bash --noprofile --norc -eo pipefail {0}`.
    fn shell(&self, name: &str, script: &str, env: &Value, workspace: &Path) {
        let file = self.runner_temp.join("step.sh");
        std::fs::write(&file, script).unwrap();
        let mut cmd = Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
            .arg(&file)
            .current_dir(workspace);
        for (key, _) in std::env::vars() {
            if key.starts_with("ONEVIEWSDK_") || key.starts_with("I3S_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("CI", "true")
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("RUNNER_TEMP", &self.runner_temp)
            .env("I3S_LINT_CACHE", &self.lint_cache);
        for (key, value) in env.as_object().into_iter().flatten() {
            cmd.env(key, self.expression(value.as_str().unwrap()));
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "step {name:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `${{ secrets.NAME }}` → the test's secret; plain text as is; anything else is unknown here.
    fn expression(&self, value: &str) -> String {
        match value.strip_prefix("${{ secrets.") {
            Some(rest) => {
                let key = rest.strip_suffix(" }}").unwrap();
                self.secrets.get(key).cloned().unwrap_or_default()
            }
            None => {
                assert!(!value.contains("${{"), "unsupported expression {value}");
                value.to_string()
            }
        }
    }

    fn action(&self, action: &str, with: &Value, workspace: &Path) {
        let name = action.split('@').next().unwrap();
        match name {
            "actions/checkout" => copy_project(&repo(), workspace),
            "dtolnay/rust-toolchain" | "Swatinem/rust-cache" => {}
            "actions/upload-artifact" => self.upload(with, workspace),
            "actions/download-artifact" => {
                let from = self.artifacts.join(with["name"].as_str().unwrap());
                let to = workspace.join(with["path"].as_str().unwrap());
                std::fs::create_dir_all(&to).unwrap();
                for entry in std::fs::read_dir(from).unwrap() {
                    let entry = entry.unwrap();
                    std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
                }
            }
            "github/codeql-action/upload-sarif" => {
                let sarif: Value = serde_json::from_slice(
                    &std::fs::read(workspace.join(with["sarif_file"].as_str().unwrap())).unwrap(),
                )
                .unwrap();
                assert_eq!(sarif["version"], "2.1.0");
            }
            "softprops/action-gh-release" => {
                for pattern in with["files"].as_str().unwrap().lines() {
                    assert!(
                        !glob(workspace, pattern).is_empty(),
                        "no release file {pattern}"
                    );
                }
            }
            other => panic!("the test does not know the action {other}"),
        }
    }

    /// upload-artifact v4: the files the patterns match, relative to their common directory;
    /// hidden files dropped (include-hidden-files defaults to false) and modes not kept.
    fn upload(&self, with: &Value, workspace: &Path) {
        let mut files = Vec::new();
        for pattern in with["path"].as_str().unwrap().lines() {
            files.extend(glob(workspace, pattern));
        }
        files.retain(|f: &PathBuf| {
            !f.strip_prefix(workspace)
                .unwrap()
                .components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        });
        assert!(!files.is_empty(), "nothing to upload for {with}");
        let common = files
            .iter()
            .map(|f| f.parent().unwrap().to_path_buf())
            .reduce(|a, b| {
                a.ancestors()
                    .find(|p| b.starts_with(p))
                    .unwrap()
                    .to_path_buf()
            })
            .unwrap();
        let store = self.artifacts.join(with["name"].as_str().unwrap());
        for file in files {
            let target = store.join(file.strip_prefix(&common).unwrap());
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, std::fs::read(&file).unwrap()).unwrap();
            let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
            std::fs::set_permissions(&target, mode).unwrap();
        }
    }
}

/// A `dir/*.ext` or plain path pattern (the only forms the workflow uses).
fn glob(workspace: &Path, pattern: &str) -> Vec<PathBuf> {
    let path = workspace.join(pattern.trim());
    let file_name = path.file_name().unwrap().to_string_lossy().into_owned();
    match file_name.split_once('*') {
        None => vec![path].into_iter().filter(|p| p.exists()).collect(),
        Some((prefix, suffix)) => {
            let Ok(entries) = std::fs::read_dir(path.parent().unwrap()) else {
                return Vec::new();
            };
            let mut found: Vec<PathBuf> = entries
                .map(|e| e.unwrap().path())
                .filter(|p| {
                    let n = p.file_name().unwrap().to_string_lossy();
                    n.starts_with(prefix)
                        && n.ends_with(suffix)
                        && n.len() >= prefix.len() + suffix.len()
                })
                .collect();
            found.sort();
            found
        }
    }
}

/// actions/checkout: the project, without build outputs.
fn copy_project(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).into_iter().filter_entry(|e| {
        let name = e.file_name().to_string_lossy();
        e.depth() == 0 || !matches!(name.as_ref(), "target" | "dist" | ".git" | "fuzz")
    }) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else if entry.file_type().is_file() {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Runner {
    /// A runner whose secrets reach `appliance` (a TLS simulator) as the repository's would.
    fn new(temp: &Path, appliance: &i3s_bundle::simulator::Simulator) -> Runner {
        let ca = std::fs::read_to_string(appliance.ca_cert.as_ref().unwrap()).unwrap();
        let runner = Runner {
            artifacts: temp.join("artifacts"),
            runner_temp: temp.join("runner-temp"),
            summary: temp.join("summary.md"),
            lint_cache: temp.join("lint-cache"),
            secrets: BTreeMap::from([
                ("ONEVIEWSDK_IP", appliance.base_url.clone()),
                ("ONEVIEWSDK_IMAGE_STREAMER_IP", appliance.base_url.clone()),
                ("ONEVIEWSDK_USERNAME", "administrator".to_string()),
                ("ONEVIEWSDK_PASSWORD", PASSWORD.to_string()),
                ("APPLIANCE_CA_CERT", ca),
            ]),
        };
        std::fs::create_dir_all(&runner.runner_temp).unwrap();
        runner
    }
}

/// Deployment plan → golden image, from `build --json`'s report.
fn attachments(report: &Value) -> BTreeMap<String, String> {
    report["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["golden_images"].as_array().unwrap().clone())
        .map(|a| {
            (
                a["deployment_plan"].as_str().unwrap().to_string(),
                a["golden_image"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
#[ignore = "slow: builds, lints and publishes every bundle of the repository twice (~50 s)"]
fn the_release_workflow_builds_lints_rehearses_and_publishes_what_the_artifacts_carry() {
    let _heavy = crate::common::heavy();
    if !tools_present() {
        return;
    }
    let workflow = workflow();
    let temp = tempfile::tempdir().unwrap();
    // The "appliance" of the tag publish: a TLS simulator holding the golden images.
    let appliance = start(SimConfig {
        tls: true,
        password: PASSWORD.into(),
        ..SimConfig::default()
    });
    let runner = Runner::new(temp.path(), &appliance);

    // The build job (pull requests and tags): build, lint, rehearsal, second publish unchanged.
    let build = temp.path().join("build-job");
    runner.run_job(&workflow["jobs"]["build"], &build);
    assert!(build.join("dist/.i3s-bundle-cache.json").exists());
    let rehearsal_again: Value =
        serde_json::from_slice(&std::fs::read(build.join("rehearsal-again.json")).unwrap())
            .unwrap();
    assert_eq!(rehearsal_again["changed"], false);

    // The golden images the build says each plan attaches (its report, not the artifact).
    let report: Value =
        serde_json::from_slice(&std::fs::read(build.join("build-report.json")).unwrap()).unwrap();
    let attachments = attachments(&report);
    assert!(!attachments.is_empty());
    let images: std::collections::BTreeSet<&String> = attachments.values().collect();
    let seed: Vec<Value> = images
        .iter()
        .map(|n| json!({"type": "GoldenImage", "name": n}))
        .collect();
    assert_eq!(
        post(
            &appliance,
            "/sim/seed",
            &json!({"/rest/golden-images": seed})
        )
        .0,
        201
    );

    // The publish job (tags): only what the artifacts carry, hidden files dropped.
    let publish = temp.path().join("publish-job");
    runner.run_job(&workflow["jobs"]["publish"], &publish);
    assert!(!publish.join("dist/.i3s-bundle-cache.json").exists());
    assert!(publish.join("bin/i3s-bundle").exists());
    let state = canonical_state(&appliance);
    let plans = state["/rest/deployment-plans"].as_array().unwrap();
    for (plan, image) in &attachments {
        let on_appliance = plans
            .iter()
            .find(|p| p["name"] == plan.as_str())
            .unwrap_or_else(|| panic!("{plan} not published: {state}"));
        assert_eq!(on_appliance["goldenImage"], image.as_str(), "{plan}");
    }
    let published: Value =
        serde_json::from_slice(&std::fs::read(publish.join("publish-report.json")).unwrap())
            .unwrap();
    assert_eq!(published["changed"], true);

    // The same tag published again: nothing changes.
    let again = temp.path().join("publish-job-again");
    runner.run_job(&workflow["jobs"]["publish"], &again);
    let published: Value =
        serde_json::from_slice(&std::fs::read(again.join("publish-report.json")).unwrap()).unwrap();
    assert_eq!(published["changed"], false, "{published}");

    let summary = std::fs::read_to_string(&runner.summary).unwrap();
    assert!(
        summary.contains("## Bundles")
            && summary.contains("## Publish")
            && summary.contains("### Lint:")
            && summary.contains("Rehearsal: a second publish changed nothing"),
        "{summary}"
    );
}
