//! Shared helpers of the content tests (`tests/content_*.rs`): read the repository's bundle
//! sources, render their steps, parse the guestfish plan scripts they produce, and pull the
//! reference bundles' plan scripts out of the fixtures.
//!
//! Plans come from the real build pipeline (`build::compile_bundle`), single templates from its
//! renderer, so the content is checked exactly as `i3s-bundle build` ships it.
#![allow(dead_code)]
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use i3s_bundle::bundle::{AttributeType, Constraints};
use serde::Deserialize;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Sources

#[derive(Debug, Deserialize)]
pub struct BundleSource {
    pub bundle: BundleHead,
    #[serde(default)]
    pub build_plan: Vec<BuildPlanSource>,
    #[serde(default)]
    pub deployment_plan: Vec<DeploymentPlanSource>,
}

#[derive(Debug, Deserialize)]
pub struct BundleHead {
    pub name: String,
    pub version: String,
    pub description: String,
    pub os: String,
}

#[derive(Debug, Deserialize)]
pub struct BuildPlanSource {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub steps: Vec<StepSource>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct StepSource {
    pub template: Option<String>,
    pub plan_script: Option<String>,
    #[serde(default)]
    pub params: toml::Table,
}

#[derive(Debug, Deserialize)]
pub struct DeploymentPlanSource {
    pub name: String,
    pub build_plan: String,
    pub description: String,
    pub golden_image: toml::Value,
    #[serde(default)]
    pub attributes: BTreeMap<String, toml::Table>,
}

/// Every bundle source of the repository, by file stem.
pub fn bundles() -> BTreeMap<String, BundleSource> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(root().join("bundles-src")).expect("bundles-src/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let source: BundleSource =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.insert(
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                source,
            );
        }
    }
    assert!(!out.is_empty(), "no bundle sources found");
    out
}

pub fn profile(os: &str) -> toml::Table {
    let path = root().join("golden-images").join(os).join("profile.toml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Debug, Clone, Deserialize)]
pub struct RegistryEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub default: Option<String>,
    #[serde(default)]
    pub constraints: toml::Table,
    #[serde(default)]
    pub secret: bool,
}

impl RegistryEntry {
    pub fn attribute_type(&self) -> AttributeType {
        self.kind.parse().unwrap()
    }
    pub fn is_secret(&self) -> bool {
        self.secret || self.attribute_type().is_secret()
    }
    pub fn constraints(&self) -> Constraints {
        let json = serde_json::to_value(&self.constraints).unwrap();
        Constraints::new(json.as_object().cloned().unwrap_or_default())
    }
}

pub fn registry() -> BTreeMap<String, RegistryEntry> {
    let text = std::fs::read_to_string(root().join("attributes.toml")).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("attributes.toml: {e}"))
}

// ---------------------------------------------------------------------------------------------
// Rendering

#[derive(Debug, Clone)]
pub struct Rendered {
    pub template: String,
    pub name: String,
    pub plan_type: String,
    pub description: String,
    pub content: String,
}

/// Splits a template into its TOML front matter and body (the comment stays in the body; it
/// renders to nothing).
pub fn front_matter(text: &str) -> Result<toml::Table, String> {
    let start = text
        .strip_prefix("{#-")
        .ok_or("template does not open with a `{#-` front matter")?;
    let end = start
        .find("-#}")
        .ok_or("front matter comment is not closed with `-#}`")?;
    toml::from_str(&start[..end]).map_err(|e| format!("front matter: {e}"))
}

/// Renders `templates/<template>.j2` for an OS profile with step parameters, through the real
/// renderer of the build pipeline (parameters merged over the front matter's defaults).
pub fn render(template: &str, os: &str, params: &toml::Table) -> Result<Rendered, String> {
    use i3s_bundle::render::template::{Renderer, TemplateStore};
    let file = format!("{template}.j2");
    let renderer = Renderer::new(TemplateStore::new(root().join("templates")));
    let front = renderer
        .store()
        .front_matter(&file)
        .map_err(|e| e.to_string())?;
    let merged = Renderer::merge_params(&front, params).map_err(|e| format!("{file}: {e}"))?;
    let mut os_table = profile(os);
    os_table.insert("id".into(), toml::Value::String(os.into()));
    let r = renderer
        .render(
            &file,
            Some(&os_table),
            &merged,
            ("test-bundle", "2026.11.26"),
        )
        .map_err(|e| e.to_string())?;
    Ok(Rendered {
        template: template.into(),
        name: r.name,
        plan_type: r.plan_type,
        description: r.description,
        content: r.content,
    })
}

