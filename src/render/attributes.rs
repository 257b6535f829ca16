//! Derived build-plan attributes: computed from the `@NAME@` / `@NAME:default@` placeholders a
//! build plan's rendered steps use, typed and described from the registry.
use crate::bundle::{AttributeType, Constraints, CustomAttribute};
use crate::error::{Error, Location, Result};
use crate::placeholder::{Placeholder, scan};
use crate::source::PinnedAttribute;
use crate::source::registry::{Registry, RegistryEntry, constraints_from_table};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

/// Where a rendered plan script came from, to point errors at the source text.
#[derive(Debug, Clone)]
pub enum ScriptOrigin {
    /// A template and the sources it loaded (itself first, then shared pieces).
    Template {
        file: PathBuf,
        sources: Vec<(PathBuf, Arc<str>)>,
    },
    /// A plain plan script whose content starts at `content_line` of `file`.
    Plain { file: PathBuf, content_line: usize },
}

/// One step of a build plan: its rendered content and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct StepUse<'a> {
    pub content: &'a str,
    pub origin: &'a ScriptOrigin,
}

#[derive(Debug, Clone, Default)]
pub struct Derivation {
    /// Sorted by name.
    pub attributes: Vec<CustomAttribute>,
    /// Attribute names the steps use.
    pub used: BTreeSet<String>,
    pub warnings: Vec<String>,
}

impl ScriptOrigin {
    pub fn file(&self) -> &PathBuf {
        match self {
            ScriptOrigin::Template { file, .. } | ScriptOrigin::Plain { file, .. } => file,
        }
    }

    /// The source location of line `line` (1-based) of the rendered text: the same line of a
    /// plain script; for a template, the first source line with the same text, else the template.
    pub fn locate_line(&self, rendered: &str, line: usize) -> Location {
        match self {
            ScriptOrigin::Plain { file, content_line } => {
                Location::file(file).line(line + content_line - 1)
            }
            ScriptOrigin::Template { file, sources } => {
                let wanted = rendered
                    .split('\n')
                    .nth(line.saturating_sub(1))
                    .map(str::trim);
                for (path, text) in sources {
                    if let Some(found) = text
                        .split('\n')
                        .position(|l| wanted.is_some_and(|w| !w.is_empty() && l.trim() == w))
                    {
                        return Location::file(path).line(found + 1);
                    }
                }
                Location::file(file)
            }
        }
    }

    /// The source location of a placeholder found in the rendered text.
    pub fn locate(&self, placeholder: &Placeholder) -> Location {
        match self {
            ScriptOrigin::Plain { file, content_line } => {
                Location::file(file).at(placeholder.line + content_line - 1, placeholder.column)
            }
            ScriptOrigin::Template { file, sources } => {
                // The placeholder is usually written literally in the template (or a shared
                // piece): point there. One built at render time is reported in the output.
                let needle = format!("@{}", placeholder.name);
                for (path, text) in sources {
                    for (offset, _) in text.match_indices(&needle) {
                        let after = text[offset + needle.len()..].chars().next();
                        if matches!(after, Some('@' | ':' | '.')) {
                            let (line, column) = crate::error::line_column(text, offset);
                            return Location::file(path).at(line, column);
                        }
                    }
                }
                Location::file(file).at(placeholder.line, placeholder.column)
            }
        }
    }
}

