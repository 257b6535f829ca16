//! One CLI grammar (issue 18, points 4 and 5): the project root is found from any
//! subdirectory, every argument has help and every command examples, completions and man pages
//! come from the same definitions, `lint --json` works.
use assert_cmd::Command;
use clap::CommandFactory;
use std::path::Path;

fn bin(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("i3s-bundle").unwrap();
    cmd.current_dir(dir)
        .env("I3S_LINT_CACHE", dir.join(".lint-cache"));
    cmd
}

/// A fresh project from `init` (the real skeleton) in a temporary directory.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    bin(dir.path()).args(["init", "."]).assert().success();
    dir
}

#[test]
fn build_from_a_subdirectory_builds_the_enclosing_project() {
    let project = project();
    let sub = project.path().join("templates/_lib");
    bin(&sub).arg("build").assert().success();
    assert!(
        project
            .path()
            .join("dist/Example-CentOS7.4_2026.11.26.zip")
            .is_file()
    );
    assert!(
        !sub.join("dist").exists(),
        "nothing is written where we stood"
    );
    // The old spelling of the option still works.
    bin(&sub)
        .args(["build", "--repo"])
        .arg(project.path())
        .assert()
        .success();
}

#[test]
fn render_and_lint_from_a_subdirectory_find_the_project() {
    let project = project();
    let sub = project.path().join("bundles-src");
    bin(&sub)
        .args(["render", "example", "hostname"])
        .assert()
        .success();
    let out = bin(&sub)
        .args(["lint", "--json", "--no-shellcheck"])
        .output()
        .unwrap();
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "{out:?}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.is_object(), "{report}");
}

