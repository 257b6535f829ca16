//! Fault injection: `--faults "latency=20ms,5xx=0.2,task-error=1,reset-upload=1,slow-tasks=2s,etag-race=1,fail-download=1,drop-bundle-tag=1,reset-delete=3,seed=7"`.
use crate::error::{Error, Result};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Faults {
    /// Added to every `/rest` request.
    pub latency_ms: u64,
    /// Fraction (0..1) of `/rest` requests answered 500. For writes, half of them are answered
    /// 500 *after* the write was applied (a lost answer), the harder case for clients.
    pub error_5xx: f64,
    /// The next N tasks end in `Error` with `taskErrors`, their change not applied.
    pub task_errors: u32,
    /// Only tasks of this name fail (`Create`, `Extract`, `Update`, `Delete`); empty: any.
    pub task_error_on: String,
    /// The next N multipart uploads have their connection dropped half-way through the body.
    pub upload_resets: u32,
    /// Tasks stay `Running` at least this long.
    pub slow_task_ms: u64,
    /// The next N server profile template PUTs find the template changed by "another writer"
    /// (eTag bumped, description changed) just before the check, and get 412.
    pub etag_races: u32,
    /// The next N bundle downloads (`GET …/artifact-bundles/download/{id}`) are answered 503.
    pub download_failures: u32,
    /// Uploaded bundles keep the zip's own description, not the one sent with the upload (so
    /// publish's `[i3s-bundle sha256:…]` tag is lost), and carry no content checksum (`checkSum`
    /// "0", as in the SDK examples): whether a real appliance keeps either is unconfirmed.
    pub drop_bundle_tag: bool,
    /// The Nth `DELETE` from now (1 = the next) is carried out, then its connection is reset
    /// without an answer: a client interrupted midway, not knowing the delete happened. Once.
    pub reset_delete: u32,
    pub seed: u64,
}

impl Faults {
    /// Parses `--faults`; a wrong item is a usage error naming it.
    pub fn parse(spec: &str) -> Result<Faults> {
        let mut faults = Faults {
            seed: 1,
            ..Default::default()
        };
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| Error::Usage(format!("fault {item:?}: expected key=value")))?;
            let count = || {
                value
                    .parse::<u32>()
                    .map_err(|_| Error::Usage(format!("fault {key}: {value:?} is not a count")))
            };
            match key.trim() {
                "latency" => faults.latency_ms = duration_ms(value)?,
                "5xx" => {
                    faults.error_5xx = value
                        .parse()
                        .ok()
                        .filter(|f: &f64| (0.0..=1.0).contains(f))
                        .ok_or_else(|| {
                            Error::Usage(format!(
                                "fault 5xx: {value:?} is not a fraction between 0 and 1"
                            ))
                        })?
                }
                "task-error" => faults.task_errors = count()?,
                "task-error-on" => faults.task_error_on = value.trim().to_string(),
                "reset-upload" => faults.upload_resets = count()?,
                "slow-tasks" => faults.slow_task_ms = duration_ms(value)?,
                "etag-race" => faults.etag_races = count()?,
                "fail-download" => faults.download_failures = count()?,
                "drop-bundle-tag" => faults.drop_bundle_tag = count()? > 0,
                "reset-delete" => faults.reset_delete = count()?,
                "seed" => {
                    faults.seed = value.parse().map_err(|_| {
                        Error::Usage(format!("fault seed: {value:?} is not a number"))
                    })?
                }
                other => {
                    return Err(Error::Usage(format!(
                        "unknown fault {other:?} (known: latency, 5xx, task-error, task-error-on, reset-upload, slow-tasks, etag-race, fail-download, drop-bundle-tag, reset-delete, seed)"
                    )));
                }
            }
        }
        Ok(faults)
    }
}

/// `250ms`, `2s` or a bare number of milliseconds.
fn duration_ms(text: &str) -> Result<u64> {
    let text = text.trim();
    let parsed = if let Some(ms) = text.strip_suffix("ms") {
        ms.trim().parse::<u64>().ok()
    } else if let Some(s) = text.strip_suffix('s') {
        s.trim()
            .parse::<f64>()
            .ok()
            .map(|s| Duration::from_secs_f64(s).as_millis() as u64)
    } else {
        text.parse::<u64>().ok()
    };
    parsed.ok_or_else(|| Error::Usage(format!("{text:?} is not a duration (e.g. 250ms, 2s)")))
}

/// A small deterministic generator (xorshift64*), so a seed reproduces a fault pattern.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_f64(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_a_spec() {
        let f = Faults::parse(
            "latency=20ms,5xx=0.2,task-error=1,reset-upload=1,slow-tasks=1.5s,etag-race=2,seed=9",
        )
        .unwrap();
        let more = Faults::parse("fail-download=2,drop-bundle-tag=1,reset-delete=3").unwrap();
        assert_eq!(
            (
                more.download_failures,
                more.drop_bundle_tag,
                more.reset_delete
            ),
            (2, true, 3)
        );
        assert_eq!(
            (
                f.latency_ms,
                f.task_errors,
                f.upload_resets,
                f.slow_task_ms,
                f.etag_races,
                f.seed
            ),
            (20, 1, 1, 1500, 2, 9)
        );
        assert!((f.error_5xx - 0.2).abs() < 1e-9);
        assert!(Faults::parse("5xx=2").is_err());
        assert!(
            Faults::parse("bogus=1")
                .unwrap_err()
                .to_string()
                .contains("known:")
        );
    }
    #[test]
    fn rng_is_a_fraction_and_deterministic() {
        let (mut a, mut b) = (Rng::new(3), Rng::new(3));
        for _ in 0..100 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x, b.next_f64());
        }
    }
}
