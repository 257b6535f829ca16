//! The profile's `osDeploymentSettings.osCustomAttributes`, worked out from the deployment plan's
//! attributes as published, the template's values and the use case's values — and every way the
//! use case gets them wrong, each problem naming its key.
//!
//! A value comes from the use case (`[attributes]`, `[secrets]`), else the template (its
//! new-profile skeleton), else the plan's default. An attribute with none of these is missing: an
//! empty plan value counts as "no default", so an intentionally empty value is written out
//! (`NAME = ""`). NIC attributes are flattened to `NAME.field` entries (docs/appliance-api.md
//! §8.2).
use super::Problem;
use super::usecase::{Given, GivenValue};
use crate::bundle::attribute::check_value;
use crate::bundle::{AttributeType, CustomAttribute};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The NIC fields OneView's `osCustomAttributes` carry (docs/appliance-api.md §8.2; the i3s UI's
/// NIC editor).
const NIC_FIELDS: [&str; 12] = [
    "connectionid",
    "constraint",
    "networkuri",
    "vlanid",
    "mac",
    "ipaddress",
    "subnetmask",
    "gateway",
    "dns1",
    "dns2",
    "domain",
    "ipv4disable",
];
const NIC_CONSTRAINTS: [&str; 4] = ["dhcp", "static", "userspecified", "auto"];
const NIC_IPV4_FIELDS: [&str; 5] = ["ipaddress", "subnetmask", "gateway", "dns1", "dns2"];

/// One `osCustomAttributes` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsAttribute {
    pub name: String,
    pub value: String,
    /// A password attribute or a `[secrets]` value: never printed.
    pub secret: bool,
}

impl OsAttribute {
    /// The wire form.
    pub fn to_json(&self) -> Value {
        json!({"name": self.name, "value": self.value})
    }
    /// For printing: the value masked when secret.
    pub fn to_display_json(&self) -> Value {
        json!({"name": self.name, "value": if self.secret { "***" } else { self.value.as_str() }})
    }
}

