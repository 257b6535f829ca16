//! Incremental rebuilds (issue #14): a bundle whose inputs changed renders again only the plan
//! scripts whose inputs changed and copies the other entries' compressed bytes from its previous
//! zip, and the zip is byte for byte the one a clean build (`build --force`) writes. A previous
//! zip edited or truncated by hand, or a missing memo, means a full rebuild, never a wrong zip.
use crate::build_project::{bin, build_json, write};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const TEMPLATES: usize = 24;

/// Template `t<i>`: a parameter, the shared macro, a placeholder per template group.
fn template(i: usize, extra: &str) -> String {
    format!(
        "{{#-\nname = \"cap {i} ({{{{ params.mode }}}})\"\nplan_type = \"deploy\"\ndescription = \"Capability {i} on {{{{ os.id }}}}\"\n[params]\nmode = {{ default = \"a\", choices = [\"a\", \"b\"] }}\n-#}}\n{{% import \"_lib/m.j2\" as m -%}}\n{{{{ m.log(\"cap-{i}\") }}}}\necho @GW_{}@ {{{{ params.mode }}}} {{{{ bundle.name }}}}\n{extra}",
        i % 3
    )
}

/// Two bundles of three build plans over 24 templates (plus a plain plan script), a registry and
/// an OS profile.
fn project(root: &Path) {
    let mut registry = String::from("[HOST]\ntype = \"hostname\"\ndescription = \"host\"\n");
    for g in 0..3 {
        registry.push_str(&format!(
            "[GW_{g}]\ntype = \"ipv4\"\ndescription = \"gateway {g}\"\n"
        ));
    }
    write(root, "attributes.toml", &registry);
    write(
        root,
        "golden-images/os1/profile.toml",
        "id = \"os1\"\nroot_lv = \"/dev/vg/root\"\n",
    );
    write(
        root,
        "templates/_lib/m.j2",
        "{% macro log(name) -%}\necho start >> /var/log/{{ name }}.log\n{%- endmacro %}\n",
    );
    for i in 0..TEMPLATES {
        write(root, &format!("templates/t{i}.j2"), &template(i, ""));
    }
    write(
        root,
        "plan-scripts/plain.gf",
        "# name: plain\n# type: deploy\n# description: plain script\necho plain @HOST@\n",
    );
    for b in 0..2 {
        let mut toml = format!(
            "[bundle]\nname = \"inc-{b}\"\nversion = \"2026.11.26\"\nos = \"os1\"\nartifact_prefix = \"Inc {b}\"\n"
        );
        for plan in 0..3 {
            toml.push_str(&format!(
                "\n[[build_plan]]\nname = \"plan {plan}\"\nsteps = [\n"
            ));
            for step in 0..4 {
                let i = b * 12 + plan * 4 + step;
                let mode = if i % 2 == 1 { "b" } else { "a" };
                toml.push_str(&format!(
                    "  {{ template = \"t{i}\", params = {{ mode = \"{mode}\" }} }},\n"
                ));
            }
            toml.push_str("  { plan_script = \"plain\" },\n]\n");
        }
        toml.push_str(
            "\n[[deployment_plan]]\nname = \"deploy 0\"\nbuild_plan = \"plan 0\"\ngolden_image = \"Img\"\n",
        );
        write(root, &format!("bundles-src/inc-{b}.toml"), &toml);
    }
}

/// Bundle name → (status, reason).
fn outcome(report: &Value) -> BTreeMap<String, (String, String)> {
    report["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bundle"].as_str().unwrap().to_string(),
                (
                    b["status"].as_str().unwrap().to_string(),
                    b["reason"].as_str().unwrap_or("").to_string(),
                ),
            )
        })
        .collect()
}

/// The zips, sidecars and depfiles of `dist`, by file name.
fn outputs(dist: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dist)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".zip") || n.ends_with(".publish.json") || n.ends_with(".zip.d"))
        .map(|n| (n.clone(), std::fs::read(dist.join(&n)).unwrap()))
        .collect()
}

/// `dist` holds exactly what a clean build (`--force` into an empty directory) writes, and the
/// build cache says every bundle is up to date.
fn assert_same_as_clean(root: &Path) {
    let clean = tempfile::tempdir().unwrap();
    let out = clean.path().join("dist");
    build_json(root, &["--force", "--out", out.to_str().unwrap()]);
    let (ours, theirs) = (outputs(&root.join("dist")), outputs(&out));
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &ours {
        if name.ends_with(".zip.d") {
            continue; // names the output directory
        }
        assert!(bytes == &theirs[name], "{name} differs from a clean build");
    }
    let again = build_json(root, &[]);
    assert!(
        outcome(&again).values().all(|(s, _)| s == "up_to_date"),
        "{again}"
    );
}

