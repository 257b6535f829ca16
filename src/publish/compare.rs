//! Field-by-field comparison of what the appliance holds with what the source wants, in the
//! spirit of oneview-ansible's `compare` (docs/appliance-api.md §9): a missing key equals "", null
//! or false.
use super::report::Change;
use serde_json::{Value, json};

/// Normalises "empty" values so that missing, null, "" and false compare equal.
fn is_empty(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Bool(b)) => !b,
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        _ => false,
    }
}

/// Scalars compare as text ("false" and false are the same setting on the appliance).
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn same(a: Option<&Value>, b: Option<&Value>) -> bool {
    if is_empty(a) && is_empty(b) {
        return true;
    }
    match (a, b) {
        (Some(Value::Object(x)), Some(Value::Object(y))) => {
            x.keys().chain(y.keys()).all(|k| same(x.get(k), y.get(k)))
        }
        (Some(Value::Array(x)), Some(Value::Array(y))) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(Some(p), Some(q)))
        }
        (Some(x), Some(y)) => scalar_text(x) == scalar_text(y),
        _ => false,
    }
}

/// `constraints` is a JSON document encoded as a string; compare the documents.
fn constraints_of(value: Option<&Value>) -> Value {
    match value {
        Some(Value::String(s)) if !s.trim().is_empty() => {
            serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
        }
        Some(Value::Object(o)) => Value::Object(o.clone()),
        _ => json!({}),
    }
}

/// The attribute fields that matter for a deployment; `id` is the appliance's own.
const ATTRIBUTE_FIELDS: [&str; 5] = ["value", "type", "description", "visible", "editable"];

/// Differences between two custom attribute lists, matched by name.
pub fn attribute_changes(current: &[Value], desired: &[Value]) -> Vec<Change> {
    let name = |a: &Value| {
        a.get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut changes = Vec::new();
    for want in desired {
        let attr = name(want);
        let secret = want.get("type").and_then(Value::as_str) == Some("password");
        match current.iter().find(|c| name(c) == attr) {
            None => changes.push(Change {
                field: format!("customAttributes.{attr}"),
                from: Value::Null,
                to: mask(want, secret),
            }),
            Some(have) => {
                for field in ATTRIBUTE_FIELDS {
                    // visible/editable default to true on the appliance.
                    let default_true = matches!(field, "visible" | "editable");
                    let get = |v: &Value| match v.get(field) {
                        None | Some(Value::Null) if default_true => Some(Value::Bool(true)),
                        other => other.cloned(),
                    };
                    let (h, w) = (get(have), get(want));
                    if !same(h.as_ref(), w.as_ref()) {
                        let hide = secret && field == "value";
                        let show = |v: Option<Value>| {
                            if hide
                                && v.as_ref()
                                    .and_then(Value::as_str)
                                    .is_some_and(|s| !s.is_empty())
                            {
                                json!("***")
                            } else {
                                v.unwrap_or(Value::Null)
                            }
                        };
                        changes.push(Change {
                            field: format!("customAttributes.{attr}.{field}"),
                            from: show(h),
                            to: show(w),
                        });
                    }
                }
                let (h, w) = (
                    constraints_of(have.get("constraints")),
                    constraints_of(want.get("constraints")),
                );
                if !same(Some(&h), Some(&w)) {
                    changes.push(Change {
                        field: format!("customAttributes.{attr}.constraints"),
                        from: h,
                        to: w,
                    });
                }
            }
        }
    }
    for have in current {
        let attr = name(have);
        if !desired.iter().any(|w| name(w) == attr) {
            let secret = have.get("type").and_then(Value::as_str) == Some("password");
            changes.push(Change {
                field: format!("customAttributes.{attr}"),
                from: mask(have, secret),
                to: Value::Null,
            });
        }
    }
    changes
}

fn mask(attribute: &Value, secret: bool) -> Value {
    let mut a = attribute.clone();
    if secret
        && let Some(o) = a.as_object_mut()
        && o.get("value")
            .and_then(Value::as_str)
            .is_some_and(|v| !v.is_empty())
    {
        o.insert("value".into(), json!("***"));
    }
    a
}

/// Differences of plain top-level fields.
pub fn field_changes(current: &Value, desired: &[(&str, Value)]) -> Vec<Change> {
    desired
        .iter()
        .filter(|(field, want)| !same(current.get(*field), Some(want)))
        .map(|(field, want)| Change {
            field: (*field).to_string(),
            from: current.get(*field).cloned().unwrap_or(Value::Null),
            to: want.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn empty_values_are_equal() {
        assert!(same(None, Some(&json!(""))));
        assert!(same(Some(&Value::Null), Some(&json!(false))));
        assert!(same(Some(&json!("false")), Some(&json!(false))));
        assert!(!same(Some(&json!("a")), Some(&json!("b"))));
        assert!(same(
            Some(&json!({"a": 1, "b": null})),
            Some(&json!({"a": "1"}))
        ));
    }
    #[test]
    fn attributes_by_name_with_decoded_constraints_and_masked_passwords() {
        let have = vec![
            json!({"id":"x","name":"A","type":"string","value":"1","constraints":"{\"maxlen\":\"5\"}"}),
            json!({"name":"P","type":"password","value":"old"}),
        ];
        let want = vec![
            json!({"name":"A","type":"string","value":"1","constraints":"{ \"maxlen\": \"5\" }","visible":true}),
            json!({"name":"P","type":"password","value":"new"}),
        ];
        let changes = attribute_changes(&have, &want);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].field, "customAttributes.P.value");
        assert_eq!(changes[0].to, json!("***"));
    }
}
