//! Acceptance of `i3s-bundle publish` over real HTTP on loopback against the simulator.
use crate::publish_support;
use publish_support::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const CENTOS: &str = "HudsonAlpha_Artifact_Bundle_CentOS7.4_2018-06-09.zip";
const FEDORA: &str = "HudsonAlpha_Artifact_Bundle_Fedora27_2018-06-09.zip";

fn report(output: &std::process::Output) -> Value {
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("JSON report ({e}):\n{}", text(output)));
    crate::common::assert_schema("publish", &report);
    report
}

fn names(sim: &i3s_bundle::simulator::Simulator, collection: &str) -> BTreeSet<String> {
    get(sim, "/sim/state")["resources"][collection]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_string())
        .collect()
}

/// The bundles publish takes: two of the reference lab's real bundles and a small one with
/// deployment plans (built here with the library's writer).
fn bundles(dir: &std::path::Path) -> Vec<String> {
    let test = test_bundle(dir, "1.0", "node1");
    vec![
        reference_bundle(CENTOS).display().to_string(),
        reference_bundle(FEDORA).display().to_string(),
        test.display().to_string(),
    ]
}

fn expected_names(
    paths: &[String],
    f: impl Fn(&i3s_bundle::bundle::Bundle) -> Vec<String>,
) -> BTreeSet<String> {
    paths
        .iter()
        .flat_map(|p| {
            f(
                &i3s_bundle::bundle::read_bundle(std::path::Path::new(p), &Default::default())
                    .unwrap()
                    .bundle,
            )
        })
        .collect()
}

fn publish_all(
    sim: &i3s_bundle::simulator::Simulator,
    paths: &[String],
    extra: &[&str],
) -> std::process::Output {
    let template = format!("{TEMPLATE}={PLAN_A}");
    let mut args: Vec<&str> = paths.iter().map(String::as_str).collect();
    args.extend(["--json", "--profile-template", &template]);
    args.extend(extra);
    publish(sim, &args)
}

#[test]
fn publish_creates_exactly_the_expected_objects_then_a_second_run_only_reads() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let paths = bundles(dir.path());

    let first = publish_all(&sim, &paths, &[]);
    assert!(first.status.success(), "{}", text(&first));
    let first_report = report(&first);
    assert_eq!(first_report["outcome"], "done");
    assert_eq!(first_report["changed"], true);

    // Exactly the expected objects.
    assert_eq!(
        names(&sim, "/rest/artifact-bundles"),
        BTreeSet::from([
            "HudsonAlpha_Artifact_Bundle_CentOS7.4_2018-06-09".into(),
            "HudsonAlpha_Artifact_Bundle_Fedora27_2018-06-09".into(),
            "t-bundle_1.0".to_string()
        ])
    );
    assert_eq!(
        names(&sim, "/rest/plan-scripts"),
        expected_names(&paths, |b| b
            .plan_scripts
            .iter()
            .map(|p| p.name.clone())
            .collect())
    );
    assert_eq!(
        names(&sim, "/rest/build-plans"),
        expected_names(&paths, |b| b
            .build_plans
            .iter()
            .map(|p| p.name.clone())
            .collect())
    );
    assert_eq!(
        names(&sim, "/rest/deployment-plans"),
        BTreeSet::from([PLAN_A.to_string(), PLAN_B.to_string()])
    );
    assert_eq!(
        names(&sim, "/rest/golden-images"),
        BTreeSet::from([GOLDEN_IMAGE.to_string()])
    );
    let state = canonical_state(&sim);
    let plans = state["/rest/deployment-plans"].as_array().unwrap();
    assert_eq!(
        plans,
        &vec![
            json!({"name": PLAN_A, "buildPlan": "t - Deploy", "goldenImage": GOLDEN_IMAGE, "attributes": [["HOSTNAME", "node1", true], ["ROOT_PW", "", true]]}),
            json!({"name": PLAN_B, "buildPlan": "t - Deploy", "goldenImage": "", "attributes": [["HOSTNAME", "node1", false], ["ROOT_PW", "", false]]}),
        ]
    );
    // The template points at the OneView view of plan A, keeps its own HOSTNAME and NIC values.
    let template = &state["/rest/server-profile-templates"][0];
    assert_eq!(template["planSet"], true, "{template}");
    assert_eq!(
        template["os"],
        json!([{"name": "HOSTNAME", "value": "set-by-template"}, {"name": "ROOT_PW", "value": ""}]),
        "{template}"
    );
    assert_no_duplicates(&sim);
    // The uploaded bundles are byte-identical to the local files (pulled back below).
    let pulled = dir.path().join("pulled.zip");
    let pull = command(
        &sim,
        "pull",
        &["t-bundle_1.0", "--out", pulled.to_str().unwrap()],
    );
    assert!(pull.status.success(), "{}", text(&pull));
    assert_eq!(
        std::fs::read(&pulled).unwrap(),
        std::fs::read(&paths[2]).unwrap()
    );

    // Second run: nothing to change, only GETs.
    reset_requests(&sim);
    let second = publish_all(&sim, &paths, &[]);
    assert!(second.status.success(), "{}", text(&second));
    let second_report = report(&second);
    assert_eq!(second_report["changed"], false, "{second_report}");
    for object in second_report["objects"].as_array().unwrap() {
        assert_eq!(object["action"], "unchanged", "{object}");
    }
    assert_eq!(
        writes(&sim),
        Vec::<String>::new(),
        "a publish with nothing to change wrote"
    );
    let counts = requests(&sim)["counts"].clone();
    eprintln!("requests of a no-change publish: {counts:#}");
    // One list per resource kind (bundles: one exact-name lookup per bundle).
    for kind in [
        "/rest/plan-scripts",
        "/rest/build-plans",
        "/rest/golden-images",
        "/rest/deployment-plans",
        "/rest/server-profile-templates",
        "/rest/os-deployment-plans/",
    ] {
        assert_eq!(
            counts[format!("GET {}", kind.trim_end_matches('/'))],
            1,
            "GET {kind}: {counts}"
        );
    }
    assert_eq!(counts["GET /rest/artifact-bundles"], 3);
    assert_eq!(
        canonical_state(&sim),
        state,
        "a no-change run changed the state"
    );
}

