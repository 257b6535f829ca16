//! Benchmark of `lint` against the number of plan scripts (issue #19, item 11: lint was quadratic).
//! Run: `cargo bench --bench lint`.
//!
//! Generates bundles of 10,000, 30,000 and 100,000 plan scripts (one build plan per 10 scripts,
//! 10 steps each, a deployment plan per build plan; scripts mount, upload a heredoc with an
//! attribute placeholder and unmount, so every rule family has something to look at; a clean
//! bundle: attributes declared, lint finds nothing, as in a project that passes CI) and lints
//! each with the release binary, without shellcheck and without the result cache (what is measured
//! is lint itself). Reports wall time and peak RSS (GNU time). Target at 100,000: ≤ 5 s, ≤ 600 MiB.
//! For comparison, `verify` and `inspect` of the same bundles are measured too.
//!
//! `I3S_BENCH_SIZES=1000,5000` changes the sizes; `I3S_BENCH_DIR` where the bundles go
//! (default /var/tmp); `I3S_BENCH_KEEP=1` keeps them (for profiling).
use i3s_bundle::bundle::{
    AttributeType, BuildPlan, BuildStep, Bundle, CustomAttribute, DeploymentPlan, Manifest,
    PlanScript, write_bundle,
};
use std::process::Command;

fn main() {
    // `cargo test --all-targets` runs bench targets too (without `--bench`): skip the heavy work.
    if !std::env::args().any(|a| a == "--bench") {
        println!("lint benchmark: skipped (run it with `cargo bench --bench lint`)");
        return;
    }
    let sizes: Vec<usize> = std::env::var("I3S_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 30_000, 100_000]);
    let dir =
        tempfile::tempdir_in(std::env::var("I3S_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .unwrap();
    let exe = env!("CARGO_BIN_EXE_i3s-bundle");
    for &n in &sizes {
        let zip = dir.path().join(format!("lint-{n}.zip"));
        write_bundle(&generated(n, &format!("lint-{n}")), &zip).unwrap();
        let zip = zip.to_str().unwrap();
        let (secs, kib) = measure(
            exe,
            &[
                "lint",
                "--no-cache",
                "--no-shellcheck",
                "--format",
                "json",
                zip,
            ],
        );
        let target = if n == 100_000 {
            "   (target ≤ 5 s, ≤ 600 MiB)"
        } else {
            ""
        };
        println!(
            "lint    of {n:>7} plan scripts: {:6.2} s (CPU {:5.2} s), peak RSS {:4} MiB{target}",
            secs.0,
            secs.1,
            kib / 1024
        );
        for command in ["verify", "inspect"] {
            let (secs, kib) = measure(exe, &[command, "--json", zip]);
            println!(
                "{command:<7} of {n:>7} plan scripts: {:6.2} s (CPU {:5.2} s), peak RSS {:4} MiB",
                secs.0,
                secs.1,
                kib / 1024
            );
        }
    }
    if std::env::var_os("I3S_BENCH_KEEP").is_some() {
        println!("bundles kept in {}", dir.keep().display());
    }
}

/// A bundle of `n` plan scripts, `n / 10` build plans of 10 steps and as many deployment plans.
fn generated(n: usize, name: &str) -> Bundle {
    let id = |kind: &str, i: usize| {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{kind}{i}").as_bytes()).to_string()
    };
    let scripts: Vec<PlanScript> = (0..n)
        .map(|i| {
            let content = format!(
                "mount /dev/cl/root /\nupload -<<END /etc/x{i}\nvalue=@ATTR_{}@\nEND\numount /",
                i % 50
            );
            PlanScript::new(
                id("ps", i),
                format!("script {i}"),
                "generated".into(),
                "deploy",
                content,
            )
        })
        .collect();
    let plans: Vec<BuildPlan> = (0..n / 10)
        .map(|i| {
            let mut plan = BuildPlan::new(
                id("bp", i),
                format!("plan {i}"),
                "generated".into(),
                "deploy",
            );
            for s in 0..10 {
                plan.steps.push(BuildStep::new(s + 1, &scripts[i * 10 + s]));
                let attribute = format!("ATTR_{}", (i * 10 + s) % 50);
                if !plan.custom_attributes.iter().any(|a| a.name == attribute) {
                    plan.custom_attributes
                        .push(CustomAttribute::new(&attribute, AttributeType::String));
                }
            }
            plan
        })
        .collect();
    let deployment_plans: Vec<DeploymentPlan> = plans
        .iter()
        .enumerate()
        .map(|(i, plan)| {
            DeploymentPlan::new(
                id("dp", i),
                format!("deployment {i}"),
                "generated".into(),
                plan.name.clone(),
                String::new(),
            )
        })
        .collect();
    Bundle {
        manifest: Manifest::new(name, "benchmark", false, "2026-11-26T00:00:00.000Z".into()),
        checksum: Default::default(),
        plan_scripts: scripts,
        golden_images: vec![],
        build_plans: plans,
        deployment_plans,
    }
}

/// (Wall, user + system CPU) seconds and peak RSS (KiB) of one run, via GNU time (CPU time says
/// more than wall time on a loaded machine). Lint findings exit 1; that is fine.
fn measure(program: &str, args: &[&str]) -> ((f64, f64), u64) {
    let out = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%e %M %U %S")
        .arg(program)
        .args(args)
        .stdout(std::process::Stdio::null())
        .output()
        .expect("GNU time (/usr/bin/time)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{program} {args:?} failed: {stderr}"
    );
    let last = stderr.lines().last().unwrap_or_default();
    let mut parts = last.split_whitespace();
    let mut number = || {
        parts
            .next()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (wall, kib, user, system) = (number(), number(), number(), number());
    ((wall, user + system), kib as u64)
}
