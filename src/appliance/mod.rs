//! Talking to an appliance: connection settings, TLS trust, secrets, the REST client and the calls
//! the stages above make (`oneview` for deploy, `golden_image` for uploads). `crate::publish` and
//! `crate::deploy` build on it; the simulator speaks the other side.
pub mod api;
pub mod client;
pub mod diagnose;
pub mod golden_image;
pub mod log;
pub mod lookup;
pub mod oneview;
pub mod secret;
pub mod settings;
pub mod trust;
pub mod types;

/// What can go wrong talking to an appliance: defined with the crate's one error type.
pub use crate::error::appliance::{self as error, ApplianceError, ErrorBody};
pub use client::{Client, Host, Timing};
pub use secret::Secret;
pub use settings::{Endpoint, Settings, SettingsOverrides, TlsMode};
