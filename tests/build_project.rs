//! `i3s-bundle build` on projects made inside the tests: outputs pass verify/unzip/zipfile,
//! byte-identical across directories/TZ/umask/time, make-style rebuilds, located errors.
use crate::common;

use assert_cmd::Command;
use i3s_bundle::bundle::{ReadOptions, read_bundle, verify::verify};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The tool without SOURCE_DATE_EPOCH (build_incremental too).
pub fn bin() -> Command {
    let mut cmd = Command::cargo_bin("i3s-bundle").unwrap();
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd
}

pub fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn init(dir: &Path) {
    bin().arg("init").arg(dir).assert().success();
}

/// Runs `build --json` in `root` with extra args; returns the report (build_incremental too).
pub fn build_json(root: &Path, args: &[&str]) -> Value {
    let out = bin()
        .current_dir(root)
        .arg("build")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn statuses(report: &Value) -> BTreeMap<String, String> {
    report["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["bundle"].as_str().unwrap().to_string(),
                b["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Every file under `dir` with its mtime and bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (SystemTime, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().to_path_buf(),
                (
                    e.metadata().unwrap().modified().unwrap(),
                    std::fs::read(e.path()).unwrap(),
                ),
            )
        })
        .collect()
}

fn zips(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    v.sort();
    v
}

#[test]
fn init_skeleton_builds_and_every_output_verifies_unzips_and_reads_in_python() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path());
    let report = build_json(dir.path(), &[]);
    assert_eq!(report["warnings"].as_array().unwrap().len(), 0, "{report}");
    let outputs = zips(&dir.path().join("dist"));
    assert_eq!(outputs.len(), 1);
    for zip in &outputs {
        let loaded = read_bundle(zip, &ReadOptions::default()).unwrap();
        let verified = verify(&loaded);
        assert!(verified.is_clean(), "{:?}", verified.problems);
        assert_eq!(loaded.bundle.plan_scripts.len(), 4);
        assert_eq!(loaded.bundle.build_plans.len(), 2);
        // The deployment plan names no golden image inside the bundle; the report carries it.
        assert_eq!(
            loaded.bundle.deployment_plans[0].golden_image.as_deref(),
            Some("")
        );
        assert_eq!(
            report["bundles"][0]["golden_images"][0]["golden_image"],
            "CentOS 7.4 Golden Image"
        );
        // Secret attributes never carry a value.
        let plan = loaded
            .bundle
            .build_plan_by_name("Example - Deploy CentOS 7.4")
            .unwrap();
        let password = plan
            .custom_attributes
            .iter()
            .find(|a| a.name == "ROOT_PASSWORD")
            .unwrap();
        assert_eq!(password.value.as_deref(), Some(""));
        if common::require_tool("unzip") {
            common::unzip_test(zip).unwrap();
        }
        if common::require_tool("python3") {
            common::python_zip_check(zip).unwrap();
        }
    }
}

