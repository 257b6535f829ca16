//! When publish downloads a bundle to compare it (issue #19 item 7): only when the appliance does
//! not say enough by itself, and retried like every other GET.
use crate::publish_support;
use i3s_bundle::simulator::{Faults, SimConfig};
use publish_support::*;
use serde_json::{Value, json};

/// A simulator that drops publish's `[i3s-bundle sha256:…]` tag and computes no checkSum.
fn untagged_sim() -> i3s_bundle::simulator::Simulator {
    let sim = start(SimConfig {
        faults: Faults {
            drop_bundle_tag: true,
            seed: 1,
            ..Faults::default()
        },
        ..sim_config()
    });
    seed_appliance(&sim);
    sim
}

/// How many times a bundle was downloaded, and with which answers.
fn downloads(sim: &i3s_bundle::simulator::Simulator) -> Vec<u64> {
    requests(sim)["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] == "GET"
                && r["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/rest/artifact-bundles/download/"))
        })
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

fn stored_bundle(sim: &i3s_bundle::simulator::Simulator) -> Value {
    get(sim, "/sim/state")["resources"]["/rest/artifact-bundles"][0].clone()
}

#[test]
fn without_the_content_tag_an_unchanged_republish_compares_artifacts_and_downloads_nothing() {
    let sim = untagged_sim();
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let bundle = bundle.to_str().unwrap();
    let first = publish(&sim, &[bundle]);
    assert!(first.status.success(), "{}", text(&first));
    let stored = stored_bundle(&sim);
    assert!(
        !stored["description"]
            .as_str()
            .unwrap()
            .contains("[i3s-bundle sha256:")
            && stored["checkSum"] == "0",
        "the appliance kept neither tag nor checksum: {stored}"
    );

    reset_requests(&sim);
    let again = publish(&sim, &[bundle, "--json", "-v"]);
    assert!(again.status.success(), "{}", text(&again));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["changed"], json!(false), "{report}");
    assert!(
        downloads(&sim).is_empty(),
        "decided from the appliance's artifacts, not by a download: {:?}",
        requests(&sim)["counts"]
    );
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
    // `pull --json` of what was published agrees with its schema.
    let name = stored["name"].as_str().unwrap();
    let out_zip = dir.path().join("pulled.zip");
    let pulled = command(
        &sim,
        "pull",
        &[name, "--json", "--out", out_zip.to_str().unwrap()],
    );
    assert!(pulled.status.success(), "{}", text(&pulled));
    let report: Value = serde_json::from_slice(&pulled.stdout).unwrap();
    crate::common::assert_schema("pull", &report);
    assert!(
        text(&again).contains("same content (its artifacts"),
        "{}",
        text(&again)
    );
}

#[test]
fn the_bundle_download_is_retried_after_a_503_and_publish_succeeds() {
    let sim = untagged_sim();
    let dir = tempfile::tempdir().unwrap();
    let first = test_bundle(dir.path(), "1.0", "node1");
    let out = publish(&sim, &[first.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    // Same name, other content (another host name default): the appliance's build plan differs
    // from ours, so only the bytes can tell — and the first download gets a 503.
    let other_dir = tempfile::tempdir().unwrap();
    let second = test_bundle(other_dir.path(), "1.0", "node2");
    put(
        &sim,
        "/sim/faults",
        &json!({"dropBundleTag": true, "downloadFailures": 1, "seed": 1}),
    );
    reset_requests(&sim);
    let out = publish(&sim, &[second.to_str().unwrap(), "--replace", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(downloads(&sim), [503, 200], "one failure, one retry");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["objects"][0]["action"], "replace", "{report}");
    let state = canonical_state(&sim);
    assert!(
        state["/rest/deployment-plans"]
            .to_string()
            .contains("node2"),
        "the new content is on the appliance: {state}"
    );
}

/// `test_bundle` plus a carried golden image (a real payload from `golden-image pack`), under a
/// file name of its own (so no sidecar applies).
fn bundle_with_image(dir: &std::path::Path, file_name: &str) -> std::path::PathBuf {
    use i3s_bundle::bundle::{GoldenImage, GoldenImageEntry, Payload, ReadOptions, read_bundle};
    let plain = test_bundle(dir, "1.0", "node1");
    let mut bundle = read_bundle(&plain, &ReadOptions::default()).unwrap().bundle;
    let raw = dir.join("carried.img");
    std::fs::write(&raw, vec![5u8; 1 << 20]).unwrap();
    let payload = dir.join("carried.zip");
    i3s_bundle::image::pack::pack(&raw, "Carried Image", &payload).unwrap();
    bundle.golden_images.push(GoldenImageEntry {
        image: GoldenImage::new(
            "0b8e7a52-2c52-4c5e-9a55-6f0f0c1e0d01".into(),
            "Carried Image".into(),
            "carried in the bundle".into(),
        ),
        payload: Some(Payload::File(payload)),
    });
    let path = dir.join(file_name);
    i3s_bundle::bundle::write_bundle(&bundle, &path).unwrap();
    path
}

#[test]
fn a_bundle_carrying_a_golden_image_is_compared_by_checksums_not_downloaded() {
    let sim = untagged_sim();
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_with_image(dir.path(), "img-bundle_1.0.zip");
    let bundle = bundle.to_str().unwrap();
    let first = publish(&sim, &[bundle]);
    assert!(first.status.success(), "{}", text(&first));
    let images = get(&sim, "/sim/state")["resources"]["/rest/golden-images"].clone();
    assert!(
        images
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "Carried Image"
                && i["checkSum"].as_str().is_some_and(|c| c.len() == 64)),
        "{images}"
    );
    reset_requests(&sim);
    let again = publish(&sim, &[bundle, "--json", "-v"]);
    assert!(again.status.success(), "{}", text(&again));
    let report: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["changed"], json!(false), "{report}");
    assert!(
        downloads(&sim).is_empty(),
        "no gigabytes fetched to compare: {:?}",
        requests(&sim)["counts"]
    );
}

#[test]
fn other_artifacts_under_the_same_name_are_refused_without_a_download() {
    let sim = untagged_sim();
    let dir = tempfile::tempdir().unwrap();
    let first = test_bundle(dir.path(), "1.0", "node1");
    let out = publish(&sim, &[first.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    // The same file name, one artifact more: the appliance's listing already tells them apart.
    let other_dir = tempfile::tempdir().unwrap();
    let second = bundle_with_image(other_dir.path(), "t-bundle_1.0.zip");
    reset_requests(&sim);
    let out = publish(&sim, &[second.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("with other content"), "{}", text(&out));
    assert!(downloads(&sim).is_empty(), "{:?}", requests(&sim)["counts"]);
    assert!(writes(&sim).is_empty(), "{:?}", writes(&sim));
}
