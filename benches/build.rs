//! Build performance (run: `cargo bench --bench build`; not a timed test).
//!
//! 1. The repository's own `bundles-src/` (when present): clean build and no-op build.
//! 2. Generated projects of 1,000 and 10,000 plan scripts (100 and 1,000 build plans of 10 steps;
//!    half rendered from a template with a parameter, half plain `plan-scripts/*.gf` files, two
//!    placeholders each, 1,000 scripts per bundle): clean build, no-op build, and `zip -X -r` of
//!    the same rendered entries (one zip per bundle) as the yardstick. Targets: clean ≤ 1.5× zip,
//!    no-op < 50 ms at 10,000, growth linear or better.
//! 3. Issue #14's shape (`build/distinct.rs`): `init` plus 1,000 and 10,000 distinct templates
//!    importing shared macros, N/10 build plans of 10 steps over 10 bundles, the release binary
//!    as a child process: clean `build --force` against `zip -X -r`, peak RSS, growth, one
//!    template changed, no-op. Targets: 10k clean ≤ 1.2× zip, growth ≤ 11×, peak RSS ≤ 128 MiB,
//!    one changed ≤ 5 % of clean, no-op ≤ 20 ms; the repository's own bundles clean ≤ 50 ms.
//!
//! `I3S_BENCH_SHAPE=distinct` (or `scripts`) runs only that shape; `I3S_BENCH_BIN=path` measures
//! another binary in shape 3 (a baseline build, say).
#[path = "build/distinct.rs"]
mod distinct;

use i3s_bundle::build::{BuildOptions, build};
use std::path::Path;
use std::time::{Duration, Instant};

const SCRIPTS_PER_BUNDLE: usize = 1000;
const STEPS_PER_PLAN: usize = 10;

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A first-boot unit + script, about the size of the real ones (2–3 KB of JSON each).
fn script_body(i: usize, templated: bool) -> String {
    let marker = if templated {
        "{{ params.n }}".to_string()
    } else {
        i.to_string()
    };
    let mut body = format!(
        "upload -<<END /usr/local/bin/service-{marker}.sh\n#!/bin/bash\nset -euo pipefail\n# service {marker}\nuntil ping -c1 @GATEWAY_{a}@ >/dev/null 2>&1; do sleep 5; done\nconsul kv get synergy/@KEY_{b}@ > /etc/service-{marker}.conf\n",
        a = i % 10,
        b = (i / 10) % 10
    );
    for line in 0..20 {
        body.push_str(&format!("echo \"configuring step {line} of service {marker}\" >> /var/log/service-{marker}.log\n"));
    }
    body.push_str(&format!(
        "END\nchmod 0755 /usr/local/bin/service-{marker}.sh\nupload -<<END /etc/systemd/system/service-{marker}.service\n[Unit]\nDescription=Service {marker}\nAfter=network-online.target\n\n[Service]\nType=oneshot\nExecStart=/usr/local/bin/service-{marker}.sh\n\n[Install]\nWantedBy=runlast.target\nEND\nln-s /etc/systemd/system/service-{marker}.service /etc/systemd/system/runlast.target.wants/service-{marker}.service"
    ));
    body
}

fn generate(root: &Path, scripts: usize) {
    let mut registry = String::new();
    for i in 0..10 {
        registry.push_str(&format!("[GATEWAY_{i}]\ntype = \"ipv4\"\ndescription = \"gateway {i}\"\n[KEY_{i}]\ntype = \"string\"\n"));
    }
    write(root, "attributes.toml", &registry);
    write(
        root,
        "golden-images/os/profile.toml",
        "id = \"os\"\nroot_lv = \"/dev/cl/root\"\ngolden_image = \"OS Golden Image\"\n",
    );
    write(
        root,
        "templates/service.j2",
        &format!(
            "{{#-\nname = \"service {{{{ params.n }}}}\"\nplan_type = \"deploy\"\ndescription = \"Service {{{{ params.n }}}} on {{{{ os.id }}}}\"\n[params]\nn = {{ default = 0 }}\n-#}}\n{}\n",
            script_body(0, true)
        ),
    );
    let per_bundle = scripts.min(SCRIPTS_PER_BUNDLE);
    for bundle in 0..scripts / per_bundle {
        let mut toml = format!(
            "[bundle]\nname = \"bench-{bundle}\"\nversion = \"2026.11.26\"\nos = \"os\"\nartifact_prefix = \"Bench\"\n"
        );
        for plan in 0..per_bundle / STEPS_PER_PLAN {
            toml.push_str(&format!(
                "\n[[build_plan]]\nname = \"plan {plan}\"\ndescription = \"generated\"\nsteps = [\n"
            ));
            for step in 0..STEPS_PER_PLAN {
                let i = bundle * per_bundle + plan * STEPS_PER_PLAN + step;
                if i.is_multiple_of(2) {
                    toml.push_str(&format!(
                        "  {{ template = \"service\", params = {{ n = {i} }} }},\n"
                    ));
                } else {
                    write(
                        root,
                        &format!("plan-scripts/s{i}.gf"),
                        &format!(
                            "# name: plain {i}\n# type: deploy\n# description: plain script {i}\n{}\n",
                            script_body(i, false)
                        ),
                    );
                    toml.push_str(&format!("  {{ plan_script = \"s{i}\" }},\n"));
                }
            }
            toml.push_str("]\n");
        }
        write(root, &format!("bundles-src/bench-{bundle}.toml"), &toml);
    }
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap()
}