// ---------------------------------------------------------------------------------------------
// Typed sample values for placeholders

/// A sample value of the right type for each attribute (checked against the registry type).
pub fn sample_value(name: &str, entry: &RegistryEntry) -> String {
    let specific = match name {
        "DNS_IP" => Some("10.0.0.2,10.0.0.3"),
        "NEUTRON_EXT_CIDR" => Some("10.0.1.0/24"),
        "SERVER_MASK" => Some("255.255.255.0"),
        "SERVER_GW" | "NEUTRON_EXT_GW" => Some("10.0.0.1"),
        "IP_ALLOC_POOL_START" => Some("10.0.1.100"),
        "IP_ALLOC_POOL_END" => Some("10.0.1.200"),
        "CONSUL_FQDN" => Some("consul.example.org"),
        "CONSUL_GOSSIP_KEY" => Some("pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="),
        "CONSUL_ACL_TOKEN" => Some("5f4f2b9e-7a64-4d1c-9a3e-0f5c1c2d3e4f"),
        "VLAN_ID" => Some("120"),
        // Versions the OS profile pins (the plan scripts carry them as placeholder defaults).
        "K8S_VERSION" | "CONTAINERD_VERSION" => Some("1.2.3"),
        "OS_REPO_URL" => Some("https://mirror.example.org/os"),
        _ => None,
    };
    let value = match specific {
        Some(v) => v.to_string(),
        None => match entry.attribute_type() {
            AttributeType::Fqdn => "node01.example.org".into(),
            AttributeType::Hostname => "node01".into(),
            AttributeType::Ipv4 => "10.0.0.21".into(),
            AttributeType::Password => "S4mple-Passw0rd".into(),
            AttributeType::Number => entry.default.clone().unwrap_or_else(|| "1".into()),
            _ => match entry.default.as_deref() {
                Some(d) if !d.is_empty() => d.to_string(),
                _ => "sample-value".into(),
            },
        },
    };
    i3s_bundle::bundle::attribute::check_value(
        &entry.attribute_type(),
        &entry.constraints(),
        &value,
    )
    .unwrap_or_else(|e| panic!("sample value for {name}: {e}"));
    if let Some(re) = entry.constraints().regex() {
        assert!(
            regex::Regex::new(&re).unwrap().is_match(&value),
            "sample {value} for {name} fails its regex {re}"
        );
    }
    value
}

/// The content with every placeholder substituted: its own default (`@NAME:default@`, as the
/// appliance does when no value is given), else a typed sample value.
pub fn substitute_samples(content: &str) -> String {
    let registry = registry();
    let defaults: BTreeMap<String, String> = i3s_bundle::placeholder::scan(content)
        .into_iter()
        .filter_map(|p| Some((p.key(), p.default?)))
        .collect();
    i3s_bundle::placeholder::substitute(content, &|key| {
        if let Some(default) = defaults.get(key) {
            return Some(default.clone());
        }
        let name = key.split('.').next().unwrap();
        registry.get(name).map(|e| sample_value(name, e))
    })
    .unwrap_or_else(|missing| panic!("placeholders missing from the registry: {missing:?}"))
}

// ---------------------------------------------------------------------------------------------
// Guestfish plan scripts: just enough of the language for the content checks

