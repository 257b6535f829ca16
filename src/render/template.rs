//! Templates: `templates/<capability>.j2` with a TOML front matter inside a minijinja comment.
//!
//! One [`TemplateStore`] per build reads each file once (sources are shared between threads). One
//! [`Renderer`] per build compiles the shared pieces (`_`-prefixed files: macros, includes) once;
//! a build renders each capability template with [`Renderer::scoped`], a copy sharing those
//! compiled pieces whose own compiled template is dropped once that template's plan scripts are
//! rendered (memory follows what is being rendered, not the project). Every render records the templates it includes or imports (minijinja's path-join
//! callback runs on each include/import, cached or not), so each plan script's exact template
//! dependencies are known without comparing it against every template loaded.
use crate::error::{Error, Location, Result, line_column};
use minijinja::{Environment, UndefinedBehavior, Value};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One template file as read.
#[derive(Debug)]
pub struct TemplateSource {
    pub name: String,
    pub path: PathBuf,
    pub text: Arc<str>,
    pub sha256: String,
    pub mtime_ns: u128,
    pub size: u64,
}

/// The template files of a project, read once each.
#[derive(Debug)]
pub struct TemplateStore {
    dir: PathBuf,
    /// The project root's layout: one symlink-resolution cache for every template read.
    layout: Option<crate::source::Layout>,
    sources: Mutex<HashMap<String, Option<Arc<TemplateSource>>>>,
    front_matters: Mutex<HashMap<String, Arc<FrontMatter>>>,
}

/// A declared step parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSpec {
    pub default: Option<toml::Value>,
    pub choices: Option<Vec<toml::Value>>,
}

/// The front matter of a capability template.
/// Why a step's params do not fit its template; the caller points at the step.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamProblem {
    Undeclared {
        key: String,
        declared: Vec<String>,
    },
    NotAChoice {
        key: String,
        value: toml::Value,
        choices: Vec<toml::Value>,
    },
    NoDefault {
        key: String,
    },
}

impl std::fmt::Display for ParamProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamProblem::Undeclared { key, declared } => write!(
                f,
                "parameter `{key}` is not declared by the template (declared: {})",
                if declared.is_empty() {
                    "none".to_string()
                } else {
                    declared.join(", ")
                }
            ),
            ParamProblem::NotAChoice {
                key,
                value,
                choices,
            } => {
                let list: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                write!(
                    f,
                    "parameter `{key}` = {value} is not one of {}",
                    list.join(", ")
                )
            }
            ParamProblem::NoDefault { key } => {
                write!(f, "parameter `{key}` has no default; the step must set it")
            }
        }
    }
}

impl std::error::Error for ParamProblem {}

