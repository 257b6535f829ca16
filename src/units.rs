//! Durations and sizes as people write them on a command line or in a recipe: one parser each,
//! so `--wait 30m`, `--task-timeout 90s`, `--size 256M` and `--max-entry-size 64MiB` read alike.
//!
//! Durations are humantime's syntax (`90s`, `500ms`, `30m`, `1h 30m`); sizes are parse-size's,
//! in the binary system (`256M` = `256MiB` = 256 × 2²⁰ bytes, as disk tools and `qemu-img` mean it).
//! A bare number is seconds or bytes, what the flags took before they had units.
use crate::{Error, Result};
use std::time::Duration;

/// `90s`, `500ms`, `30m`, `1h 30m`, or a bare number of seconds. Zero is refused: it would mean
/// "no bound" to the HTTP client, or give up at once.
pub fn parse_duration(text: &str) -> Result<Duration> {
    let text = text.trim();
    let parsed = match text.parse::<f64>() {
        Ok(secs) => {
            Duration::try_from_secs_f64(secs).map_err(|e| Error::Usage(format!("{text:?}: {e}")))
        }
        Err(_) => humantime::parse_duration(text).map_err(|e| {
            Error::Usage(format!(
                "{text:?} is not a duration (e.g. 90s, 500ms, 30m, 1h): {e}"
            ))
        }),
    }?;
    if parsed.is_zero() {
        return Err(Error::Usage(format!(
            "{text:?}: a duration must be more than zero"
        )));
    }
    Ok(parsed)
}

/// `256M`, `1G`, `1.5GiB`, `512K`, `64MiB` or a bare number of bytes; K, M, G, T are powers of 1024.
pub fn parse_size(text: &str) -> Result<u64> {
    parse_size::Config::new()
        .with_binary()
        .parse_size(text.trim())
        .map_err(|e| {
            Error::Usage(format!(
                "{text:?} is not a size (e.g. 256M, 1G, 64MiB, 4096): {e}"
            ))
        })
}

/// A size for people: the largest binary unit that divides it (`64MiB`, `4TiB`), else bytes.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(&str, u32); 5] = [
        ("PiB", 50),
        ("TiB", 40),
        ("GiB", 30),
        ("MiB", 20),
        ("KiB", 10),
    ];
    for (unit, shift) in UNITS {
        if bytes != 0 && bytes.trailing_zeros() >= shift {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// A size flag whose default is shown with its unit in `--help` (`[default: 64MiB]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&format_size(self.0))
    }
}

impl std::str::FromStr for Size {
    type Err = Error;
    fn from_str(text: &str) -> Result<Size> {
        parse_size(text).map(Size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_or_seconds() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2.5").unwrap(), Duration::from_millis(2500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("-3").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        let message = parse_duration("soon").unwrap_err().to_string();
        assert!(message.contains("e.g. 90s"), "{message}");
    }

    #[test]
    fn sizes_are_binary_and_round_trip() {
        assert_eq!(parse_size("256M").unwrap(), 256 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5 KiB").unwrap(), 1536);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12X").is_err());
        assert!(parse_size("M").is_err());
        for bytes in [64 << 20, 4u64 << 40, 1536, 4096, 1000, 0] {
            assert_eq!(parse_size(&format_size(bytes)).unwrap(), bytes, "{bytes}");
        }
        assert_eq!(format_size(64 << 20), "64MiB");
        assert_eq!(format_size(1000), "1000");
    }
}
