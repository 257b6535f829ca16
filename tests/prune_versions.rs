//! `prune` against the simulator: five published versions, `--keep 2`; what a deployment plan, a
//! server profile template still uses stays (and says why); a run cut midway by a connection
//! reset, run again, ends where an uninterrupted run ends; nothing in use is ever sent a DELETE.
use crate::fleet_support::{Rest, set_faults, versioned, versioned_bundle};
use crate::publish_support::{
    TEMPLATE, canonical_state, command, publish, requests, seed_appliance, sim_config, start, text,
    writes,
};
use i3s_bundle::simulator::Simulator;
use serde_json::{Value, json};

/// Out of order on purpose: versions sort as numbers (1.9 < 1.10).
const VERSIONS: [&str; 5] = ["1.10", "1.9", "1.11", "1.13", "1.12"];

/// Five versions published; v1.9's plan behind the seeded template; a hand-made plan using
/// v1.10's build plan. Returns the URIs of what is in use.
fn five_versions(sim: &Simulator) -> Vec<String> {
    seed_appliance(sim);
    let dir = tempfile::tempdir().unwrap();
    for version in VERSIONS {
        let zip = versioned_bundle(dir.path(), version);
        let out = publish(sim, &[zip.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let template = format!("{TEMPLATE}={}", versioned("plan", "1.9"));
    let zip = versioned_bundle(dir.path(), "1.9");
    let out = publish(
        sim,
        &[zip.to_str().unwrap(), "--profile-template", &template],
    );
    assert!(out.status.success(), "{}", text(&out));
    let rest = Rest::login(&sim.base_url);
    let build = rest.named("/rest/build-plans", &versioned("build", "1.10"));
    let hand_made = json!({"type": "OEDeploymentPlanV5", "name": "hand-made", "description": "",
        "hpProvided": false, "oeBuildPlanURI": build["uri"], "goldenImageURI": "", "customAttributes": []});
    let (status, body) = rest.send("POST", "/rest/deployment-plans", Some(&hand_made));
    assert!(status < 300, "{status} {body}");
    let mut in_use = vec![rest.named("/rest/deployment-plans", "hand-made")];
    for (collection, what, version) in [
        ("/rest/deployment-plans", "plan", "1.9"),
        ("/rest/build-plans", "build", "1.9"),
        ("/rest/plan-scripts", "script", "1.9"),
        ("/rest/build-plans", "build", "1.10"),
        ("/rest/plan-scripts", "script", "1.10"),
    ] {
        in_use.push(rest.named(collection, &versioned(what, version)));
    }
    in_use
        .iter()
        .map(|v| v["uri"].as_str().unwrap().to_string())
        .collect()
}

fn prune(sim: &Simulator, extra: &[&str]) -> (std::process::Output, Value) {
    let mut args = vec!["--keep", "2", "--json"];
    args.extend_from_slice(extra);
    let out = command(sim, "prune", &args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if report["error"]["kind"].is_string() {
        crate::common::assert_schema("error", &report);
    } else {
        crate::common::assert_schema("prune", &report);
    }
    (out, report)
}

fn names(sim: &Simulator, collection: &str) -> Vec<String> {
    let state = crate::publish_support::get(sim, "/sim/state");
    let mut names: Vec<String> = state["resources"][collection]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn deletes(sim: &Simulator) -> Vec<String> {
    requests(sim)["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "DELETE" && e["path"] != "/rest/login-sessions")
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn keep_two_of_five_removes_three_and_what_only_they_brought() {
    let sim = start(sim_config());
    let in_use = five_versions(&sim);

    let before = canonical_state(&sim);
    crate::publish_support::reset_requests(&sim);
    let (out, report) = prune(&sim, &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["changed"], true);
    assert!(
        writes(&sim).is_empty(),
        "a dry run wrote: {:?}",
        writes(&sim)
    );
    assert_eq!(canonical_state(&sim), before);

    let (out, report) = prune(&sim, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        names(&sim, "/rest/artifact-bundles"),
        ["v-bundle_1.12", "v-bundle_1.13"]
    );
    // v1.11 brought its plan, build plan and script, used by nothing: gone. v1.10's plan is
    // gone, its build plan stays (the hand-made plan uses it), and so its script. v1.9's plan
    // stays (the template points at it), with its build plan and script.
    let build_plans = names(&sim, "/rest/build-plans");
    let expected: Vec<String> = ["1.10", "1.12", "1.13", "1.9"]
        .iter()
        .map(|v| versioned("build", v))
        .collect();
    assert_eq!(build_plans, expected);
    assert!(!names(&sim, "/rest/deployment-plans").contains(&versioned("plan", "1.10")));
    assert!(!names(&sim, "/rest/plan-scripts").contains(&versioned("script", "1.11")));
    let kept: Vec<&Value> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["action"] == "keep" && o["kind"] != "artifact-bundle")
        .collect();
    let reason = |name: &str| {
        kept.iter()
            .find(|o| o["name"] == name)
            .map(|o| o["reason"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{name} not reported as kept: {report}"))
    };
    assert!(reason(&versioned("build", "1.10")).contains("deployment plan \"hand-made\" uses it"));
    assert!(
        reason(&versioned("plan", "1.9"))
            .contains(&format!("server profile template {TEMPLATE:?}"))
    );
    assert!(reason(&versioned("script", "1.9")).contains("build plan"));
    let deleted = deletes(&sim);
    assert_eq!(
        deleted.len(),
        3 + 3 + 1,
        "3 bundles, 1.11's 3 artifacts, 1.10's plan: {deleted:?}"
    );
    for uri in &in_use {
        assert!(!deleted.contains(uri), "DELETE of {uri}, which is in use");
    }
    // Nothing more to do.
    let (out, report) = prune(&sim, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report["changed"], false, "{report}");
}

#[test]
fn a_run_cut_by_a_connection_reset_converges_when_run_again() {
    let clean = start(sim_config());
    five_versions(&clean);
    assert!(prune(&clean, &[]).0.status.success());

    let sim = start(sim_config());
    let in_use = five_versions(&sim);
    crate::publish_support::reset_requests(&sim);
    // The fourth DELETE is carried out, and its answer never comes.
    set_faults(&sim.base_url, &json!({"resetDelete": 4, "seed": 1}));
    let (out, report) = prune(&sim, &["--attempts", "1"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(report["outcome"], "failed", "{report}");
    let applied = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["applied"] == true)
        .count();
    assert_eq!(applied, 3, "{report}");
    assert_eq!(
        names(&sim, "/rest/artifact-bundles").len(),
        5,
        "bundles go last"
    );

    let (out, _) = prune(&sim, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(canonical_state(&sim), canonical_state(&clean));
    for uri in &in_use {
        assert!(
            !deletes(&sim).contains(uri),
            "DELETE of {uri}, which is in use"
        );
    }
}
