//! `render`: one plan script as text, with placeholders substituted, and as the files its
//! `upload` here-documents place in the image — checked against what guestfish really uploads.
use crate::common;

use assert_cmd::Command;
use i3s_bundle::bundle::{ReadOptions, read_bundle};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("i3s-bundle").unwrap();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    bin().arg("init").arg(dir.path()).assert().success();
    dir
}

const ATTRS: [&str; 4] = [
    "--attr",
    "SERVER_FQDN=node1.example.org",
    "--attr",
    "ROOT_PASSWORD=s3cret-pass",
];

#[test]
fn render_prints_the_plan_script_the_bundle_carries() {
    let dir = project();
    bin()
        .current_dir(dir.path())
        .arg("build")
        .assert()
        .success();
    let zip = std::fs::read_dir(dir.path().join("dist"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "zip"))
        .unwrap();
    let bundle = read_bundle(&zip, &ReadOptions::default()).unwrap().bundle;
    let carried = &bundle
        .plan_script_by_name("Example - CentOS 7.4 - hostname (password)")
        .unwrap()
        .content;
    // By template name, by artifact name and by bundle [bundle] name: the same text.
    for (b, s) in [
        ("example", "hostname"),
        (
            "Example-CentOS7.4",
            "Example - CentOS 7.4 - hostname (password)",
        ),
    ] {
        let out = bin()
            .current_dir(dir.path())
            .args(["render", b, s])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{carried}\n")
        );
    }
    let plain = bin()
        .current_dir(dir.path())
        .args(["render", "example", "generalize"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&plain.stdout).starts_with("rm-f /etc/hostname"));
}

