//! The golden images' kickstart files: valid for their OS version according to `ksvalidator`
//! (pykickstart), and consistent with the OS profile and the image requirements.
use crate::common;
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

/// Every OS under golden-images/ installed by kickstart, with the pykickstart version its ks.cfg
/// names in its "Checked by `ksvalidator -v VERSION`" comment (so a new OS is covered without
/// editing this). An OS built from a recipe.toml (`golden-image build`) has no kickstart.
fn oses() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("recipe.toml").is_file() && !dir.join("ks.cfg").exists() {
            continue;
        }
        let ks = std::fs::read_to_string(dir.join("ks.cfg"))
            .unwrap_or_else(|e| panic!("{}: every OS has a ks.cfg: {e}", dir.display()));
        let version = ks
            .lines()
            .find_map(|l| l.split("`ksvalidator -v ").nth(1))
            .and_then(|rest| rest.split('`').next())
            .unwrap_or_else(|| {
                panic!("{}/ks.cfg names no `ksvalidator -v VERSION`", dir.display())
            });
        out.push((
            dir.file_name().unwrap().to_string_lossy().into_owned(),
            version.to_string(),
        ));
    }
    out.sort();
    assert!(out.len() >= 4, "{out:?}");
    out
}

#[test]
fn kickstarts_validate_for_their_os_version() {
    if !require_tool("ksvalidator") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images");
    let dir = tempfile::tempdir().unwrap();
    for (os, version) in oses() {
        let (ok, output) = ksvalidator(&version, &root.join(&os).join("ks.cfg"));
        assert!(
            ok,
            "{os}: ksvalidator -v {version} rejects ks.cfg:\n{output}"
        );
        // The validator really validates for this version: a broken copy fails.
        let def = OsDefinition::load(&root.join(&os)).unwrap();
        let (vg, lv) = def.root_lv_parts();
        let text = std::fs::read_to_string(root.join(&os).join("ks.cfg")).unwrap();
        let from = format!("logvol / --vgname={vg} --name={lv}");
        assert!(text.contains(&from), "{os}: {from}");
        let broken = dir.path().join(format!("{os}-broken.cfg"));
        std::fs::write(
            &broken,
            text.replace(&from, &format!("logvol / --vgname={vg}")),
        )
        .unwrap();
        let (ok, output) = ksvalidator(&version, &broken);
        assert!(
            !ok,
            "{os}: a logvol without --name must be rejected:\n{output}"
        );
    }
}

#[test]
fn kickstarts_build_what_the_profile_and_requirements_say() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images");
    for (os, _) in oses() {
        let def = OsDefinition::load(&root.join(&os)).unwrap();
        let ks = std::fs::read_to_string(root.join(&os).join("ks.cfg")).unwrap();
        let (vg, lv) = def.root_lv_parts();
        let profile: toml::Table =
            toml::from_str(&std::fs::read_to_string(root.join(&os).join("profile.toml")).unwrap())
                .unwrap();
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
        // The network stack the profile names is the one the kickstart enables.
        let services = match profile["network_stack"].as_str().unwrap() {
            "network-scripts" => |l: &str| {
                l.contains("--disabled=NetworkManager") && l.contains("network,multipathd")
            },
            "networkmanager" => |l: &str| {
                l.contains("--enabled=NetworkManager,multipathd") && !l.contains("--disabled")
            },
            other => panic!("{os}: network_stack {other}"),
        };
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("services") && services(l)),
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

/// What a kickstart's `selinux` and `firewall` commands make of the image, in the terms of a
/// profile's `[posture]`: (selinux mode, firewall, open ports). Kickstart reference:
/// https://pykickstart.readthedocs.io/en/latest/kickstart-docs.html (`selinux`, `firewall`:
/// `--enabled` is firewalld on RHEL 7 and Fedora, `--service=ssh` opens firewalld's ssh service,
/// 22/tcp per /usr/lib/firewalld/services/ssh.xml, `--port=PORT:PROTO`).
fn ks_posture(ks: &str) -> (Option<String>, Option<String>, Vec<String>) {
    let (mut selinux, mut firewall, mut open) = (None, None, Vec::new());
    for line in ks.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("selinux") => {
                selinux = words.find_map(|w| w.strip_prefix("--")).map(str::to_string);
            }
            Some("firewall") => {
                for w in words {
                    match w {
                        "--enabled" | "--enable" => firewall = Some("firewalld".to_string()),
                        "--disabled" | "--disable" => firewall = Some("none".to_string()),
                        _ => {
                            if let Some(services) = w.strip_prefix("--service=") {
                                for s in services.split(',') {
                                    let port = match s {
                                        "ssh" => "22/tcp",
                                        other => panic!("firewalld service {other}: add its ports"),
                                    };
                                    open.push(port.to_string());
                                }
                            } else if let Some(ports) = w.strip_prefix("--port=") {
                                open.extend(ports.split(',').map(|p| p.replace(':', "/")));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (selinux, firewall, open)
}

/// Where the kickstart and the profile's `[posture]` disagree.
fn posture_mismatches(def: &OsDefinition, ks: &str) -> Vec<String> {
    let posture = def
        .posture
        .as_ref()
        .expect("the profile declares [posture]");
    let wanted = serde_json::to_value(posture).unwrap();
    let (selinux, firewall, mut open) = ks_posture(ks);
    let mut declared: Vec<String> = posture.open.clone();
    declared.sort();
    open.sort();
    let mut out = Vec::new();
    if selinux.as_deref() != wanted["selinux"].as_str() {
        out.push(format!(
            "ks.cfg selinux --{selinux:?}, profile selinux = {}",
            wanted["selinux"]
        ));
    }
    if firewall.as_deref() != wanted["firewall"].as_str() {
        out.push(format!(
            "ks.cfg firewall {firewall:?}, profile firewall = {}",
            wanted["firewall"]
        ));
    }
    if open != declared {
        out.push(format!(
            "ks.cfg opens {open:?}, profile open = {declared:?}"
        ));
    }
    out
}

#[test]
fn kickstarts_install_the_posture_their_profile_declares() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden-images");
    for (os, _) in oses() {
        let def = OsDefinition::load(&root.join(&os)).unwrap();
        let ks = std::fs::read_to_string(root.join(&os).join("ks.cfg")).unwrap();
        assert_eq!(posture_mismatches(&def, &ks), Vec::<String>::new(), "{os}");
        // The comparison really compares: each changed line is a mismatch.
        for (from, to) in [
            ("selinux --enforcing", "selinux --permissive"),
            ("firewall --enabled", "firewall --disabled"),
            ("--service=ssh", "--service=ssh --port=8301:tcp"),
        ] {
            assert!(ks.contains(from), "{os}: ks.cfg has {from}");
            let broken = ks.replace(from, to);
            assert_eq!(posture_mismatches(&def, &broken).len(), 1, "{os}: {to}");
        }
    }
}
