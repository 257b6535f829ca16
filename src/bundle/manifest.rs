//! `MANIFEST.MF`: five `Key:Value` lines, LF, no newline after the last one.
use serde::Serialize;

pub const MANIFEST_ENTRY: &str = "MANIFEST.MF";
const KEYS: [&str; 5] = [
    "Artifact Name",
    "Description",
    "Read Only",
    "Time Stamp",
    "Artifact Type",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Manifest {
    pub artifact_name: String,
    pub description: String,
    pub read_only: bool,
    /// ISO-8601 UTC with milliseconds, e.g. `2018-06-09T15:09:48.084Z`.
    pub time_stamp: String,
    pub artifact_type: String,
}

/// What parsing noticed that is tolerated but not canonical.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManifestQuirks {
    pub trailing_newline: bool,
    pub unknown_keys: Vec<String>,
    pub missing_keys: Vec<String>,
    pub out_of_order: bool,
    pub bad_read_only: Option<String>,
    pub bad_time_stamp: bool,
}

impl ManifestQuirks {
    pub fn is_well_formed(&self) -> bool {
        self.missing_keys.is_empty() && self.bad_read_only.is_none() && !self.bad_time_stamp
    }
}

impl Manifest {
    pub fn new(
        artifact_name: &str,
        description: &str,
        read_only: bool,
        time_stamp: String,
    ) -> Self {
        Manifest {
            artifact_name: artifact_name.to_string(),
            description: description.to_string(),
            read_only,
            time_stamp,
            artifact_type: "USER".to_string(),
        }
    }

    /// Splits each line on its first `:`; a line without one continues the previous value.
    pub fn parse(text: &str) -> (Manifest, ManifestQuirks) {
        let mut quirks = ManifestQuirks {
            trailing_newline: text.ends_with('\n'),
            ..Default::default()
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for line in text.trim_end_matches('\n').split('\n') {
            let line = line.strip_suffix('\r').unwrap_or(line);
            match line.split_once(':') {
                Some((key, value))
                    if KEYS.contains(&key) || !key.contains(' ') || pairs.is_empty() =>
                {
                    pairs.push((key.to_string(), value.to_string()))
                }
                _ => match pairs.last_mut() {
                    Some((_, value)) => {
                        value.push('\n');
                        value.push_str(line);
                    }
                    None => pairs.push((line.to_string(), String::new())),
                },
            }
        }
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        for key in KEYS {
            if get(key).is_none() {
                quirks.missing_keys.push(key.to_string());
            }
        }
        quirks.unknown_keys = pairs
            .iter()
            .filter(|(k, _)| !KEYS.contains(&k.as_str()))
            .map(|(k, _)| k.clone())
            .collect();
        let known: Vec<&str> = pairs
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| KEYS.contains(k))
            .collect();
        quirks.out_of_order = known
            != KEYS
                .iter()
                .copied()
                .filter(|k| known.contains(k))
                .collect::<Vec<_>>();
        let read_only_text = get("Read Only").unwrap_or_default();
        let read_only = match read_only_text.as_str() {
            "true" => true,
            "false" => false,
            other => {
                if quirks.missing_keys.iter().all(|k| k != "Read Only") {
                    quirks.bad_read_only = Some(other.to_string());
                }
                false
            }
        };
        let time_stamp = get("Time Stamp").unwrap_or_default();
        quirks.bad_time_stamp = !time_stamp.is_empty() && parse_time_stamp(&time_stamp).is_none();
        let manifest = Manifest {
            artifact_name: get("Artifact Name").unwrap_or_default(),
            description: get("Description").unwrap_or_default(),
            read_only,
            time_stamp,
            artifact_type: get("Artifact Type").unwrap_or_default(),
        };
        (manifest, quirks)
    }

    /// The canonical text: five keys in order, LF, no final newline.
    pub fn render(&self) -> String {
        format!(
            "Artifact Name:{}\nDescription:{}\nRead Only:{}\nTime Stamp:{}\nArtifact Type:{}",
            self.artifact_name,
            self.description,
            self.read_only,
            self.time_stamp,
            self.artifact_type
        )
    }

    pub fn time(&self) -> Option<time::OffsetDateTime> {
        parse_time_stamp(&self.time_stamp)
    }
}

/// Parses `Time Stamp` (RFC 3339; appliances write milliseconds and `Z`).
pub fn parse_time_stamp(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// The instant a `SOURCE_DATE_EPOCH` value (seconds since 1970, reproducible-builds.org) names;
/// a value that is not one is a usage error, never silently ignored.
pub fn source_date_epoch(value: &str) -> crate::Result<time::OffsetDateTime> {
    let seconds: i64 = value.trim().parse().map_err(|_| {
        crate::Error::Usage(format!(
            "SOURCE_DATE_EPOCH={value:?} is not a number of seconds"
        ))
    })?;
    time::OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| crate::Error::Usage(format!("SOURCE_DATE_EPOCH={value} is out of range")))
}

/// Formats a time as the appliance does: `2018-06-09T15:09:48.084Z`.
pub fn format_time_stamp(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}
