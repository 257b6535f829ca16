//! Talking to an appliance: connection settings, the REST client, and what is built on it
//! (`publish`, `pull`; `deploy` later). The simulator in `crate::simulator` speaks the other side.
pub mod client;
pub mod diagnose;
pub mod error;
pub mod log;
pub mod publish;
pub mod pull;
pub mod secret;
pub mod settings;
pub mod template;
pub mod trust;
pub mod types;

pub use client::{Client, Host, Timing};
pub use error::{ApplianceError, ErrorBody};
pub use secret::Secret;
pub use settings::{Endpoint, Settings, SettingsOverrides, TlsMode};
