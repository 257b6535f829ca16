//! Every rejection of the reader, each with a small zip crafted here, and `verify`'s exit codes.
use crate::common;
use assert_cmd::Command;
use common::*;
use i3s_bundle::bundle::container::ZipWriter;
use i3s_bundle::bundle::{Bundle, Manifest, PlanScript, ReadOptions, read_bundle, write_bundle};
use i3s_bundle::error::BundleProblem;
use std::path::{Path, PathBuf};

const ID: &str = "0b7a4c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

fn stamp() -> time::OffsetDateTime {
    time::macros::datetime!(2026-01-02 03:04:06 UTC)
}

/// Writes raw entries (no validation at all) to a zip.
fn craft(dir: &Path, name: &str, entries: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join(name);
    let mut zip = ZipWriter::new(std::fs::File::create(&path).unwrap(), stamp());
    for (entry, bytes) in entries {
        zip.add_entry(
            entry,
            &mut &bytes[..],
            Some(bytes.len() as u64),
            &mut |_| {},
        )
        .unwrap();
    }
    zip.finish().unwrap();
    path
}

const MANIFEST: &[u8] = b"Artifact Name:t\nDescription:d\nRead Only:false\nTime Stamp:2026-01-02T03:04:06.000Z\nArtifact Type:USER";

fn script_json(id: &str, kind: &str) -> Vec<u8> {
    format!(r#"{{"type":"{kind}","id":"{id}","name":"s","description":"","planType":"general","content":"mount /dev/cl/root /","hpProvided":false}}"#).into_bytes()
}

fn problem(path: &Path, options: &ReadOptions) -> (BundleProblem, String) {
    let error = read_bundle(path, options).expect_err("the reader must reject this zip");
    let message = error.to_string();
    (
        error
            .bundle_problem()
            .cloned()
            .unwrap_or_else(|| panic!("not a bundle problem: {message}")),
        message,
    )
}

#[test]
fn each_malformation_is_rejected_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let json = script_json(ID, "PlanScript");
    let good = format!("{ID}_planscript.json");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a [u8])>, BundleProblem, &'a str);
    let cases: Vec<Case> = vec![
        (
            "dir.zip",
            vec![("sub/", b""), ("MANIFEST.MF", MANIFEST)],
            BundleProblem::DirectoryEntry,
            "sub/",
        ),
        (
            "part.zip",
            vec![("sub/x.json", b"{}"), ("MANIFEST.MF", MANIFEST)],
            BundleProblem::DirectoryPart,
            "sub/x.json",
        ),
        (
            "dotdot.zip",
            vec![("../x.json", b"{}"), ("MANIFEST.MF", MANIFEST)],
            BundleProblem::ParentComponent,
            "../x.json",
        ),
        (
            "abs.zip",
            vec![("/etc/x.json", b"{}"), ("MANIFEST.MF", MANIFEST)],
            BundleProblem::AbsolutePath,
            "/etc/x.json",
        ),
        (
            "bs.zip",
            vec![("a\\b.json", b"{}"), ("MANIFEST.MF", MANIFEST)],
            BundleProblem::Backslash,
            "a\\b.json",
        ),
        (
            "dup.zip",
            vec![(&good, &json), (&good, &json), ("MANIFEST.MF", MANIFEST)],
            BundleProblem::DuplicateName,
            &good,
        ),
        (
            "nomanifest.zip",
            vec![(&good, &json)],
            BundleProblem::MissingManifest,
            "nomanifest.zip",
        ),
    ];
    for (file, entries, expected, names) in cases {
        let path = craft(d, file, &entries);
        let (found, message) = problem(&path, &ReadOptions::default());
        assert_eq!(found, expected, "{file}: {message}");
        assert!(
            message.contains(names),
            "{file}: message {message:?} should name {names:?}"
        );
    }
}

