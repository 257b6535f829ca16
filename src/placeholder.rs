//! Deploy-time placeholders: `@NAME@`, `@NAME:default@` and nic sub-fields `@NIC.ipaddress@`.
//! The appliance substitutes them with custom attribute values before it runs a plan script;
//! this is the one place that knows their syntax.
use std::collections::BTreeMap;
use std::sync::LazyLock;

static PLACEHOLDER: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"@([A-Za-z0-9_]+)(?:\.([A-Za-z0-9_]+))?(?::([^@\n]*))?@")
        .expect("placeholder pattern")
});

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Placeholder {
    /// The attribute name (for `@NIC.ipaddress@`, `NIC`).
    pub name: String,
    /// A nic sub-field such as `ipaddress`.
    pub field: Option<String>,
    pub default: Option<String>,
    /// Byte offset, 1-based line and column of the opening `@`.
    pub offset: usize,
    pub line: usize,
    pub column: usize,
}

impl Placeholder {
    /// The lookup key: `NAME` or `NAME.field`.
    pub fn key(&self) -> String {
        match &self.field {
            Some(field) => format!("{}.{field}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Every placeholder in `text`, in order.
pub fn scan(text: &str) -> Vec<Placeholder> {
    let mut line = 1;
    let mut line_start = 0;
    let mut counted_to = 0;
    PLACEHOLDER
        .captures_iter(text)
        .map(|caps| {
            let whole = caps.get(0).expect("group 0");
            for (i, b) in text.as_bytes()[counted_to..whole.start()]
                .iter()
                .enumerate()
            {
                if *b == b'\n' {
                    line += 1;
                    line_start = counted_to + i + 1;
                }
            }
            counted_to = whole.start();
            Placeholder {
                name: caps[1].to_string(),
                field: caps.get(2).map(|m| m.as_str().to_string()),
                default: caps.get(3).map(|m| m.as_str().to_string()),
                offset: whole.start(),
                line,
                column: text[line_start..whole.start()].chars().count() + 1,
            }
        })
        .collect()
}

/// The distinct attribute names used, each with its placeholder default (if any).
pub fn used_names(text: &str) -> BTreeMap<String, Option<String>> {
    let mut names = BTreeMap::new();
    for p in scan(text) {
        let entry = names.entry(p.name.clone()).or_insert(None);
        if entry.is_none() {
            *entry = p.default.clone();
        }
    }
    names
}

/// Substitutes as the appliance does: the value from `lookup` (attribute values, then build-plan
/// defaults), else the placeholder's own default. Unresolved placeholders are returned as errors.
pub fn substitute(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Vec<Placeholder>> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    let mut last = 0;
    for p in scan(text) {
        let end = PLACEHOLDER
            .find_at(text, p.offset)
            .map_or(p.offset, |m| m.end());
        out.push_str(&text[last..p.offset]);
        match lookup(&p.key()).or_else(|| p.default.clone()) {
            Some(value) => out.push_str(&value),
            None => {
                out.push_str(&text[p.offset..end]);
                missing.push(p);
            }
        }
        last = end;
    }
    out.push_str(&text[last..]);
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

/// True for a valid attribute name.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_names_defaults_and_fields() {
        let text = "a @X@ b\n@VLAN_ID:0@ @NIC1.mac@ root@localhost";
        let found = scan(text);
        assert_eq!(found.len(), 3);
        assert_eq!(found[0].name, "X");
        assert_eq!((found[1].line, found[1].column), (2, 1));
        assert_eq!(found[1].default.as_deref(), Some("0"));
        assert_eq!(found[2].key(), "NIC1.mac");
    }

    #[test]
    fn substitutes_values_then_defaults() {
        let text = "vlan=@VLAN_ID:0@ host=@H@ miss=@M@";
        let err = substitute(text, &|k| (k == "H").then(|| "h1".to_string())).unwrap_err();
        assert_eq!(err[0].name, "M");
        let ok = substitute(text, &|k| match k {
            "H" => Some("h1".into()),
            "M" => Some("m".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(ok, "vlan=0 host=h1 miss=m");
    }
}
