//! The binary without the simulator (#15 point 5): `cargo install --path . --no-default-features`
//! gives a tool that builds, lints and publishes, with no `simulate` and none of its server
//! stack. The test builds it when missing (debug, `<target>/lean`), then builds the repository's bundles,
//! lints them and publishes them into a simulator the default build serves.
use crate::publish_support::{PASSWORD, post, sim_config, start, text};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;

/// `I3S_LEAN_BIN`, else `<target>/lean/debug/i3s-bundle` next to this test's own target dir,
/// built here when it is not there yet (`cargo build --no-default-features`, its own target dir).
fn lean_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("I3S_LEAN_BIN") {
        return PathBuf::from(path);
    }
    let default = PathBuf::from(env!("CARGO_BIN_EXE_i3s-bundle"));
    let target = default.parent().and_then(|p| p.parent()).unwrap();
    let path = target.join("lean/debug/i3s-bundle");
    if !path.is_file() {
        eprintln!(
            "building the lean binary into {}",
            target.join("lean").display()
        );
        let status = Command::new(option_env!("CARGO").unwrap_or("cargo"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["build", "--locked", "--no-default-features", "--target-dir"])
            .arg(target.join("lean"))
            // A binary to run once, not to debug: no debug info and no incremental state make
            // this cold build of ~130 crates markedly cheaper (it runs inside CI's 25 minutes).
            .env("CARGO_PROFILE_DEV_DEBUG", "false")
            .env("CARGO_INCREMENTAL", "0")
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --no-default-features failed");
    }
    path
}

#[test]
#[ignore = "slow: builds the binary without default features the first time (a minute or two)"]
fn the_binary_without_the_simulator_builds_lints_and_publishes() {
    let _heavy = crate::common::heavy();
    let lean = lean_binary();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(&lean);
        cmd.args(args);
        for (key, _) in std::env::vars() {
            if key.starts_with("ONEVIEWSDK_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("CI", "true").output().unwrap()
    };
    // No simulator in it.
    let help = run(&["--help"]);
    assert!(help.status.success(), "{}", text(&help));
    assert!(!String::from_utf8_lossy(&help.stdout).contains("simulate"));
    assert_eq!(run(&["simulate"]).status.code(), Some(2));

    let root = env!("CARGO_MANIFEST_DIR");
    let dist = tempfile::tempdir().unwrap();
    let out = dist.path().to_str().unwrap();
    let build = run(&["build", "--root", root, "--out", out]);
    assert!(build.status.success(), "{}", text(&build));
    let lint = run(&["lint", "--no-cache", "--no-shellcheck", out]);
    assert!(lint.status.success(), "{}", text(&lint));

    // Publish into a simulator of the default build, seeded with the golden images the sidecars
    // name (the appliance holds golden images; the repository does not).
    let sim = start(sim_config());
    let mut images = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(dist.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".publish.json") {
            let sidecar: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            for plan in sidecar["deploymentPlans"].as_object().unwrap().values() {
                images.insert(plan["goldenImage"].as_str().unwrap().to_string());
            }
        }
    }
    assert!(!images.is_empty());
    let seed: Vec<Value> = images
        .iter()
        .map(|n| json!({"type": "GoldenImage", "name": n}))
        .collect();
    assert_eq!(
        post(&sim, "/sim/seed", &json!({"/rest/golden-images": seed})).0,
        201
    );
    let publish = |extra: &[&str]| {
        let mut cmd = Command::new(&lean);
        cmd.args(["publish", "--all", "--dist", out, "--insecure", "--json"])
            .args(extra);
        for (key, _) in std::env::vars() {
            if key.starts_with("ONEVIEWSDK_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("ONEVIEWSDK_IP", &sim.base_url)
            .env("ONEVIEWSDK_IMAGE_STREAMER_IP", &sim.base_url)
            .env("ONEVIEWSDK_USERNAME", "administrator")
            .env("ONEVIEWSDK_PASSWORD", PASSWORD)
            .env("CI", "true")
            .output()
            .unwrap()
    };
    let first = publish(&["--poll-interval", "5"]);
    assert!(first.status.success(), "{}", text(&first));
    let report: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(report["changed"], true);
    let again = publish(&[]);
    assert!(again.status.success(), "{}", text(&again));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["changed"], false, "{report}");
}
