//! The human publish report keeps artifact names as the appliance knows them (issue #19 item 14).
use crate::publish_support;
use publish_support::*;
use serde_json::json;

#[test]
fn applied_before_the_failure_keeps_the_names_case() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "2.0-RC1", "node1");
    put(
        &sim,
        "/sim/faults",
        &json!({"taskErrors": 1, "taskErrorOn": "Extract"}),
    );
    let out = publish(&sim, &[bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("applied before the failure: artifact bundle upload t-bundle_2.0-RC1"),
        "{stdout}"
    );
}