#[test]
fn outside_any_project_commands_say_where_they_searched_and_what_to_do() {
    let outside = tempfile::tempdir().unwrap();
    for args in [
        &["build"][..],
        &["render", "example", "hostname"],
        &["lint"],
        &["simulate", "--demo"],
    ] {
        let out = bin(outside.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: could not run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let here = outside.path().canonicalize().unwrap();
        for needle in [
            "not inside an i3s-bundle project",
            &here.display().to_string(),
            "bundles-src/",
            "-C DIR",
            "i3s-bundle init",
        ] {
            assert!(stderr.contains(needle), "{args:?}: {needle:?} in {stderr}");
        }
    }
}

#[test]
fn lint_json_is_the_same_report_as_the_old_format_json_spelling() {
    let project = project();
    let run = |args: &[&str]| {
        let out = bin(project.path())
            .args(["lint", "--no-shellcheck", "--no-cache"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{args:?}: {out:?}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("tip:"),
            "{out:?}"
        );
        out.stdout
    };
    let json = run(&["--json"]);
    assert!(serde_json::from_slice::<serde_json::Value>(&json).is_ok());
    assert_eq!(json, run(&["--format", "json"]));
    // One format only: --json with --format sarif is refused.
    bin(project.path())
        .args(["lint", "--json", "--format", "sarif"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("cannot be used with"));
}

/// Walks the whole command tree: every argument has help, every command an examples section.
#[test]
fn every_argument_has_help_and_every_command_examples() {
    let mut problems = Vec::new();
    walk(
        &i3s_bundle::cli::Cli::command(),
        "i3s-bundle",
        &mut problems,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn walk(command: &clap::Command, path: &str, problems: &mut Vec<String>) {
    let is_root = path == "i3s-bundle";
    if !is_root
        && command
            .get_after_help()
            .or(command.get_after_long_help())
            .is_none_or(|h| !h.to_string().contains("Examples:"))
    {
        problems.push(format!("{path}: no examples (after_help)"));
    }
    for arg in command.get_arguments() {
        let builtin = matches!(arg.get_id().as_str(), "help" | "version");
        if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
            problems.push(format!("{path} {}: no help", arg.get_id()));
        }
    }
    for sub in command.get_subcommands() {
        walk(sub, &format!("{path} {}", sub.get_name()), problems);
    }
}

#[test]
fn bash_completions_parse_and_name_the_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin(dir.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    for name in ["build", "lint", "golden-image", "completions", "publish"] {
        assert!(script.contains(name), "{name} missing");
    }
    let file = dir.path().join("i3s-bundle.bash");
    std::fs::write(&file, &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    // Sourced, it completes a subcommand: `i3s-bundle bui<TAB>` offers build.
    let complete = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "set -e; source {}; COMP_WORDS=(i3s-bundle bui); COMP_CWORD=1; COMP_LINE='i3s-bundle bui'; \
             COMP_POINT=${{#COMP_LINE}}; f=$(complete -p i3s-bundle | sed -E 's/.*-F ([^ ]+).*/\\1/'); \
             \"$f\" i3s-bundle bui i3s-bundle; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .unwrap();
    let offered = String::from_utf8_lossy(&complete.stdout);
    assert!(offered.lines().any(|l| l == "build"), "{complete:?}");
}

#[test]
fn man_pages_are_written_per_command_and_render() {
    let dir = tempfile::tempdir().unwrap();
    bin(dir.path())
        .args(["man", "--out", "pages"])
        .assert()
        .success();
    let pages = dir.path().join("pages");
    for page in [
        "i3s-bundle.1",
        "i3s-bundle-build.1",
        "i3s-bundle-golden-image-fake.1",
    ] {
        assert!(pages.join(page).is_file(), "{page} missing");
    }
    let text = std::fs::read_to_string(pages.join("i3s-bundle-build.1")).unwrap();
    assert!(
        text.contains("Examples:"),
        "the examples reach the man page"
    );
    // groff renders it without warnings (groff is on Debian CI images via man-db).
    let Ok(render) = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(pages.join("i3s-bundle-build.1"))
        .output()
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "groff is needed under CI"
        );
        eprintln!("SKIPPED: groff not installed; the man page was not rendered");
        return;
    };
    assert!(render.status.success(), "{render:?}");
    assert!(
        render.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&render.stderr)
    );
}

/// Every example line of every command's help parses with the real definitions: no invented
/// flag, no missing value, no unknown subcommand (what it would do is the command's own tests').
#[test]
fn every_example_parses_with_the_real_arguments() {
    let mut examples = Vec::new();
    collect_examples(&i3s_bundle::cli::Cli::command(), &mut examples);
    assert!(examples.len() > 20, "{examples:?}");
    let mut problems = Vec::new();
    for line in &examples {
        // One command line: from "i3s-bundle" to a shell operator or a comment.
        let Some(start) = line.find("i3s-bundle ") else {
            continue;
        };
        let command = line[start..]
            .split(['|', '>', '#', ')'])
            .next()
            .unwrap()
            .split("&&")
            .next()
            .unwrap();
        let words = shlex::split(command).unwrap_or_else(|| panic!("unbalanced quotes: {line}"));
        if let Err(e) = <i3s_bundle::cli::Cli as clap::Parser>::try_parse_from(&words) {
            problems.push(format!(
                "{line}\n    {}",
                e.to_string().lines().next().unwrap_or("")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn collect_examples(command: &clap::Command, out: &mut Vec<String>) {
    for help in [command.get_after_help(), command.get_after_long_help()]
        .into_iter()
        .flatten()
    {
        out.extend(help.to_string().lines().map(str::to_string));
    }
    for sub in command.get_subcommands() {
        collect_examples(sub, out);
    }
}

/// Every command, nested ones too, takes the global `-q` and `-v`.
#[test]
fn every_command_takes_quiet_and_verbose() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        // clap's generated `help` subcommands take no options.
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{path} {}", sub.get_name());
            for (id, short) in [("quiet", 'q'), ("verbose", 'v')] {
                let arg = sub.get_arguments().find(|a| a.get_id() == id);
                if arg.and_then(|a| a.get_short()) != Some(short) {
                    missing.push(format!("{path}: -{short}"));
                }
            }
            walk(sub, &path, missing);
        }
    }
    let mut cmd = i3s_bundle::cli::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "i3s-bundle", &mut missing);
    assert!(missing.is_empty(), "{missing:#?}");
}

/// `-q` silences progress and notes on stderr, not the result; `-q -v` is refused.
#[test]
fn quiet_silences_progress_not_results() {
    let project = project();
    bin(project.path()).arg("build").assert().success();
    let zip = project.path().join("dist/Example-CentOS7.4_2026.11.26.zip");
    let loud = bin(project.path())
        .arg("verify")
        .arg(&zip)
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&loud.get_output().stderr).contains(": ok"));
    let quiet = bin(project.path())
        .args(["verify", "-q"])
        .arg(&zip)
        .assert()
        .success();
    assert_eq!(String::from_utf8_lossy(&quiet.get_output().stderr), "");
    let quiet = bin(project.path())
        .args(["-q", "inspect"])
        .arg(&zip)
        .assert()
        .success();
    assert!(
        !quiet.get_output().stdout.is_empty(),
        "the result still prints"
    );
    bin(project.path())
        .args(["verify", "-q", "-v"])
        .arg(&zip)
        .assert()
        .code(2);
}

/// Sizes take units (one parser: parse-size, binary); a bad one says what is expected.
#[test]
fn sizes_take_units_and_bad_ones_say_what_is_expected() {
    let project = project();
    bin(project.path()).arg("build").assert().success();
    let zip = project.path().join("dist/Example-CentOS7.4_2026.11.26.zip");
    bin(project.path())
        .args(["inspect", "--max-entry-size", "64MiB"])
        .arg(&zip)
        .assert()
        .success();
    let small = bin(project.path())
        .args(["inspect", "--max-entry-size", "1K"])
        .arg(&zip)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&small.get_output().stderr).into_owned();
    assert!(
        stderr.contains("limit of 1024") && stderr.contains("--max-entry-size"),
        "{stderr}"
    );
    let bad = bin(project.path())
        .args(["inspect", "--max-entry-size", "12X"])
        .arg(&zip)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&bad.get_output().stderr).into_owned();
    assert!(stderr.contains("e.g. 256M"), "{stderr}");
    let help = bin(project.path())
        .args(["inspect", "--help"])
        .assert()
        .success();
    assert!(String::from_utf8_lossy(&help.get_output().stdout).contains("[default: 64MiB]"));
}

