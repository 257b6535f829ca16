//! Two builds of disjoint `--bundle` sets at the same time both keep their cache records (issue
//! #19, item 13): the cache is merged under a lock, so a third build has nothing to do.
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const PER_GROUP: usize = 30;

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Groups `a` and `b`, each of [`PER_GROUP`] bundles with a plan script of their own.
fn two_group_project(root: &Path) {
    for group in ["a", "b"] {
        for n in 0..PER_GROUP {
            let name = format!("{group}{n:02}");
            write(
                root,
                &format!("plan-scripts/{name}.gf"),
                &format!("# name: {name}\n# type: general\necho {name}\n"),
            );
            write(
                root,
                &format!("bundles-src/{name}.toml"),
                &format!(
                    "[bundle]\nname = \"{name}\"\nversion = \"2026.11.26\"\n[[build_plan]]\nname = \"p\"\nsteps = [ {{ plan_script = \"{name}\" }} ]\n"
                ),
            );
        }
    }
}

fn build_group(root: &Path, group: &str) -> std::process::Child {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("i3s-bundle"));
    cmd.current_dir(root)
        .arg("build")
        .env_remove("SOURCE_DATE_EPOCH");
    for n in 0..PER_GROUP {
        cmd.args(["--bundle", &format!("{group}{n:02}")]);
    }
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn concurrent_builds_of_disjoint_bundles_keep_every_cache_update() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    two_group_project(root);

    let (a, b) = (build_group(root, "a"), build_group(root, "b"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let out = Command::cargo_bin("i3s-bundle")
        .unwrap()
        .current_dir(root)
        .env_remove("SOURCE_DATE_EPOCH")
        .args(["build", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rebuilt: Vec<String> = report["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] != "up_to_date")
        .map(|b| format!("{} ({})", b["bundle"], b["reason"]))
        .collect();
    assert_eq!(report["bundles"].as_array().unwrap().len(), 2 * PER_GROUP);
    assert!(
        rebuilt.is_empty(),
        "{} needless rebuilds: {rebuilt:?}",
        rebuilt.len()
    );
}
