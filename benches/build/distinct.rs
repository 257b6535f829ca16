//! The many-distinct-templates shape (issue #14): a project from `i3s-bundle init` plus N
//! distinct templates (~35 lines each: front matter, one parameter, ~30 lines with placeholders,
//! every one importing the shared macros of `templates/_lib/bench.j2`) and N/10 build plans of 10
//! steps over 10 bundles. The release binary runs as a child process so its wall time and peak
//! RSS (`wait4`'s `ru_maxrss`, that child alone) are what a user sees.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BUNDLES: usize = 10;
const STEPS_PER_PLAN: usize = 10;

/// One child run: wall time and the child's own peak RSS in bytes.
pub struct Run {
    pub wall: Duration,
    pub max_rss: u64,
}

/// The figures of one project size.
pub struct Row {
    pub templates: usize,
    pub clean: Run,
    pub zip: Option<Duration>,
    pub one_changed: Duration,
    pub noop: Duration,
}

fn write(root: &Path, relative: &str, text: &str) {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const MACROS: &str = r#"{#- Shared macros every bench template imports. -#}
{% macro log(name, text) -%}
echo "{{ text }}" >> /var/log/{{ name }}.log
{%- endmacro %}
{% macro unit(name, description) -%}
upload -<<END /etc/systemd/system/{{ name }}.service
[Unit]
Description={{ description }}
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/local/bin/{{ name }}.sh

[Install]
WantedBy=multi-user.target
END
ln-sf /etc/systemd/system/{{ name }}.service /etc/systemd/system/multi-user.target.wants/{{ name }}.service
{%- endmacro %}
"#;

/// Template `t<i>`: front matter with one parameter, ~30 lines with build-time values and
/// deploy-time placeholders, the shared macros.
fn template(i: usize) -> String {
    let (gw, key) = (i % 10, (i / 10) % 10);
    let mut t = format!(
        "{{#-\nname = \"capability {i} ({{{{ params.mode }}}})\"\nplan_type = \"deploy\"\ndescription = \"Capability {i} on {{{{ os.display_name }}}}\"\n[params]\nmode = {{ default = \"a\", choices = [\"a\", \"b\"] }}\n-#}}\n{{% import \"_lib/bench.j2\" as bench -%}}\nupload -<<END /usr/local/bin/cap-{i}.sh\n#!/bin/bash\nset -euo pipefail\n# capability {i}, mode {{{{ params.mode }}}}, root {{{{ os.root_lv }}}}\nuntil ping -c1 @BENCH_GW_{gw}@ >/dev/null 2>&1; do sleep 5; done\nconsul kv get synergy/@BENCH_KEY_{key}:k{key}@ > /etc/cap-{i}.conf\necho \"@SERVER_FQDN@\" > /etc/cap-{i}.host\n"
    );
    for line in 0..16 {
        t.push_str(&format!(
            "{{{{ bench.log(\"cap-{i}\", \"step {line} of capability {i} on {{{{ os.id }}}}\") }}}}\n"
        ));
    }
    t.push_str(&format!(
        "systemctl disable cap-{i}.service\nEND\nchmod 0755 /usr/local/bin/cap-{i}.sh\n{{{{ bench.unit(\"cap-{i}\", \"Capability {i}\") }}}}\n"
    ));
    t
}

/// `init`'s skeleton plus the templates, the registry entries they use and the bundles.
pub fn generate(root: &Path, templates: usize) {
    i3s_bundle::source::init::init_project(root).unwrap();
    let mut registry = std::fs::read_to_string(root.join("attributes.toml")).unwrap();
    for i in 0..10 {
        registry.push_str(&format!(
            "\n[BENCH_GW_{i}]\ntype = \"ipv4\"\ndescription = \"gateway {i}\"\n\n[BENCH_KEY_{i}]\ntype = \"string\"\ndescription = \"key {i}\"\n"
        ));
    }
    write(root, "attributes.toml", &registry);
    write(root, "templates/_lib/bench.j2", MACROS);
    for i in 0..templates {
        write(root, &format!("templates/t{i}.j2"), &template(i));
    }
    let plans = templates / STEPS_PER_PLAN;
    for bundle in 0..BUNDLES {
        let mut toml = format!(
            "[bundle]\nname = \"bench-{bundle}\"\nversion = \"2026.11.26\"\nos = \"centos7.4\"\nartifact_prefix = \"Bench {bundle}\"\n"
        );
        for plan in (bundle..plans).step_by(BUNDLES) {
            toml.push_str(&format!(
                "\n[[build_plan]]\nname = \"plan {plan}\"\ndescription = \"generated\"\nsteps = [\n"
            ));
            for step in 0..STEPS_PER_PLAN {
                let i = plan * STEPS_PER_PLAN + step;
                let mode = if i % 2 == 1 { "b" } else { "a" };
                toml.push_str(&format!(
                    "  {{ template = \"t{i}\", params = {{ mode = \"{mode}\" }} }},\n"
                ));
            }
            toml.push_str("]\n");
        }
        write(root, &format!("bundles-src/bench-{bundle}.toml"), &toml);
    }
}

/// Runs `binary build -C root --out out [--force]` and reaps it with `wait4` for its rusage.
#[allow(
    clippy::zombie_processes,
    reason = "reaped by libc::wait4, which also gives its rusage"
)]
pub fn run_build(binary: &Path, root: &Path, out: &Path, force: bool) -> Run {
    let mut command = Command::new(binary);
    command
        .arg("build")
        .arg("-C")
        .arg(root)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if force {
        command.arg("--force");
    }
    let start = Instant::now();
    let child = command.spawn().expect("spawn i3s-bundle");
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid; wait4 fills it for this child only.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "build failed in {}: rerun it to see why",
        root.display()
    );
    Run {
        wall,
        // Linux reports kilobytes.
        max_rss: usage.ru_maxrss as u64 * 1024,
    }
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// Clean (`--force`, median of `runs`, the largest peak RSS), no-op and one-template-changed
/// figures for N templates under `dir`.
pub fn measure(binary: &Path, dir: &Path, templates: usize, runs: usize) -> Row {
    let root = dir.join("project");
    generate(&root, templates);
    let out = dir.join("dist");
    let mut walls = Vec::new();
    let mut max_rss = 0;
    for _ in 0..runs {
        let run = run_build(binary, &root, &out, true);
        walls.push(run.wall);
        max_rss = max_rss.max(run.max_rss);
    }
    let noop = median(
        (0..runs)
            .map(|_| run_build(binary, &root, &out, false).wall)
            .collect(),
    );
    let changed = root.join("templates/t7.j2");
    let mut one_changed = Vec::new();
    for n in 0..runs {
        let mut text = std::fs::read_to_string(&changed).unwrap();
        text.push_str(&format!("# change {n}\n"));
        std::fs::write(&changed, text).unwrap();
        one_changed.push(run_build(binary, &root, &out, false).wall);
    }
    let zip = super::zip_yardstick(&out, dir);
    Row {
        templates,
        clean: Run {
            wall: median(walls),
            max_rss,
        },
        zip,
        one_changed: median(one_changed),
        noop,
    }
}