#[test]
fn dry_run_sends_no_write_and_shows_the_plan() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let paths = bundles(dir.path());
    let out = publish_all(&sim, &paths, &["--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(writes(&sim), Vec::<String>::new());
    let r = report(&out);
    assert_eq!(
        (r["dry_run"].clone(), r["changed"].clone()),
        (json!(true), json!(true))
    );
    let plan_a = r["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == PLAN_A)
        .unwrap();
    assert_eq!(plan_a["action"], "create");
    assert!(
        plan_a["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["field"] == "goldenImageURI"
                && c["to"]
                    .as_str()
                    .unwrap()
                    .starts_with("/rest/golden-images/")),
        "{plan_a}"
    );
    assert!(
        r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["applied"] == false)
    );
    assert!(names(&sim, "/rest/artifact-bundles").is_empty());

    // --all takes every zip of --dist.
    let all = publish(
        &sim,
        &[
            "--all",
            "--dist",
            dir.path().to_str().unwrap(),
            "--dry-run",
            "--json",
        ],
    );
    assert!(all.status.success(), "{}", text(&all));
    assert_eq!(report(&all)["objects"][0]["name"], "t-bundle_1.0");
    assert_eq!(writes(&sim), Vec::<String>::new());

    // The human form says the same, and that nothing was written.
    let human = publish(&sim, &[&paths[2], "--dry-run"]);
    let stdout = String::from_utf8_lossy(&human.stdout);
    assert!(
        stdout.contains("deployment plan") && stdout.contains("nothing was written"),
        "{}",
        text(&human)
    );

    // After a real publish, a changed attribute shows as an update with a field diff.
    assert!(publish(&sim, &[&paths[2]]).status.success());
    let changed = test_bundle(&dir.path().join("v2"), "2.0", "node2");
    reset_requests(&sim);
    let out = publish(&sim, &[changed.to_str().unwrap(), "--dry-run", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(writes(&sim), Vec::<String>::new());
    let r = report(&out);
    let plan_a = r["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == PLAN_A)
        .unwrap();
    assert_eq!(plan_a["action"], "update");
    assert!(
        plan_a["changes"].as_array().unwrap().contains(
            &json!({"field": "customAttributes.HOSTNAME.value", "from": "node1", "to": "node2"})
        ),
        "{plan_a}"
    );
}

#[test]
fn a_missing_golden_image_is_named_already_in_the_dry_run() {
    let sim = start(sim_config());
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let out = publish(&sim, &[bundle.to_str().unwrap(), "--dry-run"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains(GOLDEN_IMAGE) && all.contains(PLAN_A) && all.contains("publish.json"),
        "{all}"
    );
    assert_eq!(writes(&sim), Vec::<String>::new());
    // And the explicit mapping overrides the sidecar (here: to an image that does exist).
    seed_appliance(&sim);
    let out = publish(
        &sim,
        &[
            bundle.to_str().unwrap(),
            "--golden-image",
            &format!("{PLAN_A}=No Such Image"),
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("No Such Image"), "{}", text(&out));
}

/// Whether the dry run plans `goldenImageURI` of plan A to a golden image.
fn plans_golden_image(r: &Value) -> bool {
    let plan_a = r["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == PLAN_A)
        .unwrap();
    plan_a["changes"].as_array().unwrap().iter().any(|c| {
        c["field"] == "goldenImageURI"
            && c["to"]
                .as_str()
                .unwrap()
                .starts_with("/rest/golden-images/")
    })
}

#[test]
fn the_golden_image_comes_from_the_sidecar_build_writes_not_the_hidden_cache() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let sha = i3s_bundle::publish::source::file_sha256(&bundle).unwrap();
    let attachments = [i3s_bundle::build::GoldenImageAttachment {
        deployment_plan: PLAN_A.into(),
        golden_image: GOLDEN_IMAGE.into(),
    }];
    // The sidecar `i3s-bundle build` writes, tied to this zip's hash.
    i3s_bundle::build::sidecar::write(&bundle, &sha, &attachments).unwrap();
    let args = [bundle.to_str().unwrap(), "--dry-run", "--json"];
    let out = publish(&sim, &args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(plans_golden_image(&report(&out)));
    // The hidden build cache alone (a CI artifact copy drops the sidecar's neighbours, never
    // the sidecar) is not read: no golden image is planned from it.
    std::fs::remove_file(bundle.with_extension("publish.json")).unwrap();
    let cache = json!({"tool": "i3s-bundle", "bundles": {"bundles-src/t.toml": {"zip_name": "t-bundle_1.0.zip",
        "sha256": sha, "attachments": [{"deployment_plan": PLAN_A, "golden_image": GOLDEN_IMAGE}]}}});
    std::fs::write(dir.path().join(".i3s-bundle-cache.json"), cache.to_string()).unwrap();
    assert!(!plans_golden_image(&report(&publish(&sim, &args))));
    // A sidecar written for another build of that file name is refused (like an unreadable
    // one: the run cannot start), naming it.
    i3s_bundle::build::sidecar::write(&bundle, &"0".repeat(64), &attachments).unwrap();
    let out = publish(&sim, &args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("publish.json") && text(&out).contains("another build"),
        "{}",
        text(&out)
    );
}

#[test]
fn same_name_other_content_is_refused_unless_replace() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let first = test_bundle(&dir.path().join("a"), "1.0", "node1");
    assert!(publish(&sim, &[first.to_str().unwrap()]).status.success());
    let other = test_bundle(&dir.path().join("b"), "1.0", "other-default");
    reset_requests(&sim);
    let out = publish(&sim, &[other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("--replace") && text(&out).contains("nothing was changed"),
        "{}",
        text(&out)
    );
    assert_eq!(writes(&sim), Vec::<String>::new());

    let out = publish(&sim, &[other.to_str().unwrap(), "--replace", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(report(&out)["objects"][0]["action"], "replace");
    assert_eq!(names(&sim, "/rest/artifact-bundles").len(), 1);
    let state = canonical_state(&sim);
    assert_eq!(
        state["/rest/deployment-plans"][0]["attributes"][0],
        json!(["HOSTNAME", "other-default", true])
    );
    assert_no_duplicates(&sim);
}

/// Runs publish until it exits 0 (each failed run must exit 1 with a report).
fn publish_until_done(sim: &i3s_bundle::simulator::Simulator, paths: &[String]) -> usize {
    for attempt in 1..=40 {
        let out = publish_all(sim, paths, &[]);
        match out.status.code() {
            Some(0) => return attempt,
            Some(1) => {
                let r = report(&out);
                assert_eq!(r["outcome"], "failed");
                assert!(r["error"].is_string(), "{r}");
            }
            other => panic!("exit {other:?}:\n{}", text(&out)),
        }
    }
    panic!("publish never succeeded in 40 runs")
}

#[test]
fn faults_repeated_publish_converges_to_the_fault_free_state() {
    let dir = tempfile::tempdir().unwrap();
    let paths = bundles(dir.path());
    let clean = start(sim_config());
    seed_appliance(&clean);
    assert_eq!(publish_until_done(&clean, &paths), 1);
    let expected = canonical_state(&clean);

    for seed in [3u64, 11] {
        let sim = start(sim_config());
        seed_appliance(&sim);
        put(
            &sim,
            "/sim/faults",
            &json!({"error5xx": 0.2, "taskErrors": 1, "uploadResets": 1, "seed": seed}),
        );
        let runs = publish_until_done(&sim, &paths);
        eprintln!("seed {seed}: done after {runs} run(s)");
        let faults = get(&sim, "/sim/faults");
        assert_eq!(
            (faults["taskErrors"].clone(), faults["uploadResets"].clone()),
            (json!(0), json!(0)),
            "every injected fault fired"
        );
        let log = requests(&sim)["log"].as_array().unwrap().clone();
        assert!(
            log.iter().any(|e| e["status"] == 500),
            "no 5xx was injected"
        );
        assert_eq!(
            canonical_state(&sim),
            expected,
            "seed {seed}: final state differs from the fault-free run"
        );
        assert_no_duplicates(&sim);
        // Converged: one more run changes nothing.
        put(&sim, "/sim/faults", &json!({}));
        reset_requests(&sim);
        let out = publish_all(&sim, &paths, &[]);
        assert!(out.status.success(), "{}", text(&out));
        assert_eq!(report(&out)["changed"], false);
        assert_eq!(writes(&sim), Vec::<String>::new());
    }
}

#[test]
fn a_task_in_error_is_reported_with_the_appliance_words_and_what_was_applied() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    put(&sim, "/sim/faults", &json!({"taskErrors": 1}));
    let out = publish(&sim, &[bundle.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    let error = r["error"].as_str().unwrap();
    assert!(
        error.contains("ended in Error")
            && error.contains("injected fault")
            && error.contains("recommended: Retry the operation."),
        "{error}"
    );
    // The upload task was the one that failed; the next run completes.
    let human = publish(&sim, &[bundle.to_str().unwrap()]);
    assert!(
        human.status.success(),
        "the next run completes: {}",
        text(&human)
    );

    // A connection reset half-way through the upload is survived within one run: the client
    // finds no bundle of that name and uploads again, and says so without -v.
    let sim = start(sim_config());
    seed_appliance(&sim);
    put(&sim, "/sim/faults", &json!({"uploadResets": 1}));
    let out = publish(&sim, &[bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("attempt 1 of 6 failed")
            && String::from_utf8_lossy(&out.stderr).contains("uploading again in"),
        "{}",
        text(&out)
    );
    assert_eq!(requests(&sim)["counts"]["POST /rest/artifact-bundles"], 2);
    assert_eq!(names(&sim, "/rest/artifact-bundles").len(), 1);

    // An extract that fails after a successful upload: the report lists the upload as applied.
    let sim = start(sim_config());
    seed_appliance(&sim);
    put(
        &sim,
        "/sim/faults",
        &json!({"taskErrors": 1, "taskErrorOn": "Extract"}),
    );
    let out = publish(&sim, &[bundle.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    let objects = r["objects"].as_array().unwrap();
    let row = |action: &str| {
        objects
            .iter()
            .find(|o| o["action"] == action)
            .unwrap()
            .clone()
    };
    assert_eq!(row("upload")["applied"], true, "{r}");
    assert_eq!(row("extract")["applied"], false, "{r}");
    assert!(
        r["error"].as_str().unwrap().contains("extracting bundle"),
        "{r}"
    );
    // The human form of the same failure names what was applied before it.
    let sim = start(sim_config());
    seed_appliance(&sim);
    put(
        &sim,
        "/sim/faults",
        &json!({"taskErrors": 1, "taskErrorOn": "Extract"}),
    );
    let out = publish(&sim, &[bundle.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("FAILED")
            && stdout.contains("applied before the failure: artifact bundle upload t-bundle_1.0"),
        "{stdout}"
    );
    // The next run extracts what is missing and finishes.
    let again = publish(&sim, &[bundle.to_str().unwrap(), "--json"]);
    assert!(again.status.success(), "{}", text(&again));
    let r = report(&again);
    assert_eq!(r["objects"][0]["action"], "unchanged");
    assert!(
        r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["action"] == "extract" && o["applied"] == true)
    );
}

#[test]
fn the_password_appears_nowhere_even_at_the_most_verbose_level() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let template = format!("{TEMPLATE}={PLAN_A}");
    for args in [
        vec![
            bundle.to_str().unwrap(),
            "-vvv",
            "--json",
            "--profile-template",
            &template,
        ],
        vec![bundle.to_str().unwrap(), "-vvv"],
    ] {
        let out = publish(&sim, &args);
        assert!(out.status.success(), "{}", text(&out));
        let all = text(&out);
        assert!(
            all.contains("→ POST") && all.contains("request body"),
            "not verbose: {all}"
        );
        assert!(!all.contains(PASSWORD), "the password leaked:\n{all}");
        // Nor the session id: the log shows auth as ***.
        assert!(all.contains("auth: ***"));
    }
    // A wrong password: the error does not echo it either.
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_i3s-bundle"));
    let wrong = "Wr0ng-Pa55-xyz";
    let out = cmd
        .args([
            "publish",
            bundle.to_str().unwrap(),
            "-vvv",
            "--attempts",
            "1",
            "--insecure",
        ])
        .env("ONEVIEWSDK_IP", &sim.base_url)
        .env("ONEVIEWSDK_IMAGE_STREAMER_IP", &sim.base_url)
        .env("ONEVIEWSDK_USERNAME", "administrator")
        .env("ONEVIEWSDK_PASSWORD", wrong)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("Invalid user name or password") && !text(&out).contains(wrong),
        "{}",
        text(&out)
    );
}

#[cfg(unix)]
#[test]
fn config_file_credentials_and_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        json!({"ip": sim.base_url, "image_streamer_ip": sim.base_url, "api_version": 800, "credentials": {"userName": "administrator", "password": PASSWORD}}).to_string(),
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
            .args([
                "publish",
                bundle.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
                "--poll-interval",
                "5ms",
                "-vvv",
                "--insecure",
            ])
            .env_remove("ONEVIEWSDK_IP")
            .env_remove("ONEVIEWSDK_IMAGE_STREAMER_IP")
            .env_remove("ONEVIEWSDK_USERNAME")
            .env_remove("ONEVIEWSDK_PASSWORD")
            .env_remove("ONEVIEWSDK_API_VERSION")
            .output()
            .unwrap()
    };
    let out = run();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("chmod 600"), "{}", text(&out));
    assert_eq!(
        requests(&sim)["log"].as_array().unwrap().len(),
        0,
        "nothing is sent with a readable password file"
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = run();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(PASSWORD));
    assert!(
        text(&out).contains("X-API-Version: 800"),
        "the config's api_version is used: {}",
        text(&out)
    );
}

#[test]
fn tls_fails_without_the_ca_certificate_and_succeeds_with_it() {
    let sim = start(i3s_bundle::simulator::SimConfig {
        tls: true,
        ..sim_config()
    });
    assert!(sim.base_url.starts_with("https://"));
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let bundle = bundle.to_str().unwrap();
    let out = publish(&sim, &[bundle]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).to_lowercase().contains("certificate"),
        "{}",
        text(&out)
    );
    assert!(
        requests(&sim)["log"].as_array().unwrap().is_empty(),
        "no request got through without trust"
    );
    let ca = sim.ca_cert.clone().unwrap();
    let out = publish(&sim, &[bundle, "--ca-cert", ca.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        canonical_state(&sim)["/rest/deployment-plans"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // --insecure also connects, with a warning.
    let out = publish(&sim, &[bundle, "--insecure"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("NOT verified"));
}

/// A CA installed only in the platform's trust store is trusted without --ca-cert (#15 point 2).
/// The machine's real store is left alone: on Linux the platform verifier's roots come from
/// rustls-native-certs, which reads only `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set
/// (rustls-native-certs 0.8 src/lib.rs, `load_native_certs`; rustls-platform-verifier 0.7
/// src/verification/others.rs calls it).
#[cfg(all(unix, not(target_os = "macos")))]
#[test]
fn a_ca_in_the_system_trust_store_is_trusted_without_ca_cert() {
    let sim = start(i3s_bundle::simulator::SimConfig {
        tls: true,
        ..sim_config()
    });
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let bundle = bundle.to_str().unwrap();
    // A store holding another CA only: refused, and the advice names the trust store.
    let other = start(i3s_bundle::simulator::SimConfig {
        tls: true,
        ..sim_config()
    });
    let other_store = other.ca_cert.clone().unwrap();
    let out = publish_support::command_with_env(
        &sim,
        "publish",
        &[bundle],
        &[("SSL_CERT_FILE", &other_store)],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("is not trusted") && text(&out).contains("trust store"),
        "{}",
        text(&out)
    );
    assert!(requests(&sim)["log"].as_array().unwrap().is_empty());
    // A store (a bundle, as /etc/ssl/certs/ca-certificates.crt is) holding the simulator's CA.
    let store = dir.path().join("ca-bundle.crt");
    let mut pem = std::fs::read(&other_store).unwrap();
    pem.extend(std::fs::read(sim.ca_cert.as_ref().unwrap()).unwrap());
    std::fs::write(&store, pem).unwrap();
    let out =
        publish_support::command_with_env(&sim, "publish", &[bundle], &[("SSL_CERT_FILE", &store)]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        canonical_state(&sim)["/rest/deployment-plans"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn a_template_etag_race_is_retried_and_never_overwrites_the_other_writer() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let template = format!("{TEMPLATE}={PLAN_A}");
    put(&sim, "/sim/faults", &json!({"etagRaces": 1}));
    let out = publish(
        &sim,
        &[
            bundle.to_str().unwrap(),
            "--profile-template",
            &template,
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let state = canonical_state(&sim);
    let t = &state["/rest/server-profile-templates"][0];
    assert_eq!(t["planSet"], true);
    assert!(
        t["description"]
            .as_str()
            .unwrap()
            .contains("[changed by another writer]"),
        "the other writer's change was lost: {t}"
    );
    let puts = requests(&sim)["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["method"] == "PUT"
                && e["path"]
                    .as_str()
                    .unwrap()
                    .starts_with("/rest/server-profile-templates/")
        })
        .map(|e| e["status"].clone())
        .collect::<Vec<_>>();
    assert_eq!(puts, vec![json!(412), json!(202)]);

    // A writer that keeps winning: publish gives up, says so, and the template keeps their version.
    let sim = start(sim_config());
    seed_appliance(&sim);
    put(&sim, "/sim/faults", &json!({"etagRaces": 10}));
    let out = publish(
        &sim,
        &[
            bundle.to_str().unwrap(),
            "--profile-template",
            &template,
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    assert!(
        r["error"].as_str().unwrap().contains("another writer"),
        "{r}"
    );
    let t = &canonical_state(&sim)["/rest/server-profile-templates"][0];
    assert_eq!(
        t["planSet"], false,
        "overwritten despite the eTag mismatch: {t}"
    );
    // The report says what was applied before the failure.
    assert!(
        r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "deployment-plan" && o["applied"] == true)
    );
    assert!(
        r["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["kind"] == "server-profile-template" && o["applied"] == false)
    );
}

#[test]
fn slow_tasks_are_waited_for_within_the_overall_task_timeout() {
    let sim = start(sim_config());
    seed_appliance(&sim);
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    // Tasks take 400 ms and every request 5 ms: publish polls with backoff and finishes.
    put(
        &sim,
        "/sim/faults",
        &json!({"slowTaskMs": 400, "latencyMs": 5}),
    );
    let started = std::time::Instant::now();
    let out = publish(&sim, &[bundle.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(800),
        "two slow tasks (upload, extract) were not waited for"
    );
    // A task slower than --task-timeout: exit 1, the report names the task and the limit.
    let sim = start(sim_config());
    seed_appliance(&sim);
    put(&sim, "/sim/faults", &json!({"slowTaskMs": 5000}));
    let mut args = vec![bundle.to_str().unwrap(), "--json"];
    args.extend(["--task-timeout", "1"]);
    let out = publish(&sim, &args);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let r = report(&out);
    assert!(
        r["error"].as_str().unwrap().contains("still Running after"),
        "{r}"
    );
}

/// The repository's own bundles: `i3s-bundle build` of bundles-src/ into a temporary dist, then
/// publish into an empty simulator that holds only the golden images the build names.
#[test]
fn the_repository_bundles_publish_into_an_empty_simulator_and_settle() {
    let root = env!("CARGO_MANIFEST_DIR");
    let dist = tempfile::tempdir().unwrap();
    let build = std::process::Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
        .args([
            "build",
            "--root",
            root,
            "--out",
            dist.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(build.status.success(), "{}", text(&build));
    let zips: Vec<String> = std::fs::read_dir(dist.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .map(|p| p.display().to_string())
        .collect();
    assert!(!zips.is_empty());
    // The golden images the build left for publish to attach (the sidecar next to each zip).
    let attachments: Vec<(String, String)> = zips
        .iter()
        .flat_map(|zip| {
            let sidecar = std::path::Path::new(zip).with_extension("publish.json");
            let value: Value = serde_json::from_slice(&std::fs::read(sidecar).unwrap()).unwrap();
            let plans = value["deploymentPlans"].as_object().unwrap().clone();
            plans.into_iter().map(|(plan, settings)| {
                (plan, settings["goldenImage"].as_str().unwrap().to_string())
            })
        })
        .collect();
    assert!(!attachments.is_empty());
    let images: BTreeSet<String> = attachments.iter().map(|(_, i)| i.clone()).collect();

    let sim = start(sim_config());
    // Without the golden images on the appliance, even the dry run says which is missing.
    let out = publish(
        &sim,
        &[
            "--all",
            "--dist",
            dist.path().to_str().unwrap(),
            "--dry-run",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains(images.iter().next().unwrap()));
    let seed: Vec<Value> = images
        .iter()
        .map(|n| json!({"type": "GoldenImage", "name": n}))
        .collect();
    assert_eq!(
        post(&sim, "/sim/seed", &json!({"/rest/golden-images": seed})).0,
        201
    );

    let out = publish(
        &sim,
        &["--all", "--dist", dist.path().to_str().unwrap(), "--json"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let stems: BTreeSet<String> = zips
        .iter()
        .map(|z| {
            std::path::Path::new(z)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names(&sim, "/rest/artifact-bundles"), stems);
    assert_eq!(
        names(&sim, "/rest/plan-scripts"),
        expected_names(&zips, |b| b
            .plan_scripts
            .iter()
            .map(|p| p.name.clone())
            .collect())
    );
    assert_eq!(
        names(&sim, "/rest/build-plans"),
        expected_names(&zips, |b| b
            .build_plans
            .iter()
            .map(|p| p.name.clone())
            .collect())
    );
    assert_eq!(
        names(&sim, "/rest/deployment-plans"),
        expected_names(&zips, |b| b
            .deployment_plans
            .iter()
            .map(|p| p.name.clone())
            .collect())
    );
    assert_eq!(names(&sim, "/rest/golden-images"), images);
    let state = canonical_state(&sim);
    for (plan, image) in &attachments {
        let found = state["/rest/deployment-plans"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == plan.as_str())
            .unwrap();
        assert_eq!(found["goldenImage"], image.as_str(), "{found}");
    }
    assert_no_duplicates(&sim);

    reset_requests(&sim);
    let again = publish(
        &sim,
        &["--all", "--dist", dist.path().to_str().unwrap(), "--json"],
    );
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(report(&again)["changed"], false);
    assert_eq!(writes(&sim), Vec::<String>::new());
    assert_eq!(canonical_state(&sim), state);
}

use crate::common;

/// The progress bar (bytes, rate, ETA) shows on a terminal only: not with --json, not under CI.
/// A terminal is provided by util-linux `script`.
#[test]
fn upload_progress_shows_on_a_terminal_only() {
    if !common::require_tool("script") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = test_bundle(dir.path(), "1.0", "node1");
    let run = |extra: &str, ci: bool| {
        let sim = start(sim_config());
        seed_appliance(&sim);
        let exe = env!("CARGO_BIN_EXE_i3s-bundle");
        let command = format!(
            "{exe} publish {} --poll-interval 5ms --insecure {extra}",
            bundle.display()
        );
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"])
            .env("ONEVIEWSDK_IP", &sim.base_url)
            .env("ONEVIEWSDK_IMAGE_STREAMER_IP", &sim.base_url)
            .env("ONEVIEWSDK_USERNAME", "administrator")
            .env("ONEVIEWSDK_PASSWORD", PASSWORD)
            .env_remove("CI");
        if ci {
            cmd.env("CI", "true");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let terminal = run("", false);
    assert!(
        terminal.contains("uploading t-bundle_1.0.zip")
            && terminal.contains("B/s")
            && terminal.contains("ETA"),
        "{terminal}"
    );
    assert!(!terminal.contains(PASSWORD));
    assert!(!run("--json", false).contains("uploading"));
    assert!(!run("", true).contains("uploading"));
}
