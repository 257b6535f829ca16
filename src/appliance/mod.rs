//! Talking to an appliance: connection settings, TLS trust, secrets, the REST client and the calls
//! the stages above make (`oneview` for deploy, `golden_image` for uploads). `crate::publish` and
//! `crate::deploy` build on it; the simulator speaks the other side.
pub mod api;
pub mod client;
pub mod diagnose;
pub mod error;
pub mod golden_image;
pub mod log;
pub mod oneview;
pub mod secret;
pub mod settings;
pub mod trust;
pub mod types;

pub use client::{Client, Host, Timing};
pub use error::{ApplianceError, ErrorBody};
pub use secret::Secret;
pub use settings::{Endpoint, Settings, SettingsOverrides, TlsMode};
