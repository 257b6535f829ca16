//! A secret string (password, session id): never printed, never in Debug output; and the one
//! check that a file holding one is not readable by others.
use crate::error::{Error, Location, Result};
use std::fmt;
use std::path::Path;

#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value itself; call only where it goes on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A file holding a secret must be private to its owner: refused when group or others may read
/// it. `holds` names the secret in the message ("a password"), or is empty.
pub fn refuse_if_shared(path: &Path, holds: &str) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            let holds = if holds.is_empty() {
                String::new()
            } else {
                format!("holds {holds} but is ")
            };
            return Err(Error::at(
                Location::file(path),
                format!(
                    "{holds}readable by group or others (mode {:o}); run `chmod 600 {}`",
                    mode & 0o777,
                    path.display()
                ),
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = (path, holds);
    Ok(())
}

/// A secret file: its content without the trailing newline; refused when others may read it.
pub fn read_file(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    refuse_if_shared(path, "")?;
    let value = text.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err(Error::at(Location::file(path), "the file is empty"));
    }
    Ok(value)
}

/// Custom attribute names whose values are secret in this process. Profiles carry
/// `osCustomAttributes` as bare `{name, value}` pairs without a type, so `deploy` marks the
/// deployment plan's password attributes here before it reads or writes a profile.
static SECRET_ATTRIBUTES: std::sync::Mutex<std::collections::BTreeSet<String>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// From now on, `redact_json` hides the `value` of any object whose `name` is `name`.
pub fn mark_secret_attribute(name: &str) {
    SECRET_ATTRIBUTES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(name.to_string());
}

fn is_secret_attribute(name: &str) -> bool {
    SECRET_ATTRIBUTES
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(name)
}

/// Replaces the values of secret-looking JSON keys (password, sessionID, auth) by `***`, for logs.
pub fn redact_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, v) in map {
                let lower = key.to_ascii_lowercase();
                let secret = lower.contains("password")
                    || lower == "sessionid"
                    || lower == "auth"
                    || lower == "token";
                out.insert(
                    key.clone(),
                    if secret && !v.is_null() {
                        Value::String("***".into())
                    } else {
                        redact_json(v)
                    },
                );
            }
            // A custom attribute of type password, or one marked secret: hide its value.
            let marked = map
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(is_secret_attribute);
            if (marked || map.get("type").and_then(Value::as_str) == Some("password"))
                && map.contains_key("value")
            {
                out.insert("value".into(), Value::String("***".into()));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}{s}").contains("hunter2"));
    }
    #[test]
    fn redact_hides_password_keys_and_password_attributes() {
        let v = serde_json::json!({"userName":"u","password":"p1","nested":[{"sessionID":"s"}],
            "attr":{"type":"password","value":"p2"}});
        let text = redact_json(&v).to_string();
        assert!(
            !text.contains("p1") && !text.contains("\"s\"") && !text.contains("p2"),
            "{text}"
        );
        assert!(text.contains("\"u\""));
    }
    #[test]
    fn marked_attribute_names_are_hidden_without_a_type() {
        mark_secret_attribute("NODE_TOKEN_FOR_TEST");
        let v = serde_json::json!({"osCustomAttributes": [{"name": "NODE_TOKEN_FOR_TEST", "value": "p3"}, {"name": "HOST", "value": "h1"}]});
        let text = redact_json(&v).to_string();
        assert!(!text.contains("p3") && text.contains("h1"), "{text}");
    }
}
