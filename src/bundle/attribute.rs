//! Custom attributes: the typed, constrained values a build plan or deployment plan asks for.
use super::json_object::json_object;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

/// The attribute types real bundles use. `Other` keeps anything newer readable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttributeType {
    String,
    Nic,
    Option,
    Number,
    Password,
    Fqdn,
    Hostname,
    Ipv4,
    Other(String),
}

impl AttributeType {
    pub const KNOWN: [AttributeType; 8] = [
        AttributeType::String,
        AttributeType::Nic,
        AttributeType::Option,
        AttributeType::Number,
        AttributeType::Password,
        AttributeType::Fqdn,
        AttributeType::Hostname,
        AttributeType::Ipv4,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            AttributeType::String => "string",
            AttributeType::Nic => "nic",
            AttributeType::Option => "option",
            AttributeType::Number => "number",
            AttributeType::Password => "password",
            AttributeType::Fqdn => "fqdn",
            AttributeType::Hostname => "hostname",
            AttributeType::Ipv4 => "ipv4",
            AttributeType::Other(other) => other,
        }
    }

    pub fn is_secret(&self) -> bool {
        *self == AttributeType::Password
    }
}

impl FromStr for AttributeType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(AttributeType::KNOWN
            .iter()
            .find(|t| t.as_str() == s)
            .cloned()
            .unwrap_or_else(|| AttributeType::Other(s.to_string())))
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AttributeType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AttributeType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Ok(s.parse().unwrap_or(AttributeType::String))
    }
}

/// An attribute's `constraints`: a JSON document that the bundle stores *encoded as a string*.
///
/// The decoded object is what code reads and edits; the original string is kept so that an
/// unchanged object re-encodes to exactly the bytes it came from.
#[derive(Debug, Clone, Default)]
pub struct Constraints {
    pub fields: Map<String, Value>,
    original: Option<String>,
}

/// Why a constraints string does not decode; callers add the place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadConstraints {
    NotAnObject { encoded: String },
    InvalidJson { encoded: String, message: String },
}

impl fmt::Display for BadConstraints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadConstraints::NotAnObject { encoded } => {
                write!(f, "constraints {encoded:?} is not a JSON object")
            }
            BadConstraints::InvalidJson { encoded, message } => {
                write!(f, "constraints {encoded:?} is not valid JSON: {message}")
            }
        }
    }
}

impl std::error::Error for BadConstraints {}

impl PartialEq for Constraints {
    fn eq(&self, other: &Self) -> bool {
        self.fields == other.fields
    }
}

impl Constraints {
    pub fn new(fields: Map<String, Value>) -> Self {
        Constraints {
            fields,
            original: None,
        }
    }

    /// Decodes the string form. Anything that is not a JSON object is an error.
    pub fn decode(encoded: &str) -> Result<Self, BadConstraints> {
        if encoded.trim().is_empty() {
            return Ok(Constraints {
                fields: Map::new(),
                original: Some(encoded.to_string()),
            });
        }
        match serde_json::from_str::<Value>(encoded) {
            Ok(Value::Object(fields)) => Ok(Constraints {
                fields,
                original: Some(encoded.to_string()),
            }),
            Ok(_) => Err(BadConstraints::NotAnObject {
                encoded: encoded.to_string(),
            }),
            Err(e) => Err(BadConstraints::InvalidJson {
                encoded: encoded.to_string(),
                message: e.to_string(),
            }),
        }
    }

    /// The string form: the original text when nothing changed, otherwise compact JSON.
    pub fn encode(&self) -> String {
        if let Some(original) = &self.original {
            let unchanged = if original.trim().is_empty() {
                self.fields.is_empty()
            } else {
                serde_json::from_str::<Map<String, Value>>(original).is_ok_and(|m| m == self.fields)
            };
            if unchanged {
                return original.clone();
            }
        }
        Value::Object(self.fields.clone()).to_string()
    }

    fn text(&self, key: &str) -> Option<String> {
        match self.fields.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A numeric constraint; real bundles store numbers as strings.
    pub fn number(&self, key: &str) -> Option<f64> {
        self.text(key)?.trim().parse().ok()
    }

    pub fn options(&self) -> Option<Vec<String>> {
        let list = self.fields.get("options")?.as_array()?;
        Some(
            list.iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect(),
        )
    }

    pub fn regex(&self) -> Option<String> {
        self.text("regex")
    }

    pub fn help_text(&self) -> Option<String> {
        self.text("helpText")
    }

    pub fn allowed_chars(&self) -> Option<String> {
        self.text("allowedchars")
    }

    pub fn flag(&self, key: &str) -> Option<bool> {
        match self.fields.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

impl Serialize for Constraints {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.encode())
    }
}

impl<'de> Deserialize<'de> for Constraints {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        match Option::<Value>::deserialize(deserializer)? {
            None | Some(Value::Null) => Ok(Constraints::default()),
            Some(Value::String(s)) => Constraints::decode(&s).map_err(D::Error::custom),
            // Tolerated: an API client may send the object itself.
            Some(Value::Object(fields)) => Ok(Constraints::new(fields)),
            Some(other) => Err(D::Error::custom(format!(
                "constraints must be a string, found {other}"
            ))),
        }
    }
}

