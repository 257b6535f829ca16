//! One JSON grammar (#18 point 5): every `--json` report has a JSON Schema in docs/schemas,
//! generated from the Rust types that print it; every key is snake_case; real reports validate;
//! a failing command asked for JSON prints an error object.
use crate::common::{self, CENTOS_2018_03, CENTOS_2018_06, assert_schema, fixture};
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

fn schemas_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas")
}

fn pretty(schema: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(schema).unwrap() + "\n"
}

/// `I3S_UPDATE_SCHEMAS=1 cargo test --test integration json_reports` rewrites docs/schemas.
#[test]
fn schemas_in_docs_are_generated_from_the_report_types() {
    let dir = schemas_dir();
    let update = std::env::var_os("I3S_UPDATE_SCHEMAS").is_some();
    let mut expected_files = Vec::new();
    for (name, _, schema) in i3s_bundle::cli::schema::all() {
        let path = dir.join(format!("{name}.json"));
        expected_files.push(format!("{name}.json"));
        let text = pretty(&schema);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "{} is not what the types say: run I3S_UPDATE_SCHEMAS=1 cargo test --test integration json_reports",
            path.display()
        );
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "docs/schemas holds exactly one file per report"
    );
}

/// Every property name in `schema` (recursively), with its path.
fn keys(schema: &Value, path: &str, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "properties"
                    && let Value::Object(props) = value
                {
                    for (name, sub) in props {
                        out.push(format!("{path}.{name}"));
                        keys(sub, &format!("{path}.{name}"), out);
                    }
                } else {
                    keys(value, &format!("{path}/{key}"), out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, path, out)),
        _ => {}
    }
}

#[test]
fn every_report_key_is_snake_case() {
    let snake = regex::Regex::new("^[a-z][a-z0-9]*(_[a-z0-9]+)*$").unwrap();
    let mut bad = Vec::new();
    for (name, _, schema) in i3s_bundle::cli::schema::all() {
        let mut found = Vec::new();
        keys(&serde_json::to_value(&schema).unwrap(), name, &mut found);
        assert!(
            !found.is_empty() || name == "verify",
            "{name}: no keys found"
        );
        bad.extend(
            found
                .into_iter()
                .filter(|k| !snake.is_match(k.rsplit('.').next().unwrap())),
        );
    }
    assert!(bad.is_empty(), "keys that are not snake_case: {bad:#?}");
}

/// Every schema file is named in docs/json-reports.md, with the command that prints it.
#[test]
fn docs_list_every_report() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-reports.md"))
            .unwrap();
    for (name, printed_by, _) in i3s_bundle::cli::schema::all() {
        assert!(
            doc.contains(&format!("schemas/{name}.json")) && doc.contains(printed_by),
            "docs/json-reports.md does not list `{printed_by}` → schemas/{name}.json"
        );
    }
}

fn json_of(cmd: &mut Command, expect: i32) -> Value {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(expect),
        "{}",
        common::output_text(&out)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", common::output_text(&out)))
}

fn tool() -> Command {
    Command::cargo_bin("i3s-bundle").unwrap()
}

/// The offline reports, from a fresh project and the reference bundles.
#[test]
fn offline_reports_match_their_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("p");
    let init = json_of(tool().args(["init", "--json"]).arg(&project), 0);
    assert_schema("init", &init);
    assert!(init["created"].as_array().is_some_and(|a| !a.is_empty()));
    let build = json_of(tool().current_dir(&project).args(["build", "--json"]), 0);
    assert_schema("build", &build);
    let zip = build["bundles"][0]["path"].as_str().unwrap().to_string();
    let zip = project.join(zip);
    assert_schema(
        "inspect",
        &json_of(tool().args(["inspect", "--json"]).arg(&zip), 0),
    );
    assert_schema(
        "verify",
        &json_of(tool().args(["verify", "--json"]).arg(&zip), 0),
    );
    let lint = json_of(tool().current_dir(&project).args(["lint", "--json"]), 0);
    assert_schema("lint", &lint);
    let (old, new) = (fixture(CENTOS_2018_03), fixture(CENTOS_2018_06));
    let diff = json_of(tool().args(["diff", "--json"]).arg(&old).arg(&new), 1);
    assert_schema("diff", &diff);
    let lint = json_of(tool().args(["lint", "--json"]).arg(&old), 1);
    assert_schema("lint", &lint);
    assert!(lint["findings"].as_array().is_some_and(|f| !f.is_empty()));
    let imported = dir.path().join("imported");
    let import = json_of(
        tool()
            .args(["import", "--json"])
            .arg(&old)
            .arg("--into")
            .arg(&imported),
        0,
    );
    assert_schema("import", &import);
}

