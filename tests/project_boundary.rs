//! The project stays inside itself (issue #19, item 5): a source file under `templates/`,
//! `plan-scripts/`, `golden-images/` or `bundles-src/` that is a symlink resolving outside the
//! project is refused by `build`, `lint` and `render`, naming the link and its target, and nothing
//! of the target lands in `dist/`. Symlinks that stay inside the project keep working.
#![cfg(unix)]

use assert_cmd::Command;
use std::os::unix::fs::symlink;
use std::path::Path;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("i3s-bundle").unwrap();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn link(root: &Path, rel: &str, target: &Path) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    symlink(target, path).unwrap();
}

/// A project whose bundle `leak` runs plan script `passwd` and template `t`.
fn project(root: &Path) {
    write(
        root,
        "plan-scripts/hello.gf",
        "# name: hello\n# type: general\necho hello\n",
    );
    write(
        root,
        "templates/t.j2",
        "{#-\nname = \"t\"\nplan_type = \"deploy\"\n-#}\necho t\n",
    );
    write(
        root,
        "bundles-src/leak.toml",
        "[bundle]\nname = \"leak\"\nversion = \"2026.11.26\"\n[[build_plan]]\nname = \"p\"\nsteps = [ { plan_script = \"passwd\" }, { template = \"t\" } ]\n",
    );
}

/// Every file under `dir`, concatenated (empty when `dir` does not exist).
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    if dir.exists() {
        for entry in walkdir::WalkDir::new(dir) {
            let entry = entry.unwrap();
            if entry.file_type().is_file() {
                bytes.extend(std::fs::read(entry.path()).unwrap());
            }
        }
    }
    bytes
}

/// Runs `args` in `root` and returns stderr + stdout, asserting the command failed.
fn refused(root: &Path, args: &[&str]) -> String {
    let out = bin().current_dir(root).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!out.status.success(), "{args:?} succeeded: {text}");
    text
}

#[test]
fn a_plan_script_linked_to_etc_passwd_is_refused_by_build_lint_and_render() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    link(root, "plan-scripts/passwd.gf", Path::new("/etc/passwd"));

    let text = refused(root, &["build"]);
    assert!(
        text.contains("plan-scripts/passwd.gf is a symlink to /etc/passwd")
            && text.contains("outside the project"),
        "{text}"
    );
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let first = passwd.lines().next().unwrap();
    let dist = all_bytes(&root.join("dist"));
    assert!(
        !String::from_utf8_lossy(&dist).contains(first),
        "/etc/passwd leaked into dist/"
    );
    assert!(
        !root.join("dist/leak_2026.11.26.zip").exists(),
        "no bundle is written"
    );

    let cache = dir.path().join("lint-cache");
    let text = refused(root, &["lint", "--cache-dir", cache.to_str().unwrap()]);
    assert!(
        text.contains("plan-scripts/passwd.gf is a symlink to /etc/passwd"),
        "{text}"
    );
    let text = refused(root, &["render", "leak", "passwd"]);
    assert!(
        text.contains("plan-scripts/passwd.gf is a symlink to /etc/passwd"),
        "{text}"
    );
    assert!(!text.contains(first), "render printed /etc/passwd: {text}");
}

#[test]
fn every_source_kind_linked_outside_is_refused_naming_link_and_target() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    let cases: [(&str, &str); 4] = [
        (
            "templates/t.j2",
            "{#-\nname = \"t\"\nplan_type = \"deploy\"\n-#}\necho secret-template\n",
        ),
        (
            "plan-scripts/passwd.gf",
            "# name: passwd\n# type: general\necho secret-script\n",
        ),
        ("golden-images/os1/profile.toml", "id = \"os1\"\n"),
        (
            "bundles-src/leak.toml",
            "[bundle]\nname = \"leak\"\nversion = \"2026.11.26\"\nos = \"os1\"\n[[build_plan]]\nname = \"p\"\nsteps = [ { plan_script = \"passwd\" }, { template = \"t\" } ]\n",
        ),
    ];
    for (rel, text) in cases {
        let root = dir
            .path()
            .join(format!("project-{}", rel.replace('/', "-")));
        // Every file in place and valid; the one under test replaced by a link to an outside copy.
        for (other, other_text) in cases {
            if other != rel {
                write(&root, other, other_text);
            }
        }
        let target = outside.join(rel);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, text).unwrap();
        link(&root, rel, &target);

        let message = refused(&root, &["build"]);
        assert!(
            message.contains(&format!("{rel} is a symlink to {}", target.display())),
            "{rel}: {message}"
        );
        assert!(!root.join("dist/leak_2026.11.26.zip").exists(), "{rel}");
    }
}

#[test]
fn a_symlink_inside_the_project_stays_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    // passwd.gf → hello.gf, a relative link that stays inside; so is a linked templates dir.
    link(root, "plan-scripts/passwd.gf", Path::new("hello.gf"));
    std::fs::rename(root.join("templates"), root.join("shared-templates")).unwrap();
    link(root, "templates", Path::new("shared-templates"));
    let out = bin().current_dir(root).arg("build").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(root.join("dist/leak_2026.11.26.zip").is_file());
}