json_object! {
    /// A custom attribute of a build plan (5 keys) or a deployment plan (8 keys: plus id,
    /// visible, editable).
    pub struct CustomAttribute in custom_attribute_serde {
        pub name: String,
        #[serde(default)]
        pub description: Option<String>,
        #[serde(rename = "type")]
        pub attribute_type: AttributeType,
        #[serde(default)]
        pub value: Option<String>,
        #[serde(default)]
        pub constraints: Constraints,
        #[serde(default)]
        pub id: Option<String>,
        #[serde(default)]
        pub visible: Option<bool>,
        #[serde(default)]
        pub editable: Option<bool>,
    }
    newest = ["name", "description", "type", "value", "constraints"];
}

impl CustomAttribute {
    pub fn new(name: &str, attribute_type: AttributeType) -> Self {
        CustomAttribute {
            name: name.to_string(),
            description: Some(String::new()),
            attribute_type,
            value: Some(String::new()),
            constraints: Constraints::default(),
            id: None,
            visible: None,
            editable: None,
            extra: Map::new(),
            key_order: Vec::new(),
        }
    }

    /// The default value, `None` when empty.
    pub fn default_value(&self) -> Option<&str> {
        self.value.as_deref().filter(|v| !v.is_empty())
    }

    /// A valid value from the type and constraints (the first option, the minimum, a
    /// documentation address): what `run --sample-attrs` and lint's shellcheck pass use.
    pub fn sample_value(&self) -> String {
        if let Some(first) = self
            .constraints
            .options()
            .and_then(|o| o.into_iter().next())
        {
            return first;
        }
        let name = self.name.to_ascii_uppercase();
        match &self.attribute_type {
            AttributeType::Number => self
                .constraints
                .number("minimum")
                .map_or("1".to_string(), |m| format!("{m}")),
            AttributeType::Ipv4 => "192.0.2.10".to_string(),
            AttributeType::Fqdn => "node1.example.org".to_string(),
            AttributeType::Hostname => "node1".to_string(),
            AttributeType::Password => "Sample-Passw0rd".to_string(),
            AttributeType::Nic => SAMPLE_MAC.to_string(),
            _ if name.ends_with("FQDN") => "node1.example.org".to_string(),
            _ if name.ends_with("MASK") => "255.255.255.0".to_string(),
            _ if name.ends_with("CIDR") => "192.0.2.0/24".to_string(),
            _ if name.ends_with("_IP") || name.ends_with("_GW") || name.contains("POOL") => {
                "192.0.2.10".to_string()
            }
            _ => "sample".to_string(),
        }
    }

    /// Checks a value against the type and constraints, as the appliance UI would.
    pub fn check_value(&self, value: &str) -> Result<(), ValueProblem> {
        check_value(&self.attribute_type, &self.constraints, value)
    }
}

/// A documentation MAC address (RFC 7042) for NIC samples.
const SAMPLE_MAC: &str = "00:00:5e:00:53:01";

/// A sample for a NIC field placeholder (`@NIC1.ipaddress@`), from documentation ranges.
pub fn sample_field_value(field: &str) -> &'static str {
    match field {
        "mac" => SAMPLE_MAC,
        "ipaddress" | "ipv4address" => "192.0.2.10",
        "netmask" | "subnetmask" => "255.255.255.0",
        "gateway" => "192.0.2.1",
        "dns" | "dns1" | "dns2" => "192.0.2.53",
        "vlanid" => "0",
        "domain" => "example.org",
        _ => "sample",
    }
}

/// Why a value does not fit its attribute; callers add the place (file, line, attribute).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueProblem {
    NotAnOption { value: String, options: Vec<String> },
    NotANumber { value: String },
    BelowMinimum { value: String, min: f64 },
    AboveMaximum { value: String, max: f64 },
    NotIpv4 { value: String },
    NotHostname { value: String },
    NotFqdn { value: String },
    PasswordTooShort { min: f64 },
    PasswordTooLong { max: f64 },
    NoOptions,
    PatternMismatch { value: String, pattern: String },
}

