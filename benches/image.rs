//! Benchmarks for golden images and local plan runs (issue #7). Run: `cargo bench --bench image`.
//! (Under `cargo test` it does nothing: launches cost ~20 s each.)
//!
//! 1. One plan run (launch, steps, read-back) of a reference deploy plan against a fake CentOS image.
//! 2. Every build plan of the reference bundles (and of dist/*.zip when present) against the fake
//!    of its OS: "before" = one `run` process (one launch) per plan, "after" = all plans in one
//!    `run_jobs` call (one launch unless a plan fails). Target: ≤ 60 s wall on 2 cores.
//! 3. `golden-image pack` of a 1 GiB image (random bytes): wall time and peak RSS (target ≤ 64 MiB)
//!    of the release binary, measured with GNU time.
//!
//! Set I3S_BENCH_SKIP_BEFORE=1 to skip the slow one-launch-per-plan baseline,
//! I3S_BENCH_PACK_MIB to change the pack size.
use i3s_bundle::bundle::{ReadOptions, read_bundle};
use i3s_bundle::image::run::{self, PreparedPlan};
use i3s_bundle::image::{OsDefinition, fake};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exe = env!("CARGO_BIN_EXE_i3s-bundle");
    let dir =
        tempfile::tempdir_in(std::env::var("I3S_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into()))
            .unwrap();
    pack_large_image(exe, dir.path());

    let centos_os = OsDefinition::load(&root.join("golden-images/centos7.4")).unwrap();
    let fedora_os = OsDefinition::load(&root.join("golden-images/fedora27")).unwrap();
    let centos = dir.path().join("centos.img");
    let fedora = dir.path().join("fedora.img");
    let started = Instant::now();
    fake::fake_many(&[
        fake::FakeJob {
            os: &centos_os,
            out: centos.clone(),
            size: fake::DEFAULT_SIZE,
        },
        fake::FakeJob {
            os: &fedora_os,
            out: fedora.clone(),
            size: fake::DEFAULT_SIZE,
        },
    ])
    .unwrap();
    println!(
        "fake images (both OSes, one launch): {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Every build plan of every bundle, with the image of its OS.
    let mut bundles: Vec<PathBuf> = std::fs::read_dir(root.join("tests/fixtures/hudsonalpha"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .collect();
    if let Ok(dist) = std::fs::read_dir(root.join("dist")) {
        bundles.extend(
            dist.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "zip")),
        );
    }
    bundles.sort();
    let mut jobs: Vec<(PathBuf, PathBuf, String, PreparedPlan)> = Vec::new();
    for path in &bundles {
        let loaded = read_bundle(path, &ReadOptions::default()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_lowercase();
        let image = if name.contains("fedora") {
            &fedora
        } else {
            &centos
        };
        for plan in &loaded.bundle.build_plans {
            let values = run::sample_values(&loaded.bundle, plan);
            jobs.push((
                path.clone(),
                image.clone(),
                plan.name.clone(),
                run::prepare(
                    path,
                    &loaded.bundle,
                    &plan.name,
                    &values,
                    run::HostAccess::Refuse,
                )
                .unwrap(),
            ));
        }
    }

    // 1. One plan run through the CLI (what a user waits for).
    let (bundle, image, plan, _) = jobs
        .iter()
        .find(|j| j.2 == "HudsonAlpha_Docker_CentOS7.4")
        .unwrap();
    let started = Instant::now();
    let status = Command::new(exe)
        .args([
            "run",
            bundle.to_str().unwrap(),
            plan,
            "--image",
            image.to_str().unwrap(),
            "--sample-attrs",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    println!(
        "one plan run ({plan}: launch, 9 steps, read-back): {:.1} s wall",
        started.elapsed().as_secs_f64()
    );

    // 2. All plans: one launch per plan (before) vs grouped (after); the repository's own plans
    // (dist/) and the reference bundles separately, then everything together.
    let is_repo =
        |j: &&(PathBuf, PathBuf, String, PreparedPlan)| j.0.starts_with(root.join("dist"));
    let repo: Vec<_> = jobs.iter().filter(is_repo).collect();
    let reference: Vec<_> = jobs.iter().filter(|j| !is_repo(j)).collect();
    for (label, set) in [
        ("repository (dist/)", &repo),
        ("reference bundles", &reference),
    ] {
        if set.is_empty() {
            println!("{label}: no bundles (run `i3s-bundle build` first for dist/)");
            continue;
        }
        measure(label, set);
    }
    let all: Vec<_> = jobs.iter().collect();
    let grouped: Vec<(&Path, &PreparedPlan)> =
        all.iter().map(|(_, i, _, p)| (i.as_path(), p)).collect();
    let started = Instant::now();
    let report = run::run_jobs(&grouped, None).unwrap();
    println!(
        "everything ({} plans) grouped: {:.1} s wall, {} launch(es)",
        grouped.len(),
        started.elapsed().as_secs_f64(),
        report.launches
    );
}

type Job = (PathBuf, PathBuf, String, PreparedPlan);

/// One launch per plan (before) and all in as few launches as possible (after).
fn measure(label: &str, set: &[&Job]) {
    if std::env::var("I3S_BENCH_SKIP_BEFORE").is_err() {
        let started = Instant::now();
        for (_, image, _, prepared) in set {
            run::run_plans(image, std::slice::from_ref(prepared), None).unwrap();
        }
        println!(
            "{label}: {} build plans, one launch per plan (before): {:.1} s wall, {} launches",
            set.len(),
            started.elapsed().as_secs_f64(),
            set.len()
        );
    }
    let grouped: Vec<(&Path, &PreparedPlan)> =
        set.iter().map(|(_, i, _, p)| (i.as_path(), p)).collect();
    let started = Instant::now();
    let report = run::run_jobs(&grouped, None).unwrap();
    let failed: Vec<&str> = report
        .plans
        .iter()
        .filter(|p| !p.succeeded())
        .map(|p| p.plan.as_str())
        .collect();
    println!(
        "{label}: {} build plans grouped (after): {:.1} s wall, {} launch(es), failing (each costs a relaunch): {failed:?}",
        set.len(),
        started.elapsed().as_secs_f64(),
        report.launches
    );
}

/// Packs a 1 GiB image of random bytes with the release binary; wall time and peak RSS via GNU time.
fn pack_large_image(exe: &str, dir: &Path) {
    let mib: usize = std::env::var("I3S_BENCH_PACK_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let image = dir.join("large.img");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&image).unwrap());
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut block = vec![0u8; 1 << 20];
        for _ in 0..mib {
            for chunk in block.chunks_mut(8) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                chunk.copy_from_slice(&state.to_le_bytes());
            }
            file.write_all(&block).unwrap();
        }
    }
    let out = dir.join("payload.zip");
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%e %M", exe, "golden-image", "pack"])
        .arg(&image)
        .args(["--name", "Bench Golden Image", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let mut parts = last.split_whitespace();
    let seconds: f64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let rss_kib: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    println!(
        "pack {mib} MiB image: {seconds:.1} s, peak RSS {:.1} MiB (target <= 64 MiB){}",
        rss_kib as f64 / 1024.0,
        if rss_kib > 64 * 1024 {
            "  ** OVER TARGET **"
        } else {
            ""
        }
    );
    let check = Command::new("python3")
        .args(["-c", "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert len(z.infolist())==1\nassert z.testzip() is None"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(check.success(), "python zipfile rejects the payload");
    println!("pack payload reads back with python zipfile (testzip clean)");
}
