//! Attribute values given on the command line: `--attrs-file FILE` and `--attr NAME=VALUE`, the
//! one parser `run` and `render` share.
use crate::error::{Error, Location, Result, line_column};
use std::collections::BTreeMap;
use std::path::Path;

/// The values of `--attrs-file` (if any) overlaid with `--attr` pairs (`--attr` wins).
pub fn attribute_values(file: Option<&Path>, pairs: &[String]) -> Result<BTreeMap<String, String>> {
    let mut values = match file {
        Some(path) => read_attrs_file(path)?,
        None => BTreeMap::new(),
    };
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--attr {pair:?}: expected NAME=VALUE")))?;
        values.insert(name.to_string(), value.to_string());
    }
    Ok(values)
}

/// An attribute file: a JSON object (`.json`), a TOML table (`.toml`, or any other file that
/// parses as a TOML table of strings), otherwise `NAME=VALUE` lines with `#` comments. Errors
/// point at the file and line and never echo a line: it may hold a secret.
pub fn read_attrs_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let extension = path.extension().and_then(|e| e.to_str());
    let table: serde_json::Map<String, serde_json::Value> = match extension {
        Some("json") => serde_json::from_str(&text)
            .map_err(|e| Error::at(Location::file(path).at(e.line(), e.column()), e.to_string()))?,
        Some("toml") => toml::from_str(&text).map_err(|e| {
            let mut place = Location::file(path);
            if let Some(span) = e.span() {
                let (line, column) = line_column(&text, span.start);
                place = place.at(line, column);
            }
            Error::at(place, e.message())
        })?,
        // A TOML table of strings (run's old default), else lines: `N=1e3` stays "1e3".
        _ => match toml::from_str::<serde_json::Map<String, serde_json::Value>>(&text) {
            Ok(table) if table.values().all(serde_json::Value::is_string) => table,
            _ => return read_lines(path, &text),
        },
    };
    Ok(table
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (key, value)
        })
        .collect())
}

/// `NAME=VALUE` lines; blank lines and `#` comments are skipped.
fn read_lines(path: &Path, text: &str) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| Error::at(Location::file(path).line(n + 1), "expected NAME=VALUE"))?;
        values.insert(name.trim().to_string(), value.to_string());
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str, text: &str) -> Result<BTreeMap<String, String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        read_attrs_file(&path)
    }

    #[test]
    fn the_three_forms_read_alike() {
        let want = BTreeMap::from([
            ("A".to_string(), "x y".to_string()),
            ("N".to_string(), "2".to_string()),
        ]);
        assert_eq!(read("a.json", r#"{"A":"x y","N":2}"#).unwrap(), want);
        assert_eq!(read("a.toml", "A = \"x y\"\nN = 2\n").unwrap(), want);
        assert_eq!(read("a.attrs", "# c\nA=x y\n\nN=2\n").unwrap(), want);
        assert_eq!(read("a.txt", "A = \"x y\"\nN = \"2\"\n").unwrap(), want);
        assert_eq!(read("a.attrs", "N=1e3\n").unwrap()["N"], "1e3");
    }

    #[test]
    fn a_bad_line_is_located_and_not_echoed() {
        let e = read("a.attrs", "PW s3cret\n").unwrap_err().to_string();
        assert!(
            e.ends_with("a.attrs:1: expected NAME=VALUE") && !e.contains("s3cret"),
            "{e}"
        );
    }

    #[test]
    fn json_and_toml_errors_point_at_line_and_column() {
        let e = read("a.json", "{\n  \"A\": x\n}").unwrap_err().to_string();
        assert!(e.contains("a.json:2:8:"), "{e}");
        let e = read("a.toml", "A = \"1\"\nB = \n").unwrap_err().to_string();
        assert!(e.contains("a.toml:2:"), "{e}");
    }

    #[test]
    fn attr_pairs_win_over_the_file() {
        let values = attribute_values(None, &["A=1".to_string(), "A=2".to_string()]).unwrap();
        assert_eq!(values["A"], "2");
        assert!(attribute_values(None, &["A".to_string()]).is_err());
    }
}