#[derive(Debug, Clone)]
pub struct FrontMatter {
    /// Unrendered: `name` and `description` are rendered with the same context as the body.
    pub name: String,
    pub plan_type: String,
    pub description: String,
    pub params: BTreeMap<String, ParamSpec>,
    /// 1-based line where the front matter's TOML starts.
    pub line: usize,
    /// The `{#- contract … -#}` block (empty when there is none).
    pub contract: crate::source::contract::Contract,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFrontMatter {
    name: String,
    plan_type: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    params: toml::Table,
}

/// A rendered capability template.
#[derive(Debug, Clone)]
pub struct RenderedTemplate {
    pub name: String,
    pub plan_type: String,
    pub description: String,
    pub content: String,
    pub contract: crate::source::contract::Contract,
    /// The files this render read: the template itself, then what it included or imported
    /// (directly or not), by name.
    pub sources: Vec<Arc<TemplateSource>>,
}

impl TemplateStore {
    pub fn new(dir: impl Into<PathBuf>) -> Arc<Self> {
        let dir: PathBuf = dir.into();
        Arc::new(TemplateStore {
            layout: dir.parent().map(crate::source::Layout::new),
            dir,
            sources: Mutex::new(HashMap::new()),
            front_matters: Mutex::new(HashMap::new()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The names of the shared pieces under the templates directory (`*.j2` files whose name or
    /// a directory above starts with `_`), sorted.
    pub fn shared_names(&self) -> Vec<String> {
        let mut names: Vec<String> = walkdir::WalkDir::new(&self.dir)
            .follow_links(false)
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .filter_map(|e| {
                let relative = e.path().strip_prefix(&self.dir).ok()?.to_str()?;
                let name = relative.replace(std::path::MAIN_SEPARATOR, "/");
                let shared = name.split('/').any(|part| part.starts_with('_'));
                (shared && name.ends_with(".j2")).then_some(name)
            })
            .collect();
        names.sort();
        names
    }

    /// The file of a template name (`mount.j2`, `_lib/systemd.j2`).
    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Reads a template by name; `Ok(None)` when it does not exist.
    pub fn source(&self, name: &str) -> Result<Option<Arc<TemplateSource>>> {
        if let Some(cached) = self.sources.lock().expect("template cache").get(name) {
            return Ok(cached.clone());
        }
        if name.is_empty()
            || name.starts_with('/')
            || name.contains('\\')
            || name.split('/').any(|p| p == ".." || p == ".")
        {
            return Err(Error::Usage(format!(
                "template name {name:?} must be a relative path inside templates/ without '..'"
            )));
        }
        let path = self.path_of(name);
        let loaded = match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                // templates/ lives in the project root; nothing outside it is read (issue #19).
                if let Some(layout) = &self.layout {
                    layout.check_inside([&path])?;
                }
                let text = crate::source::read_text(&path)?;
                let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
                Some(Arc::new(TemplateSource {
                    name: name.to_string(),
                    path,
                    size: meta.len(),
                    mtime_ns: crate::fs::mtime_ns(&meta),
                    text: Arc::from(text),
                    sha256,
                }))
            }
            _ => None,
        };
        self.sources
            .lock()
            .expect("template cache")
            .insert(name.to_string(), loaded.clone());
        Ok(loaded)
    }

    /// A capability template's front matter (parsed once).
    pub fn front_matter(&self, name: &str) -> Result<Arc<FrontMatter>> {
        if let Some(fm) = self
            .front_matters
            .lock()
            .expect("front matter cache")
            .get(name)
        {
            return Ok(fm.clone());
        }
        let source = self
            .source(name)?
            .ok_or_else(|| Error::Other(format!("template {name} does not exist")))?;
        let fm = Arc::new(parse_front_matter(&source.path, &source.text)?);
        self.front_matters
            .lock()
            .expect("front matter cache")
            .insert(name.to_string(), fm.clone());
        Ok(fm)
    }

    /// Maps a minijinja error to one naming the template file, line and column.
    pub fn error(&self, error: &minijinja::Error) -> Error {
        let name = error.name().unwrap_or("<template>");
        let source = self.source(name).ok().flatten();
        let mut location = Location::file(self.path_of(name));
        let mut snippet = None;
        match (error.range(), &source) {
            (Some(range), Some(source)) if range.end <= source.text.len() => {
                let (line, column) = line_column(&source.text, range.start);
                location = location.at(line, column);
                snippet = source.text.get(range).map(str::to_string);
            }
            _ => {
                if let Some(line) = error.line() {
                    location = location.line(line);
                }
            }
        }
        let mut message = error.kind().to_string();
        if let Some(detail) = error.detail() {
            message = format!("{message}: {detail}");
        }
        if let Some(snippet) = snippet.filter(|s| !s.is_empty() && s.len() < 120) {
            message = format!("{message} (in `{snippet}`)");
        }
        let mut located = Error::at(location, message);
        if error.kind() == minijinja::ErrorKind::UndefinedError {
            located = located.with_help("templates see `os` (the OS profile), `params` (step parameters) and `bundle` (name, version)");
        }
        located
    }
}

/// Splits `{#- <toml> -#}` off the top of a template.
fn front_matter_text(text: &str) -> Option<(usize, &str)> {
    let open = if text.starts_with("{#-") {
        3
    } else if text.starts_with("{#") {
        2
    } else {
        return None;
    };
    let close = text[open..].find("#}")? + open;
    let inner_end = if text[..close].ends_with('-') {
        close - 1
    } else {
        close
    };
    Some((open, &text[open..inner_end]))
}

pub fn parse_front_matter(path: &Path, text: &str) -> Result<FrontMatter> {
    let Some((start, inner)) = front_matter_text(text) else {
        return Err(Error::at(Location::file(path).line(1), "a capability template starts with a front matter comment `{#- name = … plan_type = … -#}`")
            .with_help("see docs/source-format.md, Templates; shared pieces belong in `_`-prefixed files"));
    };
    let raw: RawFrontMatter = toml::from_str(inner).map_err(|e| {
        let mut location = Location::file(path);
        if let Some(span) = e.span() {
            let (line, column) = line_column(text, start + span.start);
            location = location.at(line, column);
        }
        Error::at(location, format!("front matter: {}", e.message()))
    })?;
    let (line, _) = line_column(text, start);
    if !crate::source::plan_script_file::PLAN_TYPES.contains(&raw.plan_type.as_str()) {
        return Err(Error::at(
            Location::file(path).line(line),
            format!(
                "plan_type {:?} is not one of deploy, general, capture",
                raw.plan_type
            ),
        ));
    }
    let mut params = BTreeMap::new();
    for (key, value) in raw.params {
        let spec = match value {
            toml::Value::Table(mut t) if t.keys().all(|k| k == "default" || k == "choices") => {
                let choices = match t.remove("choices") {
                    None => None,
                    Some(toml::Value::Array(items)) => Some(items),
                    Some(_) => {
                        return Err(Error::at(
                            Location::file(path).line(line),
                            format!("params.{key}.choices must be a list"),
                        ));
                    }
                };
                let default = t.remove("default");
                if let (Some(d), Some(c)) = (&default, &choices)
                    && !c.contains(d)
                {
                    return Err(Error::at(
                        Location::file(path).line(line),
                        format!("params.{key}: the default {d} is not one of the choices"),
                    ));
                }
                ParamSpec { default, choices }
            }
            // A bare value is the default.
            other => ParamSpec {
                default: Some(other),
                choices: None,
            },
        };
        params.insert(key, spec);
    }
    Ok(FrontMatter {
        name: raw.name,
        plan_type: raw.plan_type,
        description: raw.description,
        params,
        line,
        contract: crate::source::contract::parse_contract(path, text)?.unwrap_or_default(),
    })
}

/// Separates a template name from a front-matter field in loader names (never in a file name).
const FIELD_SEPARATOR: char = '#';

thread_local! {
    /// The templates the render running on this thread included or imported (see
    /// [`Renderer::render`]); `None` outside a render.
    static INCLUDED: RefCell<Option<BTreeSet<String>>> = const { RefCell::new(None) };
}

/// Ends a render's recording even when the render fails.
struct Recording;

impl Recording {
    fn start() -> Recording {
        INCLUDED.with(|r| *r.borrow_mut() = Some(BTreeSet::new()));
        Recording
    }

    fn names(&self) -> BTreeSet<String> {
        INCLUDED.with(|r| r.borrow_mut().take().unwrap_or_default())
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        INCLUDED.with(|r| *r.borrow_mut() = None);
    }
}

/// A minijinja environment over a [`TemplateStore`]: one per build ([`Renderer::new`]), copied
/// per capability template rendered ([`Renderer::scoped`]).
pub struct Renderer {
    env: Environment<'static>,
    store: Arc<TemplateStore>,
}

impl Renderer {
    pub fn new(store: Arc<TemplateStore>) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_debug(true);
        // `fail("…")`: a template meets a value it does not implement (an OS fact's value, say) and
        // stops the build with an error at its own file and line instead of rendering a wrong script.
        env.add_function(
            "fail",
            |message: String| -> std::result::Result<Value, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        // Runs on every include/import/extends, cached template or not (minijinja 3.1
        // `State::get_template` → `Environment::join_template_path`): the render's dependencies.
        env.set_path_join_callback(|name, _parent| {
            INCLUDED.with(|r| {
                if let Some(names) = r.borrow_mut().as_mut() {
                    names.insert(name.to_string());
                }
            });
            Cow::Borrowed(name)
        });
        let loader_store = store.clone();
        env.set_loader(move |name| {
            // `<template>#name` / `#description`: a front-matter field compiled once per bundle.
            if let Some((template, field)) = name.split_once(FIELD_SEPARATOR) {
                let fm = loader_store.front_matter(template).map_err(|e| {
                    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
                })?;
                return Ok(Some(if field == "name" {
                    fm.name.clone()
                } else {
                    fm.description.clone()
                }));
            }
            let source = loader_store.source(name).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e.to_string())
            })?;
            Ok(source.map(|s| s.text.to_string()))
        });
        Renderer { env, store }
    }