/// Derives a build plan's attributes. `plan` names the plan in messages.
pub fn derive_attributes(plan: &str, steps: &[StepUse], registry: &Registry) -> Result<Derivation> {
    let mut derivation = Derivation::default();
    // name → (placeholder default, where it was given)
    let mut defaults: BTreeMap<String, (String, Location)> = BTreeMap::new();
    for step in steps {
        for placeholder in scan(step.content) {
            let name = &placeholder.name;
            let Some(entry) = registry.get(name) else {
                return Err(Error::at(
                    step.origin.locate(&placeholder),
                    format!(
                        "placeholder @{}@ has no entry in the attribute registry",
                        placeholder.key()
                    ),
                )
                .with_help(format!(
                    "add [{name}] with its type and description to {}",
                    registry.path.display()
                )));
            };
            if placeholder.field.is_some() && entry.attribute_type != AttributeType::Nic {
                derivation.warnings.push(format!(
                    "{}: @{}@ uses a sub-field, but {name} is a {} attribute, not nic",
                    step.origin.locate(&placeholder),
                    placeholder.key(),
                    entry.attribute_type
                ));
            }
            if let Some(default) = &placeholder.default {
                if entry.secret {
                    return Err(Error::at(
                        step.origin.locate(&placeholder),
                        format!(
                            "@{name}:…@ gives a default to a secret attribute; secrets never ship a default"
                        ),
                    ));
                }
                let here = step.origin.locate(&placeholder);
                match defaults.get(name) {
                    Some((first, there)) if first != default => {
                        return Err(Error::at(
                            here,
                            format!(
                                "build plan {plan:?}: @{name}:{default}@ conflicts with the default {first:?} given at {there}"
                            ),
                        ));
                    }
                    Some(_) => {}
                    None => {
                        defaults.insert(name.clone(), (default.clone(), here));
                    }
                }
            }
            derivation.used.insert(name.clone());
        }
    }
    for name in &derivation.used {
        let entry = registry.get(name).expect("checked above");
        let value = match (defaults.get(name), &entry.default) {
            (Some((placeholder, at)), Some(registered)) if placeholder != registered => {
                derivation.warnings.push(format!(
                    "{at}: @{name}:{placeholder}@ overrides the registry default {registered:?} ({}:{})",
                    registry.path.display(),
                    entry.line
                ));
                Some(placeholder.as_str())
            }
            (Some((placeholder, _)), _) => Some(placeholder.as_str()),
            (None, registered) => registered.as_deref(),
        };
        derivation.attributes.push(entry.to_attribute(value));
    }
    Ok(derivation)
}

/// One pinned attribute: the registry entry with the derived value, overridden by what the pin
/// spells out (type, description, constraints, a value — never a secret's).
fn pinned_attribute(
    name: &str,
    pin: &PinnedAttribute,
    at: &Location,
    entry: &RegistryEntry,
    derived: &Derivation,
) -> Result<CustomAttribute> {
    let derived_value = derived
        .attributes
        .iter()
        .find(|a| a.name == name)
        .and_then(|a| a.value.clone());
    let mut attribute = entry.to_attribute(derived_value.as_deref().or(entry.default.as_deref()));
    let PinnedAttribute::Full {
        value,
        attribute_type,
        description,
        constraints,
        ..
    } = pin
    else {
        return Ok(attribute);
    };
    if let Some(t) = attribute_type {
        attribute.attribute_type = t.parse().unwrap_or(AttributeType::String);
    }
    if let Some(d) = description {
        attribute.description = Some(d.clone());
    }
    match constraints {
        None => {}
        Some(toml::Value::String(s)) => {
            attribute.constraints =
                Constraints::decode(s).map_err(|e| Error::at(at.clone(), e.to_string()))?;
        }
        Some(toml::Value::Table(t)) => {
            attribute.constraints = Constraints::new(constraints_from_table(t.clone()))
        }
        Some(_) => {
            return Err(Error::at(
                at.clone(),
                "constraints must be a table or its JSON string form",
            ));
        }
    }
    if let Some(v) = value {
        if entry.secret && !v.is_empty() {
            return Err(Error::at(
                at.clone(),
                format!("{name} is secret: a pinned value would ship in the bundle"),
            ));
        }
        attribute.value = Some(v.clone());
    }
    Ok(attribute)
}

