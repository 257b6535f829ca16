//! README's "Try it without hardware" block, run as written (bash, in a copy of the project, the
//! tool built by this test run on PATH): build → simulate --demo → publish → deploy must end with
//! the node reported ready. The block uses the simulator's default ports (8443, Consul 8500).
use crate::common;

use std::path::Path;
use std::process::Command;

/// The first ```sh block after the heading.
fn tour_block() -> String {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let section = readme
        .split_once("## Try it without hardware")
        .expect("README has a \"Try it without hardware\" section")
        .1;
    let block = section.split_once("```sh\n").expect("a sh block").1;
    block.split_once("```").expect("closed").0.to_string()
}

fn copy_project(to: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in [
        "bundles-src",
        "templates",
        "golden-images",
        "deployments",
        "attributes.toml",
    ] {
        let status = Command::new("cp")
            .arg("-r")
            .arg(root.join(dir))
            .arg(to)
            .status()
            .unwrap();
        assert!(status.success(), "copying {dir}");
    }
}

#[test]
#[ignore = "slow: waits for a simulated deploy, ~20 s (cargo test -- --include-ignored)"]
fn the_readme_tour_deploys_a_node_that_reports_ready() {
    let _ports = common::default_ports();
    let block = tour_block();
    assert!(
        block.contains("simulate --demo") && block.contains("deploy deployments/debian-01.toml"),
        "{block}"
    );
    let project = tempfile::tempdir().unwrap();
    copy_project(project.path());
    let bin = Path::new(env!("CARGO_BIN_EXE_i3s-bundle"))
        .parent()
        .unwrap();
    // The background simulator goes when the block ends, however it ends.
    let script = format!("set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n{block}");
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(project.path())
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .output()
        .unwrap();
    let text = common::output_text(&output);
    assert!(output.status.success(), "{script}\n---\n{text}");
    assert!(
        text.contains("debian-01: deployed, the node reports ready"),
        "{text}"
    );
    assert!(
        !text.contains("node-token") && !text.contains("gossip-key"),
        "{text}"
    );
}
