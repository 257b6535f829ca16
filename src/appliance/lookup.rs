//! Finding a resource by exact name: names are how publish and deploy find things on an
//! appliance, so two of one name is an error naming them, never a guess. The one place the
//! "at most one of that name" rule is written.
use super::client::{Client, Host};
use crate::error::{Error, Result};
use serde_json::Value;

/// The one object named `name` in `list`, or none; several is an error naming their URIs.
/// `what` names the kind in the message ("deployment plan").
pub fn by_name<'a>(list: &'a [Value], name: &str, what: &str) -> Result<Option<&'a Value>> {
    let found: Vec<&Value> = list
        .iter()
        .filter(|v| v.get("name").and_then(Value::as_str) == Some(name))
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(Error::other(format!(
            "{} {what}s are named {name:?} on the appliance ({}); rename or delete the extra ones",
            many.len(),
            many.iter()
                .filter_map(|v| v.get("uri").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Lists `collection` on `host` asking for `name`, then [`by_name`]: the one of that name, or
/// none.
pub fn named(
    client: &Client,
    host: Host,
    collection: &str,
    what: &str,
    name: &str,
) -> Result<Option<Value>> {
    let found = client.list(host, collection, Some(name))?;
    Ok(by_name(&found, name, what)?.cloned())
}