#[test]
fn clean_builds_in_different_directories_tz_umask_and_times_are_byte_identical() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    init(a.path());
    // A copy made later, elsewhere, with other file times.
    let copy = b.path().join("elsewhere/deeper");
    for entry in walkdir::WalkDir::new(a.path())
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
    {
        let relative = entry.path().strip_prefix(a.path()).unwrap();
        let target = copy.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(entry.path(), &target).unwrap();
        let file = std::fs::File::options().write(true).open(&target).unwrap();
        file.set_modified(SystemTime::now() + Duration::from_secs(3600))
            .unwrap();
    }
    let run = |root: &Path, tz: &str, umask: &str| {
        let exe = assert_cmd::cargo::cargo_bin("i3s-bundle");
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("umask {umask} && exec \"$0\" build --archive"))
            .arg(&exe)
            .current_dir(root)
            .env("TZ", tz)
            .env_remove("SOURCE_DATE_EPOCH")
            .status()
            .unwrap();
        assert!(status.success());
    };
    run(a.path(), "UTC", "022");
    std::thread::sleep(Duration::from_millis(1100));
    run(&copy, "Pacific/Chatham", "077");
    let names = |d: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".zip") || n.ends_with(".tar.gz"))
            .collect();
        v.sort();
        v
    };
    let (da, db) = (a.path().join("dist"), copy.join("dist"));
    assert_eq!(names(&da), names(&db));
    assert_eq!(names(&da).len(), 2, "one zip and one archive");
    for name in names(&da) {
        assert_eq!(
            std::fs::read(da.join(&name)).unwrap(),
            std::fs::read(db.join(&name)).unwrap(),
            "{name} differs"
        );
    }
    // The archive holds every bundle, SHA256SUMS and the report, with fixed owner and mode.
    let archive = da.join(
        names(&da)
            .into_iter()
            .find(|n| n.ends_with(".tar.gz"))
            .unwrap(),
    );
    let listing = std::process::Command::new("tar")
        .args(["tvzf"])
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("SHA256SUMS")
            && listing.contains("build-report.json")
            && listing.contains(".zip"),
        "{listing}"
    );
    assert!(
        listing.lines().all(|l| l.starts_with("-rw-r--r-- 0/0")),
        "{listing}"
    );
    let gz = std::fs::read(&archive).unwrap();
    assert_eq!(&gz[4..8], &[0, 0, 0, 0], "gzip header carries no time");
    assert_eq!(gz[3] & 0x08, 0, "gzip header carries no file name");
}

/// Three bundles: `a` uses template t1 (which imports a shared macro), `b` uses t2, `c` uses t1.
fn three_bundle_project(root: &Path) {
    write(
        root,
        "attributes.toml",
        "[HOST]\ntype = \"hostname\"\ndescription = \"host\"\n",
    );
    write(
        root,
        "golden-images/os1/profile.toml",
        "id = \"os1\"\nroot_lv = \"/dev/vg/root\"\n",
    );
    write(
        root,
        "templates/_lib/shared.j2",
        "{% macro hello(who) %}echo hello {{ who }}{% endmacro %}\n",
    );
    write(
        root,
        "templates/t1.j2",
        "{#-\nname = \"t1\"\nplan_type = \"deploy\"\n-#}\n{% import \"_lib/shared.j2\" as s %}mount {{ os.root_lv }} /\n{{ s.hello(\"t1\") }}\necho @HOST@\n",
    );
    write(
        root,
        "templates/t2.j2",
        "{#-\nname = \"t2\"\nplan_type = \"deploy\"\n-#}\necho t2 @HOST@\n",
    );
    for (name, template) in [("a", "t1"), ("b", "t2"), ("c", "t1")] {
        write(
            root,
            &format!("bundles-src/{name}.toml"),
            &format!(
                "[bundle]\nname = \"{name}\"\nversion = \"2026.11.26\"\nos = \"os1\"\n[[build_plan]]\nname = \"p\"\nsteps = [ {{ template = \"{template}\" }} ]\n"
            ),
        );
    }
}