impl fmt::Display for ValueProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ValueProblem::NotAnOption { value, options } => {
                write!(
                    f,
                    "{value:?} is not one of the options {}",
                    options.join(", ")
                )
            }
            ValueProblem::NotANumber { value } => write!(f, "{value:?} is not a number"),
            ValueProblem::BelowMinimum { value, min } => {
                write!(f, "{value} is below the minimum {min}")
            }
            ValueProblem::AboveMaximum { value, max } => {
                write!(f, "{value} is above the maximum {max}")
            }
            ValueProblem::NotIpv4 { value } => write!(f, "{value:?} is not an IPv4 address"),
            ValueProblem::NotHostname { value } => write!(f, "{value:?} is not a valid host name"),
            ValueProblem::NotFqdn { value } => {
                write!(f, "{value:?} is not a valid fully qualified domain name")
            }
            ValueProblem::PasswordTooShort { min } => {
                write!(f, "the password is shorter than {min} characters")
            }
            ValueProblem::PasswordTooLong { max } => {
                write!(f, "the password is longer than {max} characters")
            }
            ValueProblem::NoOptions => {
                write!(f, "an option attribute needs a non-empty options list")
            }
            ValueProblem::PatternMismatch { value, pattern } => {
                write!(f, "{value:?} does not match the pattern {pattern}")
            }
        }
    }
}

impl std::error::Error for ValueProblem {}

/// The one place that knows what a valid value of each attribute type is.
pub fn check_value(
    attribute_type: &AttributeType,
    constraints: &Constraints,
    value: &str,
) -> Result<(), ValueProblem> {
    let owned = || value.to_string();
    if let Some(options) = constraints.options()
        && !options.is_empty()
        && !options.iter().any(|o| o == value)
    {
        return Err(ValueProblem::NotAnOption {
            value: owned(),
            options,
        });
    }
    check_type(attribute_type, constraints, value)?;
    if let Some(pattern) = constraints.regex()
        && let Ok(re) = regex::Regex::new(&format!("^(?:{pattern})$"))
        && !re.is_match(value)
    {
        return Err(ValueProblem::PatternMismatch {
            value: owned(),
            pattern,
        });
    }
    Ok(())
}

/// The type's own rule (number range, address syntax, password length).
fn check_type(
    attribute_type: &AttributeType,
    constraints: &Constraints,
    value: &str,
) -> Result<(), ValueProblem> {
    let owned = || value.to_string();
    match attribute_type {
        AttributeType::Number => {
            let n: f64 = value
                .trim()
                .parse()
                .map_err(|_| ValueProblem::NotANumber { value: owned() })?;
            if let Some(min) = constraints.number("minimum")
                && n < min
            {
                return Err(ValueProblem::BelowMinimum {
                    value: owned(),
                    min,
                });
            }
            if let Some(max) = constraints.number("maximum")
                && n > max
            {
                return Err(ValueProblem::AboveMaximum {
                    value: owned(),
                    max,
                });
            }
        }
        AttributeType::Ipv4 => {
            value
                .parse::<std::net::Ipv4Addr>()
                .map_err(|_| ValueProblem::NotIpv4 { value: owned() })?;
        }
        AttributeType::Hostname => {
            if !is_hostname_label_list(value, false) {
                return Err(ValueProblem::NotHostname { value: owned() });
            }
        }
        AttributeType::Fqdn => {
            if !is_hostname_label_list(value, true) {
                return Err(ValueProblem::NotFqdn { value: owned() });
            }
        }
        AttributeType::Password => {
            let len = value.chars().count() as f64;
            if let Some(min) = constraints.number("minlen")
                && len < min
            {
                return Err(ValueProblem::PasswordTooShort { min });
            }
            if let Some(max) = constraints.number("maxlen")
                && len > max
            {
                return Err(ValueProblem::PasswordTooLong { max });
            }
        }
        AttributeType::Option => {
            if constraints.options().is_none_or(|o| o.is_empty()) {
                return Err(ValueProblem::NoOptions);
            }
        }
        AttributeType::String | AttributeType::Nic | AttributeType::Other(_) => {}
    }
    Ok(())
}

fn is_hostname_label_list(value: &str, allow_dots: bool) -> bool {
    if value.is_empty() || value.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = value.trim_end_matches('.').split('.').collect();
    if !allow_dots && labels.len() > 1 {
        return false;
    }
    labels.iter().all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_values_satisfy_their_types() {
        for t in AttributeType::KNOWN
            .iter()
            .filter(|t| **t != AttributeType::Option)
        {
            let attr = CustomAttribute::new("X_FQDN", t.clone());
            let value = attr.sample_value();
            assert!(attr.check_value(&value).is_ok(), "{t}: {value}");
        }
    }
}
