//! A secret string (password, session id): never printed, never in Debug output.
use std::fmt;

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

/// Replaces the values of secret-looking JSON keys (password, sessionID, auth) by `***`, for logs.
pub fn redact_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, v) in map {
                let lower = key.to_ascii_lowercase();
                let secret = lower.contains("password") || lower == "sessionid" || lower == "auth" || lower == "token";
                out.insert(key.clone(), if secret && !v.is_null() { Value::String("***".into()) } else { redact_json(v) });
            }
            // A custom attribute of type password: hide its value.
            if map.get("type").and_then(Value::as_str) == Some("password") && map.contains_key("value") {
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
        assert!(!text.contains("p1") && !text.contains("\"s\"") && !text.contains("p2"), "{text}");
        assert!(text.contains("\"u\""));
    }
}
