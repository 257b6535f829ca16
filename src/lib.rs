//! i3s-bundle: source → HPE Synergy Image Streamer artifact bundles, and back.
//!
//! The pipeline is the layout: `bundle` is the format (read, write, verify, inspect, diff) and
//! every later stage builds on it.
pub mod bundle;
pub mod error;
pub mod placeholder;

pub use error::{Error, Result};