    /// Compiles every shared piece once, for all bundles. One that does not compile is left to
    /// the bundle that uses it, which reports the error at its file and line.
    pub fn compile_shared(&self) {
        for name in self.store.shared_names() {
            let _ = self.env.get_template(&name);
        }
    }

    /// A copy sharing what this renderer compiled; what the copy compiles is dropped with it.
    pub fn scoped(&self) -> Renderer {
        Renderer {
            env: self.env.clone(),
            store: self.store.clone(),
        }
    }

    pub fn store(&self) -> &Arc<TemplateStore> {
        &self.store
    }

    /// The template `template` first, then the existing files `included` names.
    fn sources_of(&self, template: &str, included: BTreeSet<String>) -> Vec<Arc<TemplateSource>> {
        std::iter::once(template.to_string())
            .chain(included.into_iter().filter(|n| n != template))
            .filter_map(|n| self.store.source(&n).ok().flatten())
            .collect()
    }

    /// Checks step params against the template's declarations and merges them over the defaults.
    /// Errors carry no location; the caller points at the step in the bundle file.
    pub fn merge_params(
        fm: &FrontMatter,
        given: &toml::Table,
    ) -> std::result::Result<toml::Table, ParamProblem> {
        let mut merged = toml::Table::new();
        for (key, value) in given {
            let Some(spec) = fm.params.get(key) else {
                return Err(ParamProblem::Undeclared {
                    key: key.clone(),
                    declared: fm.params.keys().cloned().collect(),
                });
            };
            if let Some(choices) = &spec.choices
                && !choices.contains(value)
            {
                return Err(ParamProblem::NotAChoice {
                    key: key.clone(),
                    value: value.clone(),
                    choices: choices.clone(),
                });
            }
            merged.insert(key.clone(), value.clone());
        }
        for (key, spec) in &fm.params {
            if !merged.contains_key(key) {
                match &spec.default {
                    Some(default) => {
                        merged.insert(key.clone(), default.clone());
                    }
                    None => return Err(ParamProblem::NoDefault { key: key.clone() }),
                }
            }
        }
        Ok(merged)
    }

