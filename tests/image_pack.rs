//! Golden image payloads: a zip holding exactly the raw disk image, readable by Python's zipfile
//! and `unzip -t`; qcow2 input is converted to raw.
mod common;
use common::*;
use sha2::{Digest, Sha256};

fn python_entries(path: &std::path::Path) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,zipfile,hashlib\nz=zipfile.ZipFile(sys.argv[1])\nfor i in z.infolist():\n  h=hashlib.sha256(z.read(i)).hexdigest()\n  print(i.filename,i.file_size,h)",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn pack_writes_one_raw_image_entry_that_python_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    let mut data = vec![0u8; 8 << 20];
    for (i, b) in data.iter_mut().enumerate().step_by(4093) {
        *b = (i % 251) as u8;
    }
    std::fs::write(&image, &data).unwrap();
    let out = dir.path().join("CentOS 7.4 Golden Image");
    let output = assert_cmd::Command::cargo_bin("i3s-bundle")
        .unwrap()
        .args([
            "golden-image",
            "pack",
            image.to_str().unwrap(),
            "--name",
            "CentOS 7.4 Golden Image",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let digest = hex::encode(Sha256::digest(&data));
    assert_eq!(report["image_sha256"], digest.as_str());
    let listed = python_entries(&out);
    assert_eq!(
        listed.trim(),
        format!(
            "{} {} {digest}",
            report["entry"].as_str().unwrap(),
            data.len()
        )
    );
    python_zip_check(&out).unwrap();
    unzip_test(&out).unwrap();
    assert_eq!(
        report["payload_sha256"],
        hex::encode(Sha256::digest(std::fs::read(&out).unwrap())).as_str()
    );
}

#[test]
fn pack_converts_qcow2_to_raw() {
    if !require_tool("qemu-img") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.raw");
    let mut data = vec![0u8; 4 << 20];
    data[512..520].copy_from_slice(b"i3s-test");
    std::fs::write(&raw, &data).unwrap();
    let qcow2 = dir.path().join("disk.qcow2");
    let status = std::process::Command::new("qemu-img")
        .args(["convert", "-q", "-O", "qcow2"])
        .arg(&raw)
        .arg(&qcow2)
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("payload");
    let report = i3s_bundle::image::pack::pack(&qcow2, "Fedora 27 Golden Image", &out).unwrap();
    assert_eq!(report.image_sha256, hex::encode(Sha256::digest(&data)));
    assert!(python_entries(&out).contains(&hex::encode(Sha256::digest(&data))));
    // No temporary files left next to the output.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}
