//! `import` of hostile bundles (issue #19, items 2–4): names that would rewrite the registry are
//! refused, uuids that differ only in case are a problem `verify` names and `import` refuses, file
//! names are safe on every file system, and a failed import leaves the project as it was.
use crate::common;

use assert_cmd::Command;
use i3s_bundle::bundle::container::ZipWriter;
use i3s_bundle::bundle::{
    AttributeType, BuildPlan, BuildStep, Bundle, CustomAttribute, Manifest, PlanScript,
    ReadOptions, read_bundle, write_bundle,
};
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("i3s-bundle").unwrap();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

/// Every file under `dir` (relative path → bytes); directories as `path/` → empty.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return files;
    }
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if entry.file_type().is_dir() {
            files.insert(format!("{rel}/"), Vec::new());
        } else {
            files.insert(rel, std::fs::read(entry.path()).unwrap());
        }
    }
    files
}

fn script(id: &str, name: &str, content: &str) -> PlanScript {
    PlanScript::new(id.into(), name.into(), "".into(), "general", content.into())
}

/// A bundle whose one build plan runs `scripts` in order and declares `attributes`.
fn bundle(name: &str, scripts: Vec<PlanScript>, attributes: Vec<CustomAttribute>) -> Bundle {
    let mut plan = BuildPlan::new(
        "22222222-2222-4222-8222-222222222222".into(),
        "plan".into(),
        "".into(),
        "deploy",
    );
    for (i, s) in scripts.iter().enumerate() {
        plan.steps.push(BuildStep::new(i + 1, s));
    }
    plan.custom_attributes = attributes;
    Bundle {
        manifest: Manifest::new(name, "hostile", false, "2026-01-02T03:04:06.000Z".into()),
        checksum: Default::default(),
        plan_scripts: scripts,
        golden_images: vec![],
        build_plans: vec![plan],
        deployment_plans: vec![],
    }
}

/// Writes `entries` plus a matching SHA256SUM to a zip, with no validation at all.
fn craft(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut zip = ZipWriter::new(
        std::fs::File::create(path).unwrap(),
        time::macros::datetime!(2026-01-02 03:04:06 UTC),
    );
    let mut sums = String::new();
    for (name, bytes) in entries {
        zip.add_entry(name, &mut &bytes[..], Some(bytes.len() as u64), &mut |_| {})
            .unwrap();
        sums.push_str(&format!(
            "{name}\t{}\n",
            hex::encode(sha2::Sha256::digest(bytes))
        ));
    }
    zip.add_entry(
        "SHA256SUM.sha256sum",
        &mut sums.as_bytes(),
        Some(sums.len() as u64),
        &mut |_| {},
    )
    .unwrap();
    zip.finish().unwrap();
}

fn import(zip: &Path, into: &Path) -> std::process::Output {
    bin()
        .arg("import")
        .arg(zip)
        .arg("--into")
        .arg(into)
        .output()
        .unwrap()
}

fn a_project(dir: &Path) -> PathBuf {
    let root = dir.join("project");
    std::fs::create_dir_all(root.join("plan-scripts")).unwrap();
    std::fs::write(
        root.join("attributes.toml"),
        "[SERVER_FQDN]\ntype = \"fqdn\"\ndescription = \"the server\"\n",
    )
    .unwrap();
    root
}