fn timed_build(root: &Path, out: &Path, clean: bool) -> Duration {
    if clean {
        let _ = std::fs::remove_dir_all(out);
    }
    let options = BuildOptions {
        root: root.to_path_buf(),
        out: Some(out.to_path_buf()),
        ..Default::default()
    };
    let start = Instant::now();
    let report = build(&options).expect("build");
    let elapsed = start.elapsed();
    assert!(clean != report.up_to_date());
    elapsed
}

/// `zip -X -r` of the same rendered entries, one zip per bundle (as `build` writes them).
pub(crate) fn zip_yardstick(out: &Path, work: &Path) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut zips: Vec<_> = std::fs::read_dir(out)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    zips.sort();
    for (n, zip) in zips.iter().enumerate() {
        let dir = work.join(format!("entries-{n}"));
        std::fs::create_dir_all(&dir).ok()?;
        let status = std::process::Command::new("unzip")
            .arg("-q")
            .arg("-o")
            .arg(zip)
            .arg("-d")
            .arg(&dir)
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        let target = work.join(format!("yardstick-{n}.zip"));
        let _ = std::fs::remove_file(&target);
        let start = Instant::now();
        let status = std::process::Command::new("zip")
            .arg("-X")
            .arg("-r")
            .arg("-q")
            .arg(&target)
            .arg(".")
            .current_dir(&dir)
            .status()
            .ok()?;
        total += start.elapsed();
        if !status.success() {
            return None;
        }
    }
    Some(total)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    // Cargo passes `--bench`; nothing else to parse.
    println!("threads: {}", rayon::current_num_threads());
    if !std::env::args().any(|a| a == "--bench") {
        println!("(smoke run under `cargo test`; `cargo bench --bench build` gives the figures)");
    }
    // The repository's own bundles, or another project's (I3S_BENCH_PROJECT=/path/to/project).
    let repo_path = std::env::var_os("I3S_BENCH_PROJECT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf());
    let repo = repo_path.as_path();
    let has_own = std::fs::read_dir(repo.join("bundles-src"))
        .map(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .unwrap_or(false);
    if has_own {
        let out = tempfile::tempdir().unwrap();
        let clean = best_of(3, || timed_build(repo, out.path(), true));
        let noop = best_of(5, || timed_build(repo, out.path(), false));
        println!(
            "{}/bundles-src/: clean build {:.1} ms, no-op build {:.2} ms",
            repo.display(),
            ms(clean),
            ms(noop)
        );
    } else {
        println!("repository bundles-src/: none yet (skipped)");
    }

    // `cargo bench` passes --bench; `cargo test --all-targets` runs this too: then a quick smoke run.
    let full = std::env::args().any(|a| a == "--bench");
    let shape = std::env::var("I3S_BENCH_SHAPE").unwrap_or_default();
    if shape != "distinct" {
        generated_scripts(full);
    }
    if shape != "scripts" {
        distinct_templates(full);
    }
}

/// Shape 3: many distinct templates, the binary as a child process.
fn distinct_templates(full: bool) {
    let binary = distinct::binary();
    println!("distinct templates, measuring {}", binary.display());
    let sizes: &[usize] = if full { &[1_000, 10_000] } else { &[100] };
    let mut rows = Vec::new();
    for &templates in sizes {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = match std::env::var_os("I3S_BENCH_KEEP") {
            Some(keep) => std::path::PathBuf::from(keep).join(format!("distinct-{templates}")),
            None => dir.path().to_path_buf(),
        };
        let runs = if full { 5 } else { 1 };
        rows.push(distinct::measure(&binary, &dir_path, templates, runs));
    }
    distinct::print(&rows);
}

/// Shape 2: one template rendered many times plus plain scripts, in process.
fn generated_scripts(full: bool) {
    let sizes: &[usize] = if full { &[1_000, 10_000] } else { &[100] };
    let mut rows = Vec::new();
    for &scripts in sizes {
        let dir = tempfile::tempdir().unwrap();
        let dir_path = match std::env::var_os("I3S_BENCH_KEEP") {
            Some(keep) => std::path::PathBuf::from(keep).join(scripts.to_string()),
            None => dir.path().to_path_buf(),
        };
        let dir = &dir_path;
        let root = dir.join("project");
        generate(&root, scripts);
        let out = dir.join("dist");
        let runs = if !full {
            1
        } else if scripts > 1000 {
            3
        } else {
            5
        };
        let clean = best_of(runs, || timed_build(&root, &out, true));
        let noop = best_of(runs, || timed_build(&root, &out, false));
        let zip = zip_yardstick(&out, dir);
        let bytes: u64 = std::fs::read_dir(&out)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "zip"))
            .map(|e| e.metadata().unwrap().len())
            .sum();
        match zip {
            Some(z) => println!(
                "{scripts:>6} plan scripts, {:>5} build plans: clean {:>8.1} ms, no-op {:>6.2} ms, zip -X -r {:>8.1} ms, clean/zip {:.2}x, {:.1} MB of zips",
                scripts / STEPS_PER_PLAN,
                ms(clean),
                ms(noop),
                ms(z),
                clean.as_secs_f64() / z.as_secs_f64(),
                bytes as f64 / 1e6
            ),
            None => println!(
                "{scripts:>6} plan scripts: clean {:.1} ms, no-op {:.2} ms (zip/unzip not installed: no yardstick)",
                ms(clean),
                ms(noop)
            ),
        }
        rows.push((scripts, clean, noop));
    }
    if let [(a, ca, na), (b, cb, nb)] = rows.as_slice() {
        let factor = (*b / *a) as f64;
        println!(
            "growth {a} → {b} ({factor:.0}x input): clean {:.2}x, no-op {:.2}x",
            cb.as_secs_f64() / ca.as_secs_f64(),
            nb.as_secs_f64() / na.as_secs_f64()
        );
    }
}