#[test]
fn rebuilds_exactly_what_changed_no_op_writes_nothing_and_force_rebuilds_all() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    three_bundle_project(root);
    let first = build_json(root, &[]);
    assert!(statuses(&first).values().all(|s| s == "built"), "{first}");
    let dist = root.join("dist");
    let before = snapshot(&dist);

    // No-op: says "up to date", writes no file (mtimes and bytes unchanged).
    std::thread::sleep(Duration::from_millis(20));
    bin()
        .current_dir(root)
        .arg("build")
        .assert()
        .success()
        .stdout("up to date\n");
    assert_eq!(snapshot(&dist), before);

    // Touched but unchanged: nothing rebuilt.
    let t2 = root.join("templates/t2.j2");
    std::fs::File::options()
        .write(true)
        .open(&t2)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(60))
        .unwrap();
    let touched = build_json(root, &[]);
    assert!(
        statuses(&touched).values().all(|s| s == "up_to_date"),
        "{touched}"
    );
    let after_touch = snapshot(&dist);
    for zip in zips(&dist) {
        assert_eq!(
            after_touch[&zip],
            before[&zip],
            "{} was rewritten",
            zip.display()
        );
    }

    // Changing t2 rebuilds b only.
    write(
        root,
        "templates/t2.j2",
        "{#-\nname = \"t2\"\nplan_type = \"deploy\"\n-#}\necho t2 changed @HOST@\n",
    );
    let changed = build_json(root, &[]);
    assert_eq!(
        statuses(&changed),
        BTreeMap::from([
            ("a".into(), "up_to_date".into()),
            ("b".into(), "built".into()),
            ("c".into(), "up_to_date".into())
        ])
    );
    let after = snapshot(&dist);
    let zip = |n: &str| dist.join(format!("{n}_2026.11.26.zip"));
    assert_eq!(after[&zip("a")], before[&zip("a")]);
    assert_ne!(after[&zip("b")].1, before[&zip("b")].1);

    // Changing the shared macro rebuilds the bundles whose templates import it (a and c).
    write(
        root,
        "templates/_lib/shared.j2",
        "{% macro hello(who) %}echo hi {{ who }}{% endmacro %}\n",
    );
    let shared = build_json(root, &[]);
    assert_eq!(
        statuses(&shared),
        BTreeMap::from([
            ("a".into(), "built".into()),
            ("b".into(), "up_to_date".into()),
            ("c".into(), "built".into())
        ])
    );

    // A depfile names every input of a bundle.
    let depfile = std::fs::read_to_string(dist.join("a_2026.11.26.zip.d")).unwrap();
    for input in [
        "dist/a_2026.11.26.zip:",
        "bundles-src/a.toml",
        "attributes.toml",
        "golden-images/os1/profile.toml",
        "templates/t1.j2",
        "templates/_lib/shared.j2",
    ] {
        assert!(depfile.contains(input), "{input} missing from {depfile}");
    }
    assert!(!depfile.contains("t2.j2"));

    // A deleted output is rebuilt; --force rebuilds everything.
    std::fs::remove_file(zip("c")).unwrap();
    assert_eq!(statuses(&build_json(root, &[]))["c"], "built");
    assert!(
        statuses(&build_json(root, &["--force"]))
            .values()
            .all(|s| s == "built")
    );

    // --bundle selects; SOURCE_DATE_EPOCH changes the Time Stamp and so rebuilds.
    let only = build_json(root, &["--bundle", "b"]);
    assert_eq!(only["bundles"].as_array().unwrap().len(), 1);
    let out = bin()
        .current_dir(root)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .args(["build", "--json"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(statuses(&report).values().all(|s| s == "built"));
    assert_eq!(
        report["bundles"][0]["time_stamp"],
        "2023-11-14T22:13:20.000Z"
    );
}

#[test]
fn stable_ids_survive_rebuilds_and_change_with_names() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    three_bundle_project(root);
    build_json(root, &[]);
    let ids = |root: &Path| {
        let loaded =
            read_bundle(&root.join("dist/b_2026.11.26.zip"), &ReadOptions::default()).unwrap();
        (
            loaded.bundle.plan_scripts[0].id.clone(),
            loaded.bundle.build_plans[0].id.clone(),
        )
    };
    let (script, plan) = ids(root);
    build_json(root, &["--force"]);
    assert_eq!(ids(root), (script.clone(), plan.clone()));
    write(
        root,
        "bundles-src/b.toml",
        "[bundle]\nname = \"b\"\nversion = \"2026.11.26\"\nos = \"os1\"\n[[build_plan]]\nname = \"renamed\"\nsteps = [ { template = \"t2\" } ]\n",
    );
    build_json(root, &[]);
    let (script2, plan2) = ids(root);
    assert_eq!(script2, script, "the plan script kept its name");
    assert_ne!(plan2, plan, "a renamed build plan gets a new id");
}

