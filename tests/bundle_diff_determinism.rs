//! `diff` on the real bundle history, and byte-identical writes whatever the environment.
use crate::common;
use assert_cmd::Command;
use common::*;
use i3s_bundle::bundle::diff::{ChangeKind, diff};
use i3s_bundle::bundle::{ReadOptions, read_bundle, write_bundle};

#[test]
fn diff_reports_the_real_changes_between_2018_03_and_2018_06() {
    let old = read_bundle(&fixture(CENTOS_2018_03), &ReadOptions::default()).unwrap();
    let new = read_bundle(&fixture(CENTOS_2018_06), &ReadOptions::default()).unwrap();
    let changes = diff(&old.bundle, &new.bundle);
    let find = |list: &[i3s_bundle::bundle::diff::ArtifactChange], name: &str| {
        list.iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no change for {name}:\n{changes}"))
            .clone()
    };
    // The K8s minion plan became the worker plan: a rename (same steps), not a removal and an
    // addition; the K8s plans gained the new DataDog-with-Docker script.
    let worker = find(
        &changes.build_plans,
        "2018-06-04-HudsonAlpha_K8s_Worker_CentOS7.4",
    );
    assert_eq!(worker.change, ChangeKind::Renamed);
    assert_eq!(
        worker.old_name.as_deref(),
        Some("HudsonAlpha_K8s_Minion_CentOS7.4")
    );
    let datadog = find(
        &changes.plan_scripts,
        "2018-06-06-HudsonAlpha_DataDogDocker_systemd",
    );
    assert_eq!(datadog.change, ChangeKind::Added);
    let master = find(
        &changes.build_plans,
        "2018-06-04-HudsonAlpha_K8s_Master_CentOS7.4",
    );
    let added = "step added: \"2018-06-06-HudsonAlpha_DataDogDocker_systemd\"";
    assert!(
        master.details.iter().any(|d| d.starts_with(added)),
        "{:?}",
        master.details
    );
    // Docker-CE split: the old Docker script (which installed Docker-CE) became distro Docker,
    // and a DockerCE script was added.
    let docker = find(
        &changes.plan_scripts,
        "2018-03-15-HudsonAlpha_Docker_systemd",
    );
    assert_eq!(docker.change, ChangeKind::Renamed);
    assert!(
        docker
            .details
            .iter()
            .any(|d| d.contains("Docker-CE engine") && d.starts_with("description")),
        "{:?}",
        docker.details
    );
    assert!(
        docker.content_diff.as_deref().unwrap().contains("@@"),
        "unified diff expected"
    );
    assert_eq!(
        find(
            &changes.plan_scripts,
            "2018-03-15-HudsonAlpha_DockerCE_systemd"
        )
        .change,
        ChangeKind::Added
    );
    // Changed attribute lists: the Docker plan lost CONSUL_FQDN and gained the static-IP set.
    let plan = find(
        &changes.build_plans,
        "2018-03-15-HudsonAlpha_Docker_CentOS7.4",
    );
    assert!(
        plan.details
            .contains(&"attribute removed: CONSUL_FQDN".to_string()),
        "{:?}",
        plan.details
    );
    assert!(
        plan.details
            .contains(&"attribute added: SERVER_IP (string)".to_string()),
        "{:?}",
        plan.details
    );
    assert!(
        plan.details
            .iter()
            .any(|d| d.starts_with("step added: \"2018-03-15-HudsonAlpha_DockerCE_systemd\"")),
        "{:?}",
        plan.details
    );
    // OpenStack all-in-one lost its static-IP attributes.
    let aio = find(
        &changes.build_plans,
        "2018-03-15-HudsonAlpha_OpenStack_all-in-one",
    );
    assert!(
        aio.details
            .contains(&"attribute removed: SERVER_IP".to_string()),
        "{:?}",
        aio.details
    );

    let json = Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["diff", "--json"])
        .arg(fixture(CENTOS_2018_03))
        .arg(fixture(CENTOS_2018_06))
        .assert()
        .code(1);
    let value: serde_json::Value = serde_json::from_slice(&json.get_output().stdout).unwrap();
    assert!(
        value["build_plans"].as_array().unwrap().iter().any(
            |c| c["change"] == "renamed" && c["old_name"] == "HudsonAlpha_K8s_Minion_CentOS7.4"
        )
    );
}

#[test]
fn diff_exit_codes() {
    Command::cargo_bin("i3s-bundle")
        .unwrap()
        .arg("diff")
        .arg(fixture(FEDORA_2018_06))
        .arg(fixture(FEDORA_2018_06))
        .assert()
        .code(0)
        .stdout("");
    Command::cargo_bin("i3s-bundle")
        .unwrap()
        .arg("diff")
        .arg(fixture(FEDORA_2018_06))
        .arg(fixture(CENTOS_2018_06))
        .assert()
        .code(1);
    Command::cargo_bin("i3s-bundle")
        .unwrap()
        .arg("diff")
        .arg(fixture(FEDORA_2018_06))
        .arg("/nonexistent.zip")
        .assert()
        .code(2);
}

#[test]
fn a_rewritten_bundle_diffs_equal_to_its_original() {
    let dir = tempfile::tempdir().unwrap();
    for name in REFERENCE_BUNDLES {
        let out = dir.path().join(name);
        let original = read_bundle(&fixture(name), &ReadOptions::default()).unwrap();
        write_bundle(&original.bundle, &out).unwrap();
        Command::cargo_bin("i3s-bundle")
            .unwrap()
            .arg("diff")
            .arg(fixture(name))
            .arg(&out)
            .assert()
            .code(0);
    }
}

/// Child half of the determinism test: writes a reference bundle where the parent says.
#[test]
fn determinism_child_writer() {
    let Ok(out) = std::env::var("I3S_DETERMINISM_OUT") else {
        return;
    };
    let loaded = read_bundle(&fixture(CENTOS_2018_06), &ReadOptions::default()).unwrap();
    write_bundle(&loaded.bundle, std::path::Path::new(&out)).unwrap();
}

#[test]
fn writes_are_byte_identical_across_tz_umask_directory_and_time() {
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (i, (tz, umask)) in [
        ("UTC", "022"),
        ("Pacific/Chatham", "077"),
        ("America/St_Johns", "002"),
    ]
    .iter()
    .enumerate()
    {
        let out = dir.path().join(format!("run{i}/nested/bundle.zip"));
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "umask {umask}; exec \"$0\" --exact bundle_diff_determinism::determinism_child_writer --test-threads 1 -q"
            ))
            .arg(&exe)
            .env("TZ", tz)
            .env("I3S_DETERMINISM_OUT", &out)
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        outputs.push(std::fs::read(&out).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "writes differ between environments"
    );
    assert!(!outputs[0].is_empty());
}
