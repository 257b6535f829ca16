//! The reports of #17: `inspect --html`, `diff --html`, `diff`/`lint --format markdown`.
//!
//! Pages are checked against the bundles themselves: every build plan, step and attribute is on
//! the page, and each deploy plan's first-boot SVG has one box per unit and one edge per declared
//! dependency, counted here by an oracle of its own (the guestfish parser's here-documents and
//! the unit files' `[Unit]`/`[Install]` lines, not the report's code). The slow test opens every
//! page in headless Chromium (tests/report_browser.js: JavaScript off, network unreachable, one
//! browser for all pages), checks the DOM Chromium built, runs axe-core and html-validate.
use crate::common::{self, CENTOS_2018_03, CENTOS_2018_06, REFERENCE_BUNDLES, fixture};
use i3s_bundle::bundle::{Bundle, ReadOptions, read_bundle};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const EXE: &str = env!("CARGO_BIN_EXE_i3s-bundle");

/// A rendered page and what it shows.
struct Page {
    html: PathBuf,
    bundle: PathBuf,
    /// The older bundle of a diff page.
    old: Option<PathBuf>,
}

fn run<S: AsRef<std::ffi::OsStr> + std::fmt::Debug>(args: &[S]) -> std::process::Output {
    let output = Command::new(EXE)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{args:?}: {}",
        common::output_text(&output)
    );
    output
}

fn inspect_page(zip: &Path, out: &Path) -> Page {
    run(&[
        "inspect".as_ref(),
        zip.as_os_str(),
        "--html".as_ref(),
        out.as_os_str(),
    ]);
    Page {
        html: out.to_path_buf(),
        bundle: zip.to_path_buf(),
        old: None,
    }
}

/// The reference bundles' pages and the diff page of the two CentOS versions.
fn reference_pages(dir: &Path) -> Vec<Page> {
    let mut pages: Vec<Page> = REFERENCE_BUNDLES
        .iter()
        .map(|name| inspect_page(&fixture(name), &dir.join(format!("{name}.html"))))
        .collect();
    let (old, new) = (fixture(CENTOS_2018_03), fixture(CENTOS_2018_06));
    let html = dir.join("diff.html");
    run(&[
        "diff".as_ref(),
        old.as_os_str(),
        new.as_os_str(),
        "--html".as_ref(),
        html.as_os_str(),
    ]);
    pages.push(Page {
        html,
        bundle: new,
        old: Some(old),
    });
    pages
}

/// The repository's own bundles, built into `dir/dist`, and their pages.
fn repository_pages(dir: &Path) -> Vec<Page> {
    let dist = dir.join("dist");
    run(&["build".as_ref(), "--out".as_ref(), dist.as_os_str()]);
    let mut zips: Vec<PathBuf> = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "zip"))
        .collect();
    zips.sort();
    assert!(zips.len() >= 6, "{zips:?}");
    zips.iter()
        .map(|zip| {
            let name = zip.file_stem().unwrap().to_string_lossy().into_owned();
            inspect_page(zip, &dir.join(format!("{name}.html")))
        })
        .collect()
}

fn load(path: &Path) -> Bundle {
    read_bundle(path, &ReadOptions::default()).unwrap().bundle
}

/// The text a page shows, with the entities minijinja writes (and Chromium may keep) decoded.
fn unescape(html: &str) -> String {
    html.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The part of `page` from `from` to the first `to` after it.
fn slice<'a>(page: &'a str, from: &str, to: &str) -> &'a str {
    let start = page
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} not on the page"));
    let end = page[start..].find(to).map_or(page.len(), |e| start + e);
    &page[start..end]
}

const UNIT_DIRS: [&str; 4] = [
    "/etc/systemd/system/",
    "/usr/lib/systemd/system/",
    "/lib/systemd/system/",
    "/run/systemd/system/",
];
const SUFFIXES: [&str; 9] = [
    ".service",
    ".target",
    ".timer",
    ".socket",
    ".mount",
    ".path",
    ".automount",
    ".slice",
    ".scope",
];

