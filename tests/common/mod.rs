#![allow(dead_code)]
use std::path::{Path, PathBuf};

pub const CENTOS_2018_03: &str = "HudsonAlpha_Artifact_Bundle_CentOS7.4_2018-03-15.zip";
pub const CENTOS_2018_06: &str = "HudsonAlpha_Artifact_Bundle_CentOS7.4_2018-06-09.zip";
pub const FEDORA_2018_06: &str = "HudsonAlpha_Artifact_Bundle_Fedora27_2018-06-09.zip";
pub const REFERENCE_BUNDLES: [&str; 3] = [CENTOS_2018_03, CENTOS_2018_06, FEDORA_2018_06];

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hudsonalpha")
        .join(name)
}

/// Whether an external tool is installed. Under CI (`CI=true`) a missing tool is a failure,
/// elsewhere the test is skipped with a loud message.
pub fn require_tool(tool: &str) -> bool {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{tool} is required under CI but is not installed (.ci/run installs it)");
        }
        eprintln!("\n*** SKIPPED: {tool} is not installed; install it to run this test ***\n");
    }
    found
}

pub fn python_zip_check(path: &std::path::Path) -> Result<(), String> {
    let out = std::process::Command::new("python3")
        .args(["-c", "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nbad=z.testzip()\nsys.exit(1 if bad else 0)", path.to_str().unwrap()])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

pub fn unzip_test(path: &std::path::Path) -> Result<(), String> {
    let out = std::process::Command::new("unzip")
        .args(["-t", "-q"])
        .arg(path)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// A finished command's standard output followed by its standard error, as text.
pub fn output_text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Tests that listen on the simulator's default ports (8443, Consul 8500) hold this while they
/// run: in one test binary they would otherwise run at the same time and take each other's port.
pub fn default_ports() -> std::sync::MutexGuard<'static, ()> {
    static PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    PORTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Tests that load the machine hard (a second cargo build, Chromium, ansible-test's virtual
/// environments, the whole release workflow) share this lock (read); the golden image build
/// holds it alone (write, [`quiet_machine`]) while it makes its disk: under such load
/// grub-install in the build's TCG guestfish appliance has failed ("embedding is not possible,
/// but this is required for cross-disk install") in two CI runs. The heavy tests do not wait for
/// each other: serialising them left one test thread idle at the end of every CI run.
static HEAVY: std::sync::RwLock<()> = std::sync::RwLock::new(());

pub fn heavy() -> std::sync::RwLockReadGuard<'static, ()> {
    HEAVY
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The golden image build's disk step: no heavy test runs beside it (see [`heavy`]).
pub fn quiet_machine() -> std::sync::RwLockWriteGuard<'static, ()> {
    HEAVY
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Checks a `--json` report against `docs/schemas/<name>.json` (generated from the Rust types by
/// src/cli/schema.rs) with python3's `jsonschema` (draft 2020-12, what schemars writes).
/// Without the validator: a loud skip on a developer's machine, a failure under CI=true.
pub fn assert_schema(name: &str, report: &serde_json::Value) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schemas")
        .join(format!("{name}.json"));
    assert!(schema.is_file(), "no schema {}", schema.display());
    let script = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
doc = json.load(sys.stdin)
errors = sorted(Draft202012Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
for e in errors[:20]:
    print('/'.join(map(str, e.path)) or '(root)', e.message)
sys.exit(1 if errors else 0)
"#;
    let child = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&schema)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return skip_without_jsonschema();
    };
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(report.to_string().as_bytes()).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("ModuleNotFoundError") {
        return skip_without_jsonschema();
    }
    assert!(
        out.status.success(),
        "the {name} report does not match docs/schemas/{name}.json:\n{}{stderr}\nreport: {report:#}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn skip_without_jsonschema() {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("python3 with jsonschema is required under CI (.ci/install-lint-deps installs it)");
    }
    eprintln!("\n*** SKIPPED schema check: python3 -m pip install jsonschema ***\n");
}