/// The binary measured: `I3S_BENCH_BIN` (to compare another build), else this package's.
pub fn binary() -> PathBuf {
    std::env::var_os("I3S_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_i3s-bundle")))
}

pub fn print(rows: &[Row]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for r in rows {
        let ratio = r
            .zip
            .map(|z| format!("{:.2}x", r.clean.wall.as_secs_f64() / z.as_secs_f64()))
            .unwrap_or_else(|| "n/a (zip/unzip missing)".into());
        println!(
            "{:>6} distinct templates: clean {:>8.1} ms (zip -X -r {:>8.1} ms, ratio {ratio}), peak RSS {:>6.1} MiB, one changed {:>7.1} ms ({:.1}% of clean), no-op {:>6.1} ms",
            r.templates,
            ms(r.clean.wall),
            r.zip.map_or(f64::NAN, ms),
            r.clean.max_rss as f64 / (1024.0 * 1024.0),
            ms(r.one_changed),
            100.0 * r.one_changed.as_secs_f64() / r.clean.wall.as_secs_f64(),
            ms(r.noop)
        );
    }
    if let [a, b] = rows {
        println!(
            "growth {} → {} distinct templates: clean {:.2}x, peak RSS {:.2}x",
            a.templates,
            b.templates,
            b.clean.wall.as_secs_f64() / a.clean.wall.as_secs_f64(),
            b.clean.max_rss as f64 / a.clean.max_rss as f64
        );
    }
}