#[test]
fn content_problems_name_entry_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let name = format!("{ID}_planscript.json");

    let path = craft(
        d,
        "utf8.zip",
        &[
            (&name, b"{\"type\":\"PlanScript\xff\"}"),
            ("MANIFEST.MF", MANIFEST),
        ],
    );
    let (found, message) = problem(&path, &ReadOptions::default());
    assert!(
        matches!(found, BundleProblem::InvalidUtf8 { offset: 19 }),
        "{message}"
    );
    assert!(message.contains(&name));

    let path = craft(
        d,
        "json.zip",
        &[
            (&name, b"{\"type\":\"PlanScript\",\n \"id\": }"),
            ("MANIFEST.MF", MANIFEST),
        ],
    );
    let (found, message) = problem(&path, &ReadOptions::default());
    assert!(
        matches!(found, BundleProblem::MalformedJson { .. }),
        "{message}"
    );
    assert!(
        message.contains(&format!("{name}:2:")),
        "line and column expected: {message}"
    );

    let path = craft(
        d,
        "type.zip",
        &[
            (&name, &script_json(ID, "OeBuildPlan")),
            ("MANIFEST.MF", MANIFEST),
        ],
    );
    let (found, message) = problem(&path, &ReadOptions::default());
    assert!(
        matches!(found, BundleProblem::TypeMismatch { .. }),
        "{message}"
    );

    let other = "11111111-2222-4333-8444-555555555555";
    let path = craft(
        d,
        "id.zip",
        &[
            (&name, &script_json(other, "PlanScript")),
            ("MANIFEST.MF", MANIFEST),
        ],
    );
    let (found, message) = problem(&path, &ReadOptions::default());
    assert_eq!(
        found,
        BundleProblem::IdMismatch {
            file_id: ID.into(),
            json_id: other.into()
        },
        "{message}"
    );

    let path = craft(d, "notzip.zip", &[]);
    std::fs::write(&path, b"this is not a zip file at all, just text").unwrap();
    let (found, _) = problem(&path, &ReadOptions::default());
    assert!(matches!(found, BundleProblem::NotAZip(_)));
}

#[test]
fn size_limits_stop_zip_bombs_declared_and_inflated() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{ID}_planscript.json");
    let big = vec![b' '; 1 << 20]; // compresses to almost nothing
    let path = craft(
        dir.path(),
        "bomb.zip",
        &[(&name, &big), ("MANIFEST.MF", MANIFEST)],
    );
    let limits = ReadOptions {
        max_entry_size: 64 * 1024,
        ..Default::default()
    };
    let (found, message) = problem(&path, &limits);
    assert!(
        matches!(found, BundleProblem::TooLarge { declared: true, .. }),
        "{message}"
    );
    assert!(message.contains(&name));

    // Lie in the central directory: declare 10 bytes for the 1 MiB entry.
    let mut bytes = std::fs::read(&path).unwrap();
    let cd = bytes
        .windows(4)
        .position(|w| w == [0x50, 0x4b, 0x01, 0x02])
        .unwrap();
    bytes[cd + 24..cd + 28].copy_from_slice(&10u32.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let (found, message) = problem(&path, &limits);
    assert!(
        matches!(
            found,
            BundleProblem::TooLarge {
                declared: false,
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains(&name));
}

#[test]
fn unknown_entries_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{ID}_planscript.json");
    let path = craft(
        dir.path(),
        "extra.zip",
        &[
            (&name, &script_json(ID, "PlanScript")),
            ("notes.txt", b"hello"),
            ("MANIFEST.MF", MANIFEST),
        ],
    );
    let loaded = read_bundle(&path, &ReadOptions::default()).unwrap();
    assert_eq!(
        loaded
            .unknown_entries()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["notes.txt"]
    );
}

fn tiny_bundle() -> Bundle {
    let script = PlanScript::new(
        ID.into(),
        "mount".into(),
        "".into(),
        "general",
        "mount /dev/cl/root /".into(),
    );
    Bundle {
        manifest: Manifest::new(
            "tiny",
            "a test bundle",
            false,
            "2026-01-02T03:04:06.000Z".into(),
        ),
        checksum: Default::default(),
        plan_scripts: vec![script],
        golden_images: vec![],
        build_plans: vec![],
        deployment_plans: vec![],
    }
}

#[test]
fn verify_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.zip");
    write_bundle(&tiny_bundle(), &good).unwrap();
    Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["verify"])
        .arg(&good)
        .assert()
        .code(0);

    // A checksum that does not match: rewrite the checksum entry with a wrong digest.
    let loaded = read_bundle(&good, &ReadOptions::default()).unwrap();
    let mut entries: Vec<(String, Vec<u8>)> = loaded.raw.clone();
    let sums = entries
        .iter_mut()
        .find(|(n, _)| n == "SHA256SUM.sha256sum")
        .unwrap();
    sums.1 = String::from_utf8(sums.1.clone())
        .unwrap()
        .replacen(char::is_alphanumeric, "0", 0)
        .replace("\t", "\t0")
        .into_bytes();
    let borrowed: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    let bad = craft(dir.path(), "bad.zip", &borrowed);
    let out = Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["verify"])
        .arg(&bad)
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("MANIFEST.MF"), "{stdout}");

    let garbage = dir.path().join("garbage.zip");
    std::fs::write(&garbage, b"not a zip").unwrap();
    Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["verify"])
        .arg(&garbage)
        .assert()
        .code(2);
    Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["verify"])
        .arg(dir.path().join("missing.zip"))
        .assert()
        .code(2);
}

