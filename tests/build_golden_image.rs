//! A bundle source that names a golden image payload builds a bundle carrying the golden image
//! JSON and the payload (streamed), and its deployment plan names the image inside the bundle.
use crate::common;
use assert_cmd::Command;
use std::path::Path;

fn tool() -> Command {
    Command::cargo_bin("i3s-bundle").unwrap()
}

fn inspect(zip: &Path) -> serde_json::Value {
    let out = tool().args(["inspect", "--json"]).arg(zip).assert().code(0);
    serde_json::from_slice(&out.get_output().stdout).unwrap()
}

#[test]
fn a_bundle_source_carries_a_packed_golden_image() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    tool().arg("init").arg(&project).assert().code(0);

    // A small "disk image" and its payload, as golden-image authors make them.
    let image = dir.path().join("disk.raw");
    let bytes: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    std::fs::write(&image, &bytes).unwrap();
    tool()
        .args(["golden-image", "pack", "--name", "Example GI"])
        .arg("--out")
        .arg(project.join("golden-images/example-gi.zip"))
        .arg(&image)
        .assert()
        .code(0);

    let source = project.join("bundles-src/example.toml");
    let text = std::fs::read_to_string(&source)
        .unwrap()
        .replace("golden_image = true", "golden_image = \"Example GI\"");
    let text = format!(
        "{text}\n[[golden_image]]\nname = \"Example GI\"\ndescription = \"CentOS 7.4 for the example\"\npayload = \"golden-images/example-gi.zip\"\n"
    );
    std::fs::write(&source, text).unwrap();

    tool().arg("build").current_dir(&project).assert().code(0);
    let zip = std::fs::read_dir(project.join("dist"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "zip"))
        .unwrap();
    tool().arg("verify").arg(&zip).assert().code(0);
    common::unzip_test(&zip).unwrap();
    common::python_zip_check(&zip).unwrap();

    let report = inspect(&zip);
    let payload_len = std::fs::metadata(project.join("golden-images/example-gi.zip"))
        .unwrap()
        .len();
    assert_eq!(report["golden_images"][0]["name"], "Example GI");
    assert_eq!(report["golden_images"][0]["payload_size"], payload_len);
    assert_eq!(report["deployment_plans"][0]["golden_image"], "Example GI");

    // The payload entry holds exactly the packed file.
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip).unwrap()).unwrap();
    let mut carried = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name("Example GI").unwrap(), &mut carried).unwrap();
    assert_eq!(
        carried,
        std::fs::read(project.join("golden-images/example-gi.zip")).unwrap()
    );

    // The payload is an input: touching it rebuilds nothing, changing it rebuilds.
    let payload = project.join("golden-images/example-gi.zip");
    let out = tool().arg("build").current_dir(&project).assert().code(0);
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("up to date"));
    let same = std::fs::read(&payload).unwrap();
    std::fs::write(&payload, &same).unwrap();
    let out = tool().arg("build").current_dir(&project).assert().code(0);
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("up to date"));
    std::fs::write(&image, &bytes[..2_000_000]).unwrap();
    tool()
        .args(["golden-image", "pack", "--name", "Example GI", "--out"])
        .arg(&payload)
        .arg(&image)
        .assert()
        .code(0);
    let out = tool().arg("build").current_dir(&project).assert().code(0);
    assert!(String::from_utf8_lossy(&out.get_output().stdout).contains("built"));

    // A missing payload is an error naming the bundle file and line.
    std::fs::remove_file(&payload).unwrap();
    let out = tool()
        .args(["build", "--force"])
        .current_dir(&project)
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("bundles-src/example.toml:") && stderr.contains("golden image payload"),
        "{stderr}"
    );
}