/// Applies a pinned attribute list: the pinned list wins, and drift from the placeholders the
/// steps use is reported as warnings. `at` locates each pinned item in the bundle file.
pub fn apply_pin(
    plan: &str,
    derived: &Derivation,
    pinned: &[(PinnedAttribute, Location)],
    registry: &Registry,
) -> Result<(Vec<CustomAttribute>, Vec<String>)> {
    let mut attributes = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    for (pin, at) in pinned {
        let name = pin.name();
        if !seen.insert(name.to_string()) {
            return Err(Error::at(
                at.clone(),
                format!("attribute {name} is pinned twice"),
            ));
        }
        let Some(entry) = registry.get(name) else {
            return Err(Error::at(
                at.clone(),
                format!("pinned attribute {name} has no entry in the attribute registry"),
            )
            .with_help(format!("add [{name}] to {}", registry.path.display())));
        };
        attributes.push(pinned_attribute(name, pin, at, entry, derived)?);
    }
    let unpinned: Vec<&str> = derived
        .used
        .iter()
        .filter(|n| !seen.contains(*n))
        .map(String::as_str)
        .collect();
    if !unpinned.is_empty() {
        warnings.push(format!(
            "build plan {plan:?}: its steps use {} but the pinned attribute list does not declare {}",
            unpinned.iter().map(|n| format!("@{n}@")).collect::<Vec<_>>().join(", "),
            if unpinned.len() == 1 { "it" } else { "them" }
        ));
    }
    let unused: Vec<&str> = seen
        .iter()
        .filter(|n| !derived.used.contains(*n))
        .map(String::as_str)
        .collect();
    if !unused.is_empty() {
        warnings.push(format!(
            "build plan {plan:?}: pinned attributes {} are used by no step",
            unused.join(", ")
        ));
    }
    Ok((attributes, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn registry() -> Registry {
        let text = "[A]\ntype = \"string\"\ndefault = \"x\"\n[VLAN_ID]\ntype = \"number\"\n[PW]\ntype = \"password\"\n".to_string();
        Registry::parse(Path::new("attributes.toml"), text).unwrap()
    }

    fn plain(file: &str) -> ScriptOrigin {
        ScriptOrigin::Plain {
            file: PathBuf::from(file),
            content_line: 3,
        }
    }

    #[test]
    fn derives_sorted_typed_attributes_with_placeholder_defaults() {
        let (o1, o2) = (plain("one.gf"), plain("two.gf"));
        let steps = [
            StepUse {
                content: "x @VLAN_ID:0@ @A@",
                origin: &o1,
            },
            StepUse {
                content: "@PW@ @VLAN_ID:0@",
                origin: &o2,
            },
        ];
        let d = derive_attributes("p", &steps, &registry()).unwrap();
        let names: Vec<_> = d
            .attributes
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_deref().unwrap()))
            .collect();
        assert_eq!(names, [("A", "x"), ("PW", ""), ("VLAN_ID", "0")]);
        assert_eq!(d.attributes[2].attribute_type, AttributeType::Number);
    }

    #[test]
    fn missing_entry_conflicting_default_and_secret_default_are_located_errors() {
        let o = plain("one.gf");
        let e = derive_attributes(
            "p",
            &[StepUse {
                content: "ok\n  @NOPE@",
                origin: &o,
            }],
            &registry(),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("one.gf:4:3: placeholder @NOPE@"),
            "{e}"
        );
        let o2 = plain("two.gf");
        let steps = [
            StepUse {
                content: "@VLAN_ID:0@",
                origin: &o,
            },
            StepUse {
                content: "\n@VLAN_ID:1@",
                origin: &o2,
            },
        ];
        let e = derive_attributes("p", &steps, &registry())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("two.gf:4:1") && e.contains("one.gf:3:1"),
            "{e}"
        );
        let e = derive_attributes(
            "p",
            &[StepUse {
                content: "@PW:secret@",
                origin: &o,
            }],
            &registry(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("secret"), "{e}");
    }

    #[test]
    fn template_placeholders_point_at_the_template_source() {
        let origin = ScriptOrigin::Template {
            file: PathBuf::from("templates/t.j2"),
            sources: vec![(
                PathBuf::from("templates/t.j2"),
                Arc::from("{#- x -#}\nline\n  echo @MISSING@\n"),
            )],
        };
        let e = derive_attributes(
            "p",
            &[StepUse {
                content: "line\n  echo @MISSING@",
                origin: &origin,
            }],
            &registry(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("templates/t.j2:3:8"), "{e}");
    }

    #[test]
    fn pins_win_and_drift_warns() {
        let o = plain("one.gf");
        let d = derive_attributes(
            "p",
            &[StepUse {
                content: "@A@ @VLAN_ID:0@",
                origin: &o,
            }],
            &registry(),
        )
        .unwrap();
        let pins = [
            (PinnedAttribute::Name("A".into()), Location::default()),
            (PinnedAttribute::Name("PW".into()), Location::default()),
        ];
        let (attrs, warnings) = apply_pin("p", &d, &pins, &registry()).unwrap();
        assert_eq!(
            attrs.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
            ["A", "PW"]
        );
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }
}
