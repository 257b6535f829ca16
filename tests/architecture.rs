//! The module layering docs/architecture.md describes, checked from the source: no module
//! imports one above it, and no files import each other in a cycle.
//!
//! Imports are read from `crate::…` and `super::…` paths in the code (comments and `#[cfg(test)]`
//! modules left out: tests may reach anywhere).
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom first. A module may import modules on earlier lines only; modules on one line know
/// nothing of each other.
const LAYERS: &[&[&str]] = &[
    &["error"],
    &["fs", "placeholder", "terminal", "units"],
    &["consul", "guestfish"],
    &["bundle"],
    &["source"],
    &["render"],
    &["build"],
    &["lint"],
    &["image"],
    &["report"],
    &["appliance"],
    &["publish"],
    &["deploy"],
    &["simulator"],
    &["cli"],
];

fn rank(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| {
            panic!("src/{module}: add it to LAYERS here and to the table in docs/architecture.md")
        })
}

/// `src/a/b.rs` and `src/a/b/mod.rs` → `["a", "b"]`; `src/lib.rs` → `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The code of a file without comments and without its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string (a URL) is rare in a path line; good enough for `crate::` paths.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module path (`crate::…`, `super::…`) a file's code names, resolved to a known module;
/// grouped imports (`use super::{a, b::c}`) name each of their items.
fn imports(path: &[String], text: &str, modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let code = code(text);
    let bytes = code.as_bytes();
    for (start, _) in code.char_indices() {
        let rest = &code[start..];
        let at_word_start = start == 0
            || !(bytes[start - 1].is_ascii_alphanumeric()
                || bytes[start - 1] == b'_'
                || bytes[start - 1] == b':');
        if !at_word_start || !(rest.starts_with("crate::") || rest.starts_with("super::")) {
            continue;
        }
        for named in expand(rest) {
            if let Some(target) = resolve(path, &named, modules) {
                found.insert(target);
            }
        }
    }
    found
}

/// The paths a `crate::…`/`super::…` path at the start of `text` names: one, or one per item of
/// a brace group (nested groups too; `self` names the group's own path).
fn expand(text: &str) -> Vec<String> {
    let prefix_len = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(text.len());
    let prefix = &text[..prefix_len];
    if !(prefix.ends_with("::") && text[prefix_len..].starts_with('{')) {
        return vec![prefix.to_string()];
    }
    let group = &text[prefix_len + 1..];
    let (mut depth, mut item_start, mut items) = (0usize, 0usize, Vec::new());
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[item_start..i]);
                break;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[item_start..i]);
                item_start = i + 1;
            }
            _ => {}
        }
    }
    let mut paths = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        if item == "self" || item.starts_with("self ") {
            paths.push(prefix.trim_end_matches(':').to_string());
        } else {
            paths.extend(expand(&format!("{prefix}{item}")));
        }
    }
    paths
}

/// The deepest known module a path names, from the importing file's module `path`.
fn resolve(path: &[String], named: &str, modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let segments: Vec<&str> = named.split("::").filter(|s| !s.is_empty()).collect();
    let (mut base, names) = match segments.first() {
        Some(&"crate") => (Vec::new(), &segments[1..]),
        _ => {
            let supers = segments.iter().take_while(|s| **s == "super").count();
            (
                path[..path.len().saturating_sub(supers)].to_vec(),
                &segments[supers..],
            )
        }
    };
    let mut best = None;
    for name in names {
        base.push(name.to_string());
        if modules.contains(&base) {
            best = Some(base.clone());
        }
    }
    best
}

struct Graph {
    /// file module → modules it imports (ancestors left out: a child using its parent's items is
    /// how Rust modules are built, not a layering question).
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
}

fn graph() -> Graph {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let files: Vec<PathBuf> = walkdir::WalkDir::new(&src)
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_path(&src, f)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let path = module_path(&src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let targets = imports(&path, &text, &modules)
            .into_iter()
            .filter(|t| *t != path && !path.starts_with(t))
            .collect();
        edges.insert(path, targets);
    }
    Graph { edges }
}

fn show(path: &[String]) -> String {
    format!("src/{}", path.join("/"))
}