fn unit_like(name: &str) -> bool {
    SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// The oracle: the units a deploy plan's steps upload (here-documents or `write` at a unit
/// path; the last upload wins) and every declared dependency `(from, directive, to)`.
fn first_boot(
    bundle: &Bundle,
    plan: &str,
) -> (BTreeSet<String>, BTreeSet<(String, String, String)>) {
    let plan = bundle.build_plan_by_name(plan).unwrap();
    let mut files: Vec<(String, String)> = Vec::new();
    let mut links: Vec<(String, String)> = Vec::new();
    for step in &plan.steps {
        let Some(script) = step
            .plan_script_id()
            .and_then(|id| bundle.plan_script_by_id(id))
        else {
            continue;
        };
        for c in i3s_bundle::guestfish::parse(&script.content).commands {
            let content = match (c.name.as_str(), c.args.as_slice(), &c.heredoc) {
                ("upload", [_, path], Some(doc)) => Some((path.clone(), doc.body.clone())),
                ("write", [path, text], _) => Some((path.clone(), text.clone())),
                ("ln-s" | "ln-sf" | "ln" | "ln-f", [target, link], _) => {
                    links.push((target.clone(), link.clone()));
                    None
                }
                _ => None,
            };
            let Some((path, text)) = content else {
                continue;
            };
            let name = path.rsplit('/').next().unwrap_or("").to_string();
            let in_unit_dir = UNIT_DIRS
                .iter()
                .any(|d| path.strip_prefix(d).is_some_and(|r| !r.contains('/')));
            if in_unit_dir && unit_like(&name) {
                files.retain(|(n, _)| *n != name);
                files.push((name, text));
            }
        }
    }
    let mut units: BTreeSet<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let mut edges = BTreeSet::new();
    for (name, text) in &files {
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') && line.ends_with(']') {
                section = line[1..line.len() - 1].to_string();
            } else if let Some((key, value)) = line.split_once('=') {
                let wanted = match section.as_str() {
                    "Unit" => ["After", "Before", "Requires", "Wants"].contains(&key.trim()),
                    "Install" => ["WantedBy", "RequiredBy"].contains(&key.trim()),
                    _ => false,
                };
                for to in value.split_whitespace().filter(|v| wanted && unit_like(v)) {
                    edges.insert((name.clone(), key.trim().to_string(), to.to_string()));
                }
            }
        }
    }
    for (target, link) in links {
        let from = target.rsplit('/').next().unwrap_or("").to_string();
        let Some(dir) = link
            .strip_prefix("/etc/systemd/system/")
            .and_then(|r| r.split_once('/'))
            .map(|(d, _)| d)
        else {
            continue;
        };
        let (to, kind) = match (dir.strip_suffix(".wants"), dir.strip_suffix(".requires")) {
            (Some(t), _) => (t, "WantedBy"),
            (_, Some(t)) => (t, "RequiredBy"),
            _ => continue,
        };
        if units.contains(&from) && unit_like(to) {
            edges.insert((from, kind.to_string(), to.to_string()));
        }
    }
    for (from, _, to) in &edges {
        units.insert(from.clone());
        units.insert(to.clone());
    }
    (units, edges)
}

/// Checks a page (as written, or as Chromium's DOM) against its bundle.
fn check_page(page: &Page, text: &str) {
    let what = page.html.display();
    assert!(!text.contains("<script"), "{what}: a script");
    assert!(!text.contains("<link"), "{what}: an external resource");
    assert!(!text.contains("src=\"http"), "{what}: a remote source");
    assert!(
        text.contains("<details"),
        "{what}: steps must open without JavaScript"
    );
    assert!(
        text.contains("<main") && text.contains("<nav"),
        "{what}: landmarks"
    );
    let bundle = load(&page.bundle);
    let old = page.old.as_deref().map(load);
    for (i, plan) in bundle.build_plans.iter().enumerate() {
        let article = unescape(slice(text, &format!("<article id=\"bp{i}\""), "</article>"));
        assert!(article.contains(&plan.name), "{what}: plan {}", plan.name);
        let steps = article.matches("class=\"step\"").count();
        assert_eq!(steps, plan.steps.len(), "{what}: steps of {}", plan.name);
        for step in &plan.steps {
            assert!(
                article.contains(&step.plan_script_name),
                "{what}: step {}",
                step.plan_script_name
            );
        }
        for a in &plan.custom_attributes {
            assert!(
                article.contains(&format!("id=\"bp{i}-attr-{}\"", a.name)),
                "{what}: {}",
                a.name
            );
        }
        check_graph(page, &bundle, old.as_ref(), i, &article);
    }
    for d in &bundle.deployment_plans {
        assert!(
            unescape(text).contains(&d.name),
            "{what}: deployment plan {}",
            d.name
        );
    }
}

