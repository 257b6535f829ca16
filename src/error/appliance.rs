//! What can go wrong talking to an appliance, with the appliance's own words kept.
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::time::Duration;

/// An appliance error body (docs/appliance-api.md §2.4), also the shape of `taskErrors[]` items.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub error_code: String,
    pub message: String,
    pub details: String,
    pub recommended_actions: Vec<String>,
}

impl ErrorBody {
    pub fn from_json(value: &Value) -> ErrorBody {
        let text = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        ErrorBody {
            error_code: text("errorCode"),
            message: text("message"),
            details: text("details"),
            recommended_actions: value
                .get("recommendedActions")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.error_code.is_empty() {
            write!(f, "[{}] ", self.error_code)?;
        }
        write!(
            f,
            "{}",
            if self.message.is_empty() {
                "(no message)"
            } else {
                &self.message
            }
        )?;
        if !self.details.is_empty() {
            write!(f, " — {}", self.details)?;
        }
        for action in &self.recommended_actions {
            write!(f, "\n    recommended: {action}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
pub enum ApplianceError {
    /// No answer (connection refused/reset, TLS failure, timeout), after the retries.
    Connect {
        method: String,
        url: String,
        message: String,
    },
    /// The address answers, but not as the settings say (the other scheme; a certificate that is
    /// not trusted or not for that name): a repeat fails the same way, so it is not retried.
    /// `problem` names the address and what to change.
    Unusable {
        url: String,
        problem: String,
    },
    /// An HTTP error status with the appliance's error body.
    Http {
        method: String,
        url: String,
        status: u16,
        body: Box<ErrorBody>,
    },
    /// A task that ended in Error (or Killed, Terminated, Interrupted).
    Task {
        uri: String,
        name: String,
        state: String,
        status: String,
        errors: Vec<ErrorBody>,
    },
    TaskTimeout {
        uri: String,
        waited_secs: u64,
        state: String,
    },
    /// A time bound ran out: connecting, or waiting for (part of) an answer. Not retried: the
    /// wait was already as long as the user allows.
    Timeout {
        method: String,
        url: String,
        /// What was being waited for: "connecting", "the answer", …
        waiting_for: String,
        limit: Duration,
        /// The setting that raises the bound.
        flag: &'static str,
    },
    /// An upload the appliance stopped taking data of for `window` (e.g. its disk is full).
    Stalled {
        url: String,
        file: String,
        /// Bytes handed to the connection before it stopped moving (some may still be buffered).
        sent: u64,
        total: u64,
        window: Duration,
    },
    /// An answer that does not have the expected shape.
    Protocol(String),
    Io(String),
}

impl ApplianceError {
    pub fn is_connection_error(&self) -> bool {
        matches!(self, ApplianceError::Connect { .. })
    }
    /// What failed, without the request it failed for: the line a retry shows.
    pub fn reason(&self) -> String {
        match self {
            ApplianceError::Connect { message, .. } => message.clone(),
            ApplianceError::Http { status, body, .. } if body.message.is_empty() => {
                format!("HTTP {status}")
            }
            ApplianceError::Http { status, body, .. } => format!("HTTP {status}: {}", body.message),
            other => other.to_string(),
        }
    }

    /// A connection error that outlasted its retries says how long it was tried.
    pub fn after_attempts(self, attempts: u32, elapsed: Duration) -> Self {
        match self {
            ApplianceError::Connect {
                method,
                url,
                message,
            } if attempts > 1 => ApplianceError::Connect {
                method,
                url,
                message: format!(
                    "{message} (gave up after {attempts} attempts over {})",
                    humantime::format_duration(Duration::from_millis(elapsed.as_millis() as u64))
                ),
            },
            other => other,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ApplianceError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ApplianceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApplianceError::Connect {
                method,
                url,
                message,
            } => write!(f, "{method} {url}: no answer: {message}"),
            ApplianceError::Unusable { problem, .. } => write!(f, "{problem}"),
            ApplianceError::Http {
                method,
                url,
                status,
                body,
            } => write!(f, "{method} {url}: HTTP {status}: {body}"),
            ApplianceError::Task {
                uri,
                name,
                state,
                status,
                errors,
            } => {
                write!(f, "task {name:?} ({uri}) ended in {state}")?;
                if errors.is_empty() {
                    write!(f, ": {status}")?;
                }
                for error in errors {
                    write!(f, "\n  {error}")?;
                }
                Ok(())
            }
            ApplianceError::TaskTimeout {
                uri,
                waited_secs,
                state,
            } => {
                write!(
                    f,
                    "task {uri} still {state} after {waited_secs} s (raise --task-timeout)"
                )
            }
            ApplianceError::Timeout {
                method,
                url,
                waiting_for,
                limit,
                flag,
            } => write!(
                f,
                "{method} {url}: no answer: gave up waiting for {waiting_for} after {} \
                 (check that the address is the appliance and it is up; raise {flag} if it is just slow)",
                humantime::format_duration(*limit)
            ),
            ApplianceError::Stalled {
                url,
                file,
                sent,
                total,
                window,
            } => write!(
                f,
                "upload of {file} to {url} stalled: the appliance took no data for {} after {} of {} \
                 ({}%); the upload was abandoned. Check the appliance (free space, load, tasks) and the \
                 network, then run again; raise --stall-timeout if the link is only slow",
                humantime::format_duration(*window),
                bytes(*sent),
                bytes(*total),
                sent.saturating_mul(100).checked_div(*total).unwrap_or(0)
            ),
            ApplianceError::Protocol(message) => write!(f, "unexpected answer: {message}"),
            ApplianceError::Io(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for ApplianceError {}

/// `20971520` → `20971520 bytes (20.0 MiB)`.
fn bytes(n: u64) -> String {
    format!("{n} bytes ({:.1} MiB)", n as f64 / (1u64 << 20) as f64)
}
