//! The DAS claim ledger, run for real: the `das_*` functions of the rendered Docker CE and
//! OpenStack scripts against a fake /dev/mapper. Docker CE takes the first disk, OpenStack the
//! next ones, nothing is claimed twice, and a consumer refuses to run before das-cleanup.
use crate::content_support;
use content_support::*;

use std::process::Command;

fn das_functions(plan_suffix: &str, script_path: &str) -> String {
    let plan = our_plans()
        .into_iter()
        .find(|p| p.name.ends_with(plan_suffix))
        .unwrap();
    let script = plan
        .steps
        .iter()
        .flat_map(|(_, c)| parse_script(c).unwrap().uploads)
        .find(|u| u.path == script_path)
        .unwrap_or_else(|| panic!("{plan_suffix}: no {script_path}"))
        .content;
    let start = script.find("DAS_LEDGER=").expect("das functions");
    let end = script[start..].find("\ndas_claim() {").unwrap() + start;
    let claim = bash_function(&script, "das_claim").unwrap();
    format!("{}\n{claim}", &script[start..end])
}

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new(disks: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("mapper")).unwrap();
        for d in disks {
            std::fs::write(dir.path().join("mapper").join(d), "").unwrap();
        }
        Node { dir }
    }
    fn ledger(&self) -> std::path::PathBuf {
        self.dir.path().join("DAS.consumed")
    }
    /// Runs `das_claim COUNT` from the given functions; (success, stdout).
    fn claim(&self, functions: &str, count: u32) -> (bool, String) {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("set -euo pipefail\n{functions}\ndas_claim {count}"))
            .env("DAS_LEDGER", self.ledger())
            .env("DAS_MAPPER", self.dir.path().join("mapper"))
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8(out.stdout).unwrap())
    }
}

#[test]
fn disks_are_claimed_in_order_once_and_only_after_cleanup() {
    let docker_ce = das_functions("Docker CE", "/usr/local/bin/docker-install.sh");
    let openstack = das_functions(
        "OpenStack all-in-one",
        "/usr/local/bin/openstack-install.sh",
    );
    let node = Node::new(&[
        "mpatha", "mpatha1", "mpathb", "mpathc", "mpathd", "mpathe", "control",
    ]);

    // Before das-cleanup has started the ledger, nobody claims anything.
    assert_eq!(node.claim(&docker_ce, 1), (false, String::new()));
    assert!(!node.ledger().exists());

    std::fs::write(node.ledger(), "").unwrap(); // what das-cleanup does last
    assert_eq!(node.claim(&docker_ce, 1), (true, "mpatha\n".into()));
    assert_eq!(node.claim(&openstack, 2), (true, "mpathb\nmpathc\n".into()));
    assert_eq!(node.claim(&openstack, 2), (true, "mpathd\nmpathe\n".into()));
    // Not enough left: fails and records nothing.
    assert_eq!(node.claim(&openstack, 1), (false, String::new()));
    assert_eq!(
        std::fs::read_to_string(node.ledger()).unwrap(),
        "mpatha\nmpathb\nmpathc\nmpathd\nmpathe\n"
    );
}

#[test]
fn openstack_finds_the_ledger_after_the_distribution_docker_too() {
    // The distribution Docker claims nothing: OpenStack starts at the first disk.
    let openstack = das_functions(
        "OpenStack compute",
        "/usr/local/bin/openstack-compute-install.sh",
    );
    let node = Node::new(&["mpatha", "mpathb", "mpathc"]);
    std::fs::write(node.ledger(), "").unwrap();
    assert_eq!(node.claim(&openstack, 2), (true, "mpatha\nmpathb\n".into()));
}
