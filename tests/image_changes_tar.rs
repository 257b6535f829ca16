//! A deploy plan's result rebuilt from the golden image's tree plus the plan's changes tar (what
//! `simulate --boot-image` does for every deploy) is the same tree as a full export of the
//! result: same entries, types, modes, owners, sizes, link targets and file contents. On the
//! Debian fake with the Debian deploy plan: one launch runs the plan, one exports the fake, one
//! the result. Under CI=true it must run; elsewhere it skips loudly without guestfish or root.
use crate::common;

use i3s_bundle::guestfish::driver::DiskFormat;
use i3s_bundle::image::listing::ChangeKind;
use i3s_bundle::image::{OsDefinition, boot, fake, run};
use std::collections::BTreeMap;
use std::path::Path;

/// Every entry under `tree`: type, mode, owner, size, link target and, for files, a sha256.
fn inventory(tree: &Path) -> BTreeMap<String, String> {
    let list = std::process::Command::new("sh")
        .arg("-c")
        .arg("find . -printf '%p\\t%y %m %U %G %s %l\\n' && find . -type f -exec sha256sum {} +")
        .current_dir(tree)
        .output()
        .unwrap();
    assert!(list.status.success());
    let mut entries = BTreeMap::new();
    for line in String::from_utf8_lossy(&list.stdout).lines() {
        match line.split_once('\t') {
            Some((path, meta)) => entries.insert(path.to_string(), meta.to_string()),
            None => {
                let (sum, path) = line.split_once("  ").unwrap();
                entries.insert(format!("{path} sha256"), sum.to_string())
            }
        };
    }
    entries
}

#[test]
#[ignore = "slow: guestfish (cargo test -- --include-ignored)"]
fn golden_tree_plus_the_changes_tar_is_the_plans_result() {
    if !common::require_tool("guestfish") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(
            !std::env::var("CI").is_ok_and(|v| v == "true"),
            "unpacking owners needs root under CI"
        );
        eprintln!("\n*** SKIPPED: unpacking the trees with their owners needs root ***\n");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let os = OsDefinition::load(&root.join("golden-images/debian12")).unwrap();
    let image = work.path().join("debian12.qcow2");
    fake(&os, &image, fake::DEFAULT_SIZE).unwrap();
    let source = root.join("bundles-src/debian12.toml");
    let project = i3s_bundle::lint::sources::compile_project(root, Some(&source)).unwrap();
    let bundle = &project[0].compiled.bundle;
    let plan = bundle
        .build_plan_by_name("i3s-bundle - Debian 12 - Docker")
        .unwrap();
    let values = run::sample_values(bundle, plan);
    let mut prepared = run::prepare(
        &source,
        bundle,
        &plan.name,
        &values,
        run::HostAccess::Refuse,
    )
    .unwrap();
    let changes = work.path().join("changes.tar");
    prepared.changes_tar = Some(changes.clone());
    let ran = run::run_jobs_kept(&[(image.as_path(), &prepared)], None).unwrap();
    let report = &ran.report.plans[0];
    assert!(report.succeeded(), "{report:#?}");
    let root_device = prepared.root_device.clone().unwrap();

    let full = work.path().join("full");
    boot::export_tree(&ran.overlays[0], &root_device, &full).unwrap();
    let golden = work.path().join("golden.qcow2");
    run::create_overlay(&image, DiskFormat::Qcow2, &golden).unwrap();
    let rebuilt = work.path().join("rebuilt");
    boot::export_tree(&golden, &root_device, &rebuilt).unwrap();
    boot::unpack(&changes, &rebuilt).unwrap();
    let listed = report.changes.as_ref().unwrap();
    let removed: Vec<_> = listed
        .iter()
        .filter(|c| c.kind == ChangeKind::Removed)
        .collect();
    for change in &removed {
        let path = rebuilt.join(change.path.trim_start_matches('/'));
        if path.is_dir() && !path.is_symlink() {
            std::fs::remove_dir_all(&path).unwrap();
        } else if path.symlink_metadata().is_ok() {
            std::fs::remove_file(&path).unwrap();
        }
    }
    assert!(
        listed.len() > 20 && !removed.is_empty(),
        "the plan changes and removes entries: {listed:#?}"
    );
    let (a, b) = (inventory(&full), inventory(&rebuilt));
    let differ: Vec<_> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {v} / {:?}", b.get(k)))
        .chain(
            b.keys()
                .filter(|k| !a.contains_key(*k))
                .map(|k| format!("{k}: only rebuilt")),
        )
        .take(20)
        .collect();
    assert!(differ.is_empty(), "rebuilt tree differs: {differ:#?}");
    // And it is not the golden tree: the plan's files are there.
    assert!(
        a.keys()
            .any(|k| k.starts_with("./usr/local/bin/node-status.sh"))
    );
}