/// The plan's first-boot SVG against the oracle: one box per unit, one edge per dependency
/// (on a diff page, of both versions of a changed plan).
fn check_graph(page: &Page, bundle: &Bundle, old: Option<&Bundle>, i: usize, article: &str) {
    let plan = &bundle.build_plans[i];
    if !plan.build_plan_type.eq_ignore_ascii_case("deploy") {
        return;
    }
    let (mut units, mut edges) = first_boot(bundle, &plan.name);
    let svg_start = format!("<svg id=\"g-bp{i}\"");
    if let Some(old) = old.filter(|_| article.contains(&svg_start)) {
        // A changed plan's graph is the union of both versions (its partner may be renamed).
        let partner = article
            .split_once("Renamed from ")
            .and_then(|(_, rest)| rest.split_once(".</p>"))
            .map_or(plan.name.as_str(), |(name, _)| name);
        if old.build_plan_by_name(partner).is_some() && article.contains("class=\"badge") {
            let (u, e) = first_boot(old, partner);
            units.extend(u);
            edges.extend(e);
        }
    }
    if units.is_empty() {
        return;
    }
    let svg = slice(article, &svg_start, "</svg>");
    let what = format!("{} plan {}", page.html.display(), plan.name);
    assert_eq!(
        svg.matches("<g class=\"unit").count(),
        units.len(),
        "{what}: {units:?}"
    );
    assert_eq!(
        svg.matches("<g class=\"edge").count(),
        edges.len(),
        "{what}: {edges:?}"
    );
    for unit in &units {
        assert!(
            svg.contains(&format!("data-unit=\"{unit}\"")),
            "{what}: {unit}"
        );
    }
    for (from, kind, to) in &edges {
        let edge = format!("data-from=\"{from}\" data-to=\"{to}\" data-kind=\"{kind}\"");
        assert!(svg.contains(&edge), "{what}: {edge}");
    }
    if plan
        .steps
        .iter()
        .any(|s| s.plan_script_name.contains("node-status"))
    {
        assert!(svg.contains("unit readiness"), "{what}: readiness unit");
    }
}

#[test]
fn reference_pages_show_every_plan_step_attribute_and_unit() {
    let dir = tempfile::tempdir().unwrap();
    let pages = reference_pages(dir.path());
    for page in &pages {
        check_page(page, &std::fs::read_to_string(&page.html).unwrap());
    }
    // The diff page marks what changed and shows changed scripts side by side.
    let diff = std::fs::read_to_string(&pages[3].html).unwrap();
    let json = run(&[
        "diff".as_ref(),
        "--json".as_ref(),
        fixture(CENTOS_2018_03).as_os_str(),
        fixture(CENTOS_2018_06).as_os_str(),
    ]);
    let changes: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let scripts = changes["plan_scripts"].as_array().unwrap();
    let with_content = scripts
        .iter()
        .filter(|c| c["content_diff"].is_string())
        .count();
    assert!(with_content > 0);
    assert_eq!(diff.matches("<table class=\"sbs\">").count(), with_content);
    for kind in ["added", "renamed", "changed"] {
        assert!(diff.contains(&format!("class=\"badge {kind}\"")), "{kind}");
    }
    assert!(
        diff.contains("class=\"edge") && diff.contains(" added\""),
        "graph changes marked"
    );
}

