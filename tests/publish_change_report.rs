//! Publish's report shows what changes (issue 18, point 6): a changed plan script as a unified
//! diff, and a deployment plan that is already as wanted once names are resolved to URIs is
//! reported unchanged and not written (the simulator counts the requests).
use crate::publish_support;
use publish_support::*;
use serde_json::Value;

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name && o["kind"] == "deployment-plan")
        .unwrap_or_else(|| panic!("no row {name}: {report}"))
}

fn plan_uri(sim: &i3s_bundle::simulator::Simulator, name: &str) -> String {
    get(sim, "/sim/state")["resources"]["/rest/deployment-plans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["uri"].as_str())
        .unwrap()
        .to_string()
}

#[test]
fn a_changed_plan_script_shows_a_diff_and_an_equal_plan_is_not_written() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let v1 = test_bundle(dir.path(), "1.0", "node1");
    let out = publish(&sim, &[v1.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let plan_b = plan_uri(&sim, PLAN_B);

    // 2.0 differs from 1.0 only in the first line of the "t - hostname" plan script; its
    // deployment plans name the same build plan, which the extract replaces in place.
    let v2 = test_bundle(&dir.path().join("v2"), "2.0", "node1");
    let v2 = v2.to_str().unwrap();
    let dry = publish(&sim, &[v2, "--dry-run", "--json"]);
    assert!(dry.status.success(), "{}", text(&dry));
    let plan: Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(row(&plan, PLAN_B)["action"], "unchanged", "{plan}");
    assert!(row(&plan, PLAN_B).get("changes").is_none(), "{plan}");

    reset_requests(&sim);
    let out = publish(&sim, &[v2]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "    content:\n      --- on the appliance\n      +++ in the bundle\n      @@ -1,2 +1,2 @@\n      -# 1.0\n      +# 2.0\n       write /etc/hostname \"@HOSTNAME@\"\n"
        ),
        "the plan script's change as a unified diff: {stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "deployment plan   unchanged  {PLAN_B}  {plan_b}\n"
        )),
        "{stdout}"
    );
    let counts = requests(&sim)["counts"].clone();
    assert!(
        counts.get(format!("PUT {plan_b}")).is_none(),
        "plan B is as wanted: no PUT: {counts}"
    );
    // Plan A: the extract replaced it with the zip's, which attaches no golden image; the one
    // chosen for it (the sidecar's) is attached again, and the report says why it was written.
    let plan_a = plan_uri(&sim, PLAN_A);
    assert_eq!(counts[format!("PUT {plan_a}")], 1, "{counts}");
    assert!(
        stdout.contains(&format!("deployment plan   update     {PLAN_A}  {plan_a}\n    note: the extract of t-bundle_2.0 replaces this plan with the zip's, whose goldenImageURI is not the one wanted: set again after it\n")),
        "{stdout}"
    );
    assert_eq!(
        canonical_state(&sim)["/rest/deployment-plans"][0]["goldenImage"],
        GOLDEN_IMAGE
    );

    // A real change of a plan (an attribute's default) is still an update with its diff.
    let v3 = test_bundle(&dir.path().join("v3"), "3.0", "node3");
    let out = publish(&sim, &[v3.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = row(&report, PLAN_B);
    assert_eq!(b["action"], "update", "{report}");
    assert_eq!(
        b["changes"],
        serde_json::json!([{"field": "customAttributes.HOSTNAME.value", "from": "node1", "to": "node3"}]),
        "{report}"
    );
}