#[test]
fn verify_reports_broken_references_and_serials() {
    let dir = tempfile::tempdir().unwrap();
    let mut bundle = tiny_bundle();
    let script = bundle.plan_scripts[0].clone();
    let mut plan = i3s_bundle::bundle::BuildPlan::new(
        "22222222-2222-4222-8222-222222222222".into(),
        "plan".into(),
        "".into(),
        "deploy",
    );
    plan.steps
        .push(i3s_bundle::bundle::BuildStep::new(1, &script));
    let mut dangling = i3s_bundle::bundle::BuildStep::new(3, &script);
    dangling.plan_script_uri = "/rest/plan-scripts/33333333-3333-4333-8333-333333333333".into();
    plan.steps.push(dangling);
    bundle.build_plans.push(plan);
    let path = dir.path().join("refs.zip");
    write_bundle(&bundle, &path).unwrap();
    let report =
        i3s_bundle::bundle::verify::verify(&read_bundle(&path, &ReadOptions::default()).unwrap());
    let messages: Vec<&str> = report.errors().map(|p| p.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.contains("serialNumber \"3\", expected \"2\"")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("not in the bundle")),
        "{messages:?}"
    );
}

#[test]
fn tolerated_quirks_are_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{ID}_planscript.json");
    let json = script_json(ID, "PlanScript");
    let manifest = [MANIFEST, b"\n"].concat();
    let digest = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    let sums = format!(
        "{name}\t{}\nMANIFEST.MF\t{}\nSHA256SUM.sha256sum\t{}\n",
        digest(&json),
        digest(&manifest),
        "0".repeat(64)
    );
    let path = craft(
        dir.path(),
        "quirks.zip",
        &[
            (&name, &json),
            ("MANIFEST.MF", &manifest),
            ("SHA256SUM.sha256sum", sums.as_bytes()),
        ],
    );
    let report =
        i3s_bundle::bundle::verify::verify(&read_bundle(&path, &ReadOptions::default()).unwrap());
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["verify"])
        .arg(&path)
        .assert()
        .code(0);
}

#[test]
fn inspect_json_lists_artifacts_and_placeholders() {
    let out = Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["inspect", "--json"])
        .arg(fixture(CENTOS_2018_06))
        .assert()
        .code(0);
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["checksum"]["flavour"], "sha256");
    assert_eq!(report["checksum"]["status"], "ok");
    assert_eq!(report["plan_scripts"].as_array().unwrap().len(), 19);
    assert_eq!(report["build_plans"].as_array().unwrap().len(), 6);
    let consul = report["plan_scripts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "2018-03-15-HudsonAlpha_Consul_systemd")
        .unwrap();
    assert_eq!(consul["placeholders"][0]["name"], "CONSUL_FQDN");
    let docker = report["build_plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "2018-03-15-HudsonAlpha_Docker_CentOS7.4")
        .unwrap();
    assert_eq!(
        docker["steps"][0]["plan_script"],
        "2018-03-15-HudsonAlpha_CentOS7.4_umount"
    );
    let human = Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["inspect"])
        .arg(fixture(FEDORA_2018_06))
        .assert()
        .code(0);
    let text = String::from_utf8_lossy(&human.get_output().stdout).to_string();
    assert!(text.contains("@VLAN_ID@ string = \"0\""), "{text}");
}