#[test]
fn no_module_imports_one_above_it() {
    let graph = graph();
    let mut wrong = Vec::new();
    for (from, targets) in &graph.edges {
        let Some(top) = from.first() else { continue };
        for to in targets {
            let to_top = &to[0];
            if to_top != top && rank(to_top) >= rank(top) {
                wrong.push(format!(
                    "{} uses {} (layer of {top} is not above {to_top})",
                    show(from),
                    show(to)
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering (docs/architecture.md):\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_files_import_each_other_in_a_cycle() {
    let graph = graph();
    // Tarjan's strongly connected components over the file graph.
    struct State<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a [String], usize>,
        low: BTreeMap<&'a [String], usize>,
        stack: Vec<&'a [String]>,
        cycles: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a [String]) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        for w in s.graph.edges.get(v).into_iter().flatten() {
            let w: &'a [String] = w.as_slice();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(show(w));
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.cycles.push(component);
            }
        }
    }
    let mut state = State {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        cycles: Vec::new(),
    };
    for v in graph.edges.keys() {
        if !state.index.contains_key(v.as_slice()) {
            visit(&mut state, v);
        }
    }
    let cycles: Vec<String> = state.cycles.iter().map(|c| c.join(" ↔ ")).collect();
    assert!(
        cycles.is_empty(),
        "files that import each other:\n{}",
        cycles.join("\n")
    );
}

#[test]
fn docs_architecture_lists_the_layers_top_down() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let section = doc
        .split("# Architecture")
        .nth(1)
        .expect("docs/architecture.md has an Architecture section");
    let section = section.split("\n## ").next().unwrap();
    let listed: Vec<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .map(|l| {
            l.split('`')
                .next()
                .unwrap()
                .trim_end_matches('/')
                .trim_end_matches(".rs")
                .to_string()
        })
        .collect();
    let expected: Vec<String> = LAYERS
        .iter()
        .rev()
        .flat_map(|l| l.iter().map(|m| m.to_string()))
        .collect();
    assert_eq!(
        listed, expected,
        "docs/architecture.md's table: one row per module, top layer first"
    );
}

#[test]
fn the_parser_resolves_crate_and_super_paths() {
    // The parser on its own, so the tests above cannot pass by seeing nothing.
    let modules: BTreeSet<Vec<String>> = [
        vec!["a".into()],
        vec!["a".into(), "x".into()],
        vec!["a".into(), "y".into()],
        vec!["b".into()],
    ]
    .into_iter()
    .collect();
    let x = vec!["a".to_string(), "x".to_string()];
    let found = imports(
        &x,
        "use super::y::Thing;\n// crate::b in a comment\nfn f() { crate::b::g(); }\n#[cfg(test)]\nmod t { use crate::a; }",
        &modules,
    );
    assert_eq!(
        found,
        [
            vec!["a".to_string(), "y".to_string()],
            vec!["b".to_string()]
        ]
        .into_iter()
        .collect()
    );
    // Grouped, nested, `self` and renamed items each count.
    let found = imports(
        &x,
        "use crate::{b::{self as bee}, a::{y::{Thing, Other}}};",
        &modules,
    );
    assert_eq!(
        found,
        [
            vec!["a".to_string(), "y".to_string()],
            vec!["b".to_string()]
        ]
        .into_iter()
        .collect()
    );
    assert!(
        graph().edges.values().map(BTreeSet::len).sum::<usize>() > 100,
        "the real graph has edges"
    );
}

/// Every page in docs/ is reachable from README.md by links, and every relative link in README.md
/// and docs/ points at a file or directory that exists.
#[test]
fn every_docs_page_is_reachable_from_the_readme_and_links_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let link = regex::Regex::new(r"\]\(([^)#\s]+)(#[^)]*)?\)").unwrap();
    let mut seen = BTreeSet::new();
    let mut queue = vec![root.join("README.md")];
    let mut broken = Vec::new();
    while let Some(page) = queue.pop() {
        if !seen.insert(page.clone()) {
            continue;
        }
        let text = std::fs::read_to_string(&page).unwrap();
        for captures in link.captures_iter(&text) {
            let target = &captures[1];
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = page.parent().unwrap().join(target);
            if !path.exists() {
                broken.push(format!("{}: {target}", page.display()));
            } else if path.extension().is_some_and(|e| e == "md") {
                queue.push(path.canonicalize().unwrap());
            }
        }
    }
    let seen: BTreeSet<PathBuf> = seen.iter().map(|p| p.canonicalize().unwrap()).collect();
    let unreachable: Vec<String> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| !seen.contains(&p.canonicalize().unwrap()))
        .map(|p| p.display().to_string())
        .collect();
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(
        unreachable.is_empty(),
        "docs pages no link from README.md reaches: {unreachable:#?}"
    );
}