/// A failing command asked for JSON prints `{"error": …}` on stdout, with the exit code it ends
/// with and, where the problem has a place, the place.
#[test]
fn errors_are_json_objects_under_json() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.zip");
    let error = json_of(tool().args(["inspect", "--json"]).arg(&missing), 2);
    assert_schema("error", &error);
    assert_eq!(error["error"]["kind"], "io");
    assert_eq!(error["error"]["exit_code"], 2);
    assert_eq!(
        error["error"]["location"]["file"],
        missing.to_str().unwrap()
    );
    // Outside a project: the usage error says what to do.
    let error = json_of(tool().current_dir(dir.path()).args(["build", "--json"]), 2);
    assert_schema("error", &error);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("i3s-bundle init")
    );
    // A bad flag, caught by the argument parser before any command ran.
    let error = json_of(tool().args(["lint", "--json", "--no-such-flag"]), 2);
    assert_schema("error", &error);
    assert_eq!(error["error"]["kind"], "usage");
    // A source error in build names the file and line.
    let project = dir.path().join("p");
    tool().arg("init").arg(&project).assert().success();
    let bundle = std::fs::read_dir(project.join("bundles-src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "toml"))
        .unwrap();
    std::fs::write(&bundle, "name = \n").unwrap();
    let error = json_of(tool().current_dir(&project).args(["build", "--json"]), 1);
    assert_schema("error", &error);
    assert_eq!(error["error"]["location"]["line"], 1, "{error:#}");
}

/// Every property name anywhere in a schema.
fn property_names(name: &str) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(schemas_dir().join(format!("{name}.json"))).unwrap();
    let mut found = Vec::new();
    keys(&serde_json::from_str(&text).unwrap(), "", &mut found);
    found
        .into_iter()
        .map(|k| k.rsplit('.').next().unwrap().to_string())
        .collect()
}

/// A docs page's text from `start` to `end`.
fn doc_part(page: &str, start: &str, end: &str) -> String {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(page)).unwrap();
    let from = doc
        .find(start)
        .unwrap_or_else(|| panic!("{page} has no {start:?}"));
    let rest = &doc[from + start.len()..];
    rest[..rest.find(end).unwrap_or(rest.len())].to_string()
}

/// The keys the docs name for a report (`"key":`, `key?,` …) are the schema's keys.
fn assert_doc_keys(text: &str, schema: &str) {
    let key = regex::Regex::new(r#"(?:^|[{\s,\["])([a-zA-Z][a-zA-Z0-9_]*)"?\??[:,}\]]"#).unwrap();
    let known = property_names(schema);
    let named: Vec<String> = key.captures_iter(text).map(|c| c[1].to_string()).collect();
    assert!(named.len() >= 2, "no keys found in {text}");
    let unknown: Vec<&String> = named.iter().filter(|k| !known.contains(*k)).collect();
    assert!(
        unknown.is_empty(),
        "the docs name keys docs/schemas/{schema}.json does not have: {unknown:?}\n{text}"
    );
}

/// No JSON report disagrees with the docs: the `inspect --json` example validates, and the keys
/// listed for verify, diff and deploy are the reports' keys.
#[test]
fn the_docs_agree_with_the_schemas() {
    let example = doc_part("docs/commands.md", "## `inspect --json`", "```\n`");
    let example = example.split("```json\n").nth(1).expect("a json block");
    let example: Value = serde_json::from_str(example).expect("the inspect example is JSON");
    assert_schema("inspect", &example);
    assert_doc_keys(
        &doc_part(
            "docs/commands.md",
            "`verify --json` prints",
            "`diff --json`",
        ),
        "verify",
    );
    assert_doc_keys(
        &doc_part("docs/commands.md", "`diff --json` prints", "\n\n"),
        "diff",
    );
    assert_doc_keys(
        &doc_part("docs/deploy.md", "`--json` prints `{use_case", "([schemas"),
        "deploy",
    );
}

/// The error example in docs/json-reports.md is an error report.
#[test]
fn the_error_example_in_the_docs_is_an_error_report() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json-reports.md"))
            .unwrap();
    let block = doc
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a json block");
    let example: Value = serde_json::from_str(block).expect("the example is JSON");
    assert_schema("error", &example);
}
