//! `golden-image upload` over real HTTP on loopback against the simulator: streamed multipart,
//! idempotent by name and content hash.
use crate::publish_support;
use publish_support::*;
use serde_json::Value;

fn images(sim: &i3s_bundle::simulator::Simulator) -> Vec<Value> {
    get(sim, "/sim/state")["resources"]["/rest/golden-images"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn payload(dir: &std::path::Path, name: &str, fill: u8) -> std::path::PathBuf {
    let image = dir.join(format!("{name}.img"));
    std::fs::write(&image, vec![fill; 2 << 20]).unwrap();
    let out = dir.join(format!("{name}.zip"));
    i3s_bundle::image::pack::pack(&image, "CentOS 7.4 Golden Image", &out).unwrap();
    out
}

#[test]
fn upload_creates_once_then_changes_nothing_and_refuses_other_content_under_the_same_name() {
    let sim = start(sim_config());
    let dir = tempfile::tempdir().unwrap();
    let first = payload(dir.path(), "a", 7);
    let args = |file: &std::path::Path| {
        vec![
            "upload".to_string(),
            file.display().to_string(),
            "--name".into(),
            "CentOS 7.4 Golden Image".into(),
            "--description".into(),
            "lab image".into(),
            "--json".into(),
        ]
    };
    let run = |file: &std::path::Path| {
        let owned = args(file);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        command(&sim, "golden-image", &refs)
    };

    let output = run(&first);
    assert!(output.status.success(), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    crate::common::assert_schema("golden-image-upload", &report);
    assert_eq!(report["action"], "created");
    let digest = i3s_bundle::appliance::golden_image::payload_digest(&first)
        .unwrap()
        .0;
    let stored = images(&sim);
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["name"], "CentOS 7.4 Golden Image");
    assert_eq!(
        stored[0]["checkSum"],
        digest.as_str(),
        "the simulator hashed what arrived"
    );
    assert_eq!(stored[0]["size"], std::fs::metadata(&first).unwrap().len());
    assert!(
        stored[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("lab image [sha256:")
    );

    reset_requests(&sim);
    let again = run(&first);
    assert!(again.status.success(), "{}", text(&again));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    crate::common::assert_schema("golden-image-upload", &report);
    assert_eq!(report["action"], "unchanged");
    assert!(
        writes(&sim).is_empty(),
        "a second upload of the same content writes nothing: {:?}",
        writes(&sim)
    );

    // The same image packed again later (pack is reproducible): still the same content.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let repacked = payload(dir.path(), "a", 7);
    let again = run(&repacked);
    assert!(again.status.success(), "{}", text(&again));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    crate::common::assert_schema("golden-image-upload", &report);
    assert_eq!(
        report["action"], "unchanged",
        "a re-pack uploads as unchanged"
    );
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));

    let other = payload(dir.path(), "b", 9);
    let refused = run(&other);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a refusal exits 1 (docs/commands.md): {}",
        text(&refused)
    );
    assert!(
        text(&refused).contains("already exists on the appliance"),
        "{}",
        text(&refused)
    );
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    assert_eq!(images(&sim).len(), 1);
}

#[test]
fn upload_refuses_a_file_that_is_not_a_payload_before_connecting_anything() {
    let sim = start(sim_config());
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("disk.img");
    std::fs::write(&raw, vec![0u8; 4096]).unwrap();
    let output = command(
        &sim,
        "golden-image",
        &["upload", raw.to_str().unwrap(), "--name", "X"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(
        text(&output).contains("not a golden image payload"),
        "{}",
        text(&output)
    );
    assert!(images(&sim).is_empty());
}
