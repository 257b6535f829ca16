//! `status` against the simulator: in sync after publish; a plan script edited through the REST
//! API (as in the UI) is reported as exactly that field, with the drift exit code.
use crate::fleet_support::Rest;
use crate::publish_support::{
    command, publish, seed_appliance, sim_config, start, test_bundle, text,
};
use i3s_bundle::error::exit;
use serde_json::Value;

#[test]
fn an_edited_plan_script_is_reported_field_by_field_with_the_drift_code() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let zip = test_bundle(dir.path(), "1.0", "web");
    let zip = zip.to_str().unwrap();
    let out = publish(&sim, &[zip]);
    assert!(out.status.success(), "{}", text(&out));

    let out = command(&sim, "status", &[zip, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::OK)),
        "{}",
        text(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("status", &report);
    assert_eq!(report["in_sync"], true, "{report}");
    let artifacts = report["bundles"][0]["artifacts"].as_array().unwrap();
    assert_eq!(
        artifacts.len(),
        6,
        "bundle, 2 scripts, 1 build plan, 2 plans: {report}"
    );

    // Someone edits a plan script on the appliance.
    let rest = Rest::login(&sim.base_url);
    let mut script = rest.named("/rest/plan-scripts", "t - hostname");
    let edited = format!(
        "{}echo edited by hand\n",
        script["content"].as_str().unwrap()
    );
    script["content"] = Value::String(edited.clone());
    let uri = script["uri"].as_str().unwrap().to_string();
    let (status, body) = rest.send("PUT", &uri, Some(&script));
    assert!(status < 300, "{status} {body}");

    let out = command(&sim, "status", &[zip, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(i32::from(exit::DRIFT)),
        "{}",
        text(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("status", &report);
    assert_eq!(report["in_sync"], false);
    let drifted: Vec<&Value> = report["bundles"][0]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["state"] != "equal")
        .collect();
    assert_eq!(drifted.len(), 1, "{report}");
    assert_eq!(drifted[0]["kind"], "plan-script");
    assert_eq!(drifted[0]["name"], "t - hostname");
    assert_eq!(drifted[0]["state"], "changed");
    let changes = drifted[0]["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{report}");
    assert_eq!(changes[0]["field"], "content");
    assert_eq!(changes[0]["from"], edited.as_str());

    // The human report prints it as `diff` does.
    let out = command(&sim, "status", &[zip]);
    assert_eq!(out.status.code(), Some(1));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("plan script changed: \"t - hostname\"\n    content"),
        "{shown}"
    );
    assert!(shown.contains("-echo edited by hand"), "{shown}");
    assert!(
        shown.contains("plan script equal: \"t - mount\""),
        "{shown}"
    );
    assert!(
        shown.contains("drift: 1 changed, 0 missing, 0 extra"),
        "{shown}"
    );

    // publish puts it back; status agrees again.
    assert!(publish(&sim, &[zip]).status.success());
    let out = command(&sim, "status", &[zip]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn an_unpublished_bundle_is_missing_and_dist_is_the_default() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let project = tempfile::tempdir().unwrap();
    let dist = project.path().join("dist");
    std::fs::create_dir(&dist).unwrap();
    test_bundle(&dist, "2.0", "web");
    let out = command(
        &sim,
        "status",
        &["--dist", dist.to_str().unwrap(), "--json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    crate::common::assert_schema("status", &report);
    let states: Vec<&str> = report["bundles"][0]["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["missing"; 6], "{report}");
}