/// `lint` reads the project's i3s-lint.toml from a subdirectory too, and `import` writes into
/// the project holding the current directory (`-C`; `--into` still works).
#[test]
fn lint_config_and_import_find_the_project_from_a_subdirectory() {
    let project = project();
    let sub = project.path().join("templates/_lib");
    std::fs::write(project.path().join("i3s-lint.toml"), "deny = [\n").unwrap();
    let out = bin(&sub).arg("lint").assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("i3s-lint.toml"), "{stderr}");
    std::fs::remove_file(project.path().join("i3s-lint.toml")).unwrap();

    let zip = crate::common::fixture(crate::common::FEDORA_2018_06);
    let out = bin(&sub)
        .arg("import")
        .arg(&zip)
        .arg("--json")
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let written = Path::new(report["bundle_file"].as_str().unwrap());
    let written = if written.is_absolute() {
        written.to_path_buf()
    } else {
        sub.join(written)
    };
    assert!(
        written.starts_with(project.path()) && !sub.join("bundles-src").exists(),
        "{report:#}"
    );
    assert!(
        project
            .path()
            .join("bundles-src")
            .read_dir()
            .unwrap()
            .count()
            > 1
    );
}

/// `publish --all` and `status` take dist/ of the project holding the current directory: from a
/// subdirectory they get as far as the appliance settings (none here), not "dist: no such file".
#[test]
fn publish_and_status_find_the_projects_dist_from_a_subdirectory() {
    let project = project();
    bin(project.path()).arg("build").assert().success();
    let sub = project.path().join("templates");
    for args in [&["publish", "--all", "--dry-run"][..], &["status"][..]] {
        let out = bin(&sub)
            .args(args)
            .env_remove("ONEVIEWSDK_IP")
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            stderr.contains("ONEVIEWSDK_IP") && !stderr.contains("dist"),
            "{args:?}: {stderr}"
        );
    }
}