fn zip_path(root: &Path, bundle: usize) -> PathBuf {
    root.join(format!("dist/inc-{bundle}_2026.11.26.zip"))
}

#[test]
fn one_changed_template_renders_one_plan_script_and_the_zip_equals_a_clean_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    build_json(root, &[]);

    // A body change, then one that adds a placeholder (the build plan's attributes change).
    for extra in ["echo changed\n", "echo again @HOST@\n"] {
        write(root, "templates/t5.j2", &template(5, extra));
        let report = outcome(&build_json(root, &[]));
        assert_eq!(report["inc-1"].0, "up_to_date");
        let (status, reason) = &report["inc-0"];
        assert_eq!(status, "built");
        assert!(
            reason.contains("templates/t5.j2 changed")
                && reason.contains("incremental: 1 of 12 templated plan scripts rendered again"),
            "{reason}"
        );
        assert_same_as_clean(root);
    }
}

#[test]
fn registry_profile_macro_and_bundle_changes_rebuild_what_they_affect_as_a_clean_build() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    build_json(root, &[]);

    // The registry: no render changes, the attributes do.
    let registry = std::fs::read_to_string(root.join("attributes.toml")).unwrap();
    write(
        root,
        "attributes.toml",
        &registry.replace("gateway 1", "the gateway"),
    );
    let report = outcome(&build_json(root, &[]));
    for bundle in ["inc-0", "inc-1"] {
        assert_eq!(report[bundle].0, "built");
        assert!(report[bundle].1.contains("0 of 12"), "{:?}", report[bundle]);
    }
    assert_same_as_clean(root);

    // The macro every template imports: everything renders again.
    write(
        root,
        "templates/_lib/m.j2",
        "{% macro log(name) -%}\necho begin >> /var/log/{{ name }}.log\n{%- endmacro %}\n",
    );
    let report = outcome(&build_json(root, &[]));
    assert!(
        report["inc-1"].1.contains("12 of 12"),
        "{:?}",
        report["inc-1"]
    );
    assert_same_as_clean(root);

    // The OS profile every render sees.
    write(
        root,
        "golden-images/os1/profile.toml",
        "id = \"os1\"\nroot_lv = \"/dev/vg/root2\"\n",
    );
    assert!(
        outcome(&build_json(root, &[]))["inc-0"]
            .1
            .contains("12 of 12")
    );
    assert_same_as_clean(root);

    // A step added, one removed and one given other params, in the bundle source.
    let source = root.join("bundles-src/inc-1.toml");
    let text = std::fs::read_to_string(&source).unwrap();
    let text = text
        .replace(
            "  { template = \"t12\", params = { mode = \"a\" } },\n",
            "  { template = \"t12\", params = { mode = \"b\" } },\n  { template = \"t0\" },\n",
        )
        .replace("  { template = \"t23\", params = { mode = \"b\" } },\n", "");
    std::fs::write(&source, text).unwrap();
    let report = outcome(&build_json(root, &[]));
    assert_eq!(report["inc-0"].0, "up_to_date");
    assert!(
        report["inc-1"].1.contains("2 of 12"),
        "{:?}",
        report["inc-1"]
    );
    assert_same_as_clean(root);

    // A new template and a new step using it; then the template removed again.
    write(root, "templates/new.j2", &template(99, ""));
    let text = std::fs::read_to_string(&source).unwrap();
    std::fs::write(
        &source,
        text.replacen("steps = [\n", "steps = [\n  { template = \"new\" },\n", 1),
    )
    .unwrap();
    assert!(
        outcome(&build_json(root, &[]))["inc-1"]
            .1
            .contains("1 of 13")
    );
    assert_same_as_clean(root);
    std::fs::write(
        &source,
        std::fs::read_to_string(&source)
            .unwrap()
            .replace("  { template = \"new\" },\n", ""),
    )
    .unwrap();
    std::fs::remove_file(root.join("templates/new.j2")).unwrap();
    assert!(
        outcome(&build_json(root, &[]))["inc-1"]
            .1
            .contains("0 of 12")
    );
    assert_same_as_clean(root);
}

