//! The Ansible collection (ansible/) against a fleet of three simulated appliances, one
//! `i3s-bundle simulate` process each on its own loopback port and state file: the shipped
//! example playbook in check mode writes nothing and reports changes; the first run changes all
//! three; the second changes none; a fault on one appliance fails that host only; a re-run
//! converges it. Also `ansible-doc` renders each module and `ansible-test sanity` passes.
use crate::publish_support::{GOLDEN_IMAGE, PASSWORD, TEMPLATE, test_bundle};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const MODULES: [&str; 4] = ["publish", "status_info", "prune", "golden_image"];

/// True when `tool` runs; without it the test skips loudly, except under CI where it fails
/// (.ci/install-test-deps installs ansible-core).
fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{tool} is missing under CI: run .ci/install-test-deps"
        );
        eprintln!("SKIPPED: {tool} is not installed (pip3 install ansible-core)");
    }
    found
}

/// One appliance: a `simulate` process on a free port with its own state file.
struct Appliance {
    child: Child,
    url: String,
}

impl Appliance {
    fn start(state: &Path) -> Appliance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_i3s-bundle"))
            .args(["simulate", "--listen", "127.0.0.1:0", "--state"])
            .arg(state)
            .env("I3S_SIM_PASSWORD", PASSWORD)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line.trim().rsplit(' ').next().unwrap().to_string();
        assert!(url.starts_with("http://127.0.0.1:"), "{line}");
        let seed = json!({
            "/rest/golden-images": [{"type": "GoldenImage", "name": GOLDEN_IMAGE, "description": "seeded", "size": 1024}],
            "/rest/server-profile-templates": [{"type": "ServerProfileTemplateV8", "name": TEMPLATE, "description": "web tier",
                "osDeploymentSettings": {"osDeploymentPlanUri": null, "osCustomAttributes": []}}],
        });
        let response = ureq::post(format!("{url}/sim/seed"))
            .send_json(&seed)
            .unwrap();
        assert_eq!(response.status(), 201);
        Appliance { child, url }
    }

    /// Requests that changed something (login/logout aside).
    fn writes(&self) -> Vec<String> {
        let mut response = ureq::get(format!("{}/sim/requests", self.url))
            .call()
            .unwrap();
        let log: Value = response.body_mut().read_json().unwrap();
        log["counts"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| !k.starts_with("GET ") && !k.ends_with(" /rest/login-sessions"))
            .cloned()
            .collect()
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The collection copied where Ansible finds it: `<root>/ansible_collections/hpe_i3s/bundle`.
fn install_collection(root: &Path) -> PathBuf {
    let target = root.join("ansible_collections/hpe_i3s/bundle");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("ansible");
    copy_tree(&source, &target);
    target
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            copy_tree(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// Per host of the PLAY RECAP: (changed, failed).
fn recap(stdout: &str) -> BTreeMap<String, (u32, u32)> {
    let pattern = regex::Regex::new(
        r"(?m)^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)",
    )
    .unwrap();
    pattern
        .captures_iter(stdout)
        .map(|c| {
            (
                c[1].to_string(),
                (c[2].parse().unwrap(), c[3].parse().unwrap()),
            )
        })
        .collect()
}

struct Fleet {
    dir: tempfile::TempDir,
    appliances: Vec<Appliance>,
    collections: PathBuf,
}

impl Fleet {
    fn new() -> Fleet {
        let dir = tempfile::tempdir().unwrap();
        let appliances = (1..=3)
            .map(|i| Appliance::start(&dir.path().join(format!("appliance{i}.json"))))
            .collect::<Vec<_>>();
        let urls: Vec<&str> = appliances.iter().map(|a| a.url.as_str()).collect();
        assert_eq!(
            urls.iter().collect::<std::collections::BTreeSet<_>>().len(),
            3,
            "{urls:?}"
        );
        let collections = dir.path().join("collections");
        install_collection(&collections);
        // The shipped example playbook, next to a dist/ of its own.
        let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("ansible/playbooks/fleet.yml");
        std::fs::copy(playbook, dir.path().join("fleet.yml")).unwrap();
        std::fs::create_dir(dir.path().join("dist")).unwrap();
        let mut inventory = String::from("[appliances]\n");
        for (i, url) in urls.iter().enumerate() {
            inventory.push_str(&format!("appliance{} oneview_hostname={url}\n", i + 1));
        }
        inventory.push_str(&format!(
            "[appliances:vars]\ni3s_bundle_binary={}\ni3s_insecure=true\nansible_python_interpreter={{{{ ansible_playbook_python }}}}\n",
            env!("CARGO_BIN_EXE_i3s-bundle")
        ));
        std::fs::write(dir.path().join("inventory.ini"), inventory).unwrap();
        Fleet {
            dir,
            appliances,
            collections,
        }
    }

    fn set_bundle(&self, version: &str) {
        let dist = self.dir.path().join("dist");
        for entry in std::fs::read_dir(&dist).unwrap() {
            std::fs::remove_file(entry.unwrap().path()).unwrap();
        }
        test_bundle(&dist, version, "web");
    }

    fn playbook(&self, extra: &[&str]) -> (BTreeMap<String, (u32, u32)>, String) {
        let out = Command::new("ansible-playbook")
            .current_dir(self.dir.path())
            .args(["-i", "inventory.ini", "fleet.yml"])
            .args(extra)
            .env("ANSIBLE_COLLECTIONS_PATH", &self.collections)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANSIBLE_HOST_KEY_CHECKING", "0")
            .env("ONEVIEWSDK_USERNAME", "administrator")
            .env("ONEVIEWSDK_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let text = format!(
            "{stdout}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(PASSWORD), "the password leaked: {text}");
        (recap(&stdout), text)
    }
}

fn hosts(changed: u32, failed: u32) -> BTreeMap<String, (u32, u32)> {
    (1..=3)
        .map(|i| (format!("appliance{i}"), (changed, failed)))
        .collect()
}

#[test]
#[ignore = "slow: seven ansible-playbook runs against three simulate processes (~1 min)"]
fn the_example_playbook_publishes_to_a_fleet_of_three() {
    let _heavy = crate::common::heavy();
    if !have("ansible-playbook") {
        return;
    }
    let fleet = Fleet::new();
    fleet.set_bundle("1.0");

    let (recap, text) = fleet.playbook(&["--check", "--diff"]);
    assert!(
        recap
            .values()
            .all(|(changed, failed)| *changed > 0 && *failed == 0),
        "{text}"
    );
    assert_eq!(recap.len(), 3, "{text}");
    assert!(
        text.contains("plan-script t - hostname"),
        "the diff names what would change: {text}"
    );
    for appliance in &fleet.appliances {
        assert!(
            appliance.writes().is_empty(),
            "check mode wrote: {:?}",
            appliance.writes()
        );
    }

    let (recap, text) = fleet.playbook(&[]);
    assert!(
        recap
            .values()
            .all(|(changed, failed)| *changed > 0 && *failed == 0),
        "{text}"
    );
    assert_eq!(recap.len(), 3, "{text}");
    let (recap, text) = fleet.playbook(&[]);
    assert_eq!(recap, hosts(0, 0), "{text}");

    // A new version; appliance2's extract fails once.
    fleet.set_bundle("1.1");
    let faults = json!({"taskErrors": 1, "taskErrorOn": "Extract", "seed": 1});
    crate::fleet_support::set_faults(&fleet.appliances[1].url, &faults);
    let (recap, text) = fleet.playbook(&[]);
    assert_eq!(recap["appliance2"].1, 1, "{text}");
    assert_eq!(
        (recap["appliance1"].1, recap["appliance3"].1),
        (0, 0),
        "{text}"
    );
    assert!(
        recap["appliance1"].0 > 0 && recap["appliance3"].0 > 0,
        "{text}"
    );
    let (recap, text) = fleet.playbook(&[]);
    assert_eq!(recap["appliance2"].1, 0, "{text}");
    assert!(recap["appliance2"].0 > 0, "{text}");
    assert_eq!(
        (recap["appliance1"], recap["appliance3"]),
        ((0, 0), (0, 0)),
        "{text}"
    );
    let (recap, text) = fleet.playbook(&[]);
    assert_eq!(recap, hosts(0, 0), "{text}");
    golden_image_uploads_once(&fleet);
}

/// The golden_image module, ad hoc on appliance1: uploaded, then unchanged.
fn golden_image_uploads_once(fleet: &Fleet) {
    let image = fleet.dir.path().join("disk.img");
    std::fs::write(&image, vec![7u8; 1 << 20]).unwrap();
    let payload = fleet.dir.path().join("disk.zip");
    i3s_bundle::image::pack::pack(&image, "Fleet Golden Image", &payload).unwrap();
    let module_args = format!(
        "file={} name='Fleet Golden Image' binary={} hostname={url} image_streamer_hostname={url} insecure=true",
        payload.display(),
        env!("CARGO_BIN_EXE_i3s-bundle"),
        url = fleet.appliances[0].url
    );
    let run = || {
        let out = Command::new("ansible")
            .args([
                "all",
                "-i",
                "localhost,",
                "-c",
                "local",
                "-m",
                "hpe_i3s.bundle.golden_image",
            ])
            .args([
                "-a",
                &module_args,
                "-e",
                "ansible_python_interpreter={{ ansible_playbook_python }}",
            ])
            .env("ANSIBLE_COLLECTIONS_PATH", &fleet.collections)
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ONEVIEWSDK_USERNAME", "administrator")
            .env("ONEVIEWSDK_PASSWORD", PASSWORD)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let first = run();
    assert!(first.contains("localhost | CHANGED"), "{first}");
    let second = run();
    assert!(second.contains("localhost | SUCCESS"), "{second}");
    assert!(second.contains("\"changed\": false"), "{second}");
}

#[test]
fn ansible_doc_renders_every_module() {
    if !have("ansible-doc") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    install_collection(root.path());
    for module in MODULES {
        let out = Command::new("ansible-doc")
            .arg(format!("hpe_i3s.bundle.{module}"))
            .env("ANSIBLE_COLLECTIONS_PATH", root.path())
            .env("ANSIBLE_NOCOLOR", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("OPTIONS"),
            "{module}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The shared connection options (doc fragment) render in each.
        assert!(
            text.contains("image_streamer_hostname") && text.contains("auth_login_domain"),
            "{module}: {text}"
        );
    }
}

#[test]
#[ignore = "slow: ansible-test sanity builds its virtual environments (minutes)"]
fn ansible_test_sanity_passes() {
    let _heavy = crate::common::heavy();
    if !have("ansible-test") {
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let collection = install_collection(root.path());
    let python = Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .unwrap();
    let python = String::from_utf8_lossy(&python.stdout).trim().to_string();
    let out = Command::new("ansible-test")
        .current_dir(&collection)
        .args(["sanity", "--local", "--python", &python])
        .args(SKIPPED_SANITY.iter().flat_map(|t| ["--skip-test", t]))
        .env("ANSIBLE_NOCOLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sanity tests skipped, each with why (also in ansible/README.md).
const SKIPPED_SANITY: [&str; 0] = [];

#[test]
fn the_readme_shows_the_tested_playbook() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let playbook = std::fs::read_to_string(root.join("ansible/playbooks/fleet.yml")).unwrap();
    let section = readme
        .split("## Many appliances")
        .nth(1)
        .expect("README has the section");
    assert!(
        section.contains(&format!("```yaml\n{playbook}```")),
        "README's \"Many appliances\" playbook differs from ansible/playbooks/fleet.yml"
    );
}