/// Works out the attributes. `plan_name` only names the plan in messages; `template_values`
/// are the skeleton's `{name, value}` entries.
pub fn resolve(
    plan_name: &str,
    plan: &[CustomAttribute],
    template_values: &[(String, String)],
    given: &[Given],
) -> Result<Vec<OsAttribute>, Vec<Problem>> {
    let mut problems = check_given(plan_name, plan, given);
    let mut out = Vec::new();
    for attribute in plan {
        let name = attribute.name.as_str();
        let given = given.iter().find(|g| g.name == name);
        let key = given
            .map(key_of)
            .unwrap_or_else(|| format!("attributes.{name}"));
        let line = given.map(|g| g.line);
        if attribute.attribute_type == AttributeType::Nic {
            resolve_nic(
                attribute,
                given,
                template_values,
                (&key, line),
                &mut out,
                &mut problems,
            );
            continue;
        }
        match resolve_value(attribute, given, template_values, &key, line) {
            Ok(resolved) => out.push(resolved),
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn key_of(g: &Given) -> String {
    format!("{}.{}", g.table, g.name)
}

/// Every given name must be an attribute of the plan, and a password attribute's value a secret.
fn check_given(plan_name: &str, plan: &[CustomAttribute], given: &[Given]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let known: BTreeMap<&str, &CustomAttribute> =
        plan.iter().map(|a| (a.name.as_str(), a)).collect();
    for g in given {
        match known.get(g.name.as_str()) {
            None => problems.push(Problem::new(
                &key_of(g),
                Some(g.line),
                format!("unknown attribute: deployment plan {plan_name:?} has no attribute {} (it has: {})", g.name, names(plan)),
            )),
            Some(a) if a.attribute_type.is_secret() && !matches!(g.value, GivenValue::Secret(_)) => problems.push(Problem::new(
                &key_of(g),
                Some(g.line),
                format!("{} is a password attribute: its value never goes in the use-case file; give it as [secrets] {} = {{ env = \"VARIABLE\" }} or {{ file = \"PATH\" }}", g.name, g.name),
            )),
            _ => {}
        }
    }

    problems
}

/// A NIC attribute: the given table of fields, else the template's `NAME.field` entries.
fn resolve_nic(
    attribute: &CustomAttribute,
    given: Option<&Given>,
    template_values: &[(String, String)],
    (key, line): (&str, Option<usize>),
    out: &mut Vec<OsAttribute>,
    problems: &mut Vec<Problem>,
) {
    let name = attribute.name.as_str();
    match given.map(|g| &g.value) {
        Some(GivenValue::Nic(fields)) => match check_nic(attribute, fields) {
            Ok(()) => out.extend(fields.iter().map(|(f, v)| OsAttribute { name: format!("{name}.{f}"), value: v.clone(), secret: false })),
            Err(messages) => problems.extend(messages.into_iter().map(|m| Problem::new(key, line, m))),
        },
        Some(_) => problems.push(Problem::new(key, line, format!("{name} is a NIC attribute: give a table of its fields, e.g. {name} = {{ connectionid = \"3\", constraint = \"dhcp\" }}"))),
        None => {
            let prefix = format!("{name}.");
            let from_template: Vec<OsAttribute> = template_values
                .iter()
                .filter(|(n, _)| n.starts_with(&prefix))
                .map(|(n, v)| OsAttribute { name: n.clone(), value: v.clone(), secret: false })
                .collect();
            if from_template.is_empty() {
                problems.push(Problem::new(key, None, format!("missing: NIC attribute {name} is set neither by the template nor here; give {name} = {{ connectionid = \"…\", constraint = \"dhcp\" }}")));
            }
            out.extend(from_template);
        }
    }
}

/// Any other attribute: the given value, else the template's, else the plan's default; checked
/// against its type and constraints.
fn resolve_value(
    attribute: &CustomAttribute,
    given: Option<&Given>,
    template_values: &[(String, String)],
    key: &str,
    line: Option<usize>,
) -> Result<OsAttribute, Problem> {
    let name = attribute.name.as_str();
    let secret = attribute.attribute_type.is_secret()
        || matches!(given.map(|g| &g.value), Some(GivenValue::Secret(_)));
    let (value, origin) = match given.map(|g| &g.value) {
        Some(GivenValue::Text(t)) => (Some(t.clone()), "value"),
        Some(GivenValue::Secret(s)) => (Some(s.expose().to_string()), "value"),
        Some(GivenValue::Nic(_)) => {
            return Err(Problem::new(
                key,
                line,
                format!(
                    "{name} is of type {}, not a NIC: give a single value",
                    attribute.attribute_type
                ),
            ));
        }
        None => match template_values
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
        {
            Some((_, v)) => (Some(v.clone()), "template value"),
            None => (
                attribute.default_value().map(str::to_string),
                "plan default",
            ),
        },
    };
    let Some(value) = value else {
        let how = if attribute.attribute_type.is_secret() {
            format!(
                "give it as [secrets] {name} = {{ env = \"VARIABLE\" }} or {{ file = \"PATH\" }}"
            )
        } else {
            format!("set {name} in [attributes]")
        };
        return Err(Problem::new(
            key,
            None,
            format!(
                "missing: {name} ({}) is required — the deployment plan gives no default; {how}",
                attribute.attribute_type
            ),
        ));
    };
    if let Err(message) = check_value(&attribute.attribute_type, &attribute.constraints, &value) {
        // A secret's value must not reach the message, whatever the check said.
        let message = if secret && !value.is_empty() {
            message.to_string().replace(&value, "***")
        } else {
            message.to_string()
        };
        let origin = if origin == "value" {
            String::new()
        } else {
            format!(" ({origin})")
        };
        return Err(Problem::new(
            key,
            line,
            format!(
                "{message}{origin}; {name} is of type {}{}",
                attribute.attribute_type,
                help(attribute)
            ),
        ));
    }
    Ok(OsAttribute {
        name: name.to_string(),
        value,
        secret,
    })
}

fn names(plan: &[CustomAttribute]) -> String {
    let list: Vec<&str> = plan.iter().map(|a| a.name.as_str()).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

fn help(attribute: &CustomAttribute) -> String {
    attribute
        .constraints
        .help_text()
        .filter(|h| !h.is_empty())
        .map(|h| format!(" ({h})"))
        .unwrap_or_default()
}

/// A NIC attribute's fields: known names, a constraint the plan allows, IPv4 where IPv4 goes.
fn check_nic(
    attribute: &CustomAttribute,
    fields: &BTreeMap<String, String>,
) -> Result<(), Vec<String>> {
    let mut messages = Vec::new();
    let name = &attribute.name;
    for (field, value) in fields {
        if !NIC_FIELDS.contains(&field.as_str()) {
            messages.push(format!(
                "{name}.{field}: unknown NIC field (known: {})",
                NIC_FIELDS.join(", ")
            ));
        } else if NIC_IPV4_FIELDS.contains(&field.as_str())
            && !value.is_empty()
            && value.parse::<std::net::Ipv4Addr>().is_err()
        {
            messages.push(format!("{name}.{field}: {value:?} is not an IPv4 address"));
        } else if field == "vlanid" && value.parse::<u16>().ok().is_none_or(|v| v > 4094) {
            messages.push(format!(
                "{name}.vlanid: {value:?} is not a VLAN id (0-4094)"
            ));
        } else if field == "connectionid" && value != "none" && value.parse::<u32>().is_err() {
            messages.push(format!(
                "{name}.connectionid: {value:?} is not a connection id (a number or \"none\")"
            ));
        }
    }
    match fields.get("constraint").map(String::as_str) {
        None if fields.get("connectionid").map(String::as_str) != Some("none") => {
            messages.push(format!(
                "{name}.constraint: missing (one of {})",
                NIC_CONSTRAINTS.join(", ")
            ))
        }
        Some(c) if !NIC_CONSTRAINTS.contains(&c) => messages.push(format!(
            "{name}.constraint: {c:?} is not one of {}",
            NIC_CONSTRAINTS.join(", ")
        )),
        Some(c @ ("dhcp" | "static"))
            if attribute.constraints.flag(&format!("ipv4{c}")) == Some(false) =>
        {
            messages.push(format!(
                "{name}.constraint: the deployment plan does not allow {c} for {name}"
            ))
        }
        Some("static") if fields.get("ipaddress").is_none_or(String::is_empty) => {
            messages.push(format!("{name}.ipaddress: required with constraint static"))
        }
        _ => {}
    }
    if messages.is_empty() {
        Ok(())
    } else {
        Err(messages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appliance::Secret;
    use crate::bundle::Constraints;

    fn attr(name: &str, kind: AttributeType, default: &str, constraints: Value) -> CustomAttribute {
        let mut a = CustomAttribute::new(name, kind);
        a.value = Some(default.into());
        a.constraints = Constraints::new(constraints.as_object().cloned().unwrap_or_default());
        a
    }
    fn given(name: &str, value: GivenValue, line: usize) -> Given {
        let table = if matches!(value, GivenValue::Secret(_)) {
            "secrets"
        } else {
            "attributes"
        };
        Given {
            name: name.into(),
            value,
            table,
            line,
        }
    }
    fn text(v: &str) -> GivenValue {
        GivenValue::Text(v.into())
    }

    fn plan() -> Vec<CustomAttribute> {
        vec![
            attr("SERVER_FQDN", AttributeType::Fqdn, "", json!({})),
            attr(
                "VLAN_ID",
                AttributeType::Number,
                "0",
                json!({"minimum": "0", "maximum": "4094"}),
            ),
            attr(
                "ROLE",
                AttributeType::Option,
                "web",
                json!({"options": ["web", "db"]}),
            ),
            attr("GW", AttributeType::Ipv4, "", json!({})),
            attr("TOKEN", AttributeType::Password, "", json!({})),
            attr(
                "MGMT",
                AttributeType::Nic,
                "",
                json!({"ipv4static": true, "ipv4dhcp": true}),
            ),
        ]
    }

    #[test]
    fn values_come_from_use_case_then_template_then_default() {
        let template = vec![
            ("GW".to_string(), "10.0.0.1".to_string()),
            ("MGMT.connectionid".into(), "3".into()),
            ("MGMT.constraint".into(), "dhcp".into()),
        ];
        let given = vec![
            given("SERVER_FQDN", text("n1.example.org"), 3),
            given("TOKEN", GivenValue::Secret(Secret::new("tok-123")), 9),
        ];
        let out = resolve("P", &plan(), &template, &given).unwrap();
        let pairs: Vec<(&str, &str, bool)> = out
            .iter()
            .map(|a| (a.name.as_str(), a.value.as_str(), a.secret))
            .collect();
        assert_eq!(
            pairs,
            [
                ("SERVER_FQDN", "n1.example.org", false),
                ("VLAN_ID", "0", false),
                ("ROLE", "web", false),
                ("GW", "10.0.0.1", false),
                ("TOKEN", "tok-123", true),
                ("MGMT.connectionid", "3", false),
                ("MGMT.constraint", "dhcp", false)
            ]
        );
        assert_eq!(out[4].to_display_json()["value"], "***");
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let given = vec![
            given("SERVER_FQDN", text("not a name!"), 2),
            given("VLAN_ID", text("5000"), 3),
            given("ROLE", text("cache"), 4),
            given("GW", text("10.0.0.300"), 5),
            given("TOKEN", text("in-the-file"), 6),
            given("COLOUR", text("blue"), 7),
            given(
                "MGMT",
                GivenValue::Nic([("constraint".to_string(), "static".to_string())].into()),
                8,
            ),
        ];
        let problems = resolve("P", &plan(), &[], &given).unwrap_err();
        let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "attributes.TOKEN",
                "attributes.COLOUR",
                "attributes.SERVER_FQDN",
                "attributes.VLAN_ID",
                "attributes.ROLE",
                "attributes.GW",
                "attributes.MGMT"
            ]
        );
        let all = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!all.contains("in-the-file"), "{all}");
        assert!(
            all.contains("unknown attribute")
                && all.contains("not one of the options")
                && all.contains("not an IPv4 address"),
            "{all}"
        );
    }

    #[test]
    fn missing_required_values_and_secret_values_stay_hidden() {
        let mut plan = plan();
        plan[4].constraints = Constraints::new(
            json!({"regex": "^[a-f0-9-]+$"})
                .as_object()
                .cloned()
                .unwrap(),
        );
        let given = vec![given(
            "TOKEN",
            GivenValue::Secret(Secret::new("NOT-HEX-secret")),
            2,
        )];
        let problems = resolve("P", &plan, &[], &given).unwrap_err();
        let all = problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            all.contains("missing: SERVER_FQDN")
                && all.contains("missing: GW")
                && all.contains("missing: NIC attribute MGMT"),
            "{all}"
        );
        assert!(
            all.contains("secrets.TOKEN") && !all.contains("NOT-HEX-secret"),
            "{all}"
        );
    }
}