#[test]
fn a_placeholder_links_to_its_attribute_row_and_secrets_stay_masked() {
    let dir = tempfile::tempdir().unwrap();
    let page = inspect_page(&fixture(CENTOS_2018_06), &dir.path().join("p.html"));
    let html = std::fs::read_to_string(&page.html).unwrap();
    let links: BTreeSet<&str> = html
        .match_indices("<a class=\"ph\" href=\"#")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .collect();
    assert!(!links.is_empty());
    for target in links {
        assert!(
            html.contains(&format!("id=\"{target}\"")),
            "dangling link #{target}"
        );
    }
    let bundle = load(&page.bundle);
    for a in bundle.build_plans.iter().flat_map(|p| &p.custom_attributes) {
        if let (true, Some(value)) = (a.attribute_type.is_secret(), a.value.as_deref()) {
            assert!(
                value.is_empty() || !html.contains(value),
                "secret {} shown",
                a.name
            );
        }
    }
}

#[test]
fn markdown_summaries_have_one_collapsible_block_per_artifact() {
    let (old, new) = (fixture(CENTOS_2018_03), fixture(CENTOS_2018_06));
    let diff = |format: &str| {
        run(&[
            "diff".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            old.as_os_str(),
            new.as_os_str(),
        ])
    };
    let (md, json) = (diff("markdown"), diff("json"));
    let md = String::from_utf8(md.stdout).unwrap();
    let changes: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let artifacts: usize = [
        "plan_scripts",
        "build_plans",
        "deployment_plans",
        "golden_images",
    ]
    .iter()
    .map(|k| changes[k].as_array().unwrap().len())
    .sum();
    assert_eq!(md.matches("<details>").count(), artifacts, "{md}");
    assert_eq!(md.matches("</details>").count(), artifacts);
    assert!(md.contains("```diff\n"), "script diffs fenced");

    let fedora = fixture(common::FEDORA_2018_06);
    let lint = |format: &str| {
        let args: [&std::ffi::OsStr; 6] = [
            "lint".as_ref(),
            "--no-cache".as_ref(),
            "--no-shellcheck".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            fedora.as_os_str(),
        ];
        run(&args)
    };
    let md = String::from_utf8(lint("markdown").stdout).unwrap();
    let report: serde_json::Value = serde_json::from_slice(&lint("json").stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let artifacts: BTreeSet<(&str, &str)> = findings
        .iter()
        .map(|f| {
            (
                f["artifact_kind"].as_str().unwrap(),
                f["artifact"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(md.matches("<details").count(), artifacts.len(), "{md}");
    for f in findings {
        assert!(md.contains(&format!("`{}`", f["rule"].as_str().unwrap())));
    }
    assert!(md.starts_with("### Lint: "));
}

/// Where npm puts global packages, when node, npm and the packages are there.
fn node_modules() -> Option<PathBuf> {
    if !common::require_tool("node")
        || !common::require_tool("npm")
        || !common::require_tool("chromium")
    {
        return None;
    }
    let out = Command::new("npm").args(["root", "-g"]).output().ok()?;
    let root = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let missing: Vec<&str> = ["puppeteer-core", "axe-core", "html-validate"]
        .into_iter()
        .filter(|p| !root.join(p).is_dir())
        .collect();
    if missing.is_empty() {
        return Some(root);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "npm packages {missing:?} are required under CI (.ci/install-test-deps installs them)"
        );
    }
    eprintln!(
        "\n*** SKIPPED: npm packages {missing:?} are not installed (npm install -g ...) ***\n"
    );
    None
}

#[test]
#[ignore = "slow: builds the repository's bundles, opens ten pages in Chromium, runs axe-core and html-validate (~2 min)"]
fn pages_open_in_chromium_offline_without_javascript_valid_and_accessible() {
    let _heavy = crate::common::heavy();
    let Some(modules) = node_modules() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut pages = reference_pages(dir.path());
    pages.extend(repository_pages(dir.path()));
    let jobs: Vec<serde_json::Value> = pages
        .iter()
        .map(|p| {
            serde_json::json!({"html": p.html, "png": p.html.with_extension("png"), "dom": p.html.with_extension("dom.html")})
        })
        .collect();
    let jobs_file = dir.path().join("jobs.json");
    std::fs::write(&jobs_file, serde_json::to_vec(&jobs).unwrap()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report_browser.js");
    let out = Command::new("node")
        .arg(&script)
        .arg(&jobs_file)
        .env("NODE_PATH", &modules)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::output_text(&out));
    let results: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), pages.len());
    for (page, result) in pages.iter().zip(&results) {
        assert_eq!(
            result["requests"],
            serde_json::json!([]),
            "{}: fetched",
            page.html.display()
        );
        assert_eq!(
            result["violations"],
            serde_json::json!([]),
            "{}: axe",
            page.html.display()
        );
        let png = std::fs::read(page.html.with_extension("png")).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "{}",
            page.html.display()
        );
        check_page(
            page,
            &std::fs::read_to_string(page.html.with_extension("dom.html")).unwrap(),
        );
    }
    // HTML conformance (the WHATWG standard, html-validate's `standard` preset), all pages at once.
    let config = dir.path().join("html-validate.json");
    std::fs::write(&config, r#"{"extends": ["html-validate:standard"]}"#).unwrap();
    let out = Command::new(modules.join("html-validate/bin/html-validate.mjs"))
        .arg("--config")
        .arg(&config)
        .args(pages.iter().map(|p| &p.html))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::output_text(&out));
}

#[test]
fn readme_shows_a_small_screenshot_of_each_report() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for image in ["docs/img/report-inspect.png", "docs/img/report-diff.png"] {
        assert!(
            readme.contains(&format!("]({image})")),
            "README shows {image}"
        );
        let png = std::fs::read(root.join(image)).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{image} is a PNG");
        assert!(
            png.len() <= 150 * 1024,
            "{image}: {} bytes, keep it under 150 KiB",
            png.len()
        );
    }
}

