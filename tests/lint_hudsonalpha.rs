//! Acceptance: lint reports every defect the reference lab shipped in its 2018-06-09 bundles
//! (docs/reference-bundles.md §5, §8), by rule id and artifact name, and nothing
//! structural on the bundle where those defects were not yet present.
use crate::common;

use common::{CENTOS_2018_03, CENTOS_2018_06, FEDORA_2018_06, fixture};
use i3s_bundle::lint::{self, Finding, LintOptions};

fn lint(name: &str) -> Vec<Finding> {
    lint::lint_zip(&fixture(name), &LintOptions::default())
        .unwrap()
        .findings
}

fn assert_finding(findings: &[Finding], rule: &str, artifact: &str, message_part: &str) {
    assert!(
        findings
            .iter()
            .any(|f| f.rule == rule && f.artifact == artifact && f.message.contains(message_part)),
        "expected {rule} on {artifact:?} mentioning {message_part:?}; got:\n{}",
        findings
            .iter()
            .map(|f| format!("  {} {} {}", f.rule, f.artifact, f.message))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn centos_2018_06_09_shipped_defects() {
    let f = lint(CENTOS_2018_06);
    let docker = "2018-03-15-HudsonAlpha_Docker_CentOS7.4";
    // mount and umount swapped
    assert_finding(&f, "I3S001", docker, "HudsonAlpha_CentOS7.4_umount");
    assert_finding(&f, "I3S002", docker, "HudsonAlpha_CentOS7.4_mount");
    assert_finding(&f, "I3S003", docker, "after the unmount in step 1");
    // CONSUL_FQDN missing from the Docker plan
    assert_finding(&f, "I3S020", docker, "@CONSUL_FQDN@");
    // static-IP attributes missing from OpenStack all-in-one
    for name in ["SERVER_IP", "SERVER_MASK", "SERVER_GW", "DNS_IP", "VLAN_ID"] {
        assert_finding(
            &f,
            "I3S020",
            "2018-03-15-HudsonAlpha_OpenStack_all-in-one",
            &format!("@{name}@"),
        );
    }
    // DHCP description on a static plan
    assert_finding(&f, "I3S080", docker, "says DHCP");
    // the nested here-document in the static bond script
    assert_finding(
        &f,
        "I3S031",
        "2018-03-15-HudsonAlpha_NICbond_static_systemd",
        "upload",
    );
    // the literal newline in the cgroup sed (master and worker)
    assert_finding(
        &f,
        "I3S071",
        "2018-06-04-HudsonAlpha_K8s_master_systemd",
        "sed",
    );
    assert_finding(
        &f,
        "I3S071",
        "2018-06-04-HudsonAlpha_K8s_worker_systemd",
        "sed",
    );
    // the DAS marker never written before OpenStack
    assert_finding(
        &f,
        "I3S060",
        "2018-03-15-HudsonAlpha_OpenStack_all-in-one",
        "/root/.DAS.consumed",
    );
    assert_finding(
        &f,
        "I3S060",
        "2018-03-15-HudsonAlpha_OpenStack_compute",
        "/root/.DAS.consumed",
    );
    // the k8s-minion symlink
    assert_finding(
        &f,
        "I3S053",
        "2018-06-04-HudsonAlpha_K8s_worker_systemd",
        "k8s-minion-install.service",
    );

    // Places: zip entry and line within `content`.
    let nested = f.iter().find(|x| x.rule == "I3S031").unwrap();
    assert_eq!(
        nested
            .place
            .entry
            .as_deref()
            .map(|e| e.ends_with("_planscript.json")),
        Some(true)
    );
    assert_eq!(nested.place.line, Some(38));
    assert_eq!(
        nested.snippet.as_deref(),
        Some("upload -<<END /etc/systemd/system/network-bond.service")
    );
    let minion = f.iter().find(|x| x.rule == "I3S053").unwrap();
    assert_eq!(minion.place.line, Some(105));

    // Every other finding is shellcheck's, or the two tolerated consequences of the nested
    // here-document (the shell here-document it leaves open).
    let expected = [
        "I3S001", "I3S002", "I3S003", "I3S020", "I3S031", "I3S053", "I3S060", "I3S070", "I3S071",
        "I3S072", "I3S080",
    ];
    let others: Vec<String> = f
        .iter()
        .filter(|x| !expected.contains(&x.rule.as_str()))
        .map(|x| format!("{} {}", x.rule, x.message))
        .collect();
    assert!(others.is_empty(), "unexpected findings: {others:#?}");
    assert_eq!(
        f.iter().filter(|x| x.rule == "I3S020").count(),
        6,
        "5 in all-in-one + CONSUL_FQDN in Docker"
    );
}

#[test]
fn fedora27_2018_06_09_shipped_defects() {
    let f = lint(FEDORA_2018_06);
    let docker = "2018-03-15-HudsonAlpha_Docker_Fedora27";
    assert_finding(&f, "I3S020", docker, "@CONSUL_FQDN@");
    assert_finding(&f, "I3S080", docker, "says DHCP");
    assert_finding(
        &f,
        "I3S031",
        "2018-03-15-HudsonAlpha_NICbond_static_systemd",
        "upload",
    );
    // The DataDog unit (copied from the CentOS bundle) orders itself after an OpenStack unit
    // that no Fedora plan script writes.
    assert_finding(
        &f,
        "I3S052",
        "2018-03-15-HudsonAlpha_DataDog_systemd",
        "openstack-install.service",
    );
    assert!(
        !f.iter()
            .any(|x| ["I3S001", "I3S002", "I3S003"].contains(&x.rule.as_str())),
        "Fedora plans mount first and unmount last"
    );
    let expected = ["I3S020", "I3S031", "I3S052", "I3S070", "I3S072", "I3S080"];
    let others: Vec<String> = f
        .iter()
        .filter(|x| !expected.contains(&x.rule.as_str()))
        .map(|x| format!("{} {}", x.rule, x.message))
        .collect();
    assert!(others.is_empty(), "unexpected findings: {others:#?}");
}

#[test]
fn centos_2018_03_15_had_consistent_attributes_and_order() {
    // The notes: in 2018-03-15 "the declared attribute lists were still complete and consistent";
    // mount/umount were in order. Only the nested here-document was already there.
    let f = lint(CENTOS_2018_03);
    for rule in [
        "I3S001", "I3S002", "I3S003", "I3S020", "I3S021", "I3S060", "I3S053",
    ] {
        assert!(
            !f.iter().any(|x| x.rule == rule),
            "{rule} on the 2018-03-15 bundle: {f:#?}"
        );
    }
    assert!(f.iter().any(|x| x.rule == "I3S031"));
}
