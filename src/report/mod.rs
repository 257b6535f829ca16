//! Reports for people: a bundle (or the changes between two) as one self-contained HTML page, and
//! Markdown summaries of `diff` and `lint` for a pull request comment or a CI job summary.
//!
//! The page needs nothing from the network and no JavaScript: styles are inline, sections open
//! with `<details>`, the first-boot graphs are inline SVG laid out by `layout-rs` ([`svg`]). Text
//! reaches the page only through minijinja templates with HTML auto-escaping ([`environment`]).
//!
//! - [`script`]: a plan script as highlighted lines and the files its here-documents write;
//! - [`boot`]: the systemd units a deploy build plan uploads and their declared dependencies;
//! - [`page`]: the page's data; [`diff`]: the same page with changes marked;
//! - [`markdown`]: `diff` and `lint` as Markdown.
pub mod boot;
pub mod diff;
pub mod load;
pub mod markdown;
pub mod page;
pub mod script;
pub mod svg;

use crate::bundle::inspect::InspectReport;
use crate::error::{Error, Result};
use crate::lint::target::Target;
use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, context};
use serde::Serialize;

/// One bundle as the reports see it: its inspect report, its parsed scripts (the lint target)
/// and its lint findings.
pub struct Input<'a> {
    pub report: &'a InspectReport,
    pub target: &'a Target<'a>,
    pub lint: &'a crate::lint::Report,
}

const PAGE: &str = include_str!("page.html");
const PLAN: &str = include_str!("plan.html");
const MARKDOWN_DIFF: &str = include_str!("diff.md");
const MARKDOWN_LINT: &str = include_str!("lint.md");

/// The templates: `.html` ones escape every value for HTML unless marked safe; the Markdown ones
/// escape explicitly (`|e`) where text lands in HTML (summaries) and not in code blocks.
fn environment() -> Result<Environment<'static>> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| Error::other(format!("report template syntax: {e}")))?;
    env.set_syntax(syntax);
    env.add_filter("md_cell", markdown::cell);
    env.add_filter("fence", markdown::fence);
    for (name, source) in [
        ("page.html", PAGE),
        ("plan.html", PLAN),
        ("diff.md", MARKDOWN_DIFF),
        ("lint.md", MARKDOWN_LINT),
    ] {
        env.add_template(name, source)
            .map_err(|e| Error::other(format!("report template {name}: {e}")))?;
    }
    Ok(env)
}

fn render<T: Serialize>(template: &str, data: &T) -> Result<String> {
    let env = environment()?;
    env.get_template(template)
        .and_then(|t| t.render(minijinja::value::Serde(data)))
        .map_err(|e| Error::other(format!("rendering the {template} report: {e:#}")))
}

/// The page from its data: each build plan's article rendered on its own (plan.html, in
/// parallel: a bundle of thousands of plans is most of its page), then the page around them.
pub fn render_page(data: &diff::PageData) -> Result<String> {
    use rayon::prelude::*;
    let env = environment()?;
    let fail = |e: minijinja::Error| Error::other(format!("rendering the HTML report: {e:#}"));
    let plan = env.get_template("plan.html").map_err(fail)?;
    let old_path = data.changes.as_ref().map(|c| c.old_path.as_str());
    let plans: Vec<Value> = data
        .build_plans
        .par_iter()
        .map(|p| {
            plan.render(context! { plan => Serde(p), old_path })
                .map(Value::from_safe_string)
        })
        .collect::<std::result::Result<_, _>>()
        .map_err(fail)?;
    env.get_template("page.html")
        .and_then(|t| t.render(context! { plans, ..Value::from(Serde(data)) }))
        .map_err(fail)
}

/// The page of one bundle: manifest, checksums, lint findings, build plans with their steps,
/// scripts and attributes, deployment plans, golden images, first-boot graphs.
pub fn inspect_html(input: &Input) -> Result<String> {
    render_page(&diff::page_data(input, None))
}

/// The page of the newer bundle with what changed since the older one marked, side-by-side
/// diffs of changed plan scripts, and the first-boot graphs of changed plans (both versions).
pub fn diff_html(
    old: &Input,
    new: &Input,
    changes: &crate::bundle::diff::BundleDiff,
) -> Result<String> {
    render_page(&diff::page_data(new, Some((old, changes))))
}

/// `diff --format markdown`.
pub fn diff_markdown(
    old: &str,
    new: &str,
    changes: &crate::bundle::diff::BundleDiff,
) -> Result<String> {
    render("diff.md", &markdown::diff_data(old, new, changes))
}

/// `lint --format markdown`.
pub fn lint_markdown(report: &crate::lint::Report) -> Result<String> {
    render("lint.md", &markdown::lint_data(report))
}