/// Sets a file's mtime back to what it was (a hand edit that keeps size and mtime).
fn keep_mtime(path: &Path, mtime: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn a_previous_zip_edited_or_truncated_or_a_missing_memo_means_a_full_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    build_json(root, &[]);
    let zip = zip_path(root, 0);
    let memo = root.join("dist/.inc-0_2026.11.26.zip.memo.json");
    assert!(memo.is_file());

    for (round, tamper) in ["flip a byte", "truncate", "drop the memo"]
        .iter()
        .enumerate()
    {
        let mtime = std::fs::metadata(&zip).unwrap().modified().unwrap();
        let mut bytes = std::fs::read(&zip).unwrap();
        match *tamper {
            // Inside the first entry's compressed data; size and mtime kept.
            "flip a byte" => bytes[100] ^= 0x55,
            "truncate" => bytes.truncate(bytes.len() / 2),
            _ => std::fs::remove_file(&memo).unwrap(),
        }
        std::fs::write(&zip, &bytes).unwrap();
        keep_mtime(&zip, mtime);
        write(
            root,
            "templates/t3.j2",
            &template(3, &format!("echo {round}\n")),
        );
        let report = outcome(&build_json(root, &[]));
        let (status, reason) = &report["inc-0"];
        assert_eq!(status, "built", "{tamper}");
        assert!(!reason.contains("incremental"), "{tamper}: {reason}");
        assert_same_as_clean(root);
    }

    // A zip edited with its size and mtime kept and no input changed: the build cannot see it
    // (the cache trusts stat as make does), but the next change rebuilds it whole and right.
    std::thread::sleep(Duration::from_millis(10));
    let mtime = std::fs::metadata(&zip).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&zip).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&zip, &bytes).unwrap();
    keep_mtime(&zip, mtime);
    write(root, "templates/t4.j2", &template(4, "echo four\n"));
    let report = outcome(&build_json(root, &[]));
    assert!(
        !report["inc-0"].1.contains("incremental"),
        "{:?}",
        report["inc-0"]
    );
    assert_same_as_clean(root);
}

/// The no-op fast path (`dist/.i3s-bundle-stamp`) reports what the cache would, and anything the
/// cache would see makes the build look again.
#[test]
fn the_no_op_stamp_reports_as_the_cache_would_and_any_change_is_seen() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    project(root);
    build_json(root, &[]);
    let stamp = root.join("dist/.i3s-bundle-stamp");
    assert!(stamp.is_file());
    let fast = build_json(root, &[]);
    std::fs::remove_file(&stamp).unwrap();
    let slow = build_json(root, &[]);
    assert_eq!(fast, slow, "the stamp's report is the cache's");
    assert!(stamp.is_file(), "a no-op without a stamp writes one");
    assert!(outcome(&fast).values().all(|(s, _)| s == "up_to_date"));

    let built = |args: &[&str]| -> Vec<String> {
        outcome(&build_json(root, args))
            .into_iter()
            .filter(|(_, (s, _))| s == "built")
            .map(|(b, _)| b)
            .collect()
    };
    // An input, an output and a sidecar; the bundle selection; the time environment.
    write(root, "templates/t20.j2", &template(20, "echo 20\n"));
    assert_eq!(built(&[]), ["inc-1"]);
    std::fs::remove_file(root.join("dist/inc-0_2026.11.26.publish.json")).unwrap();
    assert_eq!(built(&[]), ["inc-0"]);
    std::fs::remove_file(zip_path(root, 1)).unwrap();
    assert_eq!(built(&[]), ["inc-1"]);
    let only = build_json(root, &["--bundle", "inc-0"]);
    assert_eq!(only["bundles"].as_array().unwrap().len(), 1);
    assert_eq!(
        build_json(root, &[])["bundles"].as_array().unwrap().len(),
        2
    );
    let out = bin()
        .current_dir(root)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        outcome(&serde_json::from_slice(&out.stdout).unwrap()).len(),
        2
    );
    assert_eq!(
        built(&[]),
        ["inc-0", "inc-1"],
        "back without SOURCE_DATE_EPOCH"
    );
    // A new bundle; a lost cache.
    let source = std::fs::read_to_string(root.join("bundles-src/inc-0.toml")).unwrap();
    write(
        root,
        "bundles-src/inc-2.toml",
        &source.replace("inc-0", "inc-2").replace("Inc 0", "Inc 2"),
    );
    assert_eq!(built(&[]), ["inc-2"]);
    std::fs::remove_file(root.join("dist/.i3s-bundle-cache.json")).unwrap();
    assert_eq!(built(&[]), ["inc-0", "inc-1", "inc-2"]);
    assert!(built(&[]).is_empty());
    assert_same_as_clean(root);
}