#[derive(Debug, Clone)]
pub struct Upload {
    pub line: usize,
    pub path: String,
    /// The file as guestfish writes it: the here-document lines plus a final newline.
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct Command {
    pub line: usize,
    pub words: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Script {
    pub commands: Vec<Command>,
    pub uploads: Vec<Upload>,
}

pub fn parse_script(text: &str) -> Result<Script, String> {
    if text.contains('\r') {
        return Err("plan script contains a carriage return (CRLF breaks guestfish)".into());
    }
    let mut script = Script::default();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim();
        let number = i + 1;
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("upload -<<") {
            let mut parts = rest.split_whitespace();
            let word = parts
                .next()
                .ok_or(format!("line {number}: here-document without terminator"))?;
            let path = parts
                .next()
                .ok_or(format!("line {number}: upload without a destination"))?;
            let mut body = Vec::new();
            loop {
                let Some(l) = lines.get(i) else {
                    return Err(format!(
                        "line {number}: end of input without finding '{word}'"
                    ));
                };
                i += 1;
                if *l == word {
                    break;
                }
                body.push(*l);
            }
            let mut content = body.join("\n");
            content.push('\n');
            script.uploads.push(Upload {
                line: number,
                path: path.into(),
                content,
            });
            script.commands.push(Command {
                line: number,
                words: vec!["upload".into(), "-".into(), path.into()],
            });
            continue;
        }
        let words = line.split_whitespace().map(str::to_string).collect();
        script.commands.push(Command {
            line: number,
            words,
        });
    }
    Ok(script)
}

/// The files a plan script (or several, in order) leaves behind.
#[derive(Debug, Default, Clone)]
pub struct Tree {
    pub files: BTreeMap<String, (String, u32)>,
    pub links: BTreeMap<String, String>,
    pub dirs: BTreeMap<String, u32>,
}

impl Tree {
    pub fn apply(&mut self, script: &Script) {
        let mut uploads = script.uploads.iter();
        for cmd in &script.commands {
            let w: Vec<&str> = cmd.words.iter().map(String::as_str).collect();
            match w.as_slice() {
                ["upload", "-", path] => {
                    let up = uploads.next().unwrap();
                    let mode = self.files.get(*path).map_or(0o644, |f| f.1);
                    self.files
                        .insert(path.to_string(), (up.content.clone(), mode));
                }
                ["chmod", mode, path] => {
                    let mode = u32::from_str_radix(mode, 8).unwrap();
                    if let Some(f) = self.files.get_mut(*path) {
                        f.1 = mode;
                    } else {
                        self.dirs.insert(path.to_string(), mode);
                    }
                }
                ["mkdir-p" | "mkdir", path] => {
                    self.dirs.entry(path.to_string()).or_insert(0o755);
                }
                ["ln-s" | "ln-sf", target, link] => {
                    self.links.insert(link.to_string(), target.to_string());
                }
                ["touch", path] => {
                    self.files
                        .entry(path.to_string())
                        .or_insert((String::new(), 0o644));
                }
                ["truncate", path] => {
                    if let Some(f) = self.files.get_mut(*path) {
                        f.0.clear();
                    }
                }
                ["rm" | "rm-f", path] => {
                    self.files.remove(*path);
                    self.links.remove(*path);
                }
                _ => {}
            }
        }
    }
}

/// The bash scripts among the uploads (by shebang).
pub fn bash_uploads(script: &Script) -> Vec<&Upload> {
    script
        .uploads
        .iter()
        .filter(|u| u.content.starts_with("#!/bin/bash"))
        .collect()
}

/// A bash function's full text (`name() {` … the closing `}` at column 0) out of a script.
pub fn bash_function(script: &str, name: &str) -> Option<String> {
    let start = script.find(&format!("\n{name}() {{"))? + 1;
    let end = script[start..].find("\n}\n")? + start + 3;
    Some(script[start..end].to_string())
}

// ---------------------------------------------------------------------------------------------
// Reference bundles (tests/fixtures/hudsonalpha)

/// name → content of every plan script in a reference bundle, plus its build plans as JSON.
pub fn reference(zip: &str) -> (BTreeMap<String, String>, Vec<serde_json::Value>) {
    let path = root().join("tests/fixtures/hudsonalpha").join(zip);
    let file = std::fs::File::open(&path).unwrap();
    let mut archive = zip::ZipArchive::new(file).unwrap();
    let mut scripts = BTreeMap::new();
    let mut plans = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().map(|n| n.to_string()).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
        if name.ends_with("_planscript.json") {
            let json: serde_json::Value = serde_json::from_str(&text).unwrap();
            scripts.insert(
                json["name"].as_str().unwrap().to_string(),
                json["content"].as_str().unwrap().to_string(),
            );
        } else if name.ends_with("_buildplan.json") {
            plans.push(serde_json::from_str(&text).unwrap());
        }
    }
    (scripts, plans)
}