/// Builds `root` expecting failure; returns stderr.
fn build_error(root: &Path) -> String {
    let out = bin().current_dir(root).arg("build").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn errors_name_file_line_and_column_and_leave_outputs_intact() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    three_bundle_project(root);
    build_json(root, &[]);
    let dist = root.join("dist");
    let before = snapshot(&dist);
    let t1 = "{#-\nname = \"t1\"\nplan_type = \"deploy\"\n-#}\n{% import \"_lib/shared.j2\" as s %}mount {{ os.root_lv }} /\n{{ s.hello(\"t1\") }}\necho @HOST@\n";

    // A placeholder missing from the registry: the template, line and column.
    write(
        root,
        "templates/t1.j2",
        &format!("{t1}echo   @NOT_REGISTERED@\n"),
    );
    let e = build_error(root);
    assert!(
        e.contains("templates/t1.j2:8:8: placeholder @NOT_REGISTERED@ has no entry"),
        "{e}"
    );

    // Conflicting defaults for one attribute in two steps of a build plan.
    write(
        root,
        "attributes.toml",
        "[HOST]\ntype = \"hostname\"\n[VLAN]\ntype = \"number\"\n",
    );
    write(root, "templates/t1.j2", &format!("{t1}echo @VLAN:0@\n"));
    write(
        root,
        "templates/t2.j2",
        "{#-\nname = \"t2\"\nplan_type = \"deploy\"\n-#}\necho t2 @HOST@\n\necho @VLAN:1@\n",
    );
    write(
        root,
        "bundles-src/b.toml",
        "[bundle]\nname = \"b\"\nversion = \"2026.11.26\"\nos = \"os1\"\n[[build_plan]]\nname = \"p\"\nsteps = [ { template = \"t1\" }, { template = \"t2\" } ]\n",
    );
    let e = build_error(root);
    assert!(
        e.contains("templates/t2.j2:7:6")
            && e.contains("conflicts with the default \"0\" given at templates/t1.j2:8:6"),
        "{e}"
    );
    write(
        root,
        "templates/t2.j2",
        "{#-\nname = \"t2\"\nplan_type = \"deploy\"\n-#}\necho t2 @HOST@\n",
    );
    write(root, "templates/t1.j2", t1);

    // A template syntax error.
    write(
        root,
        "templates/t2.j2",
        "{#-\nname = \"t2\"\nplan_type = \"deploy\"\n-#}\necho ok\n{% if %}\n",
    );
    let e = build_error(root);
    assert!(e.contains("templates/t2.j2:6:"), "{e}");
    assert!(e.contains("syntax error"), "{e}");

    // A typo in a variable (strict undefined).
    write(
        root,
        "templates/t2.j2",
        "{#-\nname = \"t2\"\nplan_type = \"deploy\"\n-#}\necho {{ os.root_lvv }}\n",
    );
    let e = build_error(root);
    assert!(
        e.contains("templates/t2.j2:5:9") && e.contains("undefined"),
        "{e}"
    );
    write(
        root,
        "templates/t2.j2",
        "{#-\nname = \"t2\"\nplan_type = \"deploy\"\n-#}\necho t2 @HOST@\n",
    );

    // An unknown step name: the bundle file and line.
    write(
        root,
        "bundles-src/c.toml",
        "[bundle]\nname = \"c\"\nversion = \"2026.11.26\"\nos = \"os1\"\n[[build_plan]]\nname = \"p\"\nsteps = [\n  { template = \"t1\" },\n  { template = \"no-such\" },\n]\n",
    );
    let e = build_error(root);
    assert!(
        e.contains("bundles-src/c.toml:9:3: unknown template \"no-such\""),
        "{e}"
    );
    write(
        root,
        "bundles-src/c.toml",
        "[bundle]\nname = \"c\"\nversion = \"2026.11.26\"\nos = \"os1\"\n[[build_plan]]\nname = \"p\"\nsteps = [\n  { plan_script = \"missing\" },\n]\n",
    );
    let e = build_error(root);
    assert!(
        e.contains("bundles-src/c.toml:8:3: unknown plan script \"missing\""),
        "{e}"
    );

    // An undeclared step parameter.
    write(
        root,
        "bundles-src/c.toml",
        "[bundle]\nname = \"c\"\nversion = \"2026.11.26\"\nos = \"os1\"\n[[build_plan]]\nname = \"p\"\nsteps = [\n  { template = \"t1\", params = { speed = 1 } },\n]\n",
    );
    let e = build_error(root);
    assert!(
        e.contains("bundles-src/c.toml:8:3") && e.contains("`speed` is not declared"),
        "{e}"
    );

    // A secret with a default in the registry.
    write(
        root,
        "attributes.toml",
        "[HOST]\ntype = \"hostname\"\n[PW]\ntype = \"password\"\ndefault = \"hunter2\"\n",
    );
    let e = build_error(root);
    assert!(
        e.contains("attributes.toml:3") && e.contains("secret"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "a secret leaked into an error: {e}");

    // Nothing of the earlier outputs changed through all these failures.
    assert_eq!(snapshot(&dist), before);
}

#[test]
fn pinned_attribute_lists_are_kept_and_drift_warns() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    three_bundle_project(root);
    write(
        root,
        "attributes.toml",
        "[HOST]\ntype = \"hostname\"\n[EXTRA]\ntype = \"string\"\ndescription = \"declared by hand\"\n",
    );
    write(
        root,
        "bundles-src/b.toml",
        "[bundle]\nname = \"b\"\nversion = \"2026.11.26\"\nos = \"os1\"\n[[build_plan]]\nname = \"p\"\nsteps = [ { template = \"t2\" } ]\nattributes = [ { name = \"EXTRA\", value = \"x\" } ]\n",
    );
    let out = bin()
        .current_dir(root)
        .args(["build", "--bundle", "b"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("@HOST@") && stderr.contains("pinned attribute list does not declare"),
        "{stderr}"
    );
    assert!(stderr.contains("EXTRA are used by no step"), "{stderr}");
    let loaded = read_bundle(&root.join("dist/b_2026.11.26.zip"), &ReadOptions::default()).unwrap();
    let attributes: Vec<(&str, Option<&str>)> = loaded.bundle.build_plans[0]
        .custom_attributes
        .iter()
        .map(|a| (a.name.as_str(), a.value.as_deref()))
        .collect();
    assert_eq!(attributes, [("EXTRA", Some("x"))]);
}

#[test]
fn derived_attributes_are_typed_from_the_registry_and_unused_entries_warn() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    three_bundle_project(root);
    write(
        root,
        "attributes.toml",
        "[HOST]\ntype = \"hostname\"\ndescription = \"the host\"\nconstraints = { helpText = \"short name\" }\n\n[UNUSED]\ntype = \"string\"\n",
    );
    let report = build_json(root, &[]);
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("attributes.toml:6: attribute UNUSED is used by no bundle"),
        "{warnings}"
    );
    let loaded = read_bundle(&root.join("dist/a_2026.11.26.zip"), &ReadOptions::default()).unwrap();
    let attribute = &loaded.bundle.build_plans[0].custom_attributes[0];
    assert_eq!(attribute.name, "HOST");
    assert_eq!(attribute.attribute_type.as_str(), "hostname");
    assert_eq!(attribute.description.as_deref(), Some("the host"));
    let raw = String::from_utf8(
        loaded
            .raw_entry(&format!(
                "{}_buildplan.json",
                loaded.bundle.build_plans[0].id
            ))
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(
        raw.contains(r#""constraints":"{\"helpText\":\"short name\"}""#),
        "{raw}"
    );
}

/// The depfiles let `make` decide as `build` does (docs/building.md: `-include dist/*.zip.d`).
#[test]
fn make_with_the_depfiles_rebuilds_when_an_input_changes() {
    if !common::require_tool("make") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    three_bundle_project(root);
    let exe = assert_cmd::cargo::cargo_bin("i3s-bundle");
    write(
        root,
        "Makefile",
        &format!(
            "all: dist/a_2026.11.26.zip dist/b_2026.11.26.zip\ndist/%.zip:\n\t{} build\n-include dist/*.zip.d\n",
            exe.display()
        ),
    );
    let make_q = || {
        std::process::Command::new("make")
            .arg("-q")
            .current_dir(root)
            .status()
            .unwrap()
            .code()
    };
    let make = std::process::Command::new("make")
        .current_dir(root)
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .unwrap();
    assert!(
        make.status.success(),
        "{}",
        String::from_utf8_lossy(&make.stderr)
    );
    assert_eq!(make_q(), Some(0), "up to date after a build");
    std::thread::sleep(Duration::from_millis(1100));
    write(
        root,
        "templates/t2.j2",
        "{#-\nname = \"t2\"\nplan_type = \"deploy\"\n-#}\necho t2 again @HOST@\n",
    );
    assert_eq!(
        make_q(),
        Some(1),
        "a changed template makes the zip out of date"
    );
}

#[test]
fn checksum_flavour_read_only_and_versioned_names_come_from_the_bundle_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    three_bundle_project(root);
    build_json(root, &[]);
    let stable = read_bundle(&root.join("dist/b_2026.11.26.zip"), &ReadOptions::default())
        .unwrap()
        .bundle;
    write(
        root,
        "bundles-src/b.toml",
        "[bundle]\nname = \"b\"\nversion = \"2026.12.01\"\nos = \"os1\"\nchecksum = \"sha1\"\nread_only = true\nartifact_prefix = \"Acme\"\nartifact_names = \"versioned\"\n[[build_plan]]\nname = \"p\"\nsteps = [ { template = \"t2\" } ]\n",
    );
    build_json(root, &[]);
    let loaded = read_bundle(&root.join("dist/b_2026.12.01.zip"), &ReadOptions::default()).unwrap();
    assert!(verify(&loaded).is_clean());
    let bundle = &loaded.bundle;
    assert!(loaded.entries.iter().any(|e| e.name == "SHA1SUM.sha1sum"));
    assert!(bundle.manifest.read_only);
    assert_eq!(bundle.manifest.artifact_name, "b_2026.12.01");
    assert_eq!(bundle.manifest.time_stamp, "2026-12-01T00:00:00.000Z");
    assert_eq!(bundle.build_plans[0].name, "Acme - p - 2026.12.01");
    assert_eq!(bundle.plan_scripts[0].name, "Acme - t2 - 2026.12.01");
    // Versioned names keep the uuid of the unversioned name: a new version updates in place.
    write(
        root,
        "bundles-src/b.toml",
        "[bundle]\nname = \"b\"\nversion = \"2026.12.02\"\nos = \"os1\"\nartifact_prefix = \"Acme\"\nartifact_names = \"versioned\"\n[[build_plan]]\nname = \"p\"\nsteps = [ { template = \"t2\" } ]\n",
    );
    build_json(root, &[]);
    let next = read_bundle(&root.join("dist/b_2026.12.02.zip"), &ReadOptions::default())
        .unwrap()
        .bundle;
    assert_eq!(next.build_plans[0].id, bundle.build_plans[0].id);
    assert_ne!(
        next.build_plans[0].id, stable.build_plans[0].id,
        "the prefix is part of the name"
    );
}

