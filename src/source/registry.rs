//! The attribute registry (`attributes.toml`): every custom attribute name with its type,
//! description, constraints, default and whether it is secret.
use super::{read_text, toml_error};
use crate::bundle::attribute::check_value;
use crate::bundle::{AttributeType, Constraints, CustomAttribute};
use crate::error::{Error, Location, Result, line_column};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq)]
pub struct RegistryEntry {
    pub name: String,
    pub attribute_type: AttributeType,
    pub description: String,
    /// Never set for secrets.
    pub default: Option<String>,
    pub constraints: Constraints,
    pub secret: bool,
    /// 1-based line of the entry in the registry file.
    pub line: usize,
}

impl RegistryEntry {
    /// The build-plan custom attribute this entry describes, with `value` as its default.
    pub fn to_attribute(&self, value: Option<&str>) -> CustomAttribute {
        let mut attribute = CustomAttribute::new(&self.name, self.attribute_type.clone());
        attribute.description = Some(self.description.clone());
        attribute.constraints = self.constraints.clone();
        attribute.value = Some(if self.secret {
            String::new()
        } else {
            value.unwrap_or_default().to_string()
        });
        attribute
    }
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub entries: BTreeMap<String, RegistryEntry>,
    pub path: PathBuf,
    pub text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    #[serde(rename = "type")]
    attribute_type: String,
    #[serde(default)]
    description: String,
    default: Option<String>,
    constraints: Option<toml::Value>,
    secret: Option<bool>,
}

impl Registry {
    pub fn get(&self, name: &str) -> Option<&RegistryEntry> {
        self.entries.get(name)
    }

    pub fn load(path: &Path) -> Result<Registry> {
        // No registry is an empty one: a project whose scripts use no placeholders needs none,
        // and any placeholder then fails with "no entry in the attribute registry".
        if !path.is_file() {
            return Ok(Registry {
                path: path.to_path_buf(),
                ..Registry::default()
            });
        }
        let text = read_text(path)?;
        Self::parse(path, text)
    }

    pub fn parse(path: &Path, text: String) -> Result<Registry> {
        let raw: BTreeMap<String, toml::Spanned<RawEntry>> =
            toml::from_str(&text).map_err(|e| toml_error(path, &text, &e))?;
        let mut entries = BTreeMap::new();
        for (name, spanned) in raw {
            let line = header_line(&text, &name)
                .unwrap_or_else(|| line_column(&text, spanned.span().start).0);
            let at = Location::file(path).line(line);
            let raw = spanned.into_inner();
            entries.insert(name.clone(), entry(name, raw, at, line)?);
        }
        Ok(Registry {
            entries,
            path: path.to_path_buf(),
            text,
        })
    }
}

/// One registry entry, checked: a valid name, a known type, constraints that decode, no secret
/// default, a default its type accepts, options for an option attribute.
fn entry(name: String, raw: RawEntry, at: Location, line: usize) -> Result<RegistryEntry> {
    if !crate::placeholder::is_valid_name(&name) {
        return Err(Error::at(
            at,
            format!("{name:?} is not a valid attribute name (letters, digits, _)"),
        ));
    }
    let attribute_type: AttributeType = raw.attribute_type.parse().unwrap_or(AttributeType::String);
    if let AttributeType::Other(other) = &attribute_type {
        let known: Vec<&str> = AttributeType::KNOWN.iter().map(|t| t.as_str()).collect();
        return Err(Error::at(
            at,
            format!(
                "[{name}]: unknown type {other:?} (expected one of {})",
                known.join(", ")
            ),
        ));
    }
    let constraints = match raw.constraints {
        None => Constraints::default(),
        Some(toml::Value::String(encoded)) => Constraints::decode(&encoded)
            .map_err(|e| Error::at(at.clone(), format!("[{name}]: {e}")))?,
        Some(toml::Value::Table(table)) => Constraints::new(constraints_from_table(table)),
        Some(_) => {
            return Err(Error::at(
                at,
                format!("[{name}]: constraints must be a table or its JSON string form"),
            ));
        }
    };
    let secret = raw.secret.unwrap_or(false) || attribute_type.is_secret();
    if raw.secret == Some(false) && attribute_type.is_secret() {
        return Err(Error::at(
            at,
            format!("[{name}]: a password attribute is always secret"),
        ));
    }
    let default = raw.default.filter(|d| !d.is_empty());
    if secret && default.is_some() {
        return Err(Error::at(
            at,
            format!(
                "[{name}]: a secret attribute must not have a default (it would ship in the bundle)"
            ),
        ));
    }
    if let Some(value) = &default
        && let Err(problem) = check_value(&attribute_type, &constraints, value)
    {
        return Err(Error::at(at, format!("[{name}]: default {problem}")));
    }
    if attribute_type == AttributeType::Option && constraints.options().is_none_or(|o| o.is_empty())
    {
        return Err(Error::at(
            at,
            format!("[{name}]: an option attribute needs constraints.options"),
        ));
    }
    Ok(RegistryEntry {
        name,
        attribute_type,
        description: raw.description,
        default,
        constraints,
        secret,
        line,
    })
}

/// The line of `[NAME]` in the registry text.
fn header_line(text: &str, name: &str) -> Option<usize> {
    let bare = format!("[{name}]");
    let quoted = format!("[\"{name}\"]");
    text.lines()
        .position(|l| {
            let l = l.trim();
            l.starts_with(&bare) || l.starts_with(&quoted)
        })
        .map(|i| i + 1)
}

/// TOML table → the JSON object stored (as a string) in `constraints`. Numbers become strings,
/// as the appliance writes them (`"minimum":"1"`); booleans stay booleans.
pub fn constraints_from_table(table: toml::Table) -> serde_json::Map<String, serde_json::Value> {
    fn convert(value: toml::Value) -> serde_json::Value {
        match value {
            toml::Value::String(s) => serde_json::Value::String(s),
            toml::Value::Integer(i) => serde_json::Value::String(i.to_string()),
            toml::Value::Float(f) => serde_json::Value::String(f.to_string()),
            toml::Value::Boolean(b) => serde_json::Value::Bool(b),
            toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
            toml::Value::Array(items) => {
                serde_json::Value::Array(items.into_iter().map(convert).collect())
            }
            toml::Value::Table(t) => serde_json::Value::Object(constraints_from_table(t)),
        }
    }
    table.into_iter().map(|(k, v)| (k, convert(v))).collect()
}
