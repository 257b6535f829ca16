//! Benchmarks for the bundle core (issue #2). Run: `cargo bench --bench bundle_core`.
//!
//! 1. `verify` of a bundle carrying a 1 GiB golden image payload of random (incompressible) bytes:
//!    throughput against `openssl dgst -sha256` of the same payload (target ≥ 0.9×) and peak RSS
//!    (target ≤ 64 MiB), both measured on the release binary with GNU time.
//! 2. `inspect` of a generated bundle of 10,000 plan scripts and 1,000 build plans (target < 1 s).
//!
//! Set I3S_BENCH_PAYLOAD_MIB to change the payload size.
use i3s_bundle::bundle::{
    BuildPlan, BuildStep, Bundle, GoldenImage, GoldenImageEntry, Manifest, Payload, PlanScript,
    write_bundle,
};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

fn main() {
    // `cargo test --all-targets` runs bench targets too (without `--bench`): skip the heavy work.
    if !std::env::args().any(|a| a == "--bench") {
        println!("bundle_core benchmark: skipped (run it with `cargo bench --bench bundle_core`)");
        return;
    }
    let dir =
        tempfile::tempdir_in(std::env::var("I3S_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .unwrap();
    let exe = env!("CARGO_BIN_EXE_i3s-bundle");
    verify_large_payload(exe, dir.path());
    inspect_many_artifacts(exe, dir.path());
}

fn manifest(name: &str) -> Manifest {
    Manifest::new(name, "benchmark", false, "2026-11-26T00:00:00.000Z".into())
}

/// Best of three wall-clock runs, and the peak RSS (KiB) of the last, via GNU time.
fn measure(program: &str, args: &[&str]) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut rss = 0;
    for _ in 0..3 {
        let out = Command::new("/usr/bin/time")
            .arg("-f")
            .arg("%e %M")
            .arg(program)
            .args(args)
            .output()
            .expect("GNU time");
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().last().unwrap_or_default().to_string();
        let mut parts = last.split_whitespace();
        let _: f64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
        rss = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let start = Instant::now();
        let status = Command::new(program)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
        best = best.min(start.elapsed().as_secs_f64());
    }
    (best, rss)
}

fn verify_large_payload(exe: &str, dir: &Path) {
    let mib: u64 = std::env::var("I3S_BENCH_PAYLOAD_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let payload = dir.join("payload.zip");
    {
        // xorshift: incompressible like a real compressed image, and fast to produce.
        let mut file = std::io::BufWriter::new(std::fs::File::create(&payload).unwrap());
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..mib {
            for chunk in buf.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
            }
            file.write_all(&buf).unwrap();
        }
    }
    let image = GoldenImage::new(
        "5a1f9a2e-0000-4000-8000-000000000001".into(),
        "Bench Golden Image".into(),
        "".into(),
    );
    let bundle = Bundle {
        manifest: manifest("bench-payload"),
        checksum: Default::default(),
        plan_scripts: vec![],
        golden_images: vec![GoldenImageEntry {
            image,
            payload: Some(Payload::File(payload.clone())),
        }],
        build_plans: vec![],
        deployment_plans: vec![],
    };
    let zip = dir.join("bench-payload.zip");
    let start = Instant::now();
    write_bundle(&bundle, &zip).unwrap();
    println!(
        "write of a {mib} MiB payload bundle: {:.2} s",
        start.elapsed().as_secs_f64()
    );

    let (openssl, _) = measure("openssl", &["dgst", "-sha256", payload.to_str().unwrap()]);
    let (verify, rss) = measure(exe, &["verify", zip.to_str().unwrap()]);
    let size = mib as f64;
    println!(
        "openssl dgst -sha256: {openssl:.3} s ({:.0} MiB/s)",
        size / openssl
    );
    println!(
        "i3s-bundle verify:    {verify:.3} s ({:.0} MiB/s), peak RSS {} MiB",
        size / verify,
        rss / 1024
    );
    println!(
        "verify throughput vs openssl: {:.2}x (target >= 0.9x); RSS target <= 64 MiB",
        openssl / verify
    );
}

fn inspect_many_artifacts(exe: &str, dir: &Path) {
    let scripts: Vec<PlanScript> = (0..10_000)
        .map(|i| {
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("ps{i}").as_bytes())
                .to_string();
            let content = format!(
                "mount /dev/cl/root /\nupload -<<END /etc/x{i}\nvalue=@ATTR_{}@\nEND\numount /",
                i % 50
            );
            PlanScript::new(
                id,
                format!("script {i}"),
                "generated".into(),
                "deploy",
                content,
            )
        })
        .collect();
    let plans: Vec<BuildPlan> = (0..1_000)
        .map(|i| {
            let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("bp{i}").as_bytes())
                .to_string();
            let mut plan = BuildPlan::new(id, format!("plan {i}"), "generated".into(), "deploy");
            for s in 0..10 {
                plan.steps.push(BuildStep::new(
                    s + 1,
                    &scripts[(i * 10 + s) % scripts.len()],
                ));
            }
            plan
        })
        .collect();
    let bundle = Bundle {
        manifest: manifest("bench-many"),
        checksum: Default::default(),
        plan_scripts: scripts,
        golden_images: vec![],
        build_plans: plans,
        deployment_plans: vec![],
    };
    let zip = dir.join("bench-many.zip");
    write_bundle(&bundle, &zip).unwrap();
    let (inspect, rss) = measure(exe, &["inspect", "--json", zip.to_str().unwrap()]);
    println!(
        "inspect of 10,000 plan scripts + 1,000 build plans: {inspect:.3} s (target < 1 s), peak RSS {} MiB",
        rss / 1024
    );
}
