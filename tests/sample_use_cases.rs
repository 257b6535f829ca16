//! Every sample use case the repository ships (`deployments/*.toml`) is valid against the bundle
//! that defines its template's deployment plan: in the `simulate --demo` lab, with that bundle
//! built from `bundles-src/` and published wiring the template, `deploy --dry-run` passes.
use crate::common;

use i3s_bundle::simulator::consul::ConsulStandIn;
use i3s_bundle::simulator::{SimConfig, Simulator, demo};
use std::path::{Path, PathBuf};
use std::process::Command;

const ADMIN: &str = "sample-admin-token";

/// The bundle source (file stem) and full plan name of the deployment plan named `short`.
fn plan_source(root: &Path, short: &str) -> Option<(String, String)> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join("bundles-src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    sources.sort();
    sources.into_iter().find_map(|path| {
        let table: toml::Table = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let prefix = table["bundle"]["artifact_prefix"].as_str()?.to_string();
        table
            .get("deployment_plan")?
            .as_array()?
            .iter()
            .any(|p| p["name"].as_str() == Some(short))
            .then(|| {
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                (stem, format!("{prefix} - {short}"))
            })
    })
}

#[test]
fn every_sample_use_case_validates_against_its_bundle() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().unwrap();
    let sim = Simulator::start(SimConfig::default()).unwrap();
    sim.seed(&demo::seed(root).unwrap()).unwrap();
    let consul = ConsulStandIn::start("127.0.0.1:0".parse().unwrap(), ADMIN).unwrap();
    // The binary in the repository, against the demo lab and the Consul stand-in.
    let command = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_i3s-bundle"));
        command
            .current_dir(root)
            .args(args)
            .env("ONEVIEWSDK_IP", &sim.base_url)
            .env("ONEVIEWSDK_IMAGE_STREAMER_IP", &sim.base_url)
            .env("ONEVIEWSDK_USERNAME", "administrator")
            .env("ONEVIEWSDK_PASSWORD", "simulator")
            .env("CONSUL_HTTP_ADDR", &consul.base_url)
            .env("CONSUL_HTTP_TOKEN", ADMIN);
        command
    };
    let cli = |args: &[&str]| {
        let output = command(args).output().unwrap();
        (output.status.code(), common::output_text(&output))
    };
    let mut samples: Vec<PathBuf> = std::fs::read_dir(root.join("deployments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    samples.sort();
    assert!(samples.len() >= 2, "{samples:?}");
    for sample in &samples {
        let text = std::fs::read_to_string(sample).unwrap();
        let case: toml::Table = toml::from_str(&text).unwrap();
        let template = case["template"].as_str().unwrap();
        let (source, plan) = plan_source(root, template).unwrap_or_else(|| {
            panic!(
                "{}: no deployment plan named {template:?}",
                sample.display()
            )
        });
        let out = work.path().join(&source);
        let (code, text) = cli(&["build", "--bundle", &source, "--out", out.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{text}");
        let zip = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "zip"))
            .unwrap();
        let wiring = format!("{template}={plan}");
        let (code, text) = cli(&[
            "publish",
            zip.to_str().unwrap(),
            "--insecure",
            "--profile-template",
            &wiring,
        ]);
        assert_eq!(code, Some(0), "publish for {}: {text}", sample.display());
        // Every [secrets] variable set to a placeholder: the check is of the file, not of secrets.
        let mut deploy = command(&[
            "deploy",
            sample.to_str().unwrap(),
            "--dry-run",
            "--insecure",
        ]);
        for secret in case["secrets"]
            .as_table()
            .into_iter()
            .flat_map(|t| t.values())
        {
            if let Some(var) = secret.get("env").and_then(|v| v.as_str()) {
                deploy.env(var, "placeholder-secret");
            }
        }
        let output = deploy.output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{} is not valid against {plan:?}:\n{}",
            sample.display(),
            common::output_text(&output)
        );
    }
}