#[test]
fn render_reads_attributes_from_a_file_so_secrets_stay_off_the_command_line() {
    let dir = project();
    let file = dir.path().join("node1.attrs");
    std::fs::write(
        &file,
        "# node1\nSERVER_FQDN=node1.example.org\nROOT_PASSWORD=s3cret-pass\n",
    )
    .unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["render", "example", "hostname", "--attrs-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The password goes into a root-only file the first-boot script reads on stdin (init's example).
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("upload -<<END /root/.firstboot/root-password\nroot:s3cret-pass\nEND")
    );
    std::fs::write(&file, "ROOT_PASSWORD short\n").unwrap();
    let bad = bin()
        .current_dir(dir.path())
        .args(["render", "example", "hostname", "--attrs-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(e.contains("node1.attrs:1") && !e.contains("short"), "{e}");
}

#[test]
fn render_substitutes_attributes_and_names_missing_ones() {
    let dir = project();
    let out = bin()
        .current_dir(dir.path())
        .args(["render", "example", "hostname"])
        .args(ATTRS)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("upload -<<END /etc/hostname\nnode1.example.org\nEND"),
        "{text}"
    );
    assert!(text.contains("upload -<<END /root/.firstboot/root-password\nroot:s3cret-pass\nEND"));
    assert!(!text.contains('@'), "{text}");
    let missing = bin()
        .current_dir(dir.path())
        .args([
            "render",
            "example",
            "hostname",
            "--attr",
            "SERVER_FQDN=n1.example.org",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    let e = String::from_utf8_lossy(&missing.stderr);
    assert!(e.contains("@ROOT_PASSWORD@") && e.contains("--attr"), "{e}");
    let invalid = bin()
        .current_dir(dir.path())
        .args([
            "render",
            "example",
            "hostname",
            "--attr",
            "SERVER_FQDN=not a host!",
            "--attr",
            "ROOT_PASSWORD=s3cret-pass",
        ])
        .output()
        .unwrap();
    assert_eq!(invalid.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("SERVER_FQDN"));
}

/// Regular files and symlinks under `dir`: path → (content or link target, mode).
fn tree(dir: &Path) -> Vec<(PathBuf, String, u32)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).into_iter().flatten() {
        let meta = entry.path().symlink_metadata().unwrap();
        let relative = entry.path().strip_prefix(dir).unwrap().to_path_buf();
        if meta.file_type().is_symlink() {
            out.push((
                relative,
                format!("-> {}", std::fs::read_link(entry.path()).unwrap().display()),
                0,
            ));
        } else if meta.is_file() {
            out.push((
                relative,
                std::fs::read_to_string(entry.path()).unwrap(),
                meta.permissions().mode() & 0o7777,
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn render_files_writes_what_the_here_documents_upload() {
    let dir = project();
    let out_dir = dir.path().join("files");
    let out = bin()
        .current_dir(dir.path())
        .args([
            "render", "example", "hostname", "--format", "files", "--out",
        ])
        .arg(&out_dir)
        .args(ATTRS)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files = tree(&out_dir);
    let names: Vec<String> = files
        .iter()
        .map(|(p, _, _)| p.display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "etc/hostname",
            "etc/systemd/system/multi-user.target.wants/set-root-password.service",
            "etc/systemd/system/set-root-password.service",
            "root/.firstboot/root-password",
            "usr/local/bin/set-root-password.sh"
        ]
    );
    assert_eq!(files[0].1, "node1.example.org\n");
    assert_eq!(
        files[1].1,
        "-> /etc/systemd/system/set-root-password.service"
    );
    assert!(
        files[2]
            .1
            .starts_with("[Unit]\nDescription=Set the root password\n")
            && files[2].1.ends_with("WantedBy=multi-user.target\n")
    );
    // The secret sits in a 0600 file; the 0755 script only names it.
    assert_eq!(files[3].2, 0o600);
    assert_eq!(files[3].1, "root:s3cret-pass\n");
    assert_eq!(files[4].2, 0o755);
    assert!(
        files[4]
            .1
            .contains("chpasswd </root/.firstboot/root-password\n")
    );
    assert!(!files[4].1.contains("s3cret-pass"));
}

/// The real check: run the substituted plan script with guestfish on a scratch disk, copy the
/// image's files out, and compare with `render --format files`.
#[test]
#[ignore = "slow: guestfish (cargo test -- --include-ignored)"]
fn render_files_equal_what_guestfish_uploads() {
    if !common::require_tool("guestfish") {
        return;
    }
    let dir = project();
    let rendered = bin()
        .current_dir(dir.path())
        .args(["render", "example", "hostname"])
        .args(ATTRS)
        .output()
        .unwrap();
    assert!(rendered.status.success());
    let script = String::from_utf8(rendered.stdout).unwrap();
    let files_dir = dir.path().join("files");
    bin()
        .current_dir(dir.path())
        .args([
            "render", "example", "hostname", "--format", "files", "--out",
        ])
        .arg(&files_dir)
        .args(ATTRS)
        .assert()
        .success();

    let image_dir = dir.path().join("image");
    std::fs::create_dir_all(&image_dir).unwrap();
    let session = format!(
        "sparse {disk} 64M\nrun\npart-disk /dev/sda mbr\nmkfs ext4 /dev/sda1\nmount /dev/sda1 /\nmkdir-p /etc/systemd/system\nmkdir-p /usr/local/bin\n{script}\ncopy-out /etc /usr /root {out}\n",
        disk = dir.path().join("disk.img").display(),
        out = image_dir.display()
    );
    let mut child = std::process::Command::new("guestfish")
        .env("LIBGUESTFS_BACKEND", "direct")
        .env("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
        .env("LIBGUESTFS_MEMSIZE", "512")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(session.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "guestfish: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // guestfish's upload gives files its own default mode; compare modes only where the script set one.
    let from_image: Vec<_> = tree(&image_dir)
        .into_iter()
        .filter(|(p, _, _)| !p.starts_with("lost+found"))
        .collect();
    let from_render = tree(&files_dir);
    assert_eq!(
        from_image.len(),
        from_render.len(),
        "image: {from_image:?}\nrender: {from_render:?}"
    );
    for ((pi, ci, mi), (pr, cr, mr)) in from_image.iter().zip(&from_render) {
        assert_eq!((pi, ci), (pr, cr));
        if *mr == 0o755 {
            assert_eq!(mi, mr, "{}", pi.display());
        }
    }
}