    /// Renders a capability template (file name such as `mount.j2`) with merged params.
    pub fn render(
        &self,
        template: &str,
        os: Option<&toml::Table>,
        params: &toml::Table,
        bundle: (&str, &str),
    ) -> Result<RenderedTemplate> {
        let os = os.map(table_value);
        self.render_with(template, os.as_ref(), params, bundle)
    }

    /// [`Renderer::render`] with the OS profile already a template value ([`table_value`]): a
    /// build converts it once per bundle, not once per plan script (~100 allocations each).
    pub fn render_with(
        &self,
        template: &str,
        os: Option<&Value>,
        params: &toml::Table,
        bundle: (&str, &str),
    ) -> Result<RenderedTemplate> {
        let fm = self.store.front_matter(template)?;
        let mut context = BTreeMap::new();
        if let Some(os) = os {
            context.insert("os", os.clone());
        }
        context.insert("params", table_value(params));
        context.insert(
            "bundle",
            Value::from(BTreeMap::from([
                ("name", Value::from(bundle.0)),
                ("version", Value::from(bundle.1)),
            ])),
        );
        let context = Value::from(context);
        let recording = Recording::start();
        let compiled = self
            .env
            .get_template(template)
            .map_err(|e| self.store.error(&e))?;
        let body = compiled
            .render(&context)
            .map_err(|e| self.store.error(&e))?;
        let sources = self.sources_of(template, recording.names());
        drop(recording);
        let path = self.store.path_of(template);
        let field = |label: &str, text: &str| -> Result<String> {
            if !text.contains(['{', '%']) {
                return Ok(text.to_string());
            }
            self.env
                .get_template(&format!("{template}{FIELD_SEPARATOR}{label}"))
                .and_then(|t| t.render(&context))
                .map_err(|e| {
                    Error::at(
                        Location::file(&path).line(fm.line),
                        format!(
                            "front matter `{label}`: {}",
                            e.detail().unwrap_or(&e.kind().to_string())
                        ),
                    )
                })
        };
        let name = field("name", &fm.name)?.trim().to_string();
        if name.is_empty() {
            return Err(Error::at(
                Location::file(&path).line(fm.line),
                "front matter `name` renders empty",
            ));
        }
        Ok(RenderedTemplate {
            name,
            plan_type: fm.plan_type.clone(),
            description: field("description", &fm.description)?,
            content: body.trim_end_matches('\n').to_string(),
            contract: fm.contract.clone(),
            sources,
        })
    }
}

/// TOML → template value (the profile and step parameters).
fn toml_value(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::from(s.as_str()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::from(*b),
        toml::Value::Datetime(d) => Value::from(d.to_string()),
        toml::Value::Array(items) => Value::from(items.iter().map(toml_value).collect::<Vec<_>>()),
        toml::Value::Table(table) => table_value(table),
    }
}

/// TOML table → template value (a map; cheap to clone).
pub fn table_value(table: &toml::Table) -> Value {
    Value::from(
        table
            .iter()
            .map(|(k, v)| (k.clone(), toml_value(v)))
            .collect::<BTreeMap<String, Value>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every render names what it read, whether the shared piece was compiled before it (once per
    /// build, by `compile_shared`) or not, and nothing another render read.
    #[test]
    fn each_render_records_its_own_includes_compiled_once_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let templates = dir.path().join("templates");
        std::fs::create_dir_all(templates.join("_lib")).unwrap();
        let front = "{#-\nname = \"x\"\nplan_type = \"general\"\n-#}\n";
        std::fs::write(
            templates.join("_lib/m.j2"),
            "{% macro hi() %}hi{% endmacro %}",
        )
        .unwrap();
        std::fs::write(templates.join("_inc.j2"), "included").unwrap();
        let a = format!("{front}{{% import \"_lib/m.j2\" as m %}}{{{{ m.hi() }}}}");
        std::fs::write(templates.join("a.j2"), a).unwrap();
        std::fs::write(
            templates.join("b.j2"),
            format!("{front}{{% include \"_inc.j2\" %}}"),
        )
        .unwrap();
        let renderer = Renderer::new(TemplateStore::new(&templates));
        renderer.compile_shared();
        let names = |template: &str| -> Vec<String> {
            let scoped = renderer.scoped();
            let r = scoped
                .render(template, None, &toml::Table::new(), ("b", "1"))
                .unwrap();
            r.sources.iter().map(|s| s.name.clone()).collect()
        };
        for _ in 0..2 {
            assert_eq!(names("a.j2"), ["a.j2", "_lib/m.j2"]);
            assert_eq!(names("b.j2"), ["b.j2", "_inc.j2"]);
        }
    }
}