#[test]
fn a_project_without_registry_or_profile_builds_plain_scripts_and_stays_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "plan-scripts/hello.gf",
        "# name: hello\n# type: general\necho hello\n",
    );
    write(
        root,
        "bundles-src/plain.toml",
        "[bundle]\nname = \"plain\"\nversion = \"2026.11.26\"\n[[build_plan]]\nname = \"p\"\nsteps = [ { plan_script = \"hello\" } ]\n",
    );
    assert_eq!(statuses(&build_json(root, &[]))["plain"], "built");
    assert_eq!(statuses(&build_json(root, &[]))["plain"], "up_to_date");
    // A placeholder now needs a registry entry.
    write(
        root,
        "plan-scripts/hello.gf",
        "# name: hello\n# type: general\necho @WHO@\n",
    );
    let e = build_error(root);
    assert!(
        e.contains("plan-scripts/hello.gf:3:6: placeholder @WHO@ has no entry"),
        "{e}"
    );
}

/// Sets a file's mtime `seconds` in the past.
fn age(path: &Path, seconds: u64) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(seconds))
        .unwrap();
}

/// A separate process (`flock FILE sleep 120`) holding the exclusive lock on `file`, as a live
/// run holds its temporary file's; returns once the lock is held.
fn lock_holder(file: &Path) -> std::process::Child {
    let mut child = std::process::Command::new("flock")
        .arg(file)
        .args(["sleep", "120"])
        .spawn()
        .expect("flock (util-linux) runs");
    for _ in 0..500 {
        if let Ok(handle) = std::fs::File::open(file)
            && matches!(handle.try_lock(), Err(std::fs::TryLockError::WouldBlock))
        {
            return child;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("flock did not lock {}", file.display());
}

#[test]
fn a_build_removes_temp_files_a_killed_build_left_and_keeps_a_live_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("p");
    init(&root);
    build_json(&root, &[]);
    let dist = root.join("dist");
    let before = snapshot(&dist);

    // What `kill -9` during a zip write leaves: a temporary file nobody holds, untouched since.
    let dead_pid = {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    let killed = dist.join(format!(".i3s-bundle-tmp-{dead_pid}-Ab12Cd34-example.zip"));
    std::fs::write(&killed, vec![0u8; 4096]).unwrap();
    age(&killed, 3600);
    // The same from a version before the naming rule.
    let legacy = dist.join(".i3s-bundle-x1Y2z3.zip.tmp");
    std::fs::write(&legacy, b"PK").unwrap();
    age(&legacy, 3 * 24 * 3600);
    // A live run's temporary file: locked by another process (untouched for a while, too).
    let live = dist.join(format!(
        ".i3s-bundle-tmp-{}-Zz98Yy76-example.zip",
        std::process::id()
    ));
    let mut holder = lock_holder(&live);
    age(&live, 3600);
    // Not ours, whatever its age.
    let foreign = dist.join("notes.tmp");
    std::fs::write(&foreign, b"mine").unwrap();
    age(&foreign, 3 * 24 * 3600);

    // The next build, although it has nothing to rebuild.
    bin()
        .current_dir(&root)
        .arg("build")
        .assert()
        .success()
        .stdout("up to date\n");
    let still_there = live.exists();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(!killed.exists(), "the killed build's temp file was left");
    assert!(!legacy.exists(), "the old-style temp file was left");
    assert!(still_there, "a live run's temp file was removed");
    assert!(foreign.exists());
    std::fs::remove_file(&live).unwrap();
    std::fs::remove_file(&foreign).unwrap();
    assert_eq!(snapshot(&dist), before, "outputs are untouched");
}

/// The cache is keyed on the tool's own build, not its version string (#15 point 3): a copy of
/// the binary with one byte appended (still the same version, still runs: the loader ignores
/// trailing bytes) is another tool and rebuilds every bundle; run again, it rebuilds nothing.
#[cfg(unix)]
#[test]
fn a_changed_tool_rebuilds_every_bundle_and_the_same_tool_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("project");
    std::fs::create_dir(&root).unwrap();
    three_bundle_project(&root);
    let first = build_json(&root, &[]);
    assert!(statuses(&first).values().all(|s| s == "built"), "{first}");

    let changed = dir.path().join("i3s-bundle-changed");
    let mut bytes = std::fs::read(env!("CARGO_BIN_EXE_i3s-bundle")).unwrap();
    bytes.push(0);
    std::fs::write(&changed, bytes).unwrap();
    std::fs::set_permissions(&changed, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = |exe: &Path| -> Value {
        let out = Command::new(exe)
            .current_dir(&root)
            .args(["build", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let rebuilt = run(&changed);
    assert_eq!(statuses(&rebuilt).len(), 3, "{rebuilt}");
    assert!(
        statuses(&rebuilt).values().all(|s| s == "built"),
        "{rebuilt}"
    );
    let again = run(&changed);
    assert!(
        statuses(&again).values().all(|s| s == "up_to_date"),
        "{again}"
    );
}

#[test]
fn version_shows_the_commit_it_was_built_from() {
    let out = bin().arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        regex::Regex::new(
            r"^i3s-bundle \d+\.\d+\.\d+ \((commit [0-9a-f]{12}(-dirty)?|unknown commit)\)\n$"
        )
        .unwrap()
        .is_match(&text),
        "{text}"
    );
}
