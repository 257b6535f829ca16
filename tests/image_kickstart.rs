//! The golden images' kickstart files: valid for their OS version according to `ksvalidator`
//! (pykickstart), and consistent with the OS profile and the image requirements.
mod common;
use common::require_tool;
use i3s_bundle::image::OsDefinition;
use std::path::Path;
use std::process::Command;

fn ksvalidator(version: &str, file: &Path) -> (bool, String) {
    let output = Command::new("ksvalidator")
        .args(["-e", "-v", version])
        .arg(file)
        .output()
        .unwrap();
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

const OSES: [(&str, &str); 2] = [("centos7.4", "RHEL7"), ("fedora27", "F27")];

#[test]
fn kickstarts_validate_for_their_os_version() {
    if !require_tool("ksvalidator") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images");
    for (os, version) in OSES {
        let (ok, output) = ksvalidator(version, &root.join(os).join("ks.cfg"));
        assert!(
            ok,
            "{os}: ksvalidator -v {version} rejects ks.cfg:\n{output}"
        );
    }
    // The validator really validates: a broken copy fails.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.cfg");
    let text = std::fs::read_to_string(root.join("centos7.4/ks.cfg")).unwrap();
    std::fs::write(
        &broken,
        text.replace("logvol / --vgname=cl --name=root", "logvol / --vgname=cl"),
    )
    .unwrap();
    let (ok, output) = ksvalidator("RHEL7", &broken);
    assert!(!ok, "a logvol without --name must be rejected:\n{output}");
}

#[test]
fn kickstarts_build_what_the_profile_and_requirements_say() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images");
    for (os, _) in OSES {
        let def = OsDefinition::load(&root.join(os)).unwrap();
        let ks = std::fs::read_to_string(root.join(os).join("ks.cfg")).unwrap();
        let (vg, lv) = def.root_lv_parts();
        let lines: Vec<&str> = ks
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .collect();
        let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
        assert!(has(&format!("volgroup {vg} ")), "{os}: VG {vg}");
        assert!(
            lines.iter().any(|l| l.starts_with("logvol / ")
                && l.contains(&format!("--vgname={vg}"))
                && l.contains(&format!("--name={lv}"))
                && l.contains("--fstype=ext4")),
            "{os}: root LV {lv} in {vg} as ext4"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("bootloader") && l.contains("rd.iscsi.ibft=1")),
            "{os}: rd.iscsi.ibft=1"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("services")
                && l.contains("--disabled=NetworkManager")
                && l.contains("network,multipathd")),
            "{os}: services"
        );
        assert!(
            has("mpathconf --enable --user_friendly_names y --find_multipaths y"),
            "{os}: multipath"
        );
        assert!(has("-cloud-init"), "{os}: no cloud-init");
        assert!(has("device-mapper-multipath"), "{os}: multipath package");
    }
}
