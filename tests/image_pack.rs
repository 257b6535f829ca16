//! Golden image payloads: a zip holding exactly the raw disk image, readable by Python's zipfile
//! and `unzip -t`; qcow2 input is converted to raw.
use crate::common;
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
    crate::common::assert_schema("golden-image-pack", &report);
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

/// `golden-image pack IMAGE --name N --out OUT --json` with `SOURCE_DATE_EPOCH` as given.
fn pack_cli(
    image: &std::path::Path,
    out: &std::path::Path,
    epoch: Option<&str>,
) -> std::process::Output {
    let mut cmd = assert_cmd::Command::cargo_bin("i3s-bundle").unwrap();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    if let Some(epoch) = epoch {
        cmd.env("SOURCE_DATE_EPOCH", epoch);
    }
    cmd.args(["golden-image", "pack"])
        .arg(image)
        .args(["--name", "CentOS 7.4 Golden Image", "--out"])
        .arg(out)
        .arg("--json")
        .output()
        .unwrap()
}

/// The entries' `date_time` as Python's zipfile reads them.
fn python_date_times(path: &std::path::Path) -> String {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys,zipfile\nfor i in zipfile.ZipFile(sys.argv[1]).infolist(): print(i.date_time)",
            path.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn pack_is_reproducible_and_stamps_source_date_epoch_or_1980() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    std::fs::write(&image, vec![0x5au8; 1 << 20]).unwrap();
    let first = dir.path().join("first.zip");
    let second = dir.path().join("second.zip");
    assert!(pack_cli(&image, &first, None).status.success());
    // Zip times have a 2-second resolution: a clock-stamped entry would differ now.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let touched = std::fs::File::options().write(true).open(&image).unwrap();
    touched.set_modified(std::time::SystemTime::now()).unwrap();
    assert!(pack_cli(&image, &second, None).status.success());
    assert_eq!(
        Sha256::digest(std::fs::read(&first).unwrap()),
        Sha256::digest(std::fs::read(&second).unwrap()),
        "re-packing the same image gave other bytes"
    );
    assert_eq!(python_date_times(&first), "(1980, 1, 1, 0, 0, 0)");

    let stamped = dir.path().join("stamped.zip");
    let output = pack_cli(&image, &stamped, Some("1700000000"));
    assert!(output.status.success());
    // 2023-11-14 22:13:20 UTC.
    assert_eq!(python_date_times(&stamped), "(2023, 11, 14, 22, 13, 20)");

    let output = pack_cli(&image, &dir.path().join("bad.zip"), Some("yesterday"));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("SOURCE_DATE_EPOCH=\"yesterday\""),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!dir.path().join("bad.zip").exists());
}

#[test]
fn pack_removes_payload_temp_files_of_killed_packs_and_keeps_a_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.img");
    std::fs::write(&image, vec![1u8; 1 << 20]).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let old = |path: &std::path::Path, seconds: u64| {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(seconds))
            .unwrap()
    };
    // Left by `kill -9` of a pack: the payload being written and a qcow2 → raw conversion.
    let killed = out_dir.join(".i3s-bundle-tmp-4194000-Ab12Cd34-payload.zip");
    let killed_raw = out_dir.join(".i3s-bundle-tmp-4194000-Ef56Gh78-payload.zip.raw");
    // Left by an earlier version (1.14 GB of these after four killed packs in issue 19).
    let legacy = out_dir.join(".i3s-payload-Qw12Er");
    for path in [&killed, &killed_raw, &legacy] {
        std::fs::write(path, vec![0u8; 8192]).unwrap();
        old(path, 3 * 24 * 3600);
    }
    // A pack that is still running (another process holds its lock).
    let live = out_dir.join(".i3s-bundle-tmp-1-Zz98Yy76-other.zip");
    std::fs::write(&live, b"").unwrap();
    old(&live, 3600);
    let mut holder = std::process::Command::new("flock")
        .arg(&live)
        .args(["sleep", "120"])
        .spawn()
        .expect("flock (util-linux) runs");
    let locked = (0..500).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        matches!(
            std::fs::File::open(&live).unwrap().try_lock(),
            Err(std::fs::TryLockError::WouldBlock)
        )
    });
    if !locked {
        let _ = holder.kill();
        let _ = holder.wait();
        panic!("flock did not take the lock");
    }

    let output = pack_cli(&image, &out_dir.join("payload.zip"), None);
    let live_kept = live.exists();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(live_kept, "a running pack's temp file was removed");
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [".i3s-bundle-tmp-1-Zz98Yy76-other.zip", "payload.zip"],
        "stale temp files were left"
    );
}