/// A bundle of `n` plan scripts in no build plan, with CRLF line ends.
fn bundle_with_findings(n: usize, zip: &Path) {
    use i3s_bundle::bundle::{Manifest, PlanScript, write_bundle};
    let scripts = (0..n)
        .map(|i| {
            PlanScript::new(
                uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("fold{i}").as_bytes())
                    .to_string(),
                format!("unused {i}"),
                "in no build plan".into(),
                "deploy",
                "mount /dev/cl/root /\r\numount /\r\n".into(),
            )
        })
        .collect();
    let bundle = Bundle {
        manifest: Manifest::new(
            &format!("fold-{n}"),
            "findings",
            false,
            "2026-12-02T00:00:00.000Z".into(),
        ),
        checksum: Default::default(),
        plan_scripts: scripts,
        golden_images: vec![],
        build_plans: vec![],
        deployment_plans: vec![],
    };
    write_bundle(&bundle, zip).unwrap();
}

/// docs/commands.md: past FOLD_FINDINGS findings the lint table is folded into a `<details>`
/// (a browser lays out a 10,000-row table before the page has loaded); up to it, it stays open.
#[test]
fn a_long_findings_table_is_folded_and_a_short_one_is_not() {
    use i3s_bundle::report::page::FOLD_FINDINGS;
    let dir = tempfile::tempdir().unwrap();
    // Each such script has two findings (I3S011 and I3S035): FOLD_FINDINGS rows, then two more.
    for (n, folded) in [(FOLD_FINDINGS / 2, false), (FOLD_FINDINGS / 2 + 1, true)] {
        let zip = dir.path().join(format!("fold-{n}.zip"));
        bundle_with_findings(n, &zip);
        let page = inspect_page(&zip, &dir.path().join(format!("fold-{n}.html")));
        let html = std::fs::read_to_string(&page.html).unwrap();
        let lint = slice(&html, "<section id=\"lint\"", "</section>");
        let rows = lint.matches("<tr><td class=\"sev-").count();
        assert_eq!(
            rows,
            2 * n,
            "two findings a script: {}",
            &lint[..lint.len().min(800)]
        );
        assert_eq!(
            lint.contains("<details class=\"findings\">"),
            folded,
            "{rows} findings: folded should be {folded}"
        );
    }
}