#[test]
fn an_attribute_name_that_would_rewrite_the_registry_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "ZZ]\ndefault = \"injected\"\n[SERVER_FQDN";
    let zip = dir.path().join("evil.zip");
    write_bundle(
        &bundle(
            "evil",
            vec![script(
                "11111111-1111-4111-8111-111111111111",
                "s",
                "echo hi",
            )],
            vec![CustomAttribute::new(evil, AttributeType::String)],
        ),
        &zip,
    )
    .unwrap();

    // verify names the plan entry and the attribute.
    let out = bin().arg("verify").arg(&zip).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("22222222-2222-4222-8222-222222222222_buildplan.json")
            && stdout.contains(r#""ZZ]\ndefault = \"injected\"\n[SERVER_FQDN" is not valid"#),
        "{stdout}"
    );

    // import refuses and writes nothing.
    let root = a_project(dir.path());
    let before = snapshot(&root);
    let out = import(&zip, &root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("is not valid") && stderr.contains("nothing was written"),
        "{stderr}"
    );
    assert_eq!(snapshot(&root), before);
    // The registry still loads with its one entry, untouched.
    let registry =
        i3s_bundle::source::Registry::load(&root.join("attributes.toml")).expect("registry");
    assert_eq!(registry.entries.len(), 1);
    assert_eq!(registry.get("SERVER_FQDN").unwrap().default, None);
}

#[test]
fn descriptions_and_values_are_escaped_faithfully() {
    let dir = tempfile::tempdir().unwrap();
    let tricky = "x\"\n[INJECTED]\ntype = \"string\"\n'''\"\"\"\\";
    let mut attribute = CustomAttribute::new("GOOD_NAME", AttributeType::String);
    attribute.description = Some(tricky.into());
    attribute.value = Some(tricky.into());
    let zip = dir.path().join("tricky.zip");
    write_bundle(
        &bundle(
            "tricky",
            vec![script(
                "11111111-1111-4111-8111-111111111111",
                tricky,
                "echo @GOOD_NAME@",
            )],
            vec![attribute],
        ),
        &zip,
    )
    .unwrap();
    let root = a_project(dir.path());
    let out = import(&zip, &root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registry = i3s_bundle::source::Registry::load(&root.join("attributes.toml")).unwrap();
    assert!(registry.get("INJECTED").is_none());
    let entry = registry.get("GOOD_NAME").unwrap();
    assert_eq!(entry.description, tricky);
    assert_eq!(entry.default.as_deref(), Some(tricky));
    // And the imported source builds back the same values.
    let out = bin().current_dir(&root).arg("build").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rebuilt = read_bundle(&root.join("dist/tricky.zip"), &ReadOptions::default()).unwrap();
    let a = &rebuilt.bundle.build_plans[0].custom_attributes[0];
    assert_eq!(
        (a.name.as_str(), a.value.as_deref()),
        ("GOOD_NAME", Some(tricky))
    );
    assert_eq!(rebuilt.bundle.plan_scripts[0].name, tricky);
}

#[test]
fn uuids_that_differ_only_in_case_are_a_duplicate_verify_names_and_import_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let lower = "c9580000-1111-4111-8111-111111111111";
    let upper = "C9580000-1111-4111-8111-111111111111";
    let script = |id: &str, name: &str, content: &str| -> (String, Vec<u8>) {
        (
            format!("{id}_planscript.json"),
            format!(r#"{{"type":"PlanScript","id":"{id}","name":"{name}","description":"","planType":"general","content":"{content}","hpProvided":false}}"#).into_bytes(),
        )
    };
    let plan = format!(
        r#"{{"type":"OeBuildPlan","buildPlanid":"22222222-2222-4222-8222-222222222222","name":"plan","oeBuildPlanType":"deploy","description":"","hpProvided":false,"customAttributes":[],"buildStep":[{{"serialNumber":"1","planScriptName":"mount","planScriptUri":"/rest/plan-scripts/{lower}","parameters":""}},{{"serialNumber":"2","planScriptName":"wipe","planScriptUri":"/rest/plan-scripts/{upper}","parameters":""}}]}}"#
    );
    let zip = dir.path().join("twins.zip");
    craft(
        &zip,
        &[
            script(lower, "mount", "mount /dev/sda1 /"),
            script(upper, "wipe", "rm-rf /boot"),
            (
                "22222222-2222-4222-8222-222222222222_buildplan.json".into(),
                plan.into_bytes(),
            ),
            (
                "MANIFEST.MF".into(),
                b"Artifact Name:twins\nDescription:d\nRead Only:false\nTime Stamp:2026-01-02T03:04:06.000Z\nArtifact Type:USER".to_vec(),
            ),
        ],
    );

    let out = bin().arg("verify").arg(&zip).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("same uuid"))
        .unwrap_or_else(|| panic!("no duplicate reported: {stdout}"));
    assert!(
        line.contains(&format!("{lower}_planscript.json"))
            && line.contains(&format!("{upper}_planscript.json")),
        "{line}"
    );

    // lint of the zip reports it too (I3S100: what verify reports).
    let out = bin()
        .arg("lint")
        .arg("--cache-dir")
        .arg(dir.path().join("lint-cache"))
        .arg(&zip)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("I3S100") && text.contains("same uuid"),
        "{text}"
    );

    let root = dir.path().join("fresh");
    let out = import(&zip, &root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("same uuid"), "{stderr}");
    assert!(
        !root.exists(),
        "a refused import leaves nothing: {:?}",
        snapshot(&root)
    );
}

