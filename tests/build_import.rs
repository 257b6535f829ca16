//! `import` → `build` round trip of each reference bundle: every artifact, step, attribute and
//! content comes back equal (each JSON entry equal as JSON), and the manifest too.
use crate::common;

use assert_cmd::Command;
use i3s_bundle::bundle::{ReadOptions, read_bundle, verify::verify};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("i3s-bundle").unwrap();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// Every JSON entry of a bundle, parsed (key order does not matter to `Value` equality).
fn json_entries(path: &Path) -> BTreeMap<String, Value> {
    let loaded = read_bundle(path, &ReadOptions::default()).unwrap();
    loaded
        .raw
        .iter()
        .filter(|(name, _)| name.ends_with(".json"))
        .map(|(name, bytes)| (name.clone(), serde_json::from_slice(bytes).unwrap()))
        .collect()
}

fn import(zip: &Path, into: &Path) -> String {
    let out = bin()
        .arg("import")
        .arg(zip)
        .arg("--into")
        .arg(into)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_round_trip(original: &Path, rebuilt: &Path) {
    let (a, b) = (
        read_bundle(original, &ReadOptions::default()).unwrap(),
        read_bundle(rebuilt, &ReadOptions::default()).unwrap(),
    );
    assert!(verify(&b).is_clean(), "{:?}", verify(&b).problems);
    // The core's diff: no difference in manifest, artifacts, steps, attributes or content.
    let changes = i3s_bundle::bundle::diff::diff(&a.bundle, &b.bundle);
    assert!(
        changes.is_empty(),
        "{}",
        serde_json::to_string_pretty(&changes).unwrap()
    );
    // And the command line, as a user would run it.
    bin()
        .arg("diff")
        .arg(original)
        .arg(rebuilt)
        .assert()
        .code(0);
    bin().arg("verify").arg(rebuilt).assert().code(0);
    assert_eq!(a.bundle.manifest, b.bundle.manifest);
    assert_eq!(a.bundle.checksum, b.bundle.checksum);
    assert_eq!(
        original.file_name(),
        rebuilt.file_name(),
        "zip name = MANIFEST Artifact Name + .zip"
    );
    let (ja, jb) = (json_entries(original), json_entries(rebuilt));
    assert_eq!(
        ja.keys().collect::<Vec<_>>(),
        jb.keys().collect::<Vec<_>>(),
        "same artifacts (by uuid)"
    );
    for (name, value) in &ja {
        assert_eq!(value, &jb[name], "{name} differs");
    }
    // And through the typed model: steps in order and attributes in their declared order.
    for plan in &a.bundle.build_plans {
        let other = b.bundle.build_plan_by_name(&plan.name).unwrap();
        assert_eq!(
            plan.steps,
            other
                .steps
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    s.key_order = plan.steps[0].key_order.clone();
                    s
                })
                .collect::<Vec<_>>()
        );
        let names = |p: &i3s_bundle::bundle::BuildPlan| {
            p.custom_attributes
                .iter()
                .map(|a| {
                    (
                        a.name.clone(),
                        a.value.clone(),
                        a.attribute_type.clone(),
                        a.constraints.encode(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(names(plan), names(other));
    }
    for script in &a.bundle.plan_scripts {
        assert_eq!(
            script.content,
            b.bundle.plan_script_by_id(&script.id).unwrap().content
        );
    }
}

#[test]
fn each_reference_bundle_imports_and_rebuilds_equal() {
    for name in common::REFERENCE_BUNDLES {
        let dir = tempfile::tempdir().unwrap();
        let warnings = import(&common::fixture(name), dir.path());
        assert!(!warnings.contains("error"), "{warnings}");
        let out = bin().current_dir(dir.path()).arg("build").output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rebuilt = dir.path().join("dist").join(name);
        assert_round_trip(&common::fixture(name), &rebuilt);
        // Rebuilt zips are readable by the usual tools.
        if common::require_tool("unzip") {
            common::unzip_test(&rebuilt).unwrap();
        }
    }
}

#[test]
fn the_three_reference_bundles_share_one_project_and_known_drift_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    for name in common::REFERENCE_BUNDLES {
        import(&common::fixture(name), dir.path());
    }
    // The CentOS and Fedora 2018-06-09 bundles share seven byte-identical scripts: one file each.
    let files = std::fs::read_dir(dir.path().join("plan-scripts"))
        .unwrap()
        .count();
    let distinct: std::collections::BTreeSet<String> = common::REFERENCE_BUNDLES
        .iter()
        .flat_map(|n| {
            read_bundle(&common::fixture(n), &ReadOptions::default())
                .unwrap()
                .bundle
                .plan_scripts
                .into_iter()
                .map(|p| p.id)
        })
        .collect();
    assert!(
        files <= distinct.len(),
        "{files} files for {} distinct plan scripts",
        distinct.len()
    );
    let out = bin()
        .current_dir(dir.path())
        .args(["build", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["bundles"].as_array().unwrap().len(), 3);
    for name in common::REFERENCE_BUNDLES {
        assert_round_trip(&common::fixture(name), &dir.path().join("dist").join(name));
    }
    // The hand-declared lists of 2018-06-09 miss CONSUL_FQDN in the Docker plan: a drift warning.
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("HudsonAlpha_Docker_CentOS7.4") && warnings.contains("@CONSUL_FQDN@"),
        "{warnings}"
    );
    // Importing the same bundle twice refuses to overwrite.
    let again = bin()
        .arg("import")
        .arg(common::fixture(common::FEDORA_2018_06))
        .arg("--into")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
}