pub fn run(cmd: &mut std::process::Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

pub fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// The repository's bundles compiled by the real build pipeline

/// One build plan of a compiled bundle with its steps' plan scripts, in order.
pub struct Plan {
    pub bundle: String,
    pub name: String,
    pub kind: String,
    pub description: String,
    pub declared: Vec<String>,
    pub steps: Vec<(String, String)>,
}

impl Plan {
    pub fn label(&self) -> String {
        format!("{}: {}", self.bundle, self.name)
    }
    pub fn contents(&self) -> Vec<&str> {
        self.steps.iter().map(|(_, c)| c.as_str()).collect()
    }
    /// The files the plan leaves in the image, all steps applied in order.
    pub fn tree(&self) -> Tree {
        let mut tree = Tree::default();
        for (name, content) in &self.steps {
            tree.apply(
                &parse_script(content).unwrap_or_else(|e| panic!("{}: {name}: {e}", self.label())),
            );
        }
        tree
    }
}

pub fn compiled() -> Vec<(String, i3s_bundle::bundle::Bundle)> {
    let project = i3s_bundle::build::Project::load(&root()).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for stem in bundles().keys() {
        let path = root().join("bundles-src").join(format!("{stem}.toml"));
        let compiled =
            i3s_bundle::build::compile_bundle(&project, &path).unwrap_or_else(|e| panic!("{e}"));
        out.push((stem.clone(), compiled.bundle));
    }
    out
}

pub fn plans_of(label: &str, bundle: &i3s_bundle::bundle::Bundle) -> Vec<Plan> {
    bundle
        .build_plans
        .iter()
        .map(|bp| Plan {
            bundle: label.to_string(),
            name: bp.name.clone(),
            kind: bp.build_plan_type.clone(),
            description: bp.description.clone().unwrap_or_default(),
            declared: bp
                .custom_attributes
                .iter()
                .map(|a| a.name.clone())
                .collect(),
            steps: bp
                .steps
                .iter()
                .map(|s| {
                    let id = s.plan_script_uri.rsplit('/').next().unwrap();
                    let ps = bundle
                        .plan_scripts
                        .iter()
                        .find(|p| p.id == id)
                        .expect("step resolves");
                    (ps.name.clone(), ps.content.clone())
                })
                .collect(),
        })
        .collect()
}

/// Every build plan of the repository's bundles.
pub fn our_plans() -> Vec<Plan> {
    compiled()
        .iter()
        .flat_map(|(stem, b)| plans_of(stem, b))
        .collect()
}

/// Every build plan of a reference bundle (tests/fixtures/hudsonalpha).
pub fn reference_plans(zip: &str) -> Vec<Plan> {
    let path = root().join("tests/fixtures/hudsonalpha").join(zip);
    let loaded = i3s_bundle::bundle::read_bundle(&path, &Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    plans_of(zip, &loaded.bundle)
}

pub fn reference_plan(zip: &str, name_part: &str) -> Plan {
    reference_plans(zip)
        .into_iter()
        .find(|p| p.name.contains(name_part))
        .unwrap_or_else(|| panic!("no plan {name_part} in {zip}"))
}

pub const REF_CENTOS: &str = "HudsonAlpha_Artifact_Bundle_CentOS7.4_2018-06-09.zip";
pub const REF_FEDORA: &str = "HudsonAlpha_Artifact_Bundle_Fedora27_2018-06-09.zip";

/// The systemd units a plan writes: unit name → content.
pub fn units(tree: &Tree) -> BTreeMap<String, String> {
    tree.files
        .iter()
        .filter(|(p, _)| {
            p.starts_with("/etc/systemd/system/")
                && !p["/etc/systemd/system/".len()..].contains('/')
        })
        .filter(|(p, _)| p.ends_with(".service") || p.ends_with(".timer") || p.ends_with(".target"))
        .map(|(p, (c, _))| (p.rsplit('/').next().unwrap().to_string(), c.clone()))
        .collect()
}

/// The values of `key=` lines of a unit, split on whitespace.
pub fn unit_values(unit: &str, key: &str) -> Vec<String> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(&format!("{key}=")))
        .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}
