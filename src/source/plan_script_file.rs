//! Plain plan scripts: `plan-scripts/<file>.gf`, guestfish text with a small header.
//!
//! ```text
//! # name: HudsonAlpha_CentOS7.4_mount
//! # type: general
//! # description: Mount the root LV
//! # ---
//! mount /dev/cl/root /
//! ```
//! The header is the run of `# key: value` lines (keys `name`, `type`, `description`, `id`) at the
//! very top; an optional `# ---` line right after it ends it explicitly (import writes one, so a
//! script whose own first comment looks like `# key: value` survives). A value starting with `"`
//! is a JSON string (for descriptions with newlines). The header is stripped from the content, and
//! so is the file's final newline (bundle content never ends with one).
use super::read_text;
use crate::error::{Error, Location, Result};
use std::path::{Path, PathBuf};

pub const HEADER_KEYS: [&str; 4] = ["name", "type", "description", "id"];
pub const HEADER_END: &str = "# ---";
pub const PLAN_TYPES: [&str; 3] = ["deploy", "general", "capture"];

#[derive(Debug, Clone, PartialEq)]
pub struct PlainPlanScript {
    pub path: PathBuf,
    pub name: String,
    pub plan_type: String,
    pub description: String,
    /// A pinned uuid (imported scripts keep the id appliances already know).
    pub id: Option<String>,
    pub content: String,
    /// 1-based line of the file where the content starts.
    pub content_line: usize,
    /// The whole file, for input hashes.
    pub text: String,
}

impl PlainPlanScript {
    pub fn load(path: &Path) -> Result<PlainPlanScript> {
        let text = read_text(path)?;
        Self::parse(path, text)
    }

    pub fn parse(path: &Path, text: String) -> Result<PlainPlanScript> {
        let mut fields: Vec<(&str, String, usize)> = Vec::new();
        let mut offset = 0;
        let mut line_no = 1;
        for line in text.split_inclusive('\n') {
            let bare = line.trim_end_matches('\n').trim_end_matches('\r');
            if bare == HEADER_END && !fields.is_empty() {
                offset += line.len();
                line_no += 1;
                break;
            }
            let Some((key, value)) = header_line(bare) else {
                break;
            };
            let value = decode_value(value, || Location::file(path).line(line_no))?;
            if fields.iter().any(|(k, _, _)| *k == key) {
                return Err(Error::at(
                    Location::file(path).line(line_no),
                    format!("header key `{key}` appears twice"),
                ));
            }
            fields.push((key, value, line_no));
            offset += line.len();
            line_no += 1;
        }
        let get = |key: &str| {
            fields
                .iter()
                .find(|(k, _, _)| *k == key)
                .map(|(_, v, l)| (v.clone(), *l))
        };
        let Some((name, _)) = get("name") else {
            return Err(Error::at(Location::file(path).line(1), "a plain plan script needs a `# name: …` header line")
                .with_help("start the file with `# name: <artifact name>`, `# type: deploy|general|capture`, `# description: …`"));
        };
        if name.trim().is_empty() {
            return Err(Error::at(
                Location::file(path).line(1),
                "the `name` header is empty",
            ));
        }
        let (plan_type, type_line) = get("type").unwrap_or_else(|| ("deploy".to_string(), 1));
        if !PLAN_TYPES.contains(&plan_type.as_str()) {
            return Err(Error::at(
                Location::file(path).line(type_line),
                format!("type {plan_type:?} is not one of deploy, general, capture"),
            ));
        }
        let id = match get("id") {
            Some((id, line)) => {
                let id = id.to_ascii_lowercase();
                if !crate::bundle::is_canonical_uuid(&id) {
                    return Err(Error::at(
                        Location::file(path).line(line),
                        format!("id {id:?} is not a uuid (8-4-4-4-12 hex)"),
                    ));
                }
                Some(id)
            }
            None => None,
        };
        let body = &text[offset..];
        let content = body.strip_suffix('\n').unwrap_or(body).to_string();
        Ok(PlainPlanScript {
            path: path.to_path_buf(),
            name,
            plan_type,
            description: get("description").map(|(d, _)| d).unwrap_or_default(),
            id,
            content,
            content_line: line_no,
            text,
        })
    }

    /// The file text for a script (what `import` writes): header, `# ---`, content, newline.
    pub fn render_file(
        name: &str,
        plan_type: &str,
        description: &str,
        id: Option<&str>,
        content: &str,
    ) -> String {
        let mut out = String::new();
        out.push_str(&format!("# name: {}\n", encode_value(name)));
        out.push_str(&format!("# type: {}\n", encode_value(plan_type)));
        out.push_str(&format!("# description: {}\n", encode_value(description)));
        if let Some(id) = id {
            out.push_str(&format!("# id: {id}\n"));
        }
        out.push_str(HEADER_END);
        out.push('\n');
        out.push_str(content);
        out.push('\n');
        out
    }
}

fn header_line(line: &str) -> Option<(&'static str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let (key, value) = rest.split_once(':')?;
    let key = HEADER_KEYS.iter().find(|k| **k == key.trim())?;
    Some((key, value.strip_prefix(' ').unwrap_or(value)))
}

fn decode_value(value: &str, at: impl Fn() -> Location) -> Result<String> {
    if value.starts_with('"') {
        serde_json::from_str::<String>(value).map_err(|e| {
            Error::at(
                at(),
                format!("header value {value} is not a JSON string: {e}"),
            )
        })
    } else {
        Ok(value.to_string())
    }
}

/// Plain text when it survives a round trip through a header line, else a JSON string.
fn encode_value(value: &str) -> String {
    let plain = !value.contains(['\n', '\r'])
        && !value.starts_with([' ', '"', '\t'])
        && !value.ends_with([' ', '\t']);
    if plain {
        value.to_string()
    } else {
        serde_json::Value::String(value.to_string()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_stripped_and_parsed() {
        let text =
            "# name: mount it\n# type: general\n# description: Mount\nmount /dev/cl/root /\necho\n"
                .to_string();
        let s = PlainPlanScript::parse(Path::new("x.gf"), text).unwrap();
        assert_eq!(s.name, "mount it");
        assert_eq!(s.plan_type, "general");
        assert_eq!(s.content, "mount /dev/cl/root /\necho");
        assert_eq!(s.content_line, 4);
    }

    #[test]
    fn rendered_file_round_trips_awkward_values() {
        let content = "# note: a comment that looks like a header\n\ttab\n";
        let text = PlainPlanScript::render_file(
            " odd",
            "deploy",
            "two\nlines",
            Some("ed59ff1a-6c19-427c-a36d-5eb527a24ea2"),
            content,
        );
        let s = PlainPlanScript::parse(Path::new("x.gf"), text).unwrap();
        assert_eq!(
            (s.name.as_str(), s.description.as_str(), s.content.as_str()),
            (" odd", "two\nlines", content)
        );
        assert_eq!(
            s.id.as_deref(),
            Some("ed59ff1a-6c19-427c-a36d-5eb527a24ea2")
        );
    }

    #[test]
    fn missing_name_and_bad_type_are_errors_with_lines() {
        let e = PlainPlanScript::parse(Path::new("x.gf"), "mount /\n".into()).unwrap_err();
        assert!(e.to_string().contains("x.gf:1"), "{e}");
        let e = PlainPlanScript::parse(Path::new("x.gf"), "# name: a\n# type: bogus\n".into())
            .unwrap_err();
        assert!(e.to_string().contains("x.gf:2"), "{e}");
    }
}