#[test]
fn long_and_case_colliding_names_get_stable_safe_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let long = "A".repeat(5000);
    let scripts = vec![
        script("11111111-1111-4111-8111-111111111111", &long, "echo long"),
        script("11111111-1111-4111-8111-111111111112", "Collide", "echo 1"),
        script("11111111-1111-4111-8111-111111111113", "collide", "echo 2"),
        script("11111111-1111-4111-8111-111111111114", "CON", "echo 3"),
    ];
    let zip = dir.path().join("names.zip");
    write_bundle(&bundle("names", scripts, vec![]), &zip).unwrap();

    let mut listings = Vec::new();
    for attempt in ["one", "two"] {
        let root = dir.path().join(attempt);
        let out = import(&zip, &root);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut names: Vec<String> = std::fs::read_dir(root.join("plan-scripts"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in &names {
            assert!(name.len() <= 110, "{} bytes: {name}", name.len());
        }
        let folded: std::collections::BTreeSet<String> =
            names.iter().map(|n| n.to_ascii_lowercase()).collect();
        assert_eq!(folded.len(), 4, "distinct without case: {names:?}");
        assert!(
            names.contains(&"Collide.gf".to_string())
                && names.contains(&"collide-2.gf".to_string())
                && names.contains(&"CON_.gf".to_string()),
            "{names:?}"
        );
        // Nothing of the stage is left behind.
        assert!(
            std::fs::read_dir(&root).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')),
            "{:?}",
            snapshot(&root).keys().collect::<Vec<_>>()
        );
        listings.push(names);

        // The source builds back the same artifact names.
        let out = bin().current_dir(&root).arg("build").output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rebuilt = read_bundle(&root.join("dist/names.zip"), &ReadOptions::default()).unwrap();
        let mut rebuilt_names: Vec<&str> = rebuilt
            .bundle
            .plan_scripts
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        rebuilt_names.sort();
        let mut expected = vec!["CON", "Collide", long.as_str(), "collide"];
        expected.sort();
        assert!(rebuilt_names == expected, "artifact names changed");
    }
    assert_eq!(listings[0], listings[1], "the renames are stable");
    let long_file = listings[0].iter().find(|n| n.starts_with("AAAA")).unwrap();
    assert_eq!(long_file.len(), 100 + ".gf".len(), "{long_file}");
}

#[test]
fn a_failure_in_the_middle_leaves_the_project_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let root = a_project(dir.path());
    std::fs::write(root.join("plan-scripts/keep.gf"), "# name: keep\n").unwrap();
    // bundles-src is a file: the plan scripts and registry can be placed, the bundle TOML cannot.
    std::fs::write(root.join("bundles-src"), "not a directory").unwrap();
    let before = snapshot(&root);
    let out = import(&common::fixture(common::CENTOS_2018_06), &root);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("bundles-src"), "{stderr}");
    assert_eq!(
        snapshot(&root).keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(snapshot(&root) == before, "contents changed");
}
