//! Format hygiene rules (I3S100–I3S105) on real zips: a canonical bundle written by
//! `bundle::write_bundle`, then repacked with one defect at a time.
use i3s_bundle::bundle::{
    self, BuildPlan, BuildStep, Bundle, ChecksumFlavour, Manifest, PlanScript,
};
use i3s_bundle::lint::{self, LintOptions};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

fn sample(flavour: ChecksumFlavour, content: &str) -> Bundle {
    let mount = PlanScript::new(
        "11111111-1111-4111-8111-111111111111".into(),
        "mount".into(),
        String::new(),
        "general",
        "mount /dev/cl/root /".into(),
    );
    let work = PlanScript::new(
        "22222222-2222-4222-8222-222222222222".into(),
        "work".into(),
        String::new(),
        "deploy",
        content.into(),
    );
    let umount = PlanScript::new(
        "33333333-3333-4333-8333-333333333333".into(),
        "umount".into(),
        String::new(),
        "general",
        "umount /".into(),
    );
    let mut plan = BuildPlan::new(
        "44444444-4444-4444-8444-444444444444".into(),
        "plan".into(),
        String::new(),
        "deploy",
    );
    plan.steps = vec![
        BuildStep::new(1, &mount),
        BuildStep::new(2, &work),
        BuildStep::new(3, &umount),
    ];
    Bundle {
        manifest: Manifest::new(
            "sample_1",
            "test bundle",
            false,
            "2026-11-26T12:00:00.000Z".into(),
        ),
        checksum: flavour,
        plan_scripts: vec![mount, work, umount],
        golden_images: Vec::new(),
        build_plans: vec![plan],
        deployment_plans: Vec::new(),
    }
}

fn write(dir: &Path, name: &str, bundle: &Bundle) -> PathBuf {
    let path = dir.join(name);
    bundle::write_bundle(bundle, &path).unwrap();
    path
}

fn entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (entry.name().unwrap().to_string(), bytes)
        })
        .collect()
}

/// Repacks entries; with `fix_sums` the SHA256SUM file is recomputed over the others.
fn pack(path: &Path, mut entries: Vec<(String, Vec<u8>)>, fix_sums: bool) {
    if fix_sums {
        let sums: String = entries
            .iter()
            .filter(|(n, _)| n != "SHA256SUM.sha256sum")
            .map(|(n, b)| format!("{n}\t{}\n", hex::encode(Sha256::digest(b))))
            .collect();
        if let Some(entry) = entries.iter_mut().find(|(n, _)| n == "SHA256SUM.sha256sum") {
            entry.1 = sums.into_bytes();
        }
    }
    let mut writer = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        writer
            .start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(&bytes).unwrap();
    }
    writer.finish().unwrap();
}

fn rules_of(path: &Path) -> Vec<String> {
    lint::lint_zip(path, &LintOptions::default())
        .unwrap()
        .findings
        .into_iter()
        .map(|f| f.rule)
        .collect()
}

#[test]
fn canonical_bundle_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    let report = lint::lint_zip(&zip, &LintOptions::default()).unwrap();
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
}

#[test]
fn i3s100_verify_errors() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    let mut list = entries(&zip);
    let manifest = list.iter_mut().find(|(n, _)| n == "MANIFEST.MF").unwrap();
    manifest.1 = String::from_utf8(manifest.1.clone())
        .unwrap()
        .replace("test bundle", "edited")
        .into_bytes();
    pack(&zip, list, false);
    assert!(rules_of(&zip).contains(&"I3S100".to_string()));
    let again = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    assert!(!rules_of(&again).contains(&"I3S100".to_string()));
}

#[test]
fn i3s101_sha1_flavour() {
    let dir = tempfile::tempdir().unwrap();
    let old = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha1, "touch /etc/x"),
    );
    assert!(rules_of(&old).contains(&"I3S101".to_string()));
    let new = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    assert!(!rules_of(&new).contains(&"I3S101".to_string()));
}

#[test]
fn i3s102_checksum_file_lists_itself() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    let mut list = entries(&zip);
    let sums = list
        .iter_mut()
        .find(|(n, _)| n == "SHA256SUM.sha256sum")
        .unwrap();
    sums.1
        .extend_from_slice(format!("SHA256SUM.sha256sum\t{}\n", "0".repeat(64)).as_bytes());
    pack(&zip, list, false);
    let found = rules_of(&zip);
    assert!(found.contains(&"I3S102".to_string()), "{found:?}");
    assert!(
        !found.contains(&"I3S100".to_string()),
        "self-listing is tolerated: {found:?}"
    );
    let clean = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    assert!(!rules_of(&clean).contains(&"I3S102".to_string()));
}

#[test]
fn i3s103_non_ascii_content() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x\necho “done”"),
    );
    let report = lint::lint_zip(&zip, &LintOptions::default()).unwrap();
    let f = report
        .findings
        .iter()
        .find(|f| f.rule == "I3S103")
        .expect("I3S103");
    assert_eq!((f.place.line, f.place.column), (Some(2), Some(6)));
    assert_eq!(
        f.place.entry.as_deref(),
        Some("22222222-2222-4222-8222-222222222222_planscript.json")
    );
    let clean = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x\necho \"done\""),
    );
    assert!(!rules_of(&clean).contains(&"I3S103".to_string()));
}

#[test]
fn i3s104_trailing_newlines() {
    let dir = tempfile::tempdir().unwrap();
    let zip = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    let mut list = entries(&zip);
    for (name, bytes) in list.iter_mut() {
        if name == "MANIFEST.MF" || name.ends_with("_buildplan.json") {
            bytes.push(b'\n');
        }
    }
    pack(&zip, list, true);
    let found = rules_of(&zip);
    assert_eq!(
        found.iter().filter(|r| *r == "I3S104").count(),
        2,
        "{found:?}"
    );
    assert!(!found.contains(&"I3S100".to_string()), "{found:?}");
    let content = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x\n"),
    );
    assert!(rules_of(&content).contains(&"I3S104".to_string()));
    let clean = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    assert!(!rules_of(&clean).contains(&"I3S104".to_string()));
}

#[test]
fn i3s105_container_form() {
    let dir = tempfile::tempdir().unwrap();
    let renamed = write(
        dir.path(),
        "renamed by hand.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    let report = lint::lint_zip(&renamed, &LintOptions::default()).unwrap();
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.rule == "I3S105" && f.message.contains("Artifact Name")),
        "{:#?}",
        report.findings
    );
    let mut list = entries(&renamed);
    list.swap(0, 1);
    pack(&renamed, list, false);
    assert!(
        lint::lint_zip(&renamed, &LintOptions::default())
            .unwrap()
            .findings
            .iter()
            .any(|f| f.rule == "I3S105" && f.message.contains("entry order"))
    );
    let clean = write(
        dir.path(),
        "sample_1.zip",
        &sample(ChecksumFlavour::Sha256, "touch /etc/x"),
    );
    assert!(!rules_of(&clean).contains(&"I3S105".to_string()));
}
